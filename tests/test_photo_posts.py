"""Photo posts, piece by piece: the image URLs of a page, each image's checks (format, pixels
before decoding), the download against the fake site in Chromium with the checks a video's
bytes get (allowed hosts, the byte and pixel caps), frame names and validation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support.download import case_catalog, no_leftovers, run_job, setup_run

from tiktok_research.accounting.summarise import PHOTO_POST_DUE, due_again
from tiktok_research.download.item import photo_images
from tiktok_research.download.page import parse_page
from tiktok_research.download.verify import Caps, verify_image
from tiktok_research.errors import BadVideo, DownloadError, OverCap
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.files import atomic_write_json
from tiktok_research.paths import OutputTree
from tiktok_research.process.scenes import parse_frame_name
from tiktok_research.process.validate import validate_outputs

FIXTURES = Path(__file__).parent / "fixtures"
CASES = {
    "photo": ("photo", {}),
    # Hostile page data: image URLs off the allowed hosts (https on tiktok.cdn_hosts, or the
    # local site over http).
    "elsewhere": ("photo", {"item_patch": {"imagePost": {"images": [
        {"imageURL": {"urlList": ["https://images.example.net/1.jpeg",
                                  "http://127.0.0.2:9/1.jpeg"]}}]}}}),
    "empty": ("photo", {"item_patch": {"imagePost": {"images": []}}}),
}


# --- pure pieces ---------------------------------------------------------------------------
def test_the_image_urls_of_a_photo_post_page():
    html = (FIXTURES / "tiktok_photo_post_page.html").read_text(encoding="utf-8")
    outcome = parse_page(html, "7603296357641735445")
    assert outcome.photo_post and not outcome.ok
    assert photo_images(outcome.item) == [["https://p16/img1.jpeg"]]
    odd = {"imagePost": {"images": [{"imageURL": {"urlList": ["a", "https://x/1", "https://x/1",
                                                              "https://x/2"]}},
                                    {"imageURL": {}}, "not an image", None]}}
    assert photo_images(odd) == [["https://x/1", "https://x/2"]]
    assert photo_images({"imagePost": "nonsense"}) == [] == photo_images({})


def test_image_frames_are_named_by_index_without_a_time():
    assert parse_frame_name("002_img.jpg") == (2, None)
    assert parse_frame_name("002_t3.5s.jpg") == (2, 3.5)
    assert parse_frame_name("002_img.png") is None and parse_frame_name("2_img.jpg") is None


def test_skipped_photo_posts_are_due_once_the_key_is_on(tmp_path):
    tree = OutputTree(str(tmp_path))
    atomic_write_json(tree.query_videos("query_00000_q"), {"videos": {
        "1": {"outcome": "unavailable", "reason": "photo_post", "retry_after": None},
        "2": {"outcome": "unavailable", "reason": "private_post", "retry_after": None},
        "3": {"outcome": "unavailable", "reason": "region_locked",
              "retry_after": "2026-01-01T00:00:00Z"},
        "4": {"outcome": "published", "reason": None}}})
    assert due_again(str(tmp_path), ["query_00000_q"], now="2026-02-01T00:00:00Z") == {
        "3": "20260101T000000Z"}
    assert due_again(str(tmp_path), ["query_00000_q"], now="2026-02-01T00:00:00Z",
                     photo_posts=True) == {"1": PHOTO_POST_DUE, "3": "20260101T000000Z"}


def write_photo_post(folder: Path, frames: int = 2) -> dict[str, Path]:
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text('{"post_type": "photo"}', encoding="utf-8")
    (folder / "ocr.json").write_text('{"items": [], "scenes": 2}', encoding="utf-8")
    (folder / "frames").mkdir()
    for index in range(1, frames + 1):
        (folder / "frames" / f"{index:03d}_img.jpg").write_bytes(b"\xff\xd8\xff")
    return {"meta": folder / "metadata.json", "ocr": folder / "ocr.json",
            "frames": folder / "frames", "transcript": folder / "transcript.txt",
            "audio": folder / "audio.mp3", "timestamps": folder / "none.json"}


def test_validation_asks_no_transcript_or_audio_of_a_photo_post(tmp_path):
    paths = write_photo_post(tmp_path / "post")
    assert validate_outputs(paths, 3, "photo") == []
    # The same files as a video's fail for what a video must have.
    assert "transcript.txt is missing" in validate_outputs(paths, 3)
    assert "audio.mp3 is missing" in validate_outputs(paths, 3)
    # A photo post needs its frames and its ocr.json.
    empty = write_photo_post(tmp_path / "empty", frames=0)
    assert validate_outputs(empty, 3, "photo") == ["frames/ has no frames"]
    assert validate_outputs({**empty, "frames": None}, 3, "photo") == ["frames/ has no frames"]
    empty["ocr"].unlink()
    assert "ocr.json is missing" in validate_outputs(empty, 3, "photo")


def jpeg(path: Path, size: str = "64x48") -> Path:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=red:s={size}:d=1", "-frames:v", "1", str(path)], check=True)
    return path


def test_an_image_is_checked_before_it_is_kept(tmp_path):
    info = verify_image(jpeg(tmp_path / "ok.jpeg"))
    assert (info.width, info.height, info.format) == (64, 48, "jpg")
    html = tmp_path / "page.jpeg"
    html.write_bytes(b"<html><body>Something went wrong</body></html>")
    with pytest.raises(BadVideo, match="not an image"):
        verify_image(html)
    with pytest.raises(OverCap, match=r"over tiktok.max_pixels \(1000\)"):
        verify_image(tmp_path / "ok.jpeg", Caps(max_pixels=1000))


@pytest.mark.parametrize(("name", "extra", "suffix"), [
    ("lossy.webp", [], "webp"), ("lossless.webp", ["-lossless", "1"], "webp"),
    ("image.png", [], "png")])
def test_png_and_webp_images_are_read_from_their_headers(tmp_path, name, extra, suffix):
    path = tmp_path / name
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=blue:s=70x30:d=1", "-frames:v", "1", *extra, str(path)], check=True)
    info = verify_image(path)
    assert (info.width, info.height, info.format) == (70, 30, suffix)


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    """A small file whose header claims 8000×8000 pixels is refused before it is decoded."""
    data = bytearray(jpeg(tmp_path / "small.jpeg", "16x16").read_bytes())
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[sof + 5:sof + 9] = (8000).to_bytes(2, "big") * 2
    bomb = tmp_path / "bomb.jpeg"
    bomb.write_bytes(bytes(data))
    with pytest.raises(OverCap) as caught:
        verify_image(bomb)
    assert caught.value.details["cap"] == "tiktok.max_pixels"
    assert caught.value.details["value"] == 8000 * 8000


# --- the download, in Chromium against the fake site ---------------------------------------
@pytest.fixture(scope="module")
def site():
    catalog, posts = case_catalog(CASES, seed=15, duration=9.0)
    with FakeWeb(catalog) as web:
        yield web, posts


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def outputs(config: dict, video_id: str) -> dict[str, str]:
    folder = Path(config["output_dir"]) / "videos" / video_id
    return {"video": str(folder / "video.mp4"), "meta": str(folder / "metadata.json"),
            "images": str(folder / "images")}


@pytest.mark.slow
def test_a_photo_post_downloads_its_images(site, workdir):
    web, posts = site
    post = posts["photo"]
    config = setup_run(web, post, workdir)
    metadata = run_job(post.video_id, config, workdir, outputs=outputs(config, post.video_id))
    folder = Path(config["output_dir"]) / "videos" / post.video_id
    assert metadata == json.loads((folder / "metadata.json").read_text())
    names = [f"{index:03d}.jpg" for index in range(1, len(post.scenes) + 1)]
    assert sorted(path.name for path in (folder / "images").iterdir()) == names
    assert no_leftovers(folder) == ["images", "metadata.json", "video.mp4"]
    assert (folder / "video.mp4").stat().st_size == 0  # a photo post has no video
    assert metadata["post_type"] == "photo"
    assert (metadata["music_title"], metadata["music_author"]) == (
        post.music["title"], post.music["authorName"])
    assert [image["file"] for image in metadata["images"]] == [f"images/{n}" for n in names]
    assert all((image["width"], image["height"]) == (post.width, post.height)
               for image in metadata["images"])
    assert metadata["rendition"]["kind"] == "image_post"
    assert metadata["download"]["bytes"] == sum(
        (folder / "images" / name).stat().st_size for name in names)


@pytest.mark.slow
def test_images_off_the_allowed_hosts_are_never_fetched(site, workdir):
    web, posts = site
    post = posts["elsewhere"]
    config = setup_run(web, post, workdir)
    records: list = []
    with pytest.raises(DownloadError, match="image 1 of the photo post could not be had: "
                       r"not on an allowed host \(https on tiktok.cdn_hosts\)"):
        run_job(post.video_id, config, workdir, records,
                outputs=outputs(config, post.video_id))
    folder = Path(config["output_dir"]) / "videos" / post.video_id
    assert no_leftovers(folder) == ["images"] and no_leftovers(folder / "images") == []
    assert [record["details"]["reason"] for record in records] == ["image_failed"]


@pytest.mark.slow
@pytest.mark.parametrize(("cap", "value"), [("max_video_bytes", 2000), ("max_pixels", 1000)])
def test_an_image_over_a_cap_refuses_the_post(site, workdir, cap, value):
    web, posts = site
    post = posts["photo"]
    config = setup_run(web, post, workdir, **{cap: value})
    metadata = run_job(post.video_id, config, workdir, outputs=outputs(config, post.video_id))
    assert metadata["refused"]["cap"] == f"tiktok.{cap}"
    assert f"over tiktok.{cap} ({value})" in metadata["refused"]["error"]
    folder = Path(config["output_dir"]) / "videos" / post.video_id
    assert no_leftovers(folder / "images") == []


@pytest.mark.slow
def test_a_photo_post_without_images_is_unavailable_for_now(site, workdir):
    web, posts = site
    post = posts["empty"]
    config = setup_run(web, post, workdir)
    metadata = run_job(post.video_id, config, workdir, outputs=outputs(config, post.video_id))
    assert (metadata["unavailable"]["reason"], metadata["unavailable"]["permanent"]) == (
        "no_images", False)
    assert metadata["unavailable"]["retry_after"]
    folder = Path(config["output_dir"]) / "videos" / post.video_id
    assert no_leftovers(folder / "images") == []
