"""The dataset export: every published video as one row — the database columns, the metadata
fields, the transcript's language and the queries that found it — as Parquet and CSV, ready
for pandas or R. Written whole, then renamed into place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from tiktok_research.files import atomic_path

# A spreadsheet reads a cell that starts with one of these as a formula (`=HYPERLINK(…)` from a
# caption, `+cmd|…` from on-screen text): in the CSV such a text cell gets a leading `'`, which
# spreadsheets show as text. Numbers, and the Parquet file, are left as they are.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """`value`, made safe to open in a spreadsheet if it is text that would start a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def published_entries(videos: list[dict[str, Any]]
                      ) -> Iterator[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(query document, video id, entry) of each published video with its dataset row, in
    query order (a video several queries found comes once per query)."""
    for document in sorted(videos, key=lambda doc: doc.get("query_index") or 0):
        for video_id, video in (document.get("videos") or {}).items():
            if video.get("outcome") == "published" and isinstance(video.get("dataset_row"),
                                                                  dict):
                yield document, video_id, video


def published_rows(videos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per published video (several queries may list it), with the queries that found
    it, in query order."""
    rows: dict[str, dict[str, Any]] = {}
    found_by: dict[str, list[tuple[int, str]]] = {}
    for document, video_id, video in published_entries(videos):
        rows.setdefault(video_id, dict(video["dataset_row"]))
        found_by.setdefault(video_id, []).append((document.get("query_index") or 0,
                                                  str(document.get("query"))))
    for video_id, row in rows.items():
        row["queries"] = "; ".join(query for _index, query in found_by[video_id])
    return [rows[video_id] for video_id in sorted(rows)]


def export_dataset(videos: list[dict[str, Any]], parquet_path: str | Path,
                   csv_path: str | Path) -> tuple[Path, Path]:
    """Write the export of the queries' `videos.json` documents."""
    frame = pd.DataFrame(published_rows(videos))
    if not frame.empty:
        for column in ("processed_at", "create_time", "downloaded_at"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce")
    with atomic_path(parquet_path) as temp:
        frame.to_parquet(temp, index=False)
    text = frame.select_dtypes(include=["object", "string"]).columns
    safe = frame.assign(**{column: frame[column].map(neutralise_cell) for column in text})
    with atomic_path(csv_path) as temp:
        # RFC 4180 line ends: a cell with a bare CR in it is quoted too (with "\n" it is not).
        safe.to_csv(temp, index=False, lineterminator="\r\n")
    return Path(parquet_path), Path(csv_path)
