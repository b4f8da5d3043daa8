"""Every path of the output tree, named once.

`rules/common.smk` builds the rules' inputs and outputs from `OutputTree`, the code builds the
rest from it, and the published layout (object keys in the bucket) uses the same file names.
A method given a wildcard (`"{video_id}"`) returns the rule's pattern.

    {output_dir}/
      queries/{qdir}/urls.json                      search_videos (checkpoint)
      queries/{qdir}/status.json, links.json, videos.json
                                                    summarise_query
      videos/{video_id}/video.mp4, metadata.json    download_video
      videos/{video_id}/transcript.txt, transcript_timestamps.json, ocr.json, .uploaded
                                                    process_and_publish_video (audio.mp3 and
                                                    frames/ too when `keep`)
      failures.json, progress.json, report.html, dataset.parquet, dataset.csv, dataset.sqlite
                                                    summarise_run
      privacy.json                                  a pseudonymised study's first run (onstart)
      logs/{rule}/{key}.log, benchmarks/{rule}/{key}.tsv
      bucket/videos/{video_id}/...                  the local storage backend
      research.sqlite                               the sqlite database backend
"""

from __future__ import annotations

from dataclasses import dataclass

# A video's files by role, as named in its folder and in the bucket.
VIDEO_FILES = {
    "video": "video.mp4",
    "metadata": "metadata.json",
    "audio": "audio.mp3",
    "frames": "frames",
    "transcript": "transcript.txt",
    "timestamps": "transcript_timestamps.json",
    "ocr": "ocr.json",
    "receipt": ".uploaded",
    "captions": "captions",
    "images": "images",  # a photo post's images, as downloaded (include_photo_posts)
}
# The files that leave the run with a published video, in upload order (frames and, with
# `include_video`, the video itself follow).
PUBLISHED_FILES = ("metadata", "transcript", "timestamps", "ocr", "audio")


def object_key(video_id: str, relative: str) -> str:
    """The key of one of a video's files in the storage: `videos/{video_id}/{relative}`."""
    if not str(video_id).isdigit():
        raise ValueError(f"not a video id: {video_id!r}")
    return f"videos/{video_id}/{relative}"


@dataclass(frozen=True)
class OutputTree:
    """The paths under one output folder (`output_dir`)."""

    root: str

    def _join(self, *parts: str) -> str:
        return "/".join((self.root.rstrip("/"), *parts))

    # --- per query ---
    def destination_note(self, qdir: str, key: str) -> str:
        """What the query's summary copied to the destination `key` (`publish/republish.py`)."""
        return self._join("queries", qdir, f"published-{key}.json")

    def query_dir(self, qdir: str) -> str:
        return self._join("queries", qdir)

    def urls(self, qdir: str) -> str:
        return self._join("queries", qdir, "urls.json")

    def status(self, qdir: str) -> str:
        return self._join("queries", qdir, "status.json")

    def links(self, qdir: str) -> str:
        return self._join("queries", qdir, "links.json")

    def query_videos(self, qdir: str) -> str:
        return self._join("queries", qdir, "videos.json")

    # --- per video ---
    def video_dir(self, video_id: str) -> str:
        return self._join("videos", video_id)

    def video_file(self, video_id: str, role: str) -> str:
        return self._join("videos", video_id, VIDEO_FILES[role])

    def video(self, video_id: str) -> str:
        return self.video_file(video_id, "video")

    def metadata(self, video_id: str) -> str:
        return self.video_file(video_id, "metadata")

    def receipt(self, video_id: str) -> str:
        return self.video_file(video_id, "receipt")

    # --- per run ---
    def failures(self) -> str:
        return self._join("failures.json")

    def progress(self) -> str:
        return self._join("progress.json")

    def costs(self) -> str:
        return self._join("costs.json")

    def report(self) -> str:
        return self._join("report.html")

    def privacy(self) -> str:
        """The marker of a pseudonymised study (`privacy.py`)."""
        return self._join("privacy.json")

    def dataset(self, suffix: str) -> str:
        return self._join(f"dataset.{suffix}")

    def retry_note(self, video_id: str, due: str) -> str:
        """The note that a video unavailable for now is tried again (`due`: the time it was
        due, as 20261203T100000Z): its download reads the note, so a new note runs it again."""
        return self._join("videos", video_id, "retries", f"{due}.json")

    def log(self, rule: str, key: str) -> str:
        return self._join("logs", rule, f"{key}.log")

    def pages(self, key: str) -> str:
        """Where a download keeps the pages it met in an unexpected state (HTML, screenshot)."""
        return self._join("logs", "pages", key)

    def benchmark(self, rule: str, key: str) -> str:
        return self._join("benchmarks", rule, f"{key}.tsv")

    # --- the local backends ---
    def bucket(self) -> str:
        return self._join("bucket")

    def sqlite(self) -> str:
        return self._join("research.sqlite")
