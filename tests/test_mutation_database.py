"""Database behaviour the round-trip tests did not pin down (found by `make mutation`): a
failure record, once stored, is never rewritten; a failed read names the backend and the
cause, and says whether a retry can help."""

from __future__ import annotations

import sqlite3

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
