"""Database backends (sqlite, real PostgreSQL, supabase-py against the fake PostgREST) and the
fake PostgREST's wire protocol."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from tiktok_research.database import LINK_COLUMNS, VIDEO_COLUMNS, open_database
from tiktok_research.database import supabase as supabase_backend
from tiktok_research.errors import DatabaseError, MissingSecret
from tiktok_research.fakeweb import postgrest
from tiktok_research.records import make_record, with_identity

pytest_plugins = ["support.postgres"]  # the fixtures

ROW = {"video_id": "7319467787859053825",
       "url": "https://www.tiktok.com/@a/video/7319467787859053825",
       "author": "a", "title": "a title", "transcript": "hello", "ocr_text": "one\ntwo",
       "gcs_prefix": "gs://b/videos/7319467787859053825/", "frame_count": 2,
       "processed_at": "2026-01-02T03:04:05Z", "post_type": "photo"}
LINKS = [{"query_index": 0, "query": "tokyo ramen", "video_id": ROW["video_id"], "position": 3},
         {"query_index": 4, "query": "lisbon", "video_id": ROW["video_id"], "position": 1}]
EXPECTED_VIDEO = (*(ROW[c] for c in VIDEO_COLUMNS[:-2]), "2026-01-02 03:04:05", "photo")
EXPECTED_LINKS = sorted(tuple(link[c] for c in LINK_COLUMNS) for link in LINKS)


def pg_rows(dsn: str) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(dsn) as connection:
        videos = connection.execute(
            "SELECT video_id, url, author, title, transcript, ocr_text, gcs_prefix, frame_count, "
            "to_char(processed_at, 'YYYY-MM-DD HH24:MI:SS'), post_type FROM videos").fetchall()
        links = connection.execute(
            "SELECT query_index, query, video_id, position FROM query_videos "
            "ORDER BY query_index").fetchall()
    return videos, links


def write_twice(database) -> None:
    for _ in range(2):
        database.upsert_video(ROW)
        database.upsert_links(LINKS)
    database.upsert_video(dict(ROW, frame_count=5))
    database.upsert_video(ROW)
    database.close()


def test_sqlite_upserts_without_duplicates(tmp_path):
    path = tmp_path / "out" / "research.sqlite"
    write_twice(open_database({"database": {"backend": "sqlite", "sqlite_path": str(path)}}))
    with sqlite3.connect(path) as connection:
        videos = connection.execute(f"SELECT {', '.join(VIDEO_COLUMNS)} FROM videos").fetchall()
        links = connection.execute("SELECT query_index, query, video_id, position "
                                   "FROM query_videos ORDER BY query_index").fetchall()
    assert videos == [tuple(ROW[c] for c in VIDEO_COLUMNS)]
    assert links == EXPECTED_LINKS


def test_postgres_creates_tables_and_upserts(postgres_dsn, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    write_twice(open_database({"database": {"backend": "postgres"}}))
    videos, links = pg_rows(postgres_dsn)
    assert videos == [EXPECTED_VIDEO]
    assert links == EXPECTED_LINKS


def test_postgres_column_types_match_the_spec(postgres_dsn, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    open_database({"database": {"backend": "postgres"}}).close()
    with psycopg.connect(postgres_dsn) as connection:
        columns = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'videos' ORDER BY ordinal_position").fetchall()
        key = connection.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'videos'::regclass "
            "AND i.indisprimary").fetchall()
    assert columns == [("video_id", "text"), ("url", "text"), ("author", "text"),
                       ("title", "text"), ("transcript", "text"), ("ocr_text", "text"),
                       ("gcs_prefix", "text"), ("frame_count", "integer"),
                       ("processed_at", "timestamp without time zone"),
                       ("post_type", "text")]
    assert key == [("video_id",)]


# The `videos` table as the first release created it, with one published video.
OLD_VIDEOS = ("CREATE TABLE videos (video_id TEXT PRIMARY KEY, url TEXT, author TEXT, title TEXT, "
              "transcript TEXT, ocr_text TEXT, gcs_prefix TEXT, frame_count INTEGER, "
              "processed_at TIMESTAMP)")
OLD_ROW = ("INSERT INTO videos (video_id, url, frame_count) "
           "VALUES ('7000000000000000001', 'https://www.tiktok.com/@a/video/1', 3)")


def test_sqlite_adds_post_type_to_a_database_made_before_it(tmp_path):
    path = tmp_path / "research.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute(OLD_VIDEOS)
        connection.execute(OLD_ROW)
    connection.close()
    for _ in range(2):  # the second open finds the column there
        database = open_database({"database": {"backend": "sqlite", "sqlite_path": str(path)}})
        database.upsert_video(ROW)
        database.close()
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT video_id, post_type FROM videos "
                                  "ORDER BY video_id").fetchall()
    connection.close()
    assert rows == [("7000000000000000001", "video"), (ROW["video_id"], "photo")]


def test_postgres_adds_post_type_to_a_database_made_before_it(postgres_dsn, monkeypatch):
    with psycopg.connect(postgres_dsn) as connection:
        connection.execute(OLD_VIDEOS)
        connection.execute(OLD_ROW)
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    write_twice(open_database({"database": {"backend": "postgres"}}))
    with psycopg.connect(postgres_dsn) as connection:
        rows = connection.execute("SELECT video_id, post_type FROM videos "
                                  "ORDER BY video_id").fetchall()
    assert rows == [("7000000000000000001", "video"), (ROW["video_id"], "photo")]


def test_postgres_connects_without_locking_out_readers(postgres_dsn, monkeypatch):
    """With every column there, opening the database alters nothing: ALTER TABLE would wait for
    (and then stop) every reader of `videos`, here one with an open transaction."""
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    open_database({"database": {"backend": "postgres"}}).close()
    reader = psycopg.connect(postgres_dsn)
    pool = ThreadPoolExecutor(1)
    try:
        reader.execute("SELECT count(*) FROM videos")  # holds its lock until the transaction ends
        opened = pool.submit(lambda: open_database({"database": {"backend": "postgres"}}).close())
        opened.result(timeout=20)
    finally:
        reader.rollback()
        reader.close()
        pool.shutdown()


def test_postgres_needs_database_url(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingSecret, match="DATABASE_URL"):
        open_database({"database": {"backend": "postgres"}})


def test_postgres_unreachable_is_retryable_and_hides_the_password(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:s3cr3tpass@127.0.0.1:1/db")
    with pytest.raises(DatabaseError) as caught:
        open_database({"database": {"backend": "postgres"}})
    assert caught.value.retryable
    assert "s3cr3tpass" not in str(caught.value)


def test_supabase_gives_the_same_rows(supabase):
    write_twice(open_database({"database": {"backend": "supabase"}}))
    videos, links = pg_rows(supabase)
    assert videos == [EXPECTED_VIDEO]
    assert links == EXPECTED_LINKS


def test_supabase_bad_key_names_supabase_key(supabase, monkeypatch):
    monkeypatch.setenv("SUPABASE_KEY", "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.zzbadsig")
    database = open_database({"database": {"backend": "supabase"}})
    with pytest.raises(DatabaseError, match="SUPABASE_KEY") as caught:
        database.upsert_video(ROW)
    assert not caught.value.retryable
    assert "zzbadsig" not in str(caught.value)


def test_supabase_needs_its_secrets(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPABASE_URL", "http://127.0.0.1:1")
    monkeypatch.delenv("SUPABASE_KEY", raising=False)
    with pytest.raises(MissingSecret, match="SUPABASE_KEY"):
        open_database({"database": {"backend": "supabase"}})


def test_supabase_503_is_retryable(supabase, fake_web):
    fake_web.fail("supabase", 503, times=1)
    database = open_database({"database": {"backend": "supabase"}})
    with pytest.raises(DatabaseError) as caught:
        database.upsert_video(ROW)
    assert caught.value.retryable
    database.upsert_video(ROW)  # the fault was used up
    assert len(pg_rows(supabase)[0]) == 1


# --- pipeline_failures: the failure records of a run -----------------------------------------
def failure_records() -> list[dict]:
    """Three records as the runtime stores them (an id and a seq each), oldest first."""
    made = [
        make_record("search", "Serper answered 500 (Internal server error) — gave up after 4 "
                    "attempts", query_index=4, query="ramen 🍜 tokyo", attempt=2,
                    details={"reason": "exhausted", "requests": 4}),
        make_record("download", "video unavailable: private_post (statusCode 10216)",
                    query_index=0, query="tokyo ramen", video_id=ROW["video_id"], url=ROW["url"],
                    details={"reason": "private_post", "status_code": 10216,
                             "outcome": "unavailable", "tried": {"pages": [1, 2], "ok": False}}),
        make_record("validate", "transcript has 0 characters", video_id="42", attempt=2),
    ]
    base = 1_767_000_000_000_000_000  # nanoseconds, as records.with_identity stamps them
    return [dict(with_identity(record), seq=base + index) for index, record in enumerate(made)]


def without_identity(record: dict) -> dict:
    return {key: value for key, value in record.items() if key not in ("id", "seq")}


def check_failures_round_trip(open_backend) -> None:
    """Stored out of order and one record twice; read back oldest first, as recorded; the
    same from a new connection."""
    first, second, third = failure_records()
    database = open_backend()
    assert database.failures() == []
    database.add_failures([third, first])
    database.add_failures([])
    database.add_failures([first, second])  # `first` again: stored once
    expected = [without_identity(record) for record in (first, second, third)]
    assert database.failures() == expected
    database.close()
    again = open_backend()
    stored = again.failures()
    again.close()
    assert stored == expected
    assert isinstance(stored[1]["details"], dict)
    assert stored[1]["details"]["tried"] == {"pages": [1, 2], "ok": False}
    assert "video_id" not in stored[0] and "url" not in stored[0]


def test_sqlite_failures_round_trip(tmp_path):
    config = {"database": {"backend": "sqlite", "sqlite_path": str(tmp_path / "r.sqlite")}}
    check_failures_round_trip(lambda: open_database(config))


def test_postgres_failures_round_trip(postgres_dsn, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    check_failures_round_trip(lambda: open_database({"database": {"backend": "postgres"}}))
    with psycopg.connect(postgres_dsn) as connection:
        [(count,)] = connection.execute("SELECT count(*) FROM pipeline_failures").fetchall()
    assert count == 3


def test_supabase_failures_round_trip(supabase):
    check_failures_round_trip(lambda: open_database({"database": {"backend": "supabase"}}))
    with psycopg.connect(supabase) as connection:
        [(count,)] = connection.execute("SELECT count(*) FROM pipeline_failures").fetchall()
    assert count == 3


def test_supabase_reads_failures_page_by_page(supabase, fake_web, monkeypatch):
    monkeypatch.setattr(supabase_backend, "PAGE_ROWS", 2)  # five records: pages of 2, 2, 1
    base = 1_767_000_000_000_000_000
    records = [dict(with_identity(make_record("download", f"error {index}", video_id=str(index))),
                    seq=base + index) for index in range(5)]
    database = open_database({"database": {"backend": "supabase"}})
    database.add_failures(records[::-1])
    assert [record["error"] for record in database.failures()] == [
        f"error {index}" for index in range(5)]
    database.close()
    reads = [r for r in fake_web.requests_to("supabase") if r.method == "GET"]
    assert len(reads) == 3


# --- the fake PostgREST's wire protocol -----------------------------------------------------
def rest(fake_web, path: str, body, key: str = postgrest.DEFAULT_KEY, prefer: str =
         "return=representation,resolution=merge-duplicates", **params) -> httpx.Response:
    headers = {"apikey": key, "Authorization": f"Bearer {key}", "Content-Profile": "public",
               "Prefer": prefer}
    return httpx.post(f"{fake_web.base_url}/rest/v1/{path}", params=params, json=body,
                      headers=headers)


def test_postgrest_upsert_answers_201_with_the_rows(supabase, fake_web):
    response = rest(fake_web, "videos", [ROW], on_conflict="video_id",
                    columns=",".join(f'"{c}"' for c in ROW))
    assert response.status_code == 201
    assert response.json()[0]["video_id"] == ROW["video_id"]
    again = rest(fake_web, "videos", [dict(ROW, title="new")], on_conflict="video_id")
    assert again.status_code == 201 and again.json()[0]["title"] == "new"
    minimal = rest(fake_web, "videos", [ROW], prefer="return=minimal,resolution=merge-duplicates")
    assert minimal.status_code == 201 and minimal.content == b""


@pytest.mark.parametrize(("path", "body", "key", "prefer", "status", "code"), [
    ("videos", [ROW], "bad", "return=representation,resolution=merge-duplicates", 401,
     "PGRST301"),
    ("no_such_table", [ROW], postgrest.DEFAULT_KEY, "return=representation", 404, "PGRST205"),
    ("videos", [dict(ROW, nope=1)], postgrest.DEFAULT_KEY, "return=representation", 400,
     "PGRST204"),
    ("videos", [ROW], postgrest.DEFAULT_KEY, "return=representation", 409, "23505"),
])
def test_postgrest_error_bodies(supabase, fake_web, path, body, key, prefer, status, code):
    rest(fake_web, "videos", [ROW])
    response = rest(fake_web, path, body, key=key, prefer=prefer)
    assert response.status_code == status
    error = response.json()
    assert set(error) == {"code", "message", "details", "hint"}
    assert error["code"] == code


def test_postgrest_select_orders_and_pages(supabase, fake_web):
    rows = [dict(ROW, video_id=str(n), url=f"u{n}", frame_count=n) for n in (3, 1, 4, 2)]
    assert rest(fake_web, "videos", rows).status_code == 201
    headers = {"apikey": postgrest.DEFAULT_KEY,
               "Authorization": f"Bearer {postgrest.DEFAULT_KEY}"}

    def select(**params) -> list:
        response = httpx.get(f"{fake_web.base_url}/rest/v1/videos",
                             params={"select": "*", **params}, headers=headers)
        assert response.status_code == 200
        return [row["frame_count"] for row in response.json()]

    assert select(order="frame_count.asc") == [1, 2, 3, 4]
    assert select(order="frame_count.desc", limit=2) == [4, 3]
    assert select(order="frame_count.asc", limit=2, offset=1) == [2, 3]
    assert select(order="frame_count.asc", offset=3) == [4]
    bad = httpx.get(f"{fake_web.base_url}/rest/v1/videos", headers=headers,
                    params={"select": "*", "order": "nope.asc"})
    assert bad.status_code == 400 and bad.json()["code"] == "PGRST100"


def test_postgrest_injected_503(supabase, fake_web):
    fake_web.fail("supabase", 503, times=1)
    first = rest(fake_web, "videos", [ROW])
    assert first.status_code == 503 and first.json()["code"] == "PGRST001"
    assert rest(fake_web, "videos", [ROW]).status_code == 201
