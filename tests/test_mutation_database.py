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
