"""The workflow with Snakemake's own remote storage, the storage prefix away from the working
directory and no shared file system assumed: `--default-storage-provider fs` (the
snakemake-storage-plugin-fs, a folder) and `gcs` (the snakemake-storage-plugin-gcs against the
GCS emulator of support.gcs). Every file a job reads or writes goes through the storage, so a
job that read or wrote an undeclared file would fail or be lost here. The run must give what a
plain local run gives, and a second run must find nothing to do."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.workflow import REPO, base_config, run_snakemake

from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb

pytestmark = pytest.mark.slow
pytest_plugins = ["support.gcs"]  # the fixtures

QUERIES = {"start": 0, "count": 4, "max_results": 3}
# Fewer for GCS: the emulator is one more server on the test machine's cores, and the plugin's
# code paths (upload, download with its crc32c check, listing, directories) are met as often.
GCS_QUERIES = {"start": 0, "count": 3, "max_results": 2}


def statuses(output: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(output.glob("queries/*/status.json")):
        status = json.loads(path.read_text())
        found[path.parent.name] = {"status": status["status"], "counts": status["counts"],
                                   "videos": status["videos"]}
    return found


def published(output: Path) -> dict[str, list[str]]:
    """Each published video and the names of its objects in the storage backend."""
    videos = {}
    for receipt_path in sorted(output.glob("videos/*/.uploaded")):
        receipt = json.loads(receipt_path.read_text())
        if receipt["outcome"] == "published":
            videos[receipt["video_id"]] = sorted(obj["key"] for obj in receipt["objects"])
    return videos


def rows(database: Path) -> tuple[list, list]:
    with sqlite3.connect(database) as connection:
        videos = connection.execute(
            "SELECT video_id, url, author, title, transcript, ocr_text, frame_count FROM videos "
            "ORDER BY video_id").fetchall()
        links = connection.execute(
            "SELECT query_index, query, video_id, position FROM query_videos "
            "ORDER BY query_index, position").fetchall()
    return videos, links


def assert_stored_run_gives_the_local_result(fake_web: FakeWeb, tmp_path: Path,
                                             queries: dict[str, Any], storage_args: tuple[str, ...],
                                             stored_output: Callable[[], Path]) -> None:
    """Run the workflow plainly and with `storage_args`; `stored_output()` gives the stored
    run's output tree as local files, read once the run is done."""
    playable = [v for v in fake_web.catalog.videos.values() if v.kind in ("ok", "legacy")]
    ensure_media(playable)
    config = base_config(fake_web.host, **queries)
    local, remote = tmp_path / "local", tmp_path / "remote"
    for workdir in (local, remote):
        workdir.mkdir()
        shutil.copy(REPO / "research_list.csv", workdir / "research_list.csv")

    plain = run_snakemake(local, config)
    assert plain.returncode == 0, plain.stderr[-3000:]
    stored = run_snakemake(remote, config, *storage_args)
    assert stored.returncode == 0, stored.stderr[-3000:]

    # The outputs live in the storage, under the same tree as a local run's.
    in_storage = stored_output()
    assert statuses(in_storage) == statuses(local / "output") != {}
    assert published(in_storage) == published(local / "output") != {}
    assert set(statuses(in_storage)) == {path.parent.name for path in
                                         (local / "output").glob("queries/*/urls.json")}
    for name in ("progress.json", "failures.json", "report.html", "dataset.parquet"):
        assert (in_storage / name).is_file(), name
    progress = [json.loads(root.joinpath("progress.json").read_text())
                for root in (in_storage, local / "output")]
    assert progress[0]["stats"] == progress[1]["stats"]
    assert progress[0]["videos"] == progress[1]["videos"]
    failures = [[(r["type"], r.get("video_id"), r["attempt"], r["details"].get("reason"))
                 for r in json.loads(root.joinpath("failures.json").read_text())]
                for root in (in_storage, local / "output")]
    assert sorted(failures[0]) == sorted(failures[1])
    # The database (sqlite, a file of the working directory) has the same rows.
    assert rows(remote / "output" / "research.sqlite") == rows(local / "output" /
                                                              "research.sqlite")
    # Nothing the run produced sits in the working directory's output tree but the backends.
    leftovers = {path.name for path in (remote / "output").iterdir()}
    assert leftovers <= {"research.sqlite", "bucket"}, leftovers

    again = run_snakemake(remote, config, *storage_args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr


def test_fs_default_storage_gives_the_local_result(fake_web, tmp_path):
    storage = tmp_path / "storage"
    storage.mkdir()
    storage_args = ("--default-storage-provider", "fs", "--default-storage-prefix", str(storage),
                    "--shared-fs-usage", "none")
    assert_stored_run_gives_the_local_result(fake_web, tmp_path, QUERIES, storage_args,
                                             lambda: storage / "output")


def test_gcs_default_storage_gives_the_local_result(fake_web, gcs_env, gcs_emulator, tmp_path):
    # STORAGE_EMULATOR_HOST (gcs_env, inherited by snakemake) makes the plugin's
    # storage.Client() anonymous and sends it to the emulator; the plugin requires a project,
    # which GCS bills the requests to and the emulator ignores.
    storage_args = ("--default-storage-provider", "gcs",
                    "--default-storage-prefix", f"gs://{gcs_env['GCS_BUCKET']}/study",
                    "--storage-gcs-project", "test-project", "--shared-fs-usage", "none")
    assert_stored_run_gives_the_local_result(
        fake_web, tmp_path, GCS_QUERIES, storage_args,
        lambda: gcs_emulator.download("study/", tmp_path / "downloaded") / "output")
    assert all(name.startswith("study/output/") for name in gcs_emulator.objects())
