"""`tiktok-research browse`: `dataset.sqlite` in Datasette, with titles, column descriptions
and canned queries (Datasette's metadata, written beside the dataset as
`dataset.metadata.json` each time it starts)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tiktok_research.files import atomic_write_text

DATABASE = "dataset"  # Datasette names a database after its file: dataset.sqlite

TABLES: dict[str, dict[str, Any]] = {
    "videos": {
        "description": "One row per published video: its database row, its metadata and the "
                       "queries that found it (the same columns as dataset.parquet).",
        "columns": {
            "video_id": "TikTok's id of the video",
            "url": "the video's page (in a pseudonymised study without its user: /@_/)",
            "author": "the author's handle (uniqueId), or in a pseudonymised study its "
                      "pseudonym (u_ and 16 hex digits)",
            "title": "the video's description as TikTok shows it",
            "transcript": "what is said, transcribed by Whisper",
            "ocr_text": "the on-screen text of the key frames, in time order",
            "gcs_prefix": "where the video's files were published",
            "frame_count": "key frames published (a photo post's: its images)",
            "post_type": "video, or photo for a photo post (a slideshow: its images are its "
                         "frames, it has no transcript)",
            "hashtags": "the video's hashtags, space-separated",
            "tiktok_captions": "TikTok's own caption tracks, each after its language",
            "queries": "the queries that found the video, in list order",
        },
    },
    "query_videos": {
        "description": "Which query found which video, at which position of its results.",
        "columns": {"query_index": "the query's row in the research list",
                    "position": "the video's position in the query's results (1 = first)"},
    },
    "hashtags": {
        "description": "One row per video and hashtag (lower case, without #).",
        "columns": {"hashtag": "the hashtag, lower case, without #"},
    },
    "passages": {
        "description": "What is said, shown and captioned in each video, piece by piece, with "
                       "the second it starts at. Search it with the box above.",
        "columns": {
            "kind": "speech (a transcript segment), screen (a key frame's text) or caption "
                    "(a cue of TikTok's own captions)",
            "start": "second of the video where the piece starts (empty: not known)",
            "end": "second where a transcript segment ends",
            "source": "the key frame's file (screen) or the caption track's language",
            "text": "the words",
        },
        "sort": "video_id",
    },
}

QUERIES: dict[str, dict[str, Any]] = {
    "top_hashtags_per_query": {
        "title": "Top hashtags per query",
        "description": "The ten hashtags most used by each query's videos.",
        "sql": "SELECT query_index, query, hashtag, videos FROM ("
               "SELECT q.query_index, q.query, h.hashtag, count(DISTINCT h.video_id) AS videos, "
               "row_number() OVER (PARTITION BY q.query_index ORDER BY "
               "count(DISTINCT h.video_id) DESC, h.hashtag) AS rank "
               "FROM query_videos q JOIN hashtags h ON h.video_id = q.video_id "
               "GROUP BY q.query_index, q.query, h.hashtag) WHERE rank <= 10 "
               "ORDER BY query_index, videos DESC, hashtag",
    },
    "videos_mentioning": {
        "title": "Videos mentioning a term",
        "description": "Every place a term is said, shown or captioned (FTS5 syntax: ramen, "
                       "\"best ramen\", ramen OR sushi), with the second it starts at.",
        "sql": "SELECT p.video_id, v.title, p.kind, p.start, "
               "snippet(passages_fts, 0, '[', ']', '…', 12) AS snippet, v.url "
               "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid "
               "JOIN videos v ON v.video_id = p.video_id "
               "WHERE passages_fts MATCH :term ORDER BY bm25(passages_fts) LIMIT 200",
    },
    "on_screen_text_by_frame": {
        "title": "On-screen text by frame",
        "description": "The text read on each key frame of a video, in time order.",
        "sql": "SELECT p.start AS second, p.source AS frame, p.text FROM passages p "
               "WHERE p.video_id = :video_id AND p.kind = 'screen' ORDER BY p.start, p.source",
    },
}


def metadata(title: str = "TikTok research dataset") -> dict[str, Any]:
    """Datasette's metadata for `dataset.sqlite`."""
    return {
        "title": title,
        "description": "Published videos with their transcripts, on-screen text and captions, "
                       "searchable with SQLite FTS5. Written by the pipeline's run summary.",
        "databases": {DATABASE: {"tables": TABLES, "queries": QUERIES}},
    }


def datasette_command(path: Path, metadata_path: Path, host: str, port: int,
                      open_browser: bool) -> list[str]:
    command = [sys.executable, "-m", "datasette", "serve", str(path), "--metadata",
               str(metadata_path), "--host", host, "--port", str(port),
               "--setting", "sql_time_limit_ms", "5000"]
    return [*command, "--open"] if open_browser else command


def browse(path: Path, host: str, port: int, open_browser: bool) -> None:
    """Serve `path` with Datasette until interrupted. This process becomes Datasette (exec), so
    stopping it stops the server and nothing is left running."""
    metadata_path = path.with_name(f"{path.stem}.metadata.json")
    atomic_write_text(metadata_path, json.dumps(metadata(), indent=2) + "\n")
    print(f"Browsing {path} at http://{host}:{port}/{DATABASE} (Ctrl-C stops)", flush=True)
    command = datasette_command(path, metadata_path, host, port, open_browser)
    os.execv(command[0], command)
