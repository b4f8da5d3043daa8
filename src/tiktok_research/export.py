"""The dataset export: every published video as one row — the database columns plus the
metadata fields — as Parquet and CSV, ready for pandas or R."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tiktok_research.files import atomic_path, read_json
from tiktok_research.publish import video_row

METADATA_COLUMNS = (
    "author_id", "author_nickname", "caption", "hashtags", "create_time", "duration", "width",
    "height", "play_count", "like_count", "comment_count", "share_count", "collect_count",
    "music_title", "music_author", "location", "downloaded_at",
)


def published_rows(output_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for receipt_path in sorted(output_dir.glob("videos/*/.uploaded")):
        folder = receipt_path.parent
        receipt = read_json(receipt_path)
        metadata = read_json(folder / "metadata.json", {}) or {}
        if not isinstance(receipt, dict):
            continue
        transcript_path = folder / "transcript.txt"
        row = video_row(
            folder.name,
            metadata,
            transcript_path.read_text(encoding="utf-8") if transcript_path.exists() else "",
            read_json(folder / "ocr.json", {}) or {},
            receipt.get("storage", {}).get("prefix", ""),
            receipt.get("frames", {}).get("published", 0),
            receipt.get("processed_at", ""),
        )
        for column in METADATA_COLUMNS:
            value = metadata.get(column)
            row[column] = " ".join(f"#{tag}" for tag in value) if column == "hashtags" \
                and isinstance(value, list) else value
        queries = metadata.get("queries") or []
        links = receipt.get("database", {}).get("links") or queries
        row["queries"] = "; ".join(str(link.get("query")) for link in links
                                   if isinstance(link, dict))
        timestamps = read_json(folder / "transcript_timestamps.json")
        row["transcript_language"] = (timestamps.get("language")
                                      if isinstance(timestamps, dict) else None)
        rows.append(row)
    return rows


def export_dataset(config: dict[str, Any]) -> tuple[Path, Path]:
    """Write output/dataset.parquet and output/dataset.csv (written whole, then renamed)."""
    output_dir = Path(config["output_dir"])
    frame = pd.DataFrame(published_rows(output_dir))
    if not frame.empty:
        for column in ("processed_at", "create_time", "downloaded_at"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce")
    parquet_path, csv_path = output_dir / "dataset.parquet", output_dir / "dataset.csv"
    with atomic_path(parquet_path) as temp:
        frame.to_parquet(temp, index=False)
    with atomic_path(csv_path) as temp:
        frame.to_csv(temp, index=False)
    return parquet_path, csv_path
