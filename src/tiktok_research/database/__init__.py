"""Database backends: the `videos` table (SPEC §4) and the `query_videos` link table.

A backend is chosen by name from config `database.backend` (`sqlite`, `postgres` or
`supabase`); each one upserts, so re-publishing never duplicates a row. The schema ships as
`tiktok_research/schema.sql`; the sqlite and postgres backends create it when absent.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Protocol

VIDEOS_TABLE = "videos"
LINKS_TABLE = "query_videos"
VIDEO_COLUMNS = ("video_id", "url", "author", "title", "transcript", "ocr_text", "gcs_prefix",
                 "frame_count", "processed_at")
VIDEO_KEY = ("video_id",)
LINK_COLUMNS = ("query_index", "query", "video_id", "position")
LINK_KEY = ("query_index", "query", "video_id")


class DatabaseError(RuntimeError):
    """A database write failed. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Database(Protocol):
    """What publishing needs from a database backend."""

    name: str

    def upsert_video(self, row: dict[str, Any]) -> None:
        """Insert or update one `videos` row (keyed by video_id)."""
        ...

    def upsert_links(self, rows: list[dict[str, Any]]) -> None:
        """Insert or update `query_videos` rows (keyed by query_index, query, video_id)."""
        ...

    def close(self) -> None: ...


def schema_sql() -> str:
    """The shipped schema (PostgreSQL/Supabase; SQLite runs it too)."""
    return resources.files("tiktok_research").joinpath("schema.sql").read_text(encoding="utf-8")


def upsert_statement(table: str, columns: tuple[str, ...], key: tuple[str, ...],
                     placeholder: str) -> str:
    """`INSERT ... ON CONFLICT (key) DO UPDATE` — the same text runs on SQLite and PostgreSQL.

    Names come from the constants above, never from data.
    """
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in key)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join([placeholder] * len(columns))}) "
            f"ON CONFLICT ({', '.join(key)}) {action}")


class SqlUpserts:
    """The upserts of the SQL backends (sqlite, postgres): they differ only in the parameter
    placeholder and in how `_write` runs a statement and maps driver errors."""

    placeholder = "?"

    def _write(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def upsert_video(self, row: dict[str, Any]) -> None:
        statement = upsert_statement(VIDEOS_TABLE, VIDEO_COLUMNS, VIDEO_KEY, self.placeholder)
        self._write(statement, [tuple(row.get(column) for column in VIDEO_COLUMNS)])

    def upsert_links(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            statement = upsert_statement(LINKS_TABLE, LINK_COLUMNS, LINK_KEY, self.placeholder)
            self._write(statement, [tuple(row.get(c) for c in LINK_COLUMNS) for row in rows])


def open_database(config: dict[str, Any]) -> Database:
    """The backend named by `database.backend`; a missing secret raises MissingSecret."""
    settings = config.get("database") or {}
    backend = settings.get("backend", "sqlite")
    if backend == "sqlite":
        from tiktok_research.database.sqlite import SqliteDatabase

        return SqliteDatabase(settings.get("sqlite_path")
                              or f"{config.get('output_dir', 'output')}/research.sqlite")
    if backend == "postgres":
        from tiktok_research.database.postgres import PostgresDatabase

        return PostgresDatabase.from_environment()
    if backend == "supabase":
        from tiktok_research.database.supabase import SupabaseDatabase

        return SupabaseDatabase.from_environment()
    raise ValueError(f"unknown database backend {backend!r}")
