"""Process and publish through real `snakemake`, from video folders as the download leaves them
(real demo videos), to GCS (the real client against gcp-storage-emulator), PostgreSQL (a real
server) and Supabase (the fake web's PostgREST writing to that PostgreSQL).
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from support import demo_media
from support.demo_media import DemoSet
from support.processed import write_downloaded, write_query
from support.workflow import base_config, run_snakemake, write_research_list

from tiktok_research.config import SECRET_NAMES
from tiktok_research.database import schema_sql
from tiktok_research.fakeweb import postgrest
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.publish.storage import file_md5

BUCKET = "b"  # the emulator bucket of support.gcs (GCS_BUCKET in gcs_env)
pytest_plugins = ["support.gcs", "support.postgres"]  # the fixtures
demo_set = demo_media.demo_set  # the session fixture

QUERIES = {"tokyo ramen spots": ["7000000000000000001", "7000000000000000002"],
           "lisbon hidden gems": ["7000000000000000002", "7000000000000000003"]}
VIDEOS = sorted({video_id for ids in QUERIES.values() for video_id in ids})


def prepare(workdir: Path, demo_set: DemoSet) -> dict[str, dict]:
    """The queries' urls.json, and each video's folder as the download leaves it (a real demo
    video and its metadata.json); the demo video of each id."""
    write_research_list(workdir, list(QUERIES))
    out = workdir / "output"
    for index, (query, ids) in enumerate(QUERIES.items()):
        write_query(out, index, query, ids)
    media = {}
    for video_id, demo in zip(VIDEOS, demo_set.speaking, strict=True):
        write_downloaded(out, video_id, demo.path, {
            "video_id": video_id, "url": f"https://www.tiktok.com/@tester/video/{video_id}",
            "author": "tester", "caption": f"caption of {video_id} #test"})
        media[video_id] = demo
    return media


def clean_env(**values: str) -> dict[str, str]:
    return {**{name: "" for name in SECRET_NAMES}, **values}


def local_checksums(workdir: Path, video_id: str) -> dict[str, str]:
    folder = workdir / "output" / "videos" / video_id
    return {str(path.relative_to(folder)): file_md5(path) for path in folder.rglob("*")
            if path.is_file() and path.name != ".uploaded"}


def db_rows(dsn: str) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(dsn) as connection:
        videos = connection.execute(
            "SELECT video_id, url, author, title, transcript, ocr_text, gcs_prefix, frame_count, "
            "processed_at IS NOT NULL FROM videos ORDER BY video_id").fetchall()
        links = connection.execute("SELECT query_index, query, video_id, position "
                                   "FROM query_videos ORDER BY query_index, position").fetchall()
    return videos, links


def expected_links() -> list[tuple]:
    return [(index, query, video_id, position)
            for index, (query, ids) in enumerate(QUERIES.items())
            for position, video_id in enumerate(ids, start=1)]


def assert_nothing_to_do(result) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stderr, result.stderr[-3000:]


@pytest.mark.slow
def test_gcs_and_postgres_run_and_rerun(tmp_path, demo_set, gcs_env, gcs_emulator,
                                        postgres_dsn):
    env = clean_env(**gcs_env, DATABASE_URL=postgres_dsn)
    config = base_config(None, max_frames=2, storage={"backend": "gcs"},
                         database={"backend": "postgres"})
    media = prepare(tmp_path, demo_set)
    first = run_snakemake(tmp_path, config, env=env)
    assert first.returncode == 0, first.stderr[-3000:]

    objects = gcs_emulator.objects()
    for video_id in VIDEOS:
        keys = sorted(key.removeprefix(f"videos/{video_id}/") for key in objects
                      if key.startswith(f"videos/{video_id}/"))
        frames = [key for key in keys if key.startswith("frames/")]
        assert len(frames) == 2 and "frames/001_t0.0s.jpg" in frames
        assert set(keys) - set(frames) == {"metadata.json", "transcript.txt", "audio.mp3",
                                           "transcript_timestamps.json", "ocr.json"}
        folder = tmp_path / "output" / "videos" / video_id
        receipt = json.loads((folder / ".uploaded").read_text())
        assert receipt["outcome"] == "published"
        assert receipt["storage"]["prefix"] == f"gs://{BUCKET}/videos/{video_id}/"
        stored = {obj["key"]: obj["md5"] for obj in receipt["objects"]}
        assert sorted(stored) == sorted(f"videos/{video_id}/{key}" for key in keys)
        for key, md5 in stored.items():
            assert objects[key].md5_hash == md5
        for name, md5 in local_checksums(tmp_path, video_id).items():
            assert md5 == stored[f"videos/{video_id}/{name}"]
        # Large intermediates are gone once published; the kept files are what was published.
        assert sorted(local_checksums(tmp_path, video_id)) == [
            "metadata.json", "ocr.json", "transcript.txt", "transcript_timestamps.json"]

    videos, links = db_rows(postgres_dsn)
    assert [row[:4] for row in videos] == [
        (video_id, f"https://www.tiktok.com/@tester/video/{video_id}", "tester",
         f"caption of {video_id} #test") for video_id in VIDEOS]
    for row in videos:
        folder = tmp_path / "output" / "videos" / row[0]
        assert row[4] == (folder / "transcript.txt").read_text().strip() != ""
        assert row[6:] == (f"gs://{BUCKET}/videos/{row[0]}/", 2, True)
        spoken = demo_media.normalise_words(media[row[0]].video.script)
        assert spoken.split()[0] in demo_media.normalise_words(row[4])
    assert links == expected_links()
    for index, query in enumerate(QUERIES):
        links_json = next((tmp_path / "output" / "queries").glob(f"query_{index:05d}_*"))
        assert [link["video_id"] for link in
                json.loads((links_json / "links.json").read_text())["links"]] == QUERIES[query]

    updated = {name: blob.updated for name, blob in objects.items()}
    assert_nothing_to_do(run_snakemake(tmp_path, config, env=env))
    assert {name: blob.updated for name, blob in gcs_emulator.objects().items()} == updated
    assert db_rows(postgres_dsn) == (videos, links)


@pytest.mark.slow
def test_include_video_and_keep(tmp_path, demo_set, gcs_env, gcs_emulator):
    config = base_config(None, include_video=True, keep=True, storage={"backend": "gcs"})
    media = prepare(tmp_path, demo_set)
    first = run_snakemake(tmp_path, config, env=clean_env(**gcs_env))
    assert first.returncode == 0, first.stderr[-3000:]
    objects = gcs_emulator.objects()
    for video_id in VIDEOS:
        assert objects[f"videos/{video_id}/video.mp4"].md5_hash == file_md5(media[video_id].path)
        folder = tmp_path / "output" / "videos" / video_id
        assert (folder / "video.mp4").exists() and (folder / "audio.mp3").exists()
        assert len(list((folder / "frames").glob("*.jpg"))) == len(media[video_id].video.scenes)
    assert_nothing_to_do(run_snakemake(tmp_path, config, env=clean_env(**gcs_env)))


@pytest.mark.slow
def test_storage_down_mid_run_then_back(tmp_path, demo_set, gcs_env, gcs_emulator):
    config = base_config(None, storage={"backend": "gcs"})
    prepare(tmp_path, demo_set)
    env = clean_env(**gcs_env)
    videos_dir = tmp_path / "output" / "videos"
    first_video = VIDEOS[0]
    done = run_snakemake(tmp_path, config, f"output/videos/{first_video}/.uploaded", env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    gcs_emulator.stop()
    try:
        down = run_snakemake(tmp_path, config, "--keep-going", env=env)
    finally:
        gcs_emulator.start()
    assert down.returncode != 0
    for video_id in VIDEOS[1:]:
        folder = videos_dir / video_id
        assert not (folder / ".uploaded").exists()
        assert (folder / "video.mp4").exists()  # kept for the next run
    failures = json.loads((tmp_path / "output" / "failures.json").read_text())
    uploads = [f for f in failures if f["type"] == "upload"]
    # Each video's job failed twice (a try and Snakemake's retry), each after its own retries.
    assert sorted((f["video_id"], f["attempt"]) for f in uploads) == sorted(
        (video_id, attempt) for video_id in VIDEOS[1:] for attempt in (1, 2))
    # The run's last words name the failed videos (Snakemake's own lines name them too, so
    # the summary line itself is read).
    [summary] = [line for line in down.stderr.splitlines()
                 if line.startswith("tiktok-research:") and "failed after their retries" in line]
    assert summary.startswith(f"tiktok-research: {len(VIDEOS) - 1} video(s) failed after their "
                              f"retries: {', '.join(VIDEOS[1:])}; see "), summary
    first_receipt = (videos_dir / first_video / ".uploaded").read_text()

    back = run_snakemake(tmp_path, config, env=env)
    assert back.returncode == 0, back.stderr[-3000:]
    assert all((videos_dir / video_id / ".uploaded").exists() for video_id in VIDEOS)
    assert (videos_dir / first_video / ".uploaded").read_text() == first_receipt
    assert {key.split("/")[1] for key in gcs_emulator.objects()} == set(VIDEOS)


@pytest.mark.slow
def test_supabase_gives_the_same_rows_as_postgres(tmp_path, demo_set, fake_web,
                                                  postgres_server):
    rows = {}
    for backend in ("postgres", "supabase"):
        workdir = tmp_path / backend
        workdir.mkdir()
        config = base_config(None, database={"backend": backend},
                             storage={"local_dir": "bucket"})
        prepare(workdir, demo_set)
        dsn = postgres_server.create_database()
        env = clean_env(DATABASE_URL=dsn)
        if backend == "supabase":
            with psycopg.connect(dsn) as connection:
                connection.execute(schema_sql())
            postgrest.configure(fake_web, dsn)
            fake_web.fail("supabase", 503, times=1)  # retried
            env = clean_env(SUPABASE_URL=fake_web.base_url, SUPABASE_KEY=postgrest.DEFAULT_KEY)
        result = run_snakemake(workdir, config, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        rows[backend] = db_rows(dsn)
    assert rows["postgres"][1] == rows["supabase"][1] == expected_links()
    strip = [row[:4] + row[5:6] + row[7:] for row in rows["postgres"][0]]  # prefix: per workdir
    assert strip == [row[:4] + row[5:6] + row[7:] for row in rows["supabase"][0]]
    assert len(strip) == len(VIDEOS)


@pytest.mark.slow
def test_whole_pipeline_against_the_fake_web(tmp_path, fake_web, gcs_env, gcs_emulator,
                                             postgres_dsn):
    """Search → download (Chromium) → process → publish to GCS + PostgreSQL, then a rerun."""
    query, max_results = "tokyo ramen spots", 2
    ids = fake_web.catalog.results_for(query)[:max_results]
    ensure_media([fake_web.catalog.videos[video_id] for video_id in ids])
    write_research_list(tmp_path, [query])
    env = clean_env(**gcs_env, DATABASE_URL=postgres_dsn, SERPER_API_KEY="test-serper-key")
    config = base_config(fake_web.host, max_results=max_results, max_frames=2,
                         storage={"backend": "gcs"}, database={"backend": "postgres"})
    first = run_snakemake(tmp_path, config, env=env)
    assert first.returncode == 0, first.stderr[-3000:]

    objects = gcs_emulator.objects()
    videos, links = db_rows(postgres_dsn)
    assert [row[0] for row in videos] == sorted(ids)
    assert links == [(0, query, video_id, position)
                     for position, video_id in enumerate(ids, start=1)]
    for row in videos:
        video_id = row[0]
        folder = tmp_path / "output" / "videos" / video_id
        receipt = json.loads((folder / ".uploaded").read_text())
        for obj in receipt["objects"]:
            assert objects[obj["key"]].md5_hash == obj["md5"]
        for name in ("metadata.json", "transcript.txt", "transcript_timestamps.json", "ocr.json"):
            assert objects[f"videos/{video_id}/{name}"].md5_hash == file_md5(folder / name)
        frames = [key for key in objects if key.startswith(f"videos/{video_id}/frames/")]
        assert 1 <= len(frames) <= 2 and f"videos/{video_id}/video.mp4" not in objects
        metadata = json.loads((folder / "metadata.json").read_text())
        ocr = json.loads((folder / "ocr.json").read_text())
        ocr_lines = [item["text"].strip() for item in sorted(ocr["items"], key=lambda i: i["t"])
                     if item["text"].strip()]
        # Title, author and URL as the fake site's catalog has them, not as the run wrote them.
        video = fake_web.catalog.videos[video_id]
        assert row == (video_id, f"{fake_web.base_url}{video.page_path}", video.author,
                       video.desc, (folder / "transcript.txt").read_text().strip(),
                       "\n".join(ocr_lines), f"gs://{BUCKET}/videos/{video_id}/", len(frames),
                       True)
        assert (metadata["url"], metadata["author"], metadata["caption"]) == row[1:4]
        for name in ("video.mp4", "audio.mp3", "frames"):
            assert not (folder / name).exists()

    assert_nothing_to_do(run_snakemake(tmp_path, config, env=env))
    assert db_rows(postgres_dsn) == (videos, links)
    assert len(gcs_emulator.objects()) == len(objects)
