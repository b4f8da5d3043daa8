"""Kill -9 at the three points where a crash could leave half a video behind, through real
`snakemake`: during a download, between the uploads and the row, and between the row and the
receipt. Each crash point is reached from outside the product: a CDN that holds a video's bytes,
a table locked by another session, a PostgREST that holds its reply after it committed.

After each kill, no process of the run is left (Snakemake, its jobs, the persistent worker and
its browsers), and the same command resumes: it exits 0, every video has one row, one receipt
and its objects once in the bucket with the checksums the receipt gives, and the receipts
published before the crash are byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from support.processed import write_downloaded, write_query
from support.workflow import REPO, SNAKEMAKE, base_config, run_snakemake, write_research_list

from tiktok_research.config import SECRET_NAMES, config_arguments
from tiktok_research.database import schema_sql
from tiktok_research.fakeweb import postgrest, tiktok
from tiktok_research.fakeweb.catalog import Catalog, DemoVideo, make_video
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.fakeweb.web import Request, Response, Web
from tiktok_research.publish.storage import file_md5

pytestmark = pytest.mark.slow
pytest_plugins = ["support.gcs", "support.postgres"]  # the fixtures

MARK = "CRASH_TEST_MARK"  # inherited by Snakemake, its jobs, the worker and Chromium
WAIT_SECONDS = 150


# --- the run and its processes -------------------------------------------------------------
def marked_processes(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose environment carries the marker."""
    needle = f"{MARK}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found.append((int(entry.name), command))
    return found


def wait_until_gone(marker: str, seconds: float = 30) -> list[tuple[int, str]]:
    """The run's processes still alive once they had `seconds` to exit."""
    deadline = time.monotonic() + seconds
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    return marked_processes(marker)


class Run:
    """The command of a test, started in its own session so that one kill reaches Snakemake
    and every job it started; the same command runs again to resume. Whatever happens in the
    test, nothing of the run outlives it."""

    def __init__(self, workdir: Path, config: dict, env: dict[str, str]) -> None:
        self.workdir, self.config = workdir, config
        self.marker = uuid.uuid4().hex
        self.env = {**env, MARK: self.marker}
        self.log_path = workdir / "crashed-run.log"

    def __enter__(self) -> Run:
        command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(self.workdir),
                   "--cores", "2", "--config", *config_arguments(self.config)]
        environment = {**os.environ, "SERPER_API_KEY": "test-serper-key", **self.env}
        self.started = time.monotonic()
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(command, cwd=self.workdir, env=environment,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
        for pid, _command in wait_until_gone(self.marker, seconds=5):
            with contextlib.suppress(ProcessLookupError):  # a test failed: clean up after it
                os.kill(pid, signal.SIGKILL)

    def wait_for(self, condition: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the run never reached {what} (exit {self.process.returncode})"
                            f"\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9 of Snakemake and every job it started."""
        if self.process.poll() is None:
            print(f"killed after {time.monotonic() - self.started:.1f} s")
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def resume(self) -> subprocess.CompletedProcess[str]:
        return run_snakemake(self.workdir, self.config, env=self.env)


def crash(run: Run) -> None:
    run.kill()
    assert run.process.returncode == -signal.SIGKILL
    # The worker runs in its own session: it must notice that its run is gone, and take its
    # browsers with it.
    assert wait_until_gone(run.marker) == []


def resume(run: Run) -> None:
    """The same command again: it finishes the run."""
    started = time.monotonic()
    resumed = run.resume()
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    print(f"resume took {time.monotonic() - started:.1f} s")
    assert wait_until_gone(run.marker) == []


def clean_env(**values: str) -> dict[str, str]:
    return {**{name: "" for name in SECRET_NAMES}, **values}


# --- what a resumed run must leave -----------------------------------------------------------
def receipts(out: Path) -> dict[str, bytes]:
    return {path.parent.name: path.read_bytes() for path in out.glob("videos/*/.uploaded")}


def published(out: Path) -> dict[str, dict[str, str]]:
    """Each published video's objects as its receipt gives them: key → md5."""
    found = {}
    for video_id, content in receipts(out).items():
        receipt = json.loads(content)
        assert receipt["outcome"] == "published", receipt
        keys = [obj["key"] for obj in receipt["objects"]]
        assert len(keys) == len(set(keys))
        found[video_id] = {obj["key"]: obj["md5"] for obj in receipt["objects"]}
    return found


def assert_resumed(out: Path, video_ids: list[str], before: dict[str, bytes],
                   bucket: dict[str, str], rows: list[str]) -> None:
    """Every video published once: its receipt, its objects (`bucket`: key → md5 of every
    object stored) and one row (`rows`: the video ids of every row); the receipts written
    before the crash unchanged."""
    after = receipts(out)
    assert sorted(after) == sorted(video_ids)
    for video_id, content in before.items():
        assert after[video_id] == content, f"receipt of {video_id} rewritten by the resume"
    objects = published(out)
    expected = {key: md5 for video_objects in objects.values() for key, md5 in
                video_objects.items()}
    assert bucket == expected  # every object once, none left over from the killed attempt
    for video_id, video_objects in objects.items():
        assert f"videos/{video_id}/metadata.json" in video_objects
        folder = out / "videos" / video_id
        for name in ("metadata.json", "transcript.txt", "ocr.json"):
            assert file_md5(folder / name) == video_objects[f"videos/{video_id}/{name}"]
    assert sorted(rows) == sorted(video_ids)  # one row per video, no duplicate
    assert not list(out.rglob("*.part"))  # no temp file of a killed writer left behind


def local_bucket(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): file_md5(path) for path in sorted(root.rglob("*"))
            if path.is_file()}


# --- the videos ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_videos() -> list[DemoVideo]:
    """Three short narrated videos of two scenes, their files made (and cached) once."""
    rng = random.Random(1601)
    videos = [make_video(rng, "food", scenes=2, duration=6.0) for _ in range(3)]
    ensure_media(videos)
    return videos


def prepare(workdir: Path, videos: list[DemoVideo]) -> list[str]:
    """One query finding the videos, each folder as the download leaves it."""
    video_ids = [video.video_id for video in videos]
    write_research_list(workdir, ["crash points"])
    write_query(workdir / "output", 0, "crash points", video_ids)
    for video, path in ensure_media(videos).items():
        write_downloaded(workdir / "output", video, path, {
            "video_id": video, "url": f"https://www.tiktok.com/@tester/video/{video}",
            "author": "tester", "caption": f"caption of {video}"})
    return video_ids


# --- 1. during a download ------------------------------------------------------------------
class HeldCdn:
    """In front of the fake TikTok: the CDN serves the first video's bytes, then holds every
    other video's bytes until released (a transfer that has begun and does not end)."""

    def __init__(self, web: Web) -> None:
        self.served: str | None = None
        self.held: list[str] = []
        self.released = threading.Event()
        self.lock = threading.Lock()
        web.services.insert(0, ("held_cdn", self.handle))

    def __enter__(self) -> HeldCdn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.released.set()  # a held server thread ends

    def handle(self, web: Web, request: Request) -> Response | None:
        if not tiktok.CDN_PATH.match(request.path) or request.method != "GET":
            return None
        if request.query.get("variant", "").startswith("caption-"):
            return None
        video_id = request.query.get("vid", "")
        with self.lock:
            if self.served in (None, video_id) or self.released.is_set():
                self.served = video_id
                return None
            self.held.append(video_id)
        self.released.wait(WAIT_SECONDS)
        return None  # then served, to a client that is gone


def test_kill_during_a_download(tmp_path, short_videos):
    catalog = Catalog()
    video_ids = [catalog.add(video).video_id for video in short_videos[:2]]
    catalog.query_results["crash during a download"] = video_ids
    write_research_list(tmp_path, ["crash during a download"])
    out = tmp_path / "output"
    with FakeWeb(catalog) as web:
        cdn = HeldCdn(web)
        config = base_config(web.host, workers=1, max_frames=2)
        with Run(tmp_path, config, clean_env(SERPER_API_KEY="test-serper-key")) as run, cdn:
            # One video published; the next one's bytes are on their way when the run dies.
            run.wait_for(lambda: cdn.held and receipts(out), "a receipt and a held transfer")
            held = cdn.held[0]
            assert list((out / "videos" / held).glob(".video.mp4.*.part"))
            crash(run)
            cdn.released.set()
            before = receipts(out)
            assert list(before) == [video_id for video_id in video_ids if video_id != held]
            resume(run)
    with sqlite3.connect(out / "research.sqlite") as database:
        rows = [row[0] for row in database.execute("SELECT video_id FROM videos")]
    assert_resumed(out, video_ids, before, local_bucket(out / "bucket"), rows)


# --- 2. between the uploads and the row ----------------------------------------------------
@pytest.fixture
def table_lock(postgres_dsn: str) -> Iterator[Callable[[], psycopg.Connection]]:
    """Takes an EXCLUSIVE lock on `videos` (reads go on, writes wait) in an open transaction,
    held until the test ends or rolls it back."""
    connection = psycopg.connect(postgres_dsn)

    def lock() -> psycopg.Connection:
        connection.execute("LOCK TABLE videos IN EXCLUSIVE MODE")
        return connection

    yield lock
    connection.close()


def waiting_writers(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute("SELECT count(*) FROM pg_locks WHERE NOT granted "
                                  "AND relation = 'videos'::regclass").fetchone()[0]


def row_ids(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        return [row[0] for row in connection.execute("SELECT video_id FROM videos")]


def test_kill_between_the_uploads_and_the_row(tmp_path, short_videos, gcs_env, gcs_emulator,
                                              postgres_dsn, table_lock):
    video_ids = prepare(tmp_path, short_videos)
    out = tmp_path / "output"
    with psycopg.connect(postgres_dsn) as connection:
        connection.execute(schema_sql())
    expected_count = 5 + 2  # five files and the frames of two scenes
    config = base_config(None, max_frames=2, storage={"backend": "gcs"},
                         database={"backend": "postgres"})
    stuck: list[str] = []

    def a_video_waits_for_its_row() -> bool:
        if not waiting_writers(postgres_dsn):
            return False
        bucket = gcs_emulator.objects()
        done, rows = receipts(out), row_ids(postgres_dsn)
        stuck[:] = [video_id for video_id in video_ids if video_id not in done
                    and video_id not in rows
                    and sum(key.startswith(f"videos/{video_id}/") for key in bucket)
                    == expected_count]
        return bool(stuck)

    with Run(tmp_path, config, clean_env(**gcs_env, DATABASE_URL=postgres_dsn)) as run:
        run.wait_for(lambda: receipts(out), "a first receipt")
        locked = table_lock()
        run.wait_for(a_video_waits_for_its_row, "a video with every object stored, waiting "
                                                "to write its row")
        crash(run)
        locked.rollback()
        before = receipts(out)
        assert not set(stuck) & set(before)
        resume(run)
    bucket = {name: blob.md5_hash for name, blob in gcs_emulator.objects().items()}
    assert_resumed(out, video_ids, before, bucket, row_ids(postgres_dsn))


# --- 3. between the row and the receipt ----------------------------------------------------
class HeldReply:
    """In front of the fake PostgREST: the first `videos` upsert answers at once; every later
    one is committed, then its reply is held until released."""

    def __init__(self, web: Web) -> None:
        self.answered = 0
        self.held: list[str] = []
        self.released = threading.Event()
        self.lock = threading.Lock()
        web.services.insert(0, ("held_reply", self.handle))

    def __enter__(self) -> HeldReply:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.released.set()  # a held server thread ends

    def handle(self, web: Web, request: Request) -> Response | None:
        if request.method != "POST" or request.path != f"{postgrest.PREFIX}videos":
            return None
        with self.lock:
            self.answered += 1
            if self.answered == 1 or self.released.is_set():
                return None
        response = postgrest.handle(web, request)  # committed
        with self.lock:
            self.held.extend(str(row["video_id"]) for row in _rows(request))
        self.released.wait(WAIT_SECONDS)
        return response


def _rows(request: Request) -> list[dict]:
    payload = request.json()
    return payload if isinstance(payload, list) else [payload]


def test_kill_between_the_row_and_the_receipt(tmp_path, short_videos, fake_web, postgres_dsn):
    video_ids = prepare(tmp_path, short_videos[:2])
    out = tmp_path / "output"
    with psycopg.connect(postgres_dsn) as connection:
        connection.execute(schema_sql())
    postgrest.configure(fake_web, postgres_dsn)
    reply = HeldReply(fake_web)
    config = base_config(None, max_frames=2, database={"backend": "supabase"})
    env = clean_env(SUPABASE_URL=fake_web.base_url, SUPABASE_KEY=postgrest.DEFAULT_KEY)
    with Run(tmp_path, config, env) as run, reply:
        run.wait_for(lambda: reply.held and receipts(out), "a receipt and a held reply")
        held = reply.held[0]
        assert held in row_ids(postgres_dsn) and held not in receipts(out)
        crash(run)
        reply.released.set()
        before = receipts(out)
        assert list(before) == [video_id for video_id in video_ids if video_id != held]
        resume(run)
    assert_resumed(out, video_ids, before, local_bucket(out / "bucket"), row_ids(postgres_dsn))
