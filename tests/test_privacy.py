"""Pseudonymisation (issue 15, item 1), its pure parts: keyed pseudonyms of the people in a
TikTok item, page links without their user, and the output folder's privacy marker that
refuses a run which would mix raw and pseudonymised data."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest

from tiktok_research.config import redact
from tiktok_research.download.item import build_metadata
from tiktok_research.errors import ConfigError, MissingSecret
from tiktok_research.privacy import (
    Pseudonymiser,
    announce,
    check_study,
    mark_study,
    userless_url,
)
from tiktok_research.process.ocr import TextItem
from tiktok_research.process.steps import ProcessSettings, step_ocr_frames

KEY = "a-study-key-0123456789abcdef"
MARKER = "privacy.json"  # a pseudonymised study's output folder says so
TOKEN = re.compile(r"^[uins]_[0-9a-f]{16}$")


def raw_item() -> dict:
    return {
        "id": "7300000000000000001",
        "desc": "Best ramen with @Noodle.Friend and @mika_travels 🍜 #ramen mail@example.com",
        "createTime": 1704067200,
        "author": {"id": "6900000000000000001", "uniqueId": "mika_travels",
                   "nickname": "Mika Wanderlust", "secUid": "MS4wLjABAAAAsecretsecretsecret",
                   "verified": False},
        "music": {"title": "original sound - Mika Wanderlust", "authorName": "Mika Wanderlust"},
        "textExtra": [
            {"start": 16, "end": 29, "type": 0, "userUniqueId": "noodle.friend",
             "userId": "6900000000000000002", "secUid": "MS4wLjABAAAAfriendfriendfriend"},
            {"start": 52, "end": 58, "type": 1, "hashtagName": "ramen"},
        ],
        "stickersOnItem": [{"stickerText": ["follow @mika_travels", "Mika Wanderlust says hi"]}],
        "video": {"width": 576, "height": 1024, "duration": 15},
    }


def test_pseudonyms_are_keyed_stable_and_of_their_kind() -> None:
    study, again, other = Pseudonymiser(KEY), Pseudonymiser(KEY), Pseudonymiser(KEY + "x")
    for kind, value in (("handle", "mika_travels"), ("user_id", "6900000000000000001"),
                        ("nickname", "Mika Wanderlust"), ("sec_uid", "MS4wLjABAAAA")):
        pseudonym = study.pseudonym(kind, value)
        assert TOKEN.match(pseudonym), pseudonym
        assert pseudonym == again.pseudonym(kind, value)  # the same in every run of the study
        assert pseudonym != other.pseudonym(kind, value)  # and nothing without the key
    assert study.handle("Mika_Travels") == study.handle("@mika_travels")  # handles ignore case
    assert study.handle("@Xander") == study.handle("xander")
    assert study.pseudonym("nickname", "Mika") != study.pseudonym("nickname", "mika")
    assert study.pseudonym("handle", "42") != study.pseudonym("user_id", "42")
    with pytest.raises(ConfigError) as short:
        Pseudonymiser("k" * 15)
    assert str(short.value) == ("STUDY_PSEUDONYM_KEY is too short: use at least 16 random "
                                "characters (e.g. `openssl rand -hex 32`)")


def test_pseudonyms_are_pinned_so_a_new_version_keeps_a_running_study_s_ones() -> None:
    def expected(kind: str, value: str) -> str:
        return hmac.new(KEY.encode(), f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()

    study = Pseudonymiser(KEY)
    assert study.handle(" @Mika_Travels ") == "u_" + expected("handle", "mika_travels")[:16]
    assert study.pseudonym("user_id", " 69 ") == "i_" + expected("user_id", "69")[:16]
    assert study.pseudonym("nickname", "Mika W") == "n_" + expected("nickname", "Mika W")[:16]
    assert study.pseudonym("sec_uid", "MS4w") == "s_" + expected("sec_uid", "MS4w")[:16]
    assert study.key_check() == expected("key-check", "tiktok-research study key check")
    assert Pseudonymiser("k" * 16).handle("a")  # 16 characters are enough


def test_an_item_leaves_with_no_raw_identity_and_its_mentions_pseudonymised() -> None:
    study = Pseudonymiser(KEY)
    item = raw_item()
    done = study.item(item)
    assert item == raw_item()  # the page's own data is left as it was
    author = done["author"]
    assert author["uniqueId"] == study.handle("mika_travels")
    assert author["id"] == study.pseudonym("user_id", "6900000000000000001")
    assert author["nickname"] == study.pseudonym("nickname", "Mika Wanderlust")
    assert author["secUid"] == study.pseudonym("sec_uid", "MS4wLjABAAAAsecretsecretsecret")
    assert author["verified"] is False
    # A mention is a handle: the author mentioned gets the author's pseudonym.
    assert done["desc"] == (f"Best ramen with @{study.handle('noodle.friend')} and "
                            f"@{study.handle('mika_travels')} 🍜 #ramen mail@example.com")
    mention, hashtag = done["textExtra"]
    assert mention["userUniqueId"] == study.handle("noodle.friend")
    assert mention["userId"] == study.pseudonym("user_id", "6900000000000000002")
    assert hashtag == raw_item()["textExtra"][1]
    nickname = study.pseudonym("nickname", "Mika Wanderlust")
    assert done["music"] == {"title": f"original sound - {nickname}", "authorName": nickname}
    assert done["stickersOnItem"][0]["stickerText"] == [
        f"follow @{study.handle('mika_travels')}", f"{nickname} says hi"]
    text = json.dumps(done)
    for raw in ("mika_travels", "Mika Wanderlust", "6900000000000000001", "MS4wLjABAAAAsecret",
                "Noodle.Friend", "noodle.friend", "6900000000000000002", "MS4wLjABAAAAfriend"):
        assert raw not in text


def test_a_known_identity_is_replaced_as_a_whole_word_only() -> None:
    study = Pseudonymiser(KEY)
    item = {"author": {"uniqueId": "seafoodie", "nickname": "Food"},
            "music": {"title": "Food - seafood songs, by Food!", "authorName": "Food"}}
    nickname = study.pseudonym("nickname", "Food")
    assert study.item(item)["music"] == {"title": f"{nickname} - seafood songs, by {nickname}!",
                                         "authorName": nickname}


def test_odd_items_are_pseudonymised_all_the_same() -> None:
    study = Pseudonymiser(KEY)
    item = {"author": {"id": 6900000000000000001, "uniqueId": "mikat", "nickname": "mikat daily",
                       "secUid": "", "verified": True},
            "desc": "mikat daily and mikat, by Bo; ids 6900000000000000001",
            "textExtra": ["junk", {"type": 0, "userUniqueId": "Bo"}]}
    done = study.item(item)
    handle, nickname = study.handle("mikat"), study.pseudonym("nickname", "mikat daily")
    user_id = study.pseudonym("user_id", "6900000000000000001")
    assert done["author"] == {"id": user_id, "uniqueId": handle, "nickname": nickname,
                              "secUid": "", "verified": True}
    # The nickname whole before the handle inside it; a 2-letter name is too short to look
    # for in text.
    assert done["desc"] == f"{nickname} and {handle}, by Bo; ids {user_id}"
    assert done["textExtra"] == ["junk", {"type": 0, "userUniqueId": study.handle("bo")}]
    assert study.item({"author": "a string"}) == {"author": "a string"}
    # Longest first, whatever the alphabet says.
    fan = study.item({"author": {"uniqueId": "zorro", "nickname": "Amy zorro fan"},
                      "desc": "Amy zorro fan"})
    assert fan["desc"] == study.pseudonym("nickname", "Amy zorro fan")


def test_metadata_of_a_pseudonymised_item_keeps_the_userless_link() -> None:
    study = Pseudonymiser(KEY)
    url = "https://www.tiktok.com/@_/video/7300000000000000001"
    metadata = build_metadata(study.item(raw_item()), video_id="7300000000000000001", url=url,
                              downloaded_at="2026-12-03T00:00:00Z", name_user_in_url=False)
    assert metadata["url"] == url
    assert metadata["author"] == study.handle("mika_travels")
    assert metadata["author_nickname"] == study.pseudonym("nickname", "Mika Wanderlust")
    assert "mika" not in json.dumps(metadata).lower()
    # Without pseudonymisation the item names its user in the link, as before.
    plain = build_metadata(raw_item(), video_id="7300000000000000001", url=url,
                           downloaded_at="2026-12-03T00:00:00Z")
    assert plain["url"] == "https://www.tiktok.com/@mika_travels/video/7300000000000000001"


def test_links_lose_their_user_part_and_logs_do_too_in_a_pseudonymised_run(monkeypatch) -> None:
    assert userless_url("https://www.tiktok.com/@mika.travels/video/123?is_from_webapp=1#x") \
        == "https://www.tiktok.com/@_/video/123"
    assert userless_url("http://127.0.0.1:8765/@a-b_c/photo/9") == "http://127.0.0.1:8765/@_/photo/9"
    assert userless_url("https://vm.tiktok.com/ZMabc/") == "https://vm.tiktok.com/ZMabc/"
    assert userless_url("https://www.tiktok.com/@a/video/1?x=1?y=2#f#g") \
        == "https://www.tiktok.com/@_/video/1"
    assert userless_url("https://www.tiktok.com/@a/video/1#f?x#y") \
        == "https://www.tiktok.com/@_/video/1"
    line = ("visit 1 of https://www.tiktok.com/@mika_travels/video/1: a challenge page; "
            "short link https://vm.tiktok.com/ZMabc/ dropped: it redirects to "
            "'https://www.tiktok.com/@mika.travels', not to a TikTok item; mail@example.com")
    announce(None)
    assert redact(line) == line
    announce(Pseudonymiser(KEY))
    try:
        assert redact(line) == (
            "visit 1 of https://www.tiktok.com/@_/video/1: a challenge page; short link "
            "https://vm.tiktok.com/ZMabc/ dropped: it redirects to 'https://www.tiktok.com/@_', "
            "not to a TikTok item; mail@example.com")
    finally:
        announce(None)


def test_the_key_itself_is_redacted(monkeypatch) -> None:
    monkeypatch.setenv("STUDY_PSEUDONYM_KEY", KEY)
    assert redact(f"key={KEY}") == "key=***"


def config(tmp_path, on: bool) -> dict:
    return {"output_dir": str(tmp_path / "output"), "privacy": {"pseudonymise": on}}


def test_a_new_or_empty_output_folder_starts_a_pseudonymised_study(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_PSEUDONYM_KEY", KEY)
    study = check_study(config(tmp_path, True))
    assert study is not None
    (tmp_path / "output").mkdir()
    assert check_study(config(tmp_path, True)) is not None
    mark_study(config(tmp_path, True), study, "2026-12-03T06:00:00Z")
    marker = json.loads((tmp_path / "output" / MARKER).read_text())
    assert marker == {"pseudonymised": True, "key_check": study.key_check(),
                      "started_at": "2026-12-03T06:00:00Z",
                      "pseudonyms": "HMAC-SHA256 of kind and value, 16 hex digits: u_ handle, "
                                    "i_ user id, n_ nickname, s_ secUid"}
    mark_study(config(tmp_path, True), study, "later")  # written once
    assert json.loads((tmp_path / "output" / MARKER).read_text()) == marker
    assert KEY not in (tmp_path / "output" / MARKER).read_text()
    # The next runs of the study, with data in the folder by then, go on.
    (tmp_path / "output" / "videos").mkdir()
    assert check_study(config(tmp_path, True)) is not None


def test_runs_that_would_mix_raw_and_pseudonymised_data_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("STUDY_PSEUDONYM_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    out = tmp_path / "output"
    assert check_study(config(tmp_path, False)) is None
    with pytest.raises(MissingSecret) as missing:
        check_study(config(tmp_path, True))
    assert str(missing.value) == (
        "STUDY_PSEUDONYM_KEY is not set (environment or .env); it is needed for "
        "privacy.pseudonymise (the pseudonyms of authors and mentioned users)")
    monkeypatch.setenv("STUDY_PSEUDONYM_KEY", KEY)
    (out / "queries").mkdir(parents=True)  # an earlier run without pseudonymisation
    with pytest.raises(ConfigError) as refused:
        check_study(config(tmp_path, True))
    assert str(refused.value) == (
        f"privacy.pseudonymise is on but {out} already holds data that is not pseudonymised: "
        "start the study in a new or empty output_dir (with STUDY_PSEUDONYM_KEY set)")
    assert check_study(config(tmp_path, False)) is None  # that study goes on as it was
    # A bucket folder or SQLite file of the run's set outside the output folder counts too.
    elsewhere = tmp_path / "elsewhere"
    bucket, database = elsewhere / "bucket", elsewhere / "research.sqlite"
    settings = {"output_dir": str(elsewhere / "output"), "privacy": {"pseudonymise": True},
                "storage": {"local_dir": str(bucket)}, "database": {"sqlite_path": str(database)}}
    bucket.mkdir(parents=True)
    assert check_study(settings) is not None  # empty
    (bucket / "videos").mkdir()
    with pytest.raises(ConfigError, match=f"but {bucket} already holds data"):
        check_study(settings)
    (bucket / "videos").rmdir()
    database.write_bytes(b"")
    with pytest.raises(ConfigError, match=f"but {database} already holds data"):
        check_study(settings)

    fresh = tmp_path / "study"
    settings = {"output_dir": str(fresh), "privacy": {"pseudonymise": True}}
    mark_study(settings, check_study(settings), "2026-12-03T06:00:00Z")
    monkeypatch.setenv("STUDY_PSEUDONYM_KEY", KEY + "-other")
    with pytest.raises(ConfigError) as other_key:
        check_study(settings)
    assert str(other_key.value) == (
        f"STUDY_PSEUDONYM_KEY is not the key {fresh} was pseudonymised with "
        f"({fresh / MARKER}): set the study's key, or start the study in a new output_dir")
    with pytest.raises(ConfigError) as turned_off:
        check_study({**settings, "privacy": {"pseudonymise": False}})
    assert str(turned_off.value) == (
        f"{fresh} holds a pseudonymised study ({fresh / MARKER}): run it with "
        "privacy.pseudonymise=true and its STUDY_PSEUDONYM_KEY, or choose another output_dir")
    for edited in ({"pseudonymised": True}, {"key_check": "clé"}, ["a list"]):
        (fresh / MARKER).write_text(json.dumps(edited))
        with pytest.raises(ConfigError, match="is not the key"):
            check_study(settings)
    (fresh / MARKER).write_text("{ half a fi")  # a damaged marker is still a marker
    monkeypatch.setenv("STUDY_PSEUDONYM_KEY", KEY)
    with pytest.raises(ConfigError, match="is not the key"):
        check_study(settings)


def test_a_search_result_names_nobody_in_urls_json() -> None:
    study = Pseudonymiser(KEY)
    entry = {"video_id": "123", "url": "https://www.tiktok.com/@mika_travels/video/123",
             "author": "mika_travels", "title": "Mika Wanderlust (@mika_travels) | TikTok",
             "position": 1, "source_url": "https://m.tiktok.com/@mika_travels/video/123?lang=en",
             "snippet": "with @noodle.friend", "date": "3 days ago", "duration": "0:15",
             "kind": "video", "query_index": 0, "query": "tokyo ramen"}
    assert study.link(entry) == {
        **entry, "url": "https://www.tiktok.com/@_/video/123",
        "author": study.handle("mika_travels"), "title": "", "snippet": "",
        "source_url": "https://m.tiktok.com/@_/video/123"}
    assert study.link({**entry, "author": ""})["author"] == ""
    assert study.link({"video_id": "1"}) == {"video_id": "1", "url": "", "source_url": "",
                                             "author": "", "title": "", "snippet": ""}


class ScreenReader:
    name, model, usage = "stub", None, None

    def read(self, image) -> list[TextItem]:
        return [TextItem("TikTok"), TextItem("@Mika_Travels"), TextItem("ramen @ 5 pm")]


def test_on_screen_mentions_are_pseudonymised_too(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STUDY_PSEUDONYM_KEY", KEY)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "001_t0.0s.jpg").write_bytes(b"")
    plain = ProcessSettings.from_config({})
    assert plain.mentions is None
    settings = ProcessSettings.from_config({"privacy": {"pseudonymise": True}})
    document = step_ocr_frames(ScreenReader(), frames, tmp_path / "ocr.json",
                               mentions=settings.mentions)
    handle = Pseudonymiser(KEY).handle("mika_travels")
    assert [item["text"] for item in document["items"]] == ["TikTok", f"@{handle}",
                                                            "ramen @ 5 pm"]
    assert json.loads((tmp_path / "ocr.json").read_text())["items"][1]["text"] == f"@{handle}"
