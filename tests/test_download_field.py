"""The download against the real site's shapes, through real Chromium and the fake site: the
sources it takes and skips, the counts it keeps, the outcomes for good and for now, the
defences it waits out or records, the captions it keeps, and the CDN fetched outside the page.
The shapes and their public sources are in fakeweb/tiktok.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.download import case_catalog, no_browser_left, run_job, setup_run, visits

from tiktok_research.download.fetch import download_video
from tiktok_research.download.session import BrowserSettings
from tiktok_research.errors import BreakerOpen, PageBlocked
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.fakeweb.tiktok import media_file

pytestmark = pytest.mark.slow

CASES = {
    "dash": ("ok", {"first_gear": "dash", "bytevc2_gear": True, "www_format_url": True}),
    "struct": ("ok", {"sources": "struct_only"}),
    "list": ("ok", {"play_addr_list": True}),
    "watermarked": ("ok", {"download_only": True}),
    "silent_rendition": ("ok", {"first_gear": "dash", "watermark_download": True}),
    "rounded": ("ok", {"rounded_stats": True}),
    "v2_only": ("ok", {"stats_v2_only": True}),
    "region": ("region_locked", {}),
    "gone_user": ("user_not_found", {}),
    "empty": ("empty_item", {}),
    "missing": ("missing_item", {}),
    "age": ("age_restricted", {}),
    "login_wall": ("login_wall", {}),
    "waf": ("ok", {"waf_challenge_rounds": 1}),
    "captcha": ("ok", {"captcha_visits": 1}),
    "shell": ("ok", {"shell_visits": 1}),
    "captions": ("ok", {"captions": ("eng-US", "spa-ES"), "failing_captions": ("spa-ES",)}),
    "no_cors": ("ok", {"cdn_cors": False}),
    "blocked": ("ok", {"challenge_visits": 1000}),
    "next": ("ok", {}),
}


@pytest.fixture(scope="module")
def site():
    catalog, videos = case_catalog(CASES, seed=13, duration=8.0)
    ensure_media([v for v in videos.values() if v.kind == "ok"])
    with FakeWeb(catalog) as web:
        yield web, videos


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fetch(web, video, workdir, records=None, **tiktok):
    config = setup_run(web, video, workdir, **tiktok)
    folder = Path(config["output_dir"]) / "videos" / video.video_id
    outputs = {"video": str(folder / "video.mp4"), "meta": str(folder / "metadata.json"),
               "captions": str(folder / "captions")}
    metadata = run_job(video.video_id, config, workdir, records, outputs=outputs,
                       pages=str(workdir / "pages"))
    return metadata, folder


def cdn_paths(web, since):
    return [request for request in web.requests_to("tiktok")[since:]
            if request.path.startswith(("/video/tos/", "/aweme/"))]


def streams(path: Path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of",
                          "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_video_only_dash_bytevc2_and_on_site_urls_are_never_fetched(site, workdir):
    web, videos = site
    before = len(web.requests_to("tiktok"))
    metadata, folder = fetch(web, videos["dash"], workdir)
    fetched = cdn_paths(web, before)
    assert fetched and not [r for r in fetched if "media-video" in r.path
                            or r.path.startswith("/aweme/")
                            or "bytevc2" in r.query.get("variant", "")]
    assert sorted(streams(folder / "video.mp4")) == ["audio", "video"]
    rendition = metadata["rendition"]
    assert (rendition["kind"], rendition["watermarked"], rendition["has_audio"]) == (
        "play_addr", False, True)


@pytest.mark.parametrize(("name", "kind", "watermarked"), [
    ("struct", "play_addr_struct", False), ("list", "play_addr", False),
    ("watermarked", "download_addr", True)])
def test_each_source_form_is_found_and_recorded(site, workdir, name, kind, watermarked):
    web, videos = site
    metadata, folder = fetch(web, videos[name], workdir)
    rendition = metadata["rendition"]
    assert (rendition["kind"], rendition["watermarked"]) == (kind, watermarked)
    assert (rendition["width"], rendition["height"]) == (576, 1024)  # of the file taken
    assert rendition["codec"] == "h264" and rendition["fetched_by"] == "page"
    if watermarked:
        assert (folder / "video.mp4").read_bytes() != media_file(web, videos[name]).read_bytes()


def test_a_rendition_without_sound_is_rejected_when_the_page_says_there_is_sound(
        site, workdir, tmp_path):
    """The page says the video has sound (bitrateAudioInfo, claInfo); its playAddr and its
    muxed gear serve a file without an audio stream (set up here by giving the fake a
    video-only file): both are rejected and the next source, downloadAddr, is taken."""
    web, videos = site
    video = videos["silent_rendition"]
    silent = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(media_file(web, video)), "-an",
                    "-c", "copy", str(silent)], check=True)
    original = web.state["tiktok_media"][video.video_id]
    web.state["tiktok_media"][video.video_id] = silent
    try:
        metadata, folder = fetch(web, video, workdir)
    finally:
        web.state["tiktok_media"][video.video_id] = original
    assert metadata["rendition"]["kind"] == "download_addr"
    assert metadata["rendition"]["watermarked"] is True
    assert sorted(streams(folder / "video.mp4")) == ["audio", "video"]


@pytest.mark.parametrize("name", ["rounded", "v2_only"])
def test_counts_are_exact_from_stats_v2(site, workdir, name):
    web, videos = site
    video = videos[name]
    metadata, _folder = fetch(web, video, workdir)
    assert metadata["play_count"] == video.stats["playCount"]
    assert metadata["like_count"] == video.stats["diggCount"]
    assert all(isinstance(metadata[key], int) for key in ("play_count", "like_count",
                                                         "comment_count", "share_count"))


@pytest.mark.parametrize(("name", "reason", "permanent"), [
    ("region", "region_locked", False), ("gone_user", "user_not_found", True),
    ("empty", "empty_item", False), ("missing", "empty_item", False),
    ("age", "login_required", True)])
def test_outcomes_for_good_and_for_now(site, workdir, name, reason, permanent):
    web, videos = site
    before = visits(web, videos[name])
    records: list = []
    metadata, folder = fetch(web, videos[name], workdir, records)
    assert visits(web, videos[name]) - before == 1  # no retry burns a page load
    unavailable = metadata["unavailable"]
    assert (unavailable["reason"], unavailable["permanent"]) == (reason, permanent)
    assert (unavailable["retry_after"] is None) is permanent
    [record] = records
    assert record["details"]["outcome"] == "unavailable"
    assert record["details"]["permanent"] is permanent


def test_a_login_wall_item_is_visited_again_then_fails_as_blocked(site, workdir):
    web, videos = site
    records: list = []
    with pytest.raises(PageBlocked, match="login"):
        fetch(web, videos["login_wall"], workdir, records)
    [record] = records
    assert record["details"]["reason"] == "login"


def test_a_waf_challenge_passes_in_the_same_tab(site, workdir):
    """The challenge solves itself and reloads the page: the download waits in the tab rather
    than navigating again, so one visit of ours is enough."""
    web, videos = site
    video = videos["waf"]
    metadata, folder = fetch(web, video, workdir)
    assert metadata["download"]["page_visits"] == 1
    assert web.counters.get(f"tiktok_waf_solved:{video.video_id}") == 1
    assert folder.joinpath("video.mp4").stat().st_size > 0


@pytest.mark.parametrize("name", ["captcha", "shell"])
def test_a_captcha_or_an_empty_shell_is_kept_and_visited_again(site, workdir, name):
    web, videos = site
    metadata, _folder = fetch(web, videos[name], workdir)
    assert metadata["download"]["page_visits"] == 2
    kept = sorted(path.name for path in (workdir / "pages").iterdir())
    assert kept == [f"{videos[name].video_id}-1-{name}.html",
                    f"{videos[name].video_id}-1-{name}.png"]
    html = (workdir / "pages" / kept[0]).read_text()
    assert ("captcha-verify-container" in html) == (name == "captcha")
    assert (workdir / "pages" / kept[1]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_captions_are_kept_and_a_failing_one_never_fails_the_video(site, workdir):
    web, videos = site
    metadata, folder = fetch(web, videos["captions"], workdir)
    assert [(c["language"], c["file"]) for c in metadata["captions"]] == [
        ("eng-US", "captions/eng-US.vtt")]
    text = (folder / "captions" / "eng-US.vtt").read_text()
    assert text.startswith("WEBVTT") and "-->" in text
    assert not (folder / "captions" / "spa-ES.vtt").exists()


def test_a_cdn_without_cors_is_fetched_outside_the_page(site, workdir, monkeypatch):
    """As on TikTok the CDN is another origin; here it sends no CORS headers, so the page may
    not read it: the bytes come through httpx with the browser's cookies, User-Agent and the
    page as Referer (the fake site is the HTTP client's proxy to the test domain)."""
    web, videos = site
    video = videos["no_cors"]
    port = web.host.rsplit(":", 1)[1]
    web.state["tiktok_domain"] = "tiktok.test"
    monkeypatch.setenv("HTTP_PROXY", web.base_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    before = len(web.requests_to("tiktok"))
    try:
        settings = BrowserSettings(
            profiles_dir=workdir / "profiles", backoff_seconds=0.05,
            extra_args=("--host-resolver-rules=MAP *.tiktok.test 127.0.0.1",))
        result = download_video(f"http://www.tiktok.test:{port}{video.page_path}",
                                video.video_id, workdir / "video.mp4", settings)
    finally:
        web.state.pop("tiktok_domain")
    assert result.rendition["fetched_by"] == "http"
    assert (workdir / "video.mp4").read_bytes() == media_file(web, video).read_bytes()
    outside = [r for r in cdn_paths(web, before) if not r.header("origin")
               and r.method == "GET"]
    assert outside and all("tt_chain_token" in r.cookies() for r in outside)
    assert all(r.header("referer") == f"http://www.tiktok.test:{port}{video.page_path}"
               for r in outside)
    assert all("Chrome" in r.header("user-agent") for r in outside)
    assert all(r.header("range").startswith("bytes=") for r in outside)


def test_the_breaker_stops_the_runs_page_loads_and_a_new_run_starts_afresh(site, workdir):
    web, videos = site
    tiktok = {"breaker_pause_after": 2, "breaker_pause_seconds": 0.05, "breaker_stop_after": 3,
              "challenge_wait_seconds": 1}  # the challenge never ends: 1 s shows it stays
    with pytest.raises(BreakerOpen):
        fetch(web, videos["blocked"], workdir, **tiktok)
    before = visits(web, videos["next"])
    with pytest.raises(BreakerOpen):  # the same run: no more page loads at all
        fetch(web, videos["next"], workdir, **tiktok)
    assert visits(web, videos["next"]) == before
    config = setup_run(web, videos["next"], workdir, **tiktok)
    folder = Path(config["output_dir"]) / "videos" / videos["next"].video_id
    metadata = run_job(videos["next"].video_id, {**config}, workdir, outputs={
        "video": str(folder / "video.mp4"), "meta": str(folder / "metadata.json")},
        run="another run")
    assert metadata["download"]["page_visits"] == 1
    assert no_browser_left(workdir / "profiles")
