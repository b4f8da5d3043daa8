"""The workflow with Snakemake's own remote storage: `--default-storage-provider fs` (the
snakemake-storage-plugin-fs), the storage prefix in another folder than the working directory,
no shared file system assumed. Every file a job reads or writes goes through the storage, so a
job that read or wrote an undeclared file would fail or be lost here. The run must give what a
plain local run gives."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from support.workflow import REPO, base_config, run_snakemake

from tiktok_research.fakeweb.media import ensure_media

pytestmark = pytest.mark.slow

QUERIES = {"start": 0, "count": 4, "max_results": 3}


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


def test_remote_default_storage_gives_the_local_result(fake_web, tmp_path):
    playable = [v for v in fake_web.catalog.videos.values() if v.kind in ("ok", "legacy")]
    ensure_media(playable)
    config = base_config(fake_web.host, **QUERIES)
    local, remote, storage = tmp_path / "local", tmp_path / "remote", tmp_path / "storage"
    for workdir in (local, remote):
        workdir.mkdir()
        shutil.copy(REPO / "research_list.csv", workdir / "research_list.csv")
    storage.mkdir()

    plain = run_snakemake(local, config)
    assert plain.returncode == 0, plain.stderr[-3000:]
    storage_args = ("--default-storage-provider", "fs", "--default-storage-prefix", str(storage),
                    "--shared-fs-usage", "none")
    stored = run_snakemake(remote, config, *storage_args)
    assert stored.returncode == 0, stored.stderr[-3000:]

    # The outputs live in the storage, under the same tree as a local run's.
    in_storage = storage / "output"
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
