"""Pseudonymisation end to end (issue 15, item 1, acceptance): the real workflow, with
`privacy.pseudonymise` on, against the fake site, whose videos have distinctive authors, an
@-mention in a caption, an "original sound" named after its author, a SIGI_STATE page and
every link form that names (or hides) the user. No raw handle, nickname, author id or secUid
is left in any file of the run (published files, metadata.json, urls.json, rows, the export,
the report, failures.json, the job logs, Snakemake's and the worker's logs) nor in any row of
the databases; two studies with the same key give every author the same pseudonym.

Not scanned: `browser_profiles/`, Chromium's own working state (its cache of the pages it
visited, like the video before processing), which stays on the machine and is never
published; README "Pseudonymisation" says so.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.workflow import REPO, base_config, run_snakemake, write_research_list

from tiktok_research.fakeweb.catalog import Catalog, DemoVideo, demo_catalog, make_video
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.fakeweb.tiktok_item import _mentioned_user
from tiktok_research.privacy import Pseudonymiser

pytestmark = pytest.mark.slow

KEY = "test-study-key-5d2c7e19a04b6f38"
MARKER = "privacy.json"  # a pseudonymised study's output folder says so
QUERY = "pseudonymised ramen"
# Distinctive people, so that finding none of these words means none leaked.
PEOPLE = [("qzx.vantablack_7", "Quorra Vantablack"),
          ("ploverquill99", "Plover Quillfeather 🌿"),
          ("zephyrmoss.kx", "Zephyr Mossbank")]
MENTIONED = "Brackenwisp_44"
WORDS = ("vantablack", "ploverquill", "quillfeather", "zephyrmoss", "mossbank", "brackenwisp")


def study_catalog() -> tuple[Catalog, list[DemoVideo]]:
    rng = random.Random(1515)
    catalog = Catalog()

    def video(person: int, kind: str = "ok", link_form: str = "canonical") -> DemoVideo:
        made = make_video(rng, "food", kind=kind, scenes=2, duration=10.0)
        made.author, made.nickname = PEOPLE[person]
        made.sec_uid = f"MS4wLjABAAAA{made.author_id}qzsec"
        made.link_form = link_form
        return catalog.add(made)

    mentioning = video(0)
    mentioning.desc = f"{mentioning.desc} with @{MENTIONED} and @{PEOPLE[0][0]}"
    mentioning.music = {**mentioning.music, "title": "original sound",
                        "authorName": PEOPLE[0][1]}
    legacy = video(1, kind="legacy", link_form="share")
    legacy.music = {**legacy.music, "title": f"original sound - {PEOPLE[1][1]}",
                    "authorName": PEOPLE[1][1]}
    short = video(2, link_form="t")
    private = video(2, kind="private")
    photo = video(0, kind="photo", link_form="photo")
    videos = [mentioning, legacy, short, private, photo]
    catalog.query_results[QUERY] = [made.video_id for made in videos]
    return catalog, videos


def raw_identities(videos: list[DemoVideo]) -> set[str]:
    """Every raw identity the site served (lower case), and the distinctive words of them."""
    found = set(WORDS)
    for made in videos:
        found |= {made.author, made.nickname, made.author_id, made.sec_uid}
    found |= set(_mentioned_user(MENTIONED))
    return {value.lower() for value in found}


def run_study(workdir: Path, catalog: Catalog, key: str = KEY, **overrides):
    write_research_list(workdir, [QUERY])
    with FakeWeb(catalog) as web:
        config = base_config(web.host, max_results=10, privacy={"pseudonymise": True},
                             **overrides)
        return run_snakemake(workdir, config, env={"STUDY_PSEUDONYM_KEY": key})


def leaks_in_files(workdir: Path, raw: set[str]) -> list[str]:
    leaks = []
    for path in sorted(workdir.rglob("*")):
        relative = path.relative_to(workdir)
        if not path.is_file() or relative.parts[0] == "browser_profiles":
            continue
        text = path.read_bytes().decode("utf-8", errors="replace").lower()
        leaks += [f"{value!r} in {relative}" for value in raw if value in text]
    return leaks


def database_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        tables = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        return [row for table in tables
                for row in connection.execute(f'SELECT * FROM "{table}"').fetchall()]


def leaks_in_rows(out: Path, raw: set[str]) -> list[str]:
    """Every row of the database and of dataset.sqlite, and every cell of the compressed
    dataset.parquet (a byte search of a file does not see into those)."""
    import pyarrow.parquet as parquet

    sources = {name: database_rows(out / name) for name in ("research.sqlite", "dataset.sqlite")}
    sources["dataset.parquet"] = [tuple(row.values()) for row in
                                  parquet.read_table(out / "dataset.parquet").to_pylist()]
    return [f"{value!r} in a row of {name}" for name, rows in sources.items()
            for row in rows for value in raw if value in json.dumps(row, default=str).lower()]


def authors(out: Path) -> dict[str, dict[str, str]]:
    found = {}
    for path in (out / "bucket" / "videos").glob("*/metadata.json"):
        metadata = json.loads(path.read_text())
        found[metadata["video_id"]] = {
            key: metadata[key] for key in ("author", "author_id", "author_nickname",
                                           "author_sec_uid", "caption", "music_author")}
        # The fake site's port differs between the runs: the link's path is compared.
        found[metadata["video_id"]]["path"] = urlsplit(metadata["url"]).path
    return found


@pytest.fixture(scope="module")
def two_studies(tmp_path_factory):
    catalog, videos = study_catalog()
    ensure_media([made for made in videos if made.kind in ("ok", "legacy")])
    runs = []
    for name in ("first", "second"):
        workdir = tmp_path_factory.mktemp(name)
        runs.append((workdir, run_study(workdir, catalog)))
    return videos, runs


def test_no_raw_identity_leaves_a_pseudonymised_run(two_studies) -> None:
    videos, runs = two_studies
    raw = raw_identities(videos)
    for workdir, result in runs:
        # Two videos are unavailable (private, a photo post): an outcome, not a failure.
        assert result.returncode == 0, result.stderr[-3000:]
        out = workdir / "output"
        assert len(authors(out)) == 3  # what there was to leak did reach the output
        assert {"report.html", "dataset.csv", "failures.json", MARKER} <= \
            {path.name for path in out.iterdir()}
        assert any((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
        assert list((out / "logs" / "download").glob("*.log"))
        leaks = leaks_in_files(workdir, raw) + leaks_in_rows(out, raw)
        leaks += [f"{value!r} in the run's {stream}" for stream, text in
                  (("stdout", result.stdout), ("stderr", result.stderr))
                  for value in raw if value in text.lower()]
        assert not leaks, "\n".join(leaks)
        assert not leaks_in_files(workdir, {KEY.lower()})  # nor the key itself


def test_the_demo_with_pseudonyms_leaves_no_raw_identity(tmp_path) -> None:
    """The demo (its site, the project's research list, every query, three videos each), with
    photo posts on too: a photo post, a SIGI_STATE page, an embed link, and a video without
    speech and one without sound, which end processing_failed by design, among its videos."""
    catalog = demo_catalog()
    listed = (REPO / "research_list.csv").read_text(encoding="utf-8")
    (tmp_path / "research_list.csv").write_text(listed, encoding="utf-8")
    queries = [row["query"] for row in csv.DictReader(io.StringIO(listed))]
    with FakeWeb(catalog) as web:
        served = [catalog.videos[video_id] for query in queries
                  for video_id in catalog.results_for(query)[:3]]
        ensure_media([made for made in served if made.kind in ("ok", "legacy")], web.media_dir)
        config = base_config(web.host, max_results=3, include_photo_posts=True,
                             privacy={"pseudonymise": True})
        result = run_snakemake(tmp_path, config, env={"STUDY_PSEUDONYM_KEY": KEY})
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "output"
    published = [json.loads(path.read_text()) for path in
                 (out / "bucket" / "videos").glob("*/metadata.json")]
    progress = json.loads((out / "progress.json").read_text())
    assert progress["stats"]["total"] == len(queries) == 12
    assert len(published) == progress["videos"]["published"] >= 10
    assert [meta.get("post_type") for meta in published].count("photo") == len(
        {made.video_id for made in served if made.kind == "photo"}) == 1
    raw = {value.lower() for made in served
           for value in (made.author, made.nickname, made.author_id, made.sec_uid)}
    leaks = leaks_in_files(tmp_path, raw) + leaks_in_rows(out, raw)
    leaks += [f"{value!r} in the run's output" for value in raw
              if value in (result.stdout + result.stderr).lower()]
    assert not leaks, "\n".join(leaks)


def test_the_scan_finds_raw_identities_in_a_study_without_pseudonyms(tmp_path) -> None:
    """The control: the same study without `privacy.pseudonymise` leaves the raw identities
    where the scan looks (so finding none above means something)."""
    catalog, videos = study_catalog()
    write_research_list(tmp_path, [QUERY])
    with FakeWeb(catalog) as web:
        result = run_snakemake(tmp_path, base_config(web.host, max_results=10))
    assert result.returncode == 0, result.stderr[-3000:]
    raw = raw_identities(videos)
    out = tmp_path / "output"
    leaks = leaks_in_files(tmp_path, raw) + leaks_in_rows(out, raw)
    for where in ("metadata.json", "urls.json", "dataset.csv", "logs/download/",
                  "a row of research.sqlite", "a row of dataset.sqlite",
                  "a row of dataset.parquet"):
        assert any(where in leak for leak in leaks), (where, leaks)
    for word in ("vantablack", "quillfeather", "brackenwisp", PEOPLE[2][0]):
        assert any(f"{word!r}" in leak for leak in leaks), word


def test_pseudonyms_are_the_keyed_ones_and_stable_across_two_studies(two_studies) -> None:
    videos, runs = two_studies
    study = Pseudonymiser(KEY)
    first, second = (authors(workdir / "output") for workdir, _ in runs)
    assert first == second
    by_id = {made.video_id: made for made in videos}
    for video_id, published in first.items():
        made = by_id[video_id]
        assert published["author"] == study.handle(made.author)
        assert published["author_id"] == study.pseudonym("user_id", made.author_id)
        assert published["author_nickname"] == study.pseudonym("nickname", made.nickname)
        assert published["author_sec_uid"] == study.pseudonym("sec_uid", made.sec_uid)
        assert published["path"] == f"/@_/video/{video_id}"
    mentioning = first[videos[0].video_id]
    assert (f"with @{study.handle(MENTIONED)} and @{study.handle(PEOPLE[0][0])}"
            in mentioning["caption"])
    assert mentioning["music_author"] == study.pseudonym("nickname", PEOPLE[0][1])
    # The rows carry the same pseudonyms.
    with sqlite3.connect(runs[0][0] / "output" / "research.sqlite") as connection:
        rows = dict(connection.execute("SELECT video_id, author FROM videos").fetchall())
    assert rows == {video_id: published["author"] for video_id, published in first.items()}


def test_a_study_is_pseudonymised_from_its_first_run_or_not_at_all(two_studies, tmp_path):
    videos, runs = two_studies
    catalog, _ = study_catalog()
    pseudonymised = runs[0][0]
    # Another key for a pseudonymised study's folder: refused at start, in one line.
    refused = run_study(pseudonymised, catalog, key=KEY + "-other")
    assert refused.returncode != 0
    lines = [line for line in refused.stderr.splitlines() if "STUDY_PSEUDONYM_KEY" in line]
    assert len(lines) == 1 and "is not the key" in lines[0], refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr and KEY not in refused.stderr
    # Turning it off there: refused too.
    write_research_list(pseudonymised, [QUERY])
    off = run_snakemake(pseudonymised, base_config(max_results=10), "-n")
    assert off.returncode != 0 and "holds a pseudonymised study" in off.stderr
    # Turning it on for a folder a study without pseudonyms filled: refused, in one line.
    (tmp_path / "output" / "queries").mkdir(parents=True)
    on = run_study(tmp_path, catalog)
    assert on.returncode != 0
    lines = [line for line in on.stderr.splitlines() if "already holds data" in line]
    assert len(lines) == 1 and "output" in lines[0], on.stderr[-2000:]
    assert "STUDY_PSEUDONYM_KEY" in lines[0] and "Traceback" not in on.stderr
    assert not (tmp_path / "output" / MARKER).exists()
    # Without the key: one line naming it.
    (tmp_path / "output" / "queries").rmdir()
    keyless = run_study(tmp_path, catalog, key="")
    assert keyless.returncode != 0
    assert "STUDY_PSEUDONYM_KEY is not set" in keyless.stderr
