"""Pseudonymisation of the people in the data (config `privacy.pseudonymise`), and the study's
privacy marker in its output folder.

Author ids, handles (`uniqueId`), nicknames, `secUid`s and @-mentions become keyed hashes: an
HMAC-SHA256 under the study's secret (`STUDY_PSEUDONYM_KEY`) of the value, prefixed by its
kind, cut to 16 hex digits after a letter for the kind (`u_…` a handle, `i_…` a user id, `n_…`
a nickname, `s_…` a secUid). The same person has the same pseudonym in every run of the study,
and no pseudonym can be computed (or tested against a guessed handle) without the key. A handle
is compared without case, as TikTok does, so `@MikaTravels` in a caption and the author
`mikatravels` are one person; a mention is a handle, so it gets the author's pseudonym.

The search and download stages apply it at the source (`urls.json`, `metadata.json`), so
nothing downstream (storage, rows, export, report, search database) ever sees a raw identity.
Page links lose their user part (`https://www.tiktok.com/@_/video/ID`, the form yt-dlp builds
for a link without a user, which TikTok serves); video ids are kept, so a video, and through it
its author, can still be looked up: this is pseudonymisation, not anonymisation. The process
stage pseudonymises the @-mentions of the on-screen text (`ocr.json`) too. Otherwise speech
and on-screen text (transcripts, OCR, TikTok's caption tracks) are content, not identity
fields, and are kept as they are.

The output folder of a pseudonymised study holds `privacy.json` with a keyed check value (the
HMAC of a fixed text), so a run that would mix raw and pseudonymised data, or pseudonyms of two
keys, is refused at start (`check_study`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tiktok_research.config import PSEUDONYMISED_ENV, hide_link_users, require_secret
from tiktok_research.errors import ConfigError
from tiktok_research.files import atomic_write_json, read_json
from tiktok_research.paths import OutputTree

KEY_NAME = "STUDY_PSEUDONYM_KEY"
KINDS = {"handle": "u", "user_id": "i", "nickname": "n", "sec_uid": "s"}
DIGITS = 16
MIN_KEY_CHARS = 16
KEY_CHECK_TEXT = "tiktok-research study key check"
USERLESS = "_"
# An @-mention in a caption: TikTok handles are letters, digits, `_` and `.` (not at the end).
MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,62}[A-Za-z0-9_])?)")


def enabled(config: Mapping[str, Any]) -> bool:
    return bool((config.get("privacy") or {}).get("pseudonymise"))


class Pseudonymiser:
    """Keyed pseudonyms of one study's key (pure)."""

    def __init__(self, key: str) -> None:
        if len(key) < MIN_KEY_CHARS:
            raise ConfigError(f"{KEY_NAME} is too short: use at least {MIN_KEY_CHARS} random "
                              "characters (e.g. `openssl rand -hex 32`)")
        self._key = key.encode("utf-8")

    def _digest(self, kind: str, value: str) -> str:
        message = f"{kind}\0{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def pseudonym(self, kind: str, value: str) -> str:
        """The pseudonym of `value` as a `kind` of KINDS."""
        normalised = value.strip().lstrip("@").lower() if kind == "handle" else value.strip()
        return f"{KINDS[kind]}_{self._digest(kind, normalised)[:DIGITS]}"

    def handle(self, value: str) -> str:
        return self.pseudonym("handle", value)

    def key_check(self) -> str:
        """A value that tells whether two runs used the same key (and reveals nothing of it)."""
        return self._digest("key-check", KEY_CHECK_TEXT)

    def mentions(self, text: str) -> str:
        """`text` with every @-mention replaced by `@` and the handle's pseudonym."""
        return MENTION.sub(lambda match: "@" + self.handle(match[1]), text)

    def link(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A `urls.json` entry naming nobody: its links without their user, the user of the
        link as a pseudonym, and the search result's title and snippet left out (they carry
        names in free text, e.g. "Nickname (@handle) | TikTok"; the page's caption,
        pseudonymised, is in `metadata.json`)."""
        author = str(entry.get("author") or "")
        return {**entry, "url": userless_url(str(entry.get("url") or "")),
                "source_url": userless_url(str(entry.get("source_url") or "")),
                "author": self.handle(author) if author else "", "title": "", "snippet": ""}

    def item(self, item: dict[str, Any]) -> dict[str, Any]:
        """A TikTok itemStruct (in its normalised shape, `author` an object) with its people
        pseudonymised: the author, every @-mention of the caption and of `textExtra`, and
        wherever else a known identity (the author's or a mentioned user's) is spelled out
        in text (music `authorName` of an "original sound", its title, sticker texts)."""
        known: dict[str, str] = {}  # raw value → pseudonym, for the text elsewhere
        author = item.get("author")
        copied = dict(item)
        if isinstance(author, dict):
            copied["author"] = self._person(author, {"id": "user_id", "uniqueId": "handle",
                                                    "nickname": "nickname",
                                                    "secUid": "sec_uid"}, known)
        extras = item.get("textExtra")
        if isinstance(extras, list):
            copied["textExtra"] = [
                self._person(extra, {"userId": "user_id", "userUniqueId": "handle",
                                     "secUid": "sec_uid"}, known)
                if isinstance(extra, dict) else extra for extra in extras]
        # Pseudonyms hold no raw value, so the author and textExtra pass through unchanged.
        return self._scrub(copied, known)

    def _person(self, fields: dict[str, Any], kinds: dict[str, str],
                known: dict[str, str]) -> dict[str, Any]:
        person = dict(fields)
        for name, kind in kinds.items():
            value = fields.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value.strip():
                person[name] = self.pseudonym(kind, value)
                known[value.strip()] = person[name]
        return person

    def _scrub(self, value: Any, known: dict[str, str]) -> Any:
        """Every string in `value` with @-mentions and known identities pseudonymised."""
        if isinstance(value, dict):
            return {key: self._scrub(item, known) for key, item in value.items()}
        if isinstance(value, list):
            return [self._scrub(item, known) for item in value]
        if isinstance(value, str) and value:
            text = self.mentions(value)
            # Longest first, so a nickname containing a handle is replaced whole; whole words
            # only, so a nickname "Food" leaves "seafood" alone. Shorter values (an id of 1–3
            # characters, a one-letter nickname) would hit unrelated words.
            for raw in sorted(known, key=len, reverse=True):
                if len(raw) >= 4 and raw in text:
                    text = re.sub(rf"(?<!\w){re.escape(raw)}(?!\w)",
                                  lambda _, raw=raw: known[raw], text)
            return text
        return value


def userless_url(url: str) -> str:
    """A TikTok page link without its user part (`/@user/video/ID` → `/@_/video/ID`) and
    without its query string and fragment."""
    return hide_link_users(url.split("#", 1)[0].split("?", 1)[0])


def pseudonymiser(config: Mapping[str, Any]) -> Pseudonymiser | None:
    """The study's Pseudonymiser when `privacy.pseudonymise` is on (its key from the
    environment or `.env`, MissingSecret naming it if absent), else None."""
    if not enabled(config):
        return None
    return Pseudonymiser(require_secret(KEY_NAME, "privacy.pseudonymise (the pseudonyms of "
                                                  "authors and mentioned users)"))


def marker_path(config: Mapping[str, Any]) -> Path:
    """The study's `privacy.json`."""
    return Path(OutputTree(str(config["output_dir"])).privacy())


def _filled(config: Mapping[str, Any], marker: Path) -> Path | None:
    """The first place of this run's local data that already holds some: the output folder
    (besides its marker), a `storage.local_dir` or a `database.sqlite_path` set outside it.
    (A remote storage or database cannot be asked at start, before any job.)"""
    folder = Path(str(config["output_dir"]))
    if folder.is_dir() and any(entry.name != marker.name for entry in folder.iterdir()):
        return folder
    local_dir = (config.get("storage") or {}).get("local_dir")
    if local_dir and Path(local_dir).is_dir() and any(Path(local_dir).iterdir()):
        return Path(local_dir)
    sqlite_path = (config.get("database") or {}).get("sqlite_path")
    if sqlite_path and Path(sqlite_path).exists():
        return Path(sqlite_path)
    return None


def check_study(config: Mapping[str, Any]) -> Pseudonymiser | None:
    """Whether this run may write into its output folder, as the study's privacy setting
    stands; ConfigError (or MissingSecret) in one line if not.

    A pseudonymised run needs its key, and an output folder that is new or empty (and so are
    a local storage folder or SQLite file set elsewhere), or that a pseudonymised run with the
    same key started (its `privacy.json`). A run that is not pseudonymised may not write into
    a pseudonymised study's folder."""
    folder, path = Path(str(config["output_dir"])), marker_path(config)
    # A marker that cannot be read is still a marker: it matches no key.
    marker = read_json(path, "unreadable") if path.exists() else None
    if not enabled(config):
        if marker is not None:
            raise ConfigError(f"{folder} holds a pseudonymised study ({path}): run "
                              "it with privacy.pseudonymise=true and its STUDY_PSEUDONYM_KEY, or "
                              "choose another output_dir")
        return None
    study = pseudonymiser(config)
    assert study is not None
    if marker is None:
        filled = _filled(config, path)
        if filled is not None:
            raise ConfigError(f"privacy.pseudonymise is on but {filled} already holds data that "
                              f"is not pseudonymised: start the study in a new or empty "
                              f"output_dir (with {KEY_NAME} set)")
        return study
    if not isinstance(marker, dict) or not hmac.compare_digest(
            str(marker.get("key_check", "")).encode(), study.key_check().encode()):
        raise ConfigError(f"{KEY_NAME} is not the key {folder} was pseudonymised with "
                          f"({path}): set the study's key, or start the study in a "
                          "new output_dir")
    return study


def announce(study: Pseudonymiser | None) -> None:
    """Tell the jobs (which inherit the environment) whether this run is pseudonymised: their
    logs and failure records then drop the user part of page links (`config.redact`)."""
    if study is None:
        os.environ.pop(PSEUDONYMISED_ENV, None)
    else:
        os.environ[PSEUDONYMISED_ENV] = "1"


def mark_study(config: Mapping[str, Any], study: Pseudonymiser, started_at: str) -> None:
    """Write the output folder's `privacy.json`, once: the folder now holds a pseudonymised
    study of this key."""
    path = marker_path(config)
    if not path.exists():
        atomic_write_json(path, {"pseudonymised": True, "key_check": study.key_check(),
                                 "started_at": started_at,
                                 "pseudonyms": "HMAC-SHA256 of kind and value, 16 hex digits: "
                                               "u_ handle, i_ user id, n_ nickname, s_ secUid"})
