"""Database behaviour the round-trip tests did not pin down (found by `make mutation`): a
failure record, once stored, is never rewritten; a failed read names the backend and the
cause, and says whether a retry can help."""

from __future__ import annotations

import sqlite3
import time

import psycopg
import pytest

from tiktok_research.database import open_database
from tiktok_research.errors import DatabaseError
from tiktok_research.records import make_record, with_identity

pytest_plugins = ["support.postgres"]  # the fixtures


def sqlite_config(tmp_path) -> dict:
    return {"database": {"backend": "sqlite", "sqlite_path": str(tmp_path / "r.sqlite")}}


def check_failures_are_insert_only(database) -> None:
    record = with_identity(make_record("download", "first words", attempt=1, video_id="1"))
    database.add_failures([record])
    database.add_failures([{**record, "attempt": 9, "error": "rewritten"}])
    [stored] = database.failures()
    assert (stored["attempt"], stored["error"]) == (1, "first words")
    database.close()


def test_sqlite_never_rewrites_a_failure_record(tmp_path):
    check_failures_are_insert_only(open_database(sqlite_config(tmp_path)))


def test_postgres_never_rewrites_a_failure_record(postgres_dsn, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    check_failures_are_insert_only(open_database({"database": {"backend": "postgres"}}))


def test_a_failed_sqlite_read_names_the_file_and_the_cause(tmp_path):
    database = open_database(sqlite_config(tmp_path))
    with sqlite3.connect(tmp_path / "r.sqlite") as connection:
        connection.execute("DROP TABLE pipeline_failures")
    with pytest.raises(DatabaseError) as caught:
        database.failures()
    assert str(caught.value) == f"sqlite {tmp_path / 'r.sqlite'}: no such table: pipeline_failures"


def test_a_failed_postgres_read_names_the_cause_and_is_not_retried(postgres_dsn, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    database = open_database({"database": {"backend": "postgres"}})
    with psycopg.connect(postgres_dsn) as connection:
        connection.execute("DROP TABLE pipeline_failures")
    with pytest.raises(DatabaseError) as caught:
        database.failures()
    assert str(caught.value).startswith('postgres: UndefinedTable: relation "pipeline_failures"')
    assert caught.value.retryable is False
    database.close()


def test_supabase_never_rewrites_a_failure_record(supabase):
    check_failures_are_insert_only(open_database({"database": {"backend": "supabase"}}))


def test_supabase_reads_every_failure_past_its_row_limit(supabase):
    """Supabase answers at most 1000 rows a request (the fake too): 1,500 records come back
    whole, in order, over two pages."""
    from tiktok_research.fakeweb.postgrest import MAX_ROWS

    base = 1_767_000_000_000_000_000
    records = [dict(with_identity(make_record("download", f"error {index}", video_id="1")),
                    seq=base + index) for index in range(MAX_ROWS + 500)]
    database = open_database({"database": {"backend": "supabase"}})
    database.add_failures(records[::-1])
    assert [record["error"] for record in database.failures()] == [
        f"error {index}" for index in range(MAX_ROWS + 500)]
    database.close()


RETRYABLE = ["PGRST000", "PGRST001", "PGRST002", "PGRST003", "500", "502", "503", "504", "520",
             "40001", "40P01", "57P01", "57P03", "08000", "08006"]
AUTH = ["PGRST300", "PGRST301", "PGRST302", "PGRST303", "401", "403", "42501"]


@pytest.mark.parametrize("code", RETRYABLE)
def test_supabase_service_and_connection_errors_are_retryable(code):
    from postgrest.exceptions import APIError

    from tiktok_research.database.supabase import _database_error

    error = _database_error("videos", APIError({"code": code, "message": "busy"}))
    assert (str(error), error.retryable) == (f"supabase videos: {code}: busy", True)


@pytest.mark.parametrize("code", AUTH)
def test_supabase_auth_errors_name_the_key_and_are_final(code):
    from postgrest.exceptions import APIError

    from tiktok_research.database.supabase import _database_error

    error = _database_error("videos", APIError({"code": code, "message": "denied"}))
    assert (str(error), error.retryable) == (
        f"supabase rejected SUPABASE_KEY ({code}: denied)", False)


def test_supabase_other_errors_are_final_and_say_what_they_know():
    from postgrest.exceptions import APIError

    from tiktok_research.database.supabase import _database_error

    error = _database_error("videos", APIError({"code": "23505", "message": "duplicate key"}))
    assert (str(error), error.retryable) == ("supabase videos: 23505: duplicate key", False)
    bare = _database_error("videos", APIError({}))
    assert (str(bare), bare.retryable) == ("supabase videos: : request failed", False)
    key = _database_error("videos", APIError({"message": "Invalid API key"}))
    assert (str(key), key.retryable) == (
        "supabase rejected SUPABASE_KEY (auth: Invalid API key)", False)
    old_table = _database_error("videos", APIError({
        "code": "PGRST204",
        "message": "Could not find the 'post_type' column of 'videos' in the schema cache"}))
    assert (str(old_table), old_table.retryable) == (
        "supabase videos: PGRST204: Could not find the 'post_type' column of 'videos' in the "
        "schema cache (apply tiktok_research/schema.sql again: it adds the newer columns)", False)


# --- supabase: what each call sends and what each failure says ------------------------------
def video_row(title: str) -> dict:
    return {"video_id": "1", "url": "u", "author": "a", "title": title, "transcript": "t",
            "ocr_text": "", "gcs_prefix": "p", "frame_count": 1, "processed_at": "2026-01-01"}


def test_supabase_a_video_published_again_gets_its_new_row(supabase):
    database = open_database({"database": {"backend": "supabase"}})
    database.upsert_video(video_row("first"))
    database.upsert_video(video_row("second"))
    with psycopg.connect(supabase) as connection:
        assert connection.execute("SELECT title FROM videos").fetchall() == [("second",)]


def test_supabase_failures_read_back_in_seq_then_id_order(supabase):
    database = open_database({"database": {"backend": "supabase"}})
    base = make_record("download", "e", attempt=1, video_id="1")
    # Each record's error names its id (the records read back do not carry it).
    database.add_failures([{**base, "id": name, "error": name, "seq": seq}
                           for name, seq in (("b", 2), ("a", 2), ("z", 0), ("y", 1))])
    assert [record["error"] for record in database.failures()] == ["z", "y", "a", "b"]


def test_supabase_asks_for_every_column_of_the_failures(supabase, fake_web):
    open_database({"database": {"backend": "supabase"}}).failures()
    [request] = [r for r in fake_web.requests_to("supabase") if r.method == "GET"]
    assert request.query["select"] == "*"


@pytest.mark.parametrize("call", ["upsert_video", "failures"])
def test_supabase_errors_name_the_table(supabase, fake_web, call):
    database = open_database({"database": {"backend": "supabase"}})
    # postgrest-py tries a GET again by itself on a 503: every try gets it.
    fake_web.fail("supabase", 503, times=None, body={
        "code": "PGRST002", "message": "schema cache", "details": None, "hint": None})
    table = "videos" if call == "upsert_video" else "pipeline_failures"
    with pytest.raises(DatabaseError) as raised:
        database.upsert_video(video_row("x")) if call == "upsert_video" else database.failures()
    assert str(raised.value) == f"supabase {table}: PGRST002: schema cache"
    assert raised.value.retryable


@pytest.mark.parametrize("call", ["upsert_video", "failures"])
def test_supabase_unreachable_names_the_table_and_the_cause(monkeypatch, call):
    monkeypatch.setenv("SUPABASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SUPABASE_KEY", "k")
    database = open_database({"database": {"backend": "supabase"}})
    table = "videos" if call == "upsert_video" else "pipeline_failures"
    with pytest.raises(DatabaseError, match=f"^supabase {table}: ConnectError: ") as raised:
        database.upsert_video(video_row("x")) if call == "upsert_video" else database.failures()
    assert raised.value.retryable


def test_supabase_a_reply_slower_than_its_timeout_fails(supabase, fake_web, monkeypatch):
    from tiktok_research.database import supabase as supabase_module

    # postgrest-py keeps whole seconds of its timeout (int()): 0.3 s would be no time at all.
    monkeypatch.setattr(supabase_module, "REQUEST_TIMEOUT_SECONDS", 1)
    database = open_database({"database": {"backend": "supabase"}})
    fake_web.fail("supabase", 201, delay=3.0, body=[], times=None)
    started = time.monotonic()
    with pytest.raises(DatabaseError, match="^supabase videos: ReadTimeout: "):
        database.upsert_video(video_row("x"))  # the right answer, three seconds late
    assert time.monotonic() - started < 3


def test_supabase_a_malformed_url_is_a_final_error_naming_both_secrets(monkeypatch):
    monkeypatch.setenv("SUPABASE_URL", "not a url")
    monkeypatch.setenv("SUPABASE_KEY", "k")
    with pytest.raises(DatabaseError) as raised:
        open_database({"database": {"backend": "supabase"}})
    assert str(raised.value) == "supabase: Invalid URL (check SUPABASE_URL and SUPABASE_KEY)"
    assert not raised.value.retryable


@pytest.mark.parametrize("missing", ["SUPABASE_URL", "SUPABASE_KEY"])
def test_supabase_without_a_secret_says_what_needs_it(monkeypatch, tmp_path, missing):
    from tiktok_research.errors import MissingSecret

    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("SUPABASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SUPABASE_KEY", "k")
    monkeypatch.delenv(missing)
    with pytest.raises(MissingSecret) as raised:
        open_database({"database": {"backend": "supabase"}})
    assert str(raised.value) == (f"{missing} is not set (environment or .env); it is needed for "
                                 "the supabase database backend")


# --- postgres -------------------------------------------------------------------------------
def test_postgres_a_refused_write_names_the_cause(postgres_dsn, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    database = open_database({"database": {"backend": "postgres"}})
    with pytest.raises(DatabaseError, match="invalid input syntax for type integer") as raised:
        database.upsert_video({**video_row("x"), "frame_count": "many"})
    assert not raised.value.retryable
    database.close()


def test_postgres_a_server_that_never_answers_fails_after_the_connect_timeout(monkeypatch):
    import socket
    import time

    from tiktok_research.database import postgres as postgres_module

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepted by the kernel, never answered
    monkeypatch.setattr(postgres_module, "CONNECT_TIMEOUT_SECONDS", 2)  # libpq's minimum
    monkeypatch.setenv("DATABASE_URL",
                       f"postgresql://u@127.0.0.1:{listener.getsockname()[1]}/d")
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseError, match="timeout"):
            open_database({"database": {"backend": "postgres"}})
    finally:
        listener.close()
    assert time.monotonic() - started < 10
