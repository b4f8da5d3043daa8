"""Build what the process stage leaves behind for one video, for testing publish on its own.

Files are real: an MP3 made by ffmpeg, JPEG frames, JSON shaped as the output tree documents
it. Query folders with `urls.json` can be written too, so that links and the workflow's targets
exist.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tiktok_research.config import load
from tiktok_research.publish.publish import PublishedFiles, publish_video
from tiktok_research.queries import query_dir_name


@cache
def _audio_bytes() -> bytes:
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
         "-q:a", "9", "-f", "mp3", "pipe:1"], check=True, capture_output=True)
    return result.stdout


def frame_jpeg(index: int) -> bytes:
    image = np.full((48, 64, 3), (index * 37) % 256, dtype=np.uint8)
    cv2.putText(image, str(index), (4, 36), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def write_downloaded(output_dir: Path, video_id: str, video: Path | bytes,
                     metadata: dict[str, Any]) -> Path:
    """`output_dir/videos/{video_id}/` as a finished download leaves it: `video.mp4` (copied
    from a file, or these bytes), `metadata.json` and an empty `captions/` folder."""
    folder = output_dir / "videos" / video_id
    (folder / "captions").mkdir(parents=True)
    if isinstance(video, Path):
        shutil.copyfile(video, folder / "video.mp4")
    else:
        (folder / "video.mp4").write_bytes(video)
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return folder


def make_processed_video(output_dir: Path, video_id: str, *, frames: int = 5,
                         with_video: bool = True, transcript: str | None = None,
                         author: str = "tester") -> Path:
    """`output_dir/videos/{video_id}/` with every file publish needs, inputs older than outputs."""
    folder = output_dir / "videos" / video_id
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    meta = {"video_id": video_id, "url": f"https://www.tiktok.com/@{author}/video/{video_id}",
            "author": author, "author_id": "42", "caption": f"caption of {video_id} #test",
            "hashtags": ["test"], "create_time": "2024-01-02T03:04:05Z", "duration": 3}
    (folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    if with_video:
        (folder / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + video_id.encode() * 64)
    (folder / "audio.mp3").write_bytes(_audio_bytes())
    items = []
    for index in range(1, frames + 1):
        t = round((index - 1) * 1.5, 1)
        name = f"{index:03d}_t{t:.1f}s.jpg"
        (folder / "frames" / name).write_bytes(frame_jpeg(index))
        items.append({"frame": name, "t": t, "text": f"text {video_id} {index}",
                      "confidence": 0.9})
    # Derived files are newer than what they come from, as if the rules had made them.
    time.sleep(0.01)
    items.reverse()  # stored out of order on purpose: ocr_text must sort by time
    (folder / "ocr.json").write_text(json.dumps({"items": items, "scenes": frames,
                                                 "engine": "test"}), encoding="utf-8")
    text = transcript if transcript is not None else f"hello from video {video_id}"
    (folder / "transcript.txt").write_text(text + "\n", encoding="utf-8")
    (folder / "transcript_timestamps.json").write_text(
        json.dumps({"language": "en", "segments": [{"start": 0.0, "end": 1.0, "text": text}]}),
        encoding="utf-8")
    return folder


def publish_inputs(output_dir: Path, video_id: str, include_video: bool = False) -> dict[str, Any]:
    folder = output_dir / "videos" / video_id
    inputs = {"meta": folder / "metadata.json", "audio": folder / "audio.mp3",
              "transcript": folder / "transcript.txt",
              "timestamps": folder / "transcript_timestamps.json", "ocr": folder / "ocr.json",
              "frames": folder / "frames"}
    if include_video:
        inputs["video"] = folder / "video.mp4"
    return {name: str(path) for name, path in inputs.items()}


def write_query(output_dir: Path, index: int, query: str, video_ids: list[str]) -> Path:
    """`queries/query_{index}_{slug}/urls.json` as the search checkpoint writes it."""
    folder = output_dir / "queries" / query_dir_name(index, query)
    folder.mkdir(parents=True, exist_ok=True)
    entries = [{"video_id": video_id, "url": f"https://www.tiktok.com/@tester/video/{video_id}",
                "title": f"title {video_id}", "position": position, "query_index": index,
                "query": query} for position, video_id in enumerate(video_ids, start=1)]
    (folder / "urls.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


def make_config(out: Path, **overrides) -> dict:
    """A config publishing `out`'s videos to `out/bucket` and `out/research.sqlite`, quickly
    retried; each section of `overrides` updates its section."""
    settings = {"output_dir": str(out), "storage": {"local_dir": str(out / "bucket")},
                "database": {"sqlite_path": str(out / "research.sqlite")},
                "publish": {"backoff_seconds": 0.01}}
    for key, value in overrides.items():
        if isinstance(value, dict):
            settings.setdefault(key, {}).update(value)
        else:
            settings[key] = value
    return load(settings)


def publish(out: Path, config: dict, video_id: str) -> dict:
    """Publish the processed video `video_id` of `out` (made by `make_processed_video`)."""
    inputs = {name: Path(path) for name, path in
              publish_inputs(out, video_id, config["include_video"]).items()}
    files = PublishedFiles(inputs["meta"], inputs["transcript"], inputs["timestamps"],
                           inputs["ocr"], inputs["audio"], inputs["frames"], inputs.get("video"))
    return publish_video(video_id, files, config)
