"""The publish rules through real `snakemake`, from video folders as the process stage leaves them.

GCS is the real client against gcp-storage-emulator, the database a real PostgreSQL server, and
Supabase the fake web's PostgREST writing to that PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from support.processed import make_processed_video, write_query
from support.workflow import base_config, run_snakemake, write_research_list

from tiktok_research.config import SECRET_NAMES
from tiktok_research.config import load as load_config
from tiktok_research.database import schema_sql
from tiktok_research.fakeweb import postgrest
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.storage import file_md5

BUCKET = "b"  # the emulator bucket of support.gcs (GCS_BUCKET in gcs_env)
pytest_plugins = ["support.gcs", "support.postgres"]  # the fixtures

QUERIES = {"tokyo ramen spots": ["7000000000000000001", "7000000000000000002"],
           "lisbon hidden gems": ["7000000000000000002", "7000000000000000003"]}
VIDEOS = sorted({video_id for ids in QUERIES.values() for video_id in ids})
FRAMES = 6


def prepare(workdir: Path, config: dict) -> dict[str, dict[str, str]]:
    """Processed video folders (as processed under `config`) and the queries' urls.json; the
    MD5 of every local file."""
    write_research_list(workdir, list(QUERIES))
    out = workdir / "output"
    for index, (query, ids) in enumerate(QUERIES.items()):
        write_query(out, index, query, ids)
    checksums = {}
    for video_id in VIDEOS:
        folder = make_processed_video(out, video_id, frames=FRAMES,
                                      settings=load_config(config))
        checksums[video_id] = {str(path.relative_to(folder)): file_md5(path)
                               for path in folder.rglob("*") if path.is_file()}
    return checksums


def clean_env(**values: str) -> dict[str, str]:
    return {**{name: "" for name in SECRET_NAMES}, **values}


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
def test_gcs_and_postgres_run_and_rerun(tmp_path, gcs_env, gcs_emulator, postgres_dsn):
    env = clean_env(**gcs_env, DATABASE_URL=postgres_dsn)
    config = base_config(None, max_frames=4, storage={"backend": "gcs"},
                         database={"backend": "postgres"})
    checksums = prepare(tmp_path, config)
    first = run_snakemake(tmp_path, config, env=env)
    assert first.returncode == 0, first.stderr[-3000:]

    objects = gcs_emulator.objects()
    for video_id in VIDEOS:
        keys = sorted(key.removeprefix(f"videos/{video_id}/") for key in objects
                      if key.startswith(f"videos/{video_id}/"))
        frames = [key for key in keys if key.startswith("frames/")]
        assert len(frames) == 4 and "frames/001_t0.0s.jpg" in frames
        assert "video.mp4" not in keys
        assert set(keys) - set(frames) == {"metadata.json", "transcript.txt", "audio.mp3",
                                           "transcript_timestamps.json", "ocr.json"}
        for key in keys:
            assert objects[f"videos/{video_id}/{key}"].md5_hash == checksums[video_id][key]
        folder = tmp_path / "output" / "videos" / video_id
        receipt = json.loads((folder / ".uploaded").read_text())
        assert receipt["storage"]["prefix"] == f"gs://{BUCKET}/videos/{video_id}/"
        # Intermediates are temp(): gone once published. The download's video.mp4 stays here
        # only because no extract/detect job ran in this test to consume it.
        assert not (folder / "audio.mp3").exists() and not (folder / "frames").exists()

    videos, links = db_rows(postgres_dsn)
    assert videos == [(video_id, f"https://www.tiktok.com/@tester/video/{video_id}", "tester",
                       f"caption of {video_id} #test", f"hello from video {video_id}",
                       "\n".join(f"text {video_id} {i}" for i in range(1, FRAMES + 1)),
                       f"gs://{BUCKET}/videos/{video_id}/", 4, True) for video_id in VIDEOS]
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
def test_include_video_and_keep(tmp_path, gcs_env, gcs_emulator):
    config = base_config(None, include_video=True, keep=True, storage={"backend": "gcs"})
    checksums = prepare(tmp_path, config)
    first = run_snakemake(tmp_path, config, env=clean_env(**gcs_env))
    assert first.returncode == 0, first.stderr[-3000:]
    objects = gcs_emulator.objects()
    for video_id in VIDEOS:
        assert objects[f"videos/{video_id}/video.mp4"].md5_hash == checksums[video_id]["video.mp4"]
        folder = tmp_path / "output" / "videos" / video_id
        assert (folder / "audio.mp3").exists() and len(list((folder / "frames").iterdir())) == 6
    assert_nothing_to_do(run_snakemake(tmp_path, config, env=clean_env(**gcs_env)))


@pytest.mark.slow
def test_storage_down_mid_run_then_back(tmp_path, gcs_env, gcs_emulator):
    config = base_config(None, storage={"backend": "gcs"})
    prepare(tmp_path, config)
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
        assert (folder / "audio.mp3").exists() and (folder / "frames").is_dir()
    failures = json.loads((tmp_path / "output" / "failures.json").read_text())
    assert {f["video_id"] for f in failures if f["type"] == "upload"} == set(VIDEOS[1:])
    first_receipt = (videos_dir / first_video / ".uploaded").read_text()

    back = run_snakemake(tmp_path, config, env=env)
    assert back.returncode == 0, back.stderr[-3000:]
    assert all((videos_dir / video_id / ".uploaded").exists() for video_id in VIDEOS)
    assert (videos_dir / first_video / ".uploaded").read_text() == first_receipt
    assert {key.split("/")[1] for key in gcs_emulator.objects()} == set(VIDEOS)


@pytest.mark.slow
def test_supabase_gives_the_same_rows_as_postgres(tmp_path, fake_web, postgres_server):
    rows = {}
    for backend in ("postgres", "supabase"):
        workdir = tmp_path / backend
        workdir.mkdir()
        config = base_config(None, database={"backend": backend},
                             storage={"local_dir": "bucket"})
        prepare(workdir, config)
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
    strip = [row[:6] + row[7:] for row in rows["postgres"][0]]  # gcs_prefix: per workdir
    assert strip == [row[:6] + row[7:] for row in rows["supabase"][0]]
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
        assert row == (video_id, metadata["url"], metadata["author"], row[3],
                       (folder / "transcript.txt").read_text().strip(), "\n".join(ocr_lines),
                       f"gs://{BUCKET}/videos/{video_id}/", len(frames), True)
        assert row[3]  # a title
        for name in ("video.mp4", "audio.mp3", "frames"):
            assert not (folder / name).exists()

    assert_nothing_to_do(run_snakemake(tmp_path, config, env=env))
    assert db_rows(postgres_dsn) == (videos, links)
    assert len(gcs_emulator.objects()) == len(objects)
