"""The download stage with real Chromium against the fake TikTok site and CDN."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from support.download import (
    browsers_on,
    case_catalog,
    download,
    no_browser_left,
    no_leftovers,
    run_job,
    setup_run,
    urls_path,
    visits,
)

from tiktok_research.download.fetch import download_video
from tiktok_research.download.item import candidate_urls, candidates
from tiktok_research.download.page import parse_page
from tiktok_research.download.pool import BrowserPool
from tiktok_research.download.session import FETCH_ATTEMPTS, PAGE_ATTEMPTS, BrowserSettings
from tiktok_research.download.slots import browser_slot, wipe_profiles
from tiktok_research.download.verify import check_mp4_boxes
from tiktok_research.errors import BadVideo, DownloadError, PageBlocked, VideoUnavailable
from tiktok_research.fakeweb.catalog import Catalog, DemoVideo
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.fakeweb.tiktok import media_file
from tiktok_research.files import atomic_write_json

pytestmark = pytest.mark.slow

CASES = {
    # name: (kind, extra DemoVideo fields)
    "ok": ("ok", {}),
    "strings": ("ok", {"counts_as_strings": True}),
    "legacy": ("legacy", {}),
    "challenge": ("ok", {"challenge_visits": 2}),
    "login": ("ok", {"login_visits": 1}),
    "blocked": ("ok", {"challenge_visits": 1000}),
    "expired": ("ok", {"expired_url_visits": 1}),
    "private": ("private", {}),
    "private_account": ("private_account", {}),
    "unavailable": ("unavailable", {}),
    "other_status": ("other_status", {}),
    "photo": ("photo", {}),
    "deleted": ("deleted", {}),
    "html_as_video": ("html_as_video", {}),
    "truncated": ("truncated", {}),
}


def download_catalog() -> tuple[Catalog, dict[str, DemoVideo]]:
    """One short video per case (media for the playable ones comes from fakeweb.media)."""
    return case_catalog(CASES, seed=7, duration=10.0)


@pytest.fixture(scope="module")
def site():
    catalog, videos = download_catalog()
    playable = [v for v in videos.values() if v.kind in ("ok", "legacy", "truncated")]
    ensure_media(playable)  # made (or found cached) before any browser waits on it
    with FakeWeb(catalog) as web:
        yield web, videos


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def assert_matches_catalog(metadata: dict, video: DemoVideo, web: FakeWeb) -> None:
    assert metadata["video_id"] == video.video_id
    assert metadata["url"] == f"{web.base_url}{video.page_path}"
    assert metadata["author"] == video.author
    assert metadata["author_id"] == video.author_id
    assert metadata["author_nickname"] == video.nickname
    assert metadata["caption"] == video.desc
    assert metadata["hashtags"] == video.hashtags
    assert metadata["create_time"] == datetime.fromtimestamp(
        video.create_time, tz=UTC).isoformat().replace("+00:00", "Z")
    assert metadata["duration"] == int(video.duration)
    assert (metadata["width"], metadata["height"]) == (video.width, video.height)
    assert metadata["play_count"] == video.stats["playCount"]
    assert metadata["like_count"] == video.stats["diggCount"]
    assert metadata["comment_count"] == video.stats["commentCount"]
    assert metadata["share_count"] == video.stats["shareCount"]
    assert metadata["collect_count"] == video.stats["collectCount"]
    assert metadata["music_title"] == video.music["title"]
    assert metadata["music_author"] == video.music["authorName"]
    assert metadata["location"] == video.location


@pytest.mark.parametrize("name", ["ok", "strings", "legacy"])
def test_download_writes_a_verified_video_and_metadata(site, workdir, name):
    web, videos = site
    video = videos[name]
    records: list = []
    metadata, folder = download(web, video, workdir, records)
    assert ffprobe_duration(folder / "video.mp4") > 0
    assert_matches_catalog(metadata, video, web)
    assert "queries" not in metadata and "unavailable" not in metadata
    assert metadata["download"]["bytes"] == (folder / "video.mp4").stat().st_size
    assert metadata["download"]["page_visits"] == 1
    assert json.loads((folder / "metadata.json").read_text()) == metadata
    assert no_leftovers(folder) == ["metadata.json", "video.mp4"]
    assert records == []
    assert no_browser_left(workdir / "profiles")


def test_a_urls_json_without_the_video_fails_before_any_browser(site, workdir):
    web, videos = site
    video = videos["ok"]
    config = setup_run(web, video, workdir)
    atomic_write_json(urls_path(workdir), [])
    before = visits(web, video)
    records: list = []
    with pytest.raises(DownloadError, match="does not list video") as caught:
        run_job(video.video_id, config, workdir, records)
    assert not caught.value.retryable
    assert visits(web, video) == before
    [record] = records
    assert record["type"] == "download" and record["video_id"] == video.video_id
    assert record["details"]["reason"] == "no_url"


def test_the_cdn_answers_only_with_the_page_cookie(site, workdir):
    web, videos = site
    video = videos["ok"]
    download(web, video, workdir)
    cdn_requests = [r for r in web.requests_to("tiktok") if r.path.startswith("/video/tos/")]
    assert cdn_requests and all("tt_chain_token" in r.cookies() for r in cdn_requests)
    assert all(r.header("range").startswith("bytes=") for r in cdn_requests)
    # The same URL from outside the browser session: 403 without the cookie, 206 with it.
    with httpx.Client() as client:
        page = client.get(f"{web.base_url}{video.page_path}")
        url = candidate_urls(parse_page(page.text, video.video_id).item)[0]
        referer = {"Referer": f"{web.base_url}{video.page_path}", "Range": "bytes=0-99"}
        assert httpx.get(url, headers=referer).status_code == 403
        answer = client.get(url, headers=referer)
    assert answer.status_code == 206
    assert answer.headers["content-range"].startswith("bytes 0-99/")


def test_an_expired_url_is_recovered_by_reloading_the_page(site, workdir):
    web, videos = site
    video = videos["expired"]
    before = visits(web, video)
    metadata, folder = download(web, video, workdir)
    assert (folder / "video.mp4").exists() and metadata["video_id"] == video.video_id
    assert visits(web, video) - before == 2


def test_a_challenge_twice_then_the_real_page_succeeds(site, workdir):
    web, videos = site
    video = videos["challenge"]
    before = visits(web, video)
    # This challenge passes only on a fresh visit: 1 s of waiting on each is enough.
    config = setup_run(web, video, workdir, challenge_wait_seconds=1)
    run_job(video.video_id, config, workdir)
    folder = workdir / "output" / "videos" / video.video_id
    assert ffprobe_duration(folder / "video.mp4") > 0
    assert visits(web, video) - before == 3


def test_a_login_redirect_is_retried(site, workdir):
    web, videos = site
    video = videos["login"]
    before = visits(web, video)
    _, folder = download(web, video, workdir)
    assert (folder / "video.mp4").exists()
    assert visits(web, video) - before == 2
    assert any(r.path == "/login" for r in web.requests_to("tiktok"))


def test_a_challenge_that_never_ends_is_a_retryable_failure(site, workdir):
    web, videos = site
    video = videos["blocked"]
    before = visits(web, video)
    records: list = []
    # A challenge that never solves itself: 1 s per visit is enough to see it stay.
    config = setup_run(web, video, workdir, challenge_wait_seconds=1)
    with pytest.raises(PageBlocked) as caught:
        run_job(video.video_id, config, workdir, records)
    assert caught.value.retryable and caught.value.outcome is None
    assert visits(web, video) - before == PAGE_ATTEMPTS
    folder = workdir / "output" / "videos" / video.video_id
    assert no_leftovers(folder) == []  # no outputs: a later attempt may pass
    (failure,) = records
    assert failure["type"] == "download" and failure["video_id"] == video.video_id
    assert failure["url"] == f"{web.base_url}{video.page_path}"
    assert failure["details"] == {"reason": "challenge"}


@pytest.mark.parametrize(("name", "reason", "status_code", "permanent"), [
    ("private", "private_post", 10216, True), ("private_account", "private_account", 10222, True),
    ("unavailable", "item_not_found", 10204, False), ("other_status", "status_10101", 10101, False),
    ("photo", "photo_post", None, True), ("deleted", "deleted", None, True),
])
def test_unavailable_videos_end_without_retries(site, workdir, name, reason, status_code,
                                                permanent):
    """Not a failure of the job: the video's outcome, in metadata.json and one record."""
    web, videos = site
    video = videos[name]
    before = visits(web, video)
    records: list = []
    metadata, folder = download(web, video, workdir, records)
    assert visits(web, video) - before == 1
    assert no_leftovers(folder) == ["metadata.json", "video.mp4"]
    assert (folder / "video.mp4").stat().st_size == 0
    stored = json.loads((folder / "metadata.json").read_text())
    assert stored == metadata
    assert set(stored) == {"video_id", "url", "unavailable"}
    assert stored["video_id"] == video.video_id
    assert stored["url"] == f"{web.base_url}{video.page_path}"
    assert set(stored["unavailable"]) == {"reason", "status_code", "status_msg", "permanent",
                                          "retry_after", "checked_at"}
    assert stored["unavailable"]["reason"] == reason
    assert stored["unavailable"]["status_code"] == status_code
    assert stored["unavailable"]["checked_at"].endswith("Z")
    assert stored["unavailable"]["permanent"] is permanent
    # A video unavailable for now is tried again by a run a day later (tiktok's default).
    assert (stored["unavailable"]["retry_after"] is None) is permanent
    [record] = records
    assert record["type"] == "download" and record["video_id"] == video.video_id
    assert record["url"] == stored["url"]
    assert record["details"]["outcome"] == "unavailable"
    assert record["details"]["reason"] == reason
    assert "unavailable" in record["error"]
    assert no_browser_left(workdir / "profiles")


@pytest.mark.parametrize("name", ["html_as_video", "truncated"])
def test_bogus_bytes_fail_and_leave_no_video(site, workdir, name):
    web, videos = site
    video = videos[name]
    records: list = []
    with pytest.raises(DownloadError, match="no source gave a valid video") as caught:
        download(web, video, workdir, records)
    assert caught.value.retryable and caught.value.outcome is None
    folder = workdir / "output" / "videos" / video.video_id
    assert no_leftovers(folder) == []
    assert no_browser_left(workdir / "profiles")
    (failure,) = records
    assert failure["type"] == "download" and failure["video_id"] == video.video_id
    assert "outcome" not in failure["details"]  # a failure of the run, not of the video


def test_mp4_box_check_rejects_html_and_cut_files(tmp_path, site):
    web, videos = site
    source = web.state.get("tiktok_media", {}).get(videos["ok"].video_id) \
        or ensure_media([videos["ok"]])[videos["ok"].video_id]
    data = source.read_bytes()
    whole = tmp_path / "whole.mp4"
    whole.write_bytes(data)
    check_mp4_boxes(whole)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadVideo, match="truncated"):
        check_mp4_boxes(cut)
    page = tmp_path / "page.mp4"
    page.write_bytes(b"<!DOCTYPE html><html><body>Something went wrong</body></html>")
    with pytest.raises(BadVideo, match="ftyp"):
        check_mp4_boxes(page)


@pytest.fixture
def xvfb_display():
    """A private X display from Xvfb (the headful option runs under it)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb)")
    server = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x1024x24",
                               "-nolisten", "tcp"], stdout=subprocess.PIPE, text=True)
    try:
        yield f":{server.stdout.readline().strip()}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_headful_under_xvfb(site, workdir, xvfb_display, monkeypatch):
    web, videos = site
    video = videos["ok"]
    monkeypatch.setenv("DISPLAY", xvfb_display)
    config = setup_run(web, video, workdir)
    config["tiktok"]["headless"] = False
    folder = workdir / "output" / "videos" / video.video_id
    run_job(video.video_id, config, workdir)
    assert ffprobe_duration(folder / "video.mp4") > 0


def test_headful_without_a_display_says_so(site, workdir, monkeypatch):
    web, videos = site
    video = videos["ok"]
    monkeypatch.delenv("DISPLAY", raising=False)
    config = setup_run(web, video, workdir)
    config["tiktok"]["headless"] = False
    folder = workdir / "output" / "videos" / video.video_id
    with pytest.raises(DownloadError, match="DISPLAY is not set"):
        run_job(video.video_id, config, workdir)
    assert no_leftovers(folder) == []


def test_wiped_profiles_are_recreated(site, workdir):
    web, videos = site
    download(web, videos["ok"], workdir)
    slots = BrowserSettings.from_config(setup_run(web, videos["ok"], workdir)).slots
    assert slots.parent == workdir / "profiles" and (slots / "slot-0").is_dir()
    wipe_profiles(slots)
    assert not (slots / "slot-0").exists()
    (workdir / "output" / "videos" / videos["ok"].video_id / "video.mp4").unlink()
    download(web, videos["ok"], workdir)
    assert (slots / "slot-0").is_dir()


def test_runs_with_other_output_folders_never_share_a_browser_slot(workdir):
    """Two runs in one working directory, with other outputs: each has its own slots (so
    neither kills the other's idle browsers), and one page pace for the machine."""
    config = {"workers": 1, "tiktok": {"chromium": "/usr/bin/chromium", "headless": True,
                                       "page_timeout_seconds": 30, "backoff_seconds": 0.05,
                                       "profiles_dir": "profiles"}}
    first = BrowserSettings.from_config({**config, "output_dir": "study-a"})
    second = BrowserSettings.from_config({**config, "output_dir": "study-b"})
    again = BrowserSettings.from_config({**config, "output_dir": "./study-a/"})
    assert first.slots != second.slots and first.slots == again.slots
    assert first.profiles_dir == second.profiles_dir == Path("profiles")  # the pace's folder
    with browser_slot(first.slots, workers=1) as one, \
            browser_slot(second.slots, workers=1, wait_seconds=1) as other:
        assert one.name == other.name == "slot-0" and one != other


def test_a_leftover_browser_on_a_slot_is_killed_before_reuse(tmp_path):
    """A browser a dead job left behind (its pid file on the slot) dies when the slot is taken."""
    profiles = tmp_path / "profiles"
    profile = profiles / "slot-0"
    profile.mkdir(parents=True)
    leftover = subprocess.Popen(
        ["setsid", "/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={profile.resolve()}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (profile / "browser.pid").write_text(str(leftover.pid))
        deadline = time.monotonic() + 30
        while not browsers_on(profiles) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert browsers_on(profiles)
        with browser_slot(profiles, workers=1) as slot:
            assert slot == profile
            leftover.wait(timeout=30)
            assert no_browser_left(profiles)
            assert not (profile / "browser.pid").exists()
    finally:
        if leftover.poll() is None:
            leftover.kill()


def test_a_video_is_assembled_from_many_ranges(site, workdir):
    web, videos = site
    video = videos["ok"]
    settings = BrowserSettings(profiles_dir=workdir / "profiles", backoff_seconds=0.05,
                               chunk_bytes=64 * 1024)
    target = workdir / "video.mp4"
    before = len(web.requests_to("tiktok"))
    result = download_video(f"{web.base_url}{video.page_path}", video.video_id, target, settings)
    source = media_file(web, video).read_bytes()
    assert target.read_bytes() == source and result.size == len(source)
    ranges = [r.header("range") for r in web.requests_to("tiktok")[before:]
              if r.path.startswith("/video/tos/")]
    chunk = 64 * 1024
    assert len(ranges) == -(-len(source) // chunk)
    assert ranges == [f"bytes={i * chunk}-{(i + 1) * chunk - 1}" for i in range(len(ranges))]


def test_a_cross_origin_cdn_gets_the_domain_cookie(site, workdir):
    """As on TikTok: the page on www.<domain>, the CDN on v16-webapp-prime.<domain>, the cookie
    set for the domain, credentialed CORS that does not expose Content-Range."""
    web, videos = site
    video = videos["ok"]
    port = web.host.rsplit(":", 1)[1]
    web.state["tiktok_domain"] = "tiktok.test"
    try:
        settings = BrowserSettings(
            profiles_dir=workdir / "profiles", backoff_seconds=0.05, chunk_bytes=64 * 1024,
            extra_args=("--host-resolver-rules=MAP *.tiktok.test 127.0.0.1",))
        before = len(web.requests_to("tiktok"))
        target = workdir / "video.mp4"
        download_video(f"http://www.tiktok.test:{port}{video.page_path}", video.video_id,
                       target, settings)
    finally:
        web.state.pop("tiktok_domain")
    assert target.read_bytes() == media_file(web, video).read_bytes()
    cdn = [r for r in web.requests_to("tiktok")[before:]
           if r.path.startswith("/video/tos/") and r.method == "GET"]
    assert cdn and all(r.header("host").startswith("v16-webapp-prime.tiktok.test") for r in cdn)
    assert all("tt_chain_token" in r.cookies() for r in cdn)
    assert all(r.header("origin") == f"http://www.tiktok.test:{port}" for r in cdn)


def test_the_worker_pool_keeps_a_slot_browser_between_videos(site, workdir):
    """The persistent worker's pool: one Chromium per slot serves video after video, an
    unavailable video included; a failed download retires it; closing the pool kills it."""
    web, videos = site
    settings = BrowserSettings(profiles_dir=workdir / "profiles", backoff_seconds=0.05,
                               challenge_wait=1.0)  # the blocked video's challenge never ends
    pool = BrowserPool()
    try:
        kept = []
        for name in ("ok", "private", "legacy"):
            video = videos[name]
            target = workdir / name / "video.mp4"
            try:
                pool.download(f"{web.base_url}{video.page_path}", video.video_id, target,
                              settings)
            except VideoUnavailable:
                assert name == "private"
            else:
                assert target.read_bytes() == media_file(web, video).read_bytes()
            kept.append(pool.browser_pids())
        assert len(kept[0]) == 1 and kept == [kept[0]] * 3
        [first] = kept[0]
        blocked = videos["blocked"]
        with pytest.raises(PageBlocked):
            pool.download(f"{web.base_url}{blocked.page_path}", blocked.video_id,
                          workdir / "blocked" / "video.mp4", settings)
        assert pool.browser_pids() == set() and not Path(f"/proc/{first}").exists()
        video = videos["strings"]
        pool.download(f"{web.base_url}{video.page_path}", video.video_id,
                      workdir / "strings" / "video.mp4", settings)
        [second] = pool.browser_pids()
        assert second != first
    finally:
        pool.close()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{second}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{second}").exists()


@pytest.mark.parametrize("wait, most", [(30.0, 1), (0.0, 3)])
def test_the_pool_starts_another_browser_only_when_downloads_queue(site, workdir, wait, most):
    """Three downloads at once on a fast site share one browser; with no patience for a busy
    browser (as when downloads take long) each slot gets its own, never more than workers."""
    web, videos = site
    settings = BrowserSettings(profiles_dir=workdir / "profiles", backoff_seconds=0.05,
                               workers=3)
    pool = BrowserPool()
    pool.NEW_BROWSER_WAIT = wait
    names = ["ok", "strings", "legacy"]
    seen: set[int] = set()

    def download(name: str) -> None:
        video = videos[name]
        pool.download(f"{web.base_url}{video.page_path}", video.video_id,
                      workdir / name / "video.mp4", settings)
        seen.update(pool.browser_pids())

    try:
        with ThreadPoolExecutor(3) as executor:
            list(executor.map(download, names))
        assert all((workdir / name / "video.mp4").stat().st_size > 0 for name in names)
        assert len(seen) == 1 if most == 1 else 2 <= len(seen) <= most
    finally:
        pool.close()


def test_a_prestarted_browser_serves_the_first_download(site, workdir):
    web, videos = site
    settings = BrowserSettings(profiles_dir=workdir / "profiles", backoff_seconds=0.05,
                               workers=3)
    pool = BrowserPool()
    try:
        pool.prestart(settings)
        started = pool.browser_pids()
        assert len(started) == 1
        video = videos["ok"]
        pool.download(f"{web.base_url}{video.page_path}", video.video_id,
                      workdir / "video.mp4", settings)
        assert pool.browser_pids() == started
    finally:
        pool.close()


def test_a_warm_up_that_lost_the_first_slot_starts_no_browser_after_close(workdir):
    """A download took the slot before the pool's warm-up did, and the job ended: the warm-up
    still waiting for a slot must not start a browser once the pool is closed (it did, and the
    next job on that slot found a stranger's browser there)."""
    profiles = workdir / "profiles"
    settings = BrowserSettings(profiles_dir=profiles, workers=1)
    pool = BrowserPool()
    with browser_slot(profiles, workers=1):  # the download holding the only slot
        pool.prestart_in_background(settings)
        time.sleep(0.5)  # the warm-up is waiting for the slot
        started = time.monotonic()
        pool.close()
        assert time.monotonic() - started < 10
    time.sleep(3)  # long enough for a browser to start, had the warm-up gone on
    assert browsers_on(profiles) == [] and pool.browser_pids() == set()


@pytest.mark.parametrize(("status", "tries"), [(503, FETCH_ATTEMPTS), (403, 1)])
def test_a_failing_source_falls_back_to_the_next_one(site, workdir, status, tries):
    """playAddr always fails: a 5xx is tried once and retried twice, a refusal (403) once, then
    the next source on the page (the muxed h264 gear) serves the video, in the same page visit."""
    assert FETCH_ATTEMPTS == 3  # "2 retries per URL"
    web, videos = site
    video = videos["ok"]
    page = httpx.get(f"{web.base_url}{video.page_path}")
    sources = candidates(parse_page(page.text, video.video_id).item)
    assert [source.kind for source in sources[:2]] == ["play_addr", "gear"]
    failing, serving = (urlsplit(source.url).path for source in sources[:2])
    before = len(web.requests_to("tiktok"))
    web.fail("tiktok", status, times=None, match=failing)
    try:
        metadata, folder = download(web, video, workdir)
    finally:
        web.clear_faults("tiktok")
    cdn = [r.path for r in web.requests_to("tiktok")[before:]
           if r.path.startswith("/video/tos/") and r.method == "GET"]
    assert cdn.count(failing) == tries
    assert cdn[:tries] == [failing] * tries  # every try of playAddr before the next source
    assert cdn[tries:] and set(cdn[tries:]) == {serving}
    assert (folder / "video.mp4").read_bytes() == media_file(web, video).read_bytes()
    assert metadata["rendition"]["kind"] == "gear"
    assert metadata["rendition"]["gear"] == "lower_540_0"
    assert metadata["rendition"]["watermarked"] is False
    assert metadata["download"]["page_visits"] == 1


def test_own_browsers_are_asked_for_only_once_the_slot_is_held(tmp_path):
    """The pool's own browsers are named after the slot's lock is taken: a browser its holder
    started just before releasing the slot is then known, not killed as a leftover (the
    warm-up's browser was killed under the first download that way, mid-download)."""
    from filelock import FileLock, Timeout

    from tiktok_research.download.slots import acquire_slot

    profiles = tmp_path / "profiles"
    profile = profiles / "slot-0"
    profile.mkdir(parents=True)
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                 f"--user-data-dir={profile.resolve()}"])
    try:
        deadline = time.monotonic() + 30
        while stand_in.pid not in browsers_on(profiles) and time.monotonic() < deadline:
            time.sleep(0.05)  # until it has exec'd: its command line names the profile
        (profile / "browser.pid").write_text(str(stand_in.pid))
        asked = []

        def own() -> set[int]:
            with pytest.raises(Timeout):  # the slot is held by now
                FileLock(str(profiles / "slot-0.lock")).acquire(timeout=0)
            asked.append(True)
            return {stand_in.pid}

        lock, taken = acquire_slot(profiles, [0], own)
        lock.release()
        assert taken == profile and asked == [True]
        assert stand_in.poll() is None  # alive: it was ours
        lock, _ = acquire_slot(profiles, [0])
        lock.release()
        assert stand_in.wait(timeout=10) is not None  # nobody's: killed as a leftover
    finally:
        if stand_in.poll() is None:
            stand_in.kill()
