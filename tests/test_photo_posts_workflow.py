"""Photo posts under the real workflow (issue 15, item 4): with `include_photo_posts`, the fake
site's photo post, found through its `/@user/photo/ID` link, is downloaded, its images OCR'd and
published as frames (`frames/001_img.jpg`, ...) with their text; its metadata keeps the music
title, no transcript is asked of it, and its row says it is a photo post. The video beside it is
published as before, and a second identical run has nothing to do. Turned on for an output
folder whose runs skipped the photo post, the key publishes it, and nothing else runs again."""

from __future__ import annotations

import csv
import json
import random
import sqlite3

import jiwer
import pytest
from support.demo_media import normalise_chars
from support.workflow import base_config, run_snakemake, write_research_list

from tiktok_research.accounting.search import hit_line, search
from tiktok_research.fakeweb.catalog import Catalog, make_video
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.queries import query_dir_name

pytestmark = pytest.mark.slow

QUERY = "lisbon photo walk"
MIN_CHARACTER_ACCURACY = 0.90  # as tests/test_ocr.py asks of the scene frames


def catalog() -> tuple[Catalog, dict]:
    rng = random.Random(15)
    made = Catalog()
    video = made.add(make_video(rng, "travel", scenes=2, duration=8.0))
    photo = made.add(make_video(rng, "travel", kind="photo", scenes=3, duration=9.0))
    photo.link_form = "photo"  # search finds it as /@user/photo/ID
    made.query_results[QUERY] = [photo.video_id, video.video_id]
    return made, {"video": video, "photo": photo}


def test_a_photo_post_is_published_with_its_images_and_their_text(tmp_path):
    made, posts = catalog()
    photo, video = posts["photo"], posts["video"]
    ensure_media([video])
    write_research_list(tmp_path, [QUERY])
    out = tmp_path / "output"
    with FakeWeb(made) as web:
        config = base_config(web.host, include_photo_posts=True)
        first = run_snakemake(tmp_path, config)
        assert first.returncode == 0, first.stderr[-3000:]
        assert web.counters.get(f"tiktok_photo:{photo.video_id}") == len(photo.scenes)

        status = json.loads((out / "queries" / query_dir_name(0, QUERY) /
                             "status.json").read_text())
        assert status["status"] == "success", status
        assert status["videos"][photo.video_id] == {"outcome": "published"}
        urls = json.loads((out / "queries" / query_dir_name(0, QUERY) / "urls.json").read_text())
        assert {entry["video_id"]: entry["kind"] for entry in urls}[photo.video_id] == "photo"

        # Published like frames: one per image, in post order, and nothing a photo post lacks.
        bucket = out / "bucket" / "videos" / photo.video_id
        frames = sorted(path.name for path in (bucket / "frames").iterdir())
        assert frames == [f"{index:03d}_img.jpg" for index in range(1, len(photo.scenes) + 1)]
        assert sorted(path.name for path in bucket.iterdir()) == [
            "frames", "metadata.json", "ocr.json"]
        metadata = json.loads((bucket / "metadata.json").read_text())
        assert metadata["post_type"] == "photo"
        assert metadata["music_title"] == photo.music["title"]
        assert metadata["author"] == photo.author
        assert [image["file"] for image in metadata["images"]] == [
            f"images/{index:03d}.jpg" for index in range(1, len(photo.scenes) + 1)]

        # The OCR text of each image is its scene's text.
        ocr = json.loads((bucket / "ocr.json").read_text())
        assert ocr["scenes"] == len(photo.scenes)
        for index, scene in enumerate(photo.scenes, start=1):
            found = " ".join(item["text"] for item in ocr["items"]
                             if item["frame"] == f"{index:03d}_img.jpg")
            assert all(item["t"] is None for item in ocr["items"])
            accuracy = 1 - jiwer.cer(normalise_chars(scene.text), normalise_chars(found))
            assert accuracy >= MIN_CHARACTER_ACCURACY, (scene.text, found)

        # Its row says it is a photo post and carries the images' text; the video's row is a
        # video's, with its transcript.
        with sqlite3.connect(out / "research.sqlite") as connection:
            rows = {row[0]: row[1:] for row in connection.execute(
                "SELECT video_id, post_type, frame_count, transcript, ocr_text FROM videos")}
        connection.close()
        post_type, frame_count, transcript, ocr_text = rows[photo.video_id]
        assert (post_type, frame_count, transcript) == ("photo", len(photo.scenes), "")
        assert all(normalise_chars(scene.text).split()[0] in normalise_chars(ocr_text)
                   for scene in photo.scenes), ocr_text
        assert rows[video.video_id][0] == "video" and rows[video.video_id][2]

        with open(out / "dataset.csv", encoding="utf-8", newline="") as handle:
            exported = {row["video_id"]: row["post_type"] for row in csv.DictReader(handle)}
        assert exported == {photo.video_id: "photo", video.video_id: "video"}

        # The images' text is searchable in dataset.sqlite, named by its image.
        shown = normalise_chars(" ".join(item["text"] for item in ocr["items"]
                                         if item["frame"] == "002_img.jpg")).split()
        words = max((word for word in normalise_chars(photo.scenes[1].text).split()
                     if word in shown), key=len)
        hits = [hit for hit in search(out / "dataset.sqlite", words)
                if hit.video_id == photo.video_id]
        assert [(hit.kind, hit.source, hit.second) for hit in hits] == [
            ("screen", "002_img.jpg", None)]
        assert hit_line(hits[0]).startswith(f"{photo.video_id}  shown on 002_img.jpg  ")

        receipt = json.loads((out / "videos" / photo.video_id / ".uploaded").read_text())
        assert receipt["outcome"] == "published"
        assert receipt["frames"] == {"available": len(photo.scenes),
                                     "published": len(photo.scenes)}
        assert {piece["kind"] for piece in receipt["passages"]} == {"screen"}
        # The downloaded images are intermediates, gone once published (no `keep`).
        assert not (out / "videos" / photo.video_id / "images").exists()

        second = run_snakemake(tmp_path, config)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "Nothing to be done" in second.stdout + second.stderr


def test_turning_the_key_on_publishes_the_photo_posts_a_run_skipped(tmp_path):
    made, posts = catalog()
    photo, video = posts["photo"], posts["video"]
    ensure_media([video])
    write_research_list(tmp_path, [QUERY])
    out = tmp_path / "output"
    receipt = out / "videos" / photo.video_id / ".uploaded"
    with FakeWeb(made) as web:
        skipped = run_snakemake(tmp_path, base_config(web.host))
        assert skipped.returncode == 0, skipped.stderr[-3000:]
        assert json.loads(receipt.read_text())["reason"] == "photo_post"
        assert web.counters.get(f"tiktok_photo:{photo.video_id}") is None
        video_pages = web.counters[f"tiktok_page:{video.video_id}"]

        config = base_config(web.host, include_photo_posts=True)
        on = run_snakemake(tmp_path, config)
        assert on.returncode == 0, on.stderr[-3000:]
        assert json.loads(receipt.read_text())["outcome"] == "published"
        assert web.counters[f"tiktok_photo:{photo.video_id}"] == len(photo.scenes)
        assert web.counters[f"tiktok_page:{video.video_id}"] == video_pages  # not again
        status = json.loads((out / "queries" / query_dir_name(0, QUERY) /
                             "status.json").read_text())
        assert status["status"] == "success", status

        again = run_snakemake(tmp_path, config)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "Nothing to be done" in again.stdout + again.stderr
