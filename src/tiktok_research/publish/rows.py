"""A published video as rows (pure): its `videos` row, and its row of the dataset export."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

CUE_TIMING = re.compile(r"^\s*(\d+:)?\d+:\d+[.,]\d+\s+-->")
TAG = re.compile(r"<[^>]*>")

# Metadata fields that the dataset export carries next to the `videos` columns.
METADATA_COLUMNS = (
    "author_id", "author_nickname", "caption", "hashtags", "create_time", "duration", "width",
    "height", "play_count", "like_count", "comment_count", "share_count", "collect_count",
    "music_title", "music_author", "location", "downloaded_at",
)


def pick_frames(frames: list[Path], max_frames: int) -> list[Path]:
    """At most `max_frames` frames in time order: the first one plus an even spread of the rest.

    Frame names start with their scene index (`001_t0.0s.jpg`), so name order is time order.
    """
    ordered = sorted(frames, key=lambda path: path.name)
    if len(ordered) <= max_frames:
        return ordered
    if max_frames <= 1:
        return ordered[:max_frames]
    last = len(ordered) - 1
    # Evenly spaced indices from the first to the last frame; distinct since last >= max_frames.
    indices = [round(i * last / (max_frames - 1)) for i in range(max_frames)]
    return [ordered[index] for index in indices]


def ocr_text(ocr: dict[str, Any]) -> str:
    """The frames' text joined in time order (one line per frame item)."""
    items = [item for item in ocr.get("items") or [] if isinstance(item, dict)]
    items.sort(key=lambda item: (float(item.get("t") or 0.0), str(item.get("frame") or "")))
    texts = (str(item.get("text") or "").strip() for item in items)
    return "\n".join(text for text in texts if text)


def video_row(video_id: str, metadata: dict[str, Any], transcript: str, ocr: dict[str, Any],
              gcs_prefix: str, frame_count: int, processed_at: str,
              post_type: str = "video") -> dict[str, Any]:
    """The `videos` row: video_id, url, author, title, transcript, ocr_text, gcs_prefix,
    frame_count, processed_at, post_type ("video", or "photo" for a photo post)."""
    author = metadata.get("author")
    if isinstance(author, dict):  # tolerate a raw TikTok author object
        author = author.get("uniqueId")
    title = metadata.get("title") or metadata.get("caption") or metadata.get("desc")
    return {
        "video_id": video_id,
        "url": metadata.get("url"),
        "author": author,
        "title": title,
        "transcript": transcript.strip(),
        "ocr_text": ocr_text(ocr),
        "gcs_prefix": gcs_prefix,
        "frame_count": frame_count,
        "processed_at": processed_at,
        "post_type": post_type,
    }


def vtt_text(vtt: str) -> str:
    """The words of a WebVTT caption track, cue after cue, without timings, settings or tags."""
    lines, skipping = [], False
    for line in vtt.splitlines():
        stripped = line.strip()
        if not stripped:
            skipping = False
            continue
        if stripped.startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            skipping = True
        if skipping:
            continue
        if CUE_TIMING.match(stripped):
            continue
        if stripped.isdigit() and not lines:  # a cue number before the first timing
            continue
        text = TAG.sub("", stripped).strip()
        if text and not text.isdigit():
            lines.append(text)
    return " ".join(lines)


def vtt_seconds(stamp: str) -> float:
    """A WebVTT timestamp (`01:02.500`, `00:01:02.500`, or with a comma) in seconds."""
    total = 0.0
    for part in stamp.replace(",", ".").split(":"):
        total = total * 60 + float(part)
    return total


def vtt_cues(vtt: str) -> list[tuple[float, str]]:
    """Each cue of a WebVTT track as (its start in seconds, its words without tags)."""
    cues: list[tuple[float, str]] = []
    start: float | None = None
    words: list[str] = []
    for line in [*vtt.splitlines(), ""]:
        stripped = line.strip()
        if CUE_TIMING.match(stripped):
            start, words = vtt_seconds(stripped.split("-->")[0].strip()), []
        elif not stripped:
            if start is not None and words:
                cues.append((round(start, 2), " ".join(words)))
            start, words = None, []
        elif start is not None:
            text = TAG.sub("", stripped).strip()
            if text:
                words.append(text)
    return cues


def passages(timestamps: dict[str, Any], ocr: dict[str, Any],
             captions: Path | None) -> list[dict[str, Any]]:
    """What is said, shown and captioned in the video, piece by piece with its time: the
    transcript's segments, the frames' text items and the caption tracks' cues (for the
    searchable dataset, `accounting/search.py`)."""
    found: list[dict[str, Any]] = []
    for segment in timestamps.get("segments") or []:
        if isinstance(segment, dict) and str(segment.get("text") or "").strip():
            found.append({"kind": "speech", "start": segment.get("start"),
                          "end": segment.get("end"), "text": str(segment["text"]).strip(),
                          "source": None})
    for item in ocr.get("items") or []:
        if isinstance(item, dict) and str(item.get("text") or "").strip():
            found.append({"kind": "screen", "start": item.get("t"), "end": None,
                          "text": str(item["text"]).strip(), "source": item.get("frame")})
    if captions is not None and captions.is_dir():
        for track in sorted(captions.glob("*.vtt")):
            vtt = track.read_text(encoding="utf-8", errors="replace")
            for start, text in vtt_cues(vtt):
                found.append({"kind": "caption", "start": start, "end": None, "text": text,
                              "source": track.stem})
    return found


def captions_text(folder: Path | None) -> str:
    """Every caption track of the video as text, each after its language: `[eng-US] ...`."""
    if folder is None or not folder.is_dir():
        return ""
    parts = []
    for track in sorted(folder.glob("*.vtt")):
        text = vtt_text(track.read_text(encoding="utf-8", errors="replace"))
        if text:
            parts.append(f"[{track.stem}] {text}")
    return "\n".join(parts)


def dataset_row(row: dict[str, Any], metadata: dict[str, Any], language: str | None,
                captions: str = "") -> dict[str, Any]:
    """The video's row of the dataset export: its `videos` row plus the metadata fields, the
    transcript's language and TikTok's own captions (the queries that found it are added by
    the run summary)."""
    exported = dict(row)
    for column in METADATA_COLUMNS:
        value = metadata.get(column)
        exported[column] = (" ".join(f"#{tag}" for tag in value)
                            if column == "hashtags" and isinstance(value, list) else value)
    exported["transcript_language"] = language
    rendition = metadata.get("rendition") if isinstance(metadata.get("rendition"), dict) else {}
    exported["rendition"] = rendition.get("kind")
    exported["watermarked"] = rendition.get("watermarked")
    exported["tiktok_captions"] = captions
    return exported
