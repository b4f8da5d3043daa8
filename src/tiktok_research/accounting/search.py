"""The searchable dataset: `dataset.sqlite`, written with the export whatever the database
backend, and what `tiktok-research search` and `browse` read.

Tables (each described in `DESCRIPTIONS`, which `browse` hands to Datasette):

- `videos`: one row per published video, the export's columns;
- `query_videos`: which query found which video, at which position;
- `hashtags`: one row per video and hashtag;
- `passages`: what is said (`speech`, a transcript segment), shown (`screen`, a frame's text
  item) and captioned (`caption`, a cue of TikTok's own captions) in each video, with the
  second it starts at. Videos published before passages were kept have their whole
  transcript, on-screen text and captions as one passage each, with no time.

`passages_fts` and `videos_fts` index the text with SQLite FTS5 (external content, so
Datasette offers a search box on both tables).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiktok_research.accounting.export import published_entries, published_rows
from tiktok_research.files import atomic_path

TOKENIZER = "unicode61 remove_diacritics 2"
VIDEO_TEXT = ("title", "caption", "transcript", "ocr_text", "tiktok_captions")
WORD = re.compile(r"\w+", re.UNICODE)


def _cell(value: Any) -> Any:
    """A value SQLite stores as it is (lists and mappings as JSON text)."""
    if value is None or isinstance(value, (str, int, float)):  # bool is an int
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _video_passages(video_id: str, video: dict[str, Any]) -> list[tuple]:
    pieces = video.get("passages")
    if isinstance(pieces, list):
        return [(video_id, str(p.get("kind")), p.get("start"), p.get("end"), p.get("source"),
                 str(p.get("text") or "")) for p in pieces
                if isinstance(p, dict) and str(p.get("text") or "").strip()]
    row = video.get("dataset_row") or {}  # a receipt from before passages were kept
    whole = (("speech", row.get("transcript")), ("screen", row.get("ocr_text")),
             ("caption", row.get("tiktok_captions")))
    return [(video_id, kind, None, None, None, str(text)) for kind, text in whole
            if isinstance(text, str) and text.strip()]


def write_search_database(documents: list[dict[str, Any]], path: str | Path) -> Path:
    """Write `dataset.sqlite` from the queries' `videos.json` documents (whole, then renamed
    into place)."""
    rows = published_rows(documents)
    columns = list(dict.fromkeys(key for row in rows for key in row)) or ["video_id"]
    links, pieces, seen = [], [], set()
    for document, video_id, video in published_entries(documents):
        links.append((document.get("query_index"), document.get("query"), video_id,
                      video.get("position")))
        if video_id not in seen:
            seen.add(video_id)
            pieces += _video_passages(video_id, video)
    with atomic_path(path) as temp:
        connection = sqlite3.connect(temp)
        try:
            _fill(connection, columns, rows, links, pieces)
            connection.commit()
        finally:
            connection.close()
    return Path(path)


def _fill(db: sqlite3.Connection, columns: list[str], rows: list[dict[str, Any]],
          links: list[tuple], pieces: list[tuple]) -> None:
    quoted = ", ".join(f'"{name}"' for name in columns)
    db.execute(f"CREATE TABLE videos ({quoted}, PRIMARY KEY (video_id))")
    db.executemany(f"INSERT INTO videos ({quoted}) VALUES ({', '.join('?' for _ in columns)})",
                   [[_cell(row.get(name)) for name in columns] for row in rows])
    db.execute("CREATE TABLE query_videos (query_index INTEGER, query TEXT, video_id TEXT, "
               "position INTEGER)")
    db.executemany("INSERT INTO query_videos VALUES (?, ?, ?, ?)", links)
    db.execute("CREATE TABLE hashtags (video_id TEXT, hashtag TEXT)")
    db.executemany("INSERT INTO hashtags VALUES (?, ?)",
                   [(row["video_id"], tag.lstrip("#").lower()) for row in rows
                    for tag in str(row.get("hashtags") or "").split() if tag.lstrip("#")])
    db.execute("CREATE TABLE passages (id INTEGER PRIMARY KEY, video_id TEXT, kind TEXT, "
               "start REAL, \"end\" REAL, source TEXT, text TEXT)")
    db.executemany("INSERT INTO passages (video_id, kind, start, \"end\", source, text) "
                   "VALUES (?, ?, ?, ?, ?, ?)", pieces)
    db.execute(f"CREATE VIRTUAL TABLE passages_fts USING fts5(text, content='passages', "
               f"content_rowid='id', tokenize='{TOKENIZER}')")
    db.execute("INSERT INTO passages_fts (rowid, text) SELECT id, text FROM passages")
    indexed = [name for name in VIDEO_TEXT if name in columns]
    if indexed:
        names = ", ".join(f'"{name}"' for name in indexed)
        db.execute(f"CREATE VIRTUAL TABLE videos_fts USING fts5({names}, content='videos', "
                   f"tokenize='{TOKENIZER}')")
        db.execute(f"INSERT INTO videos_fts (rowid, {names}) SELECT rowid, {names} FROM videos")
    for statement in ("CREATE INDEX passages_video ON passages (video_id, start)",
                      "CREATE INDEX hashtags_tag ON hashtags (hashtag)",
                      "CREATE INDEX query_videos_video ON query_videos (video_id)"):
        db.execute(statement)


def match_expression(words: str) -> str:
    """An FTS5 query that finds passages holding every word of `words`, whatever characters
    they hold (FTS5's own syntax — quotes, NEAR, *, column filters — is not read from it)."""
    tokens = WORD.findall(words)
    return " ".join('"' + token.replace('"', '""') + '"' for token in tokens)


@dataclass(frozen=True)
class Hit:
    video_id: str
    kind: str
    second: float | None  # where the first word is said or shown, as near as is known
    start: float | None
    end: float | None
    snippet: str
    title: str | None
    url: str | None
    source: str | None = None  # the caption track's language, the key frame's file


def said_at(text: str, words: str, start: float | None, end: float | None) -> float | None:
    """Where in a segment from `start` to `end` the first word of `words` falls, assuming an
    even pace of speech over the segment's characters."""
    if start is None:
        return None
    if end is None or end <= start:
        return float(start)
    tokens = WORD.findall(words)
    found = re.search(r"\b" + re.escape(tokens[0]), text, re.IGNORECASE) if tokens else None
    share = found.start() / max(1, len(text)) if found else 0.0
    return round(float(start) + share * (float(end) - float(start)), 1)


def search(path: str | Path, words: str, limit: int = 20, kind: str | None = None) -> list[Hit]:
    """The passages of `dataset.sqlite` that hold every word of `words`, best first (only
    those of `kind` when given: speech, screen or caption)."""
    expression = match_expression(words)
    if not expression:
        return []
    db = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        found = db.execute(
            "SELECT p.video_id, p.kind, p.start, p.\"end\", p.text, p.source, "
            "snippet(passages_fts, 0, '[', ']', '…', 12), v.title, v.url "
            "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid "
            "LEFT JOIN videos v ON v.video_id = p.video_id "
            "WHERE passages_fts MATCH ? AND (? IS NULL OR p.kind = ?) "
            "ORDER BY bm25(passages_fts), p.video_id, p.start "
            "LIMIT ?", (expression, kind, kind, limit)).fetchall()
    finally:
        db.close()
    return [Hit(video_id, kind, said_at(text, words, start, end) if kind == "speech"
                else start, start, end, snippet, title, url, source)
            for video_id, kind, start, end, text, source, snippet, title, url in found]


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def hit_line(hit: Hit) -> str:
    """One line of `tiktok-research search`: the video, where and when, the snippet, the URL."""
    where = {"speech": "said", "screen": "shown", "caption": "captioned"}.get(hit.kind, hit.kind)
    if hit.kind == "caption" and hit.source:
        where += f" ({hit.source})"
    snippet = " ".join(hit.snippet.split())
    if hit.kind == "screen" and hit.second is None and hit.source:  # a photo post's image
        return f"{hit.video_id}  shown on {hit.source}  {snippet}  {hit.url or ''}"
    span = (f" (segment {clock(hit.start)}–{clock(hit.end)})"
            if hit.kind == "speech" and hit.end is not None else "")
    return f"{hit.video_id}  {where} at {clock(hit.second)}{span}  {snippet}  {hit.url or ''}"
