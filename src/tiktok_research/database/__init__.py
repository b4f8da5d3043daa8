"""Database backends: the research tables `videos` (one row per published video) and
`query_videos` (which queries found it), and the run's bookkeeping tables `pipeline_failures`
and `pipeline_costs` (one row per paid call, which every run adds to: see `costs`).

A backend is chosen by name from config `database.backend` (`sqlite`, `postgres` or
`supabase`); each one upserts, so re-publishing never duplicates a row. The schema ships as
`tiktok_research/schema.sql`; the sqlite and postgres backends create it when absent, and add
the columns added since (`ADDED_COLUMNS`) to a database created before them.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Protocol

from tiktok_research.costs import COUNTS
from tiktok_research.paths import OutputTree

VIDEOS_TABLE = "videos"
LINKS_TABLE = "query_videos"
VIDEO_COLUMNS = ("video_id", "url", "author", "title", "transcript", "ocr_text", "gcs_prefix",
                 "frame_count", "processed_at", "post_type")
# Columns added since the first release (table, column, definition), as schema.sql adds them
# after its marker line to a database created before them.
ADDED_COLUMNS = (("videos", "post_type", "TEXT DEFAULT 'video'"),)
ADDED_COLUMNS_MARKER = "-- added columns"
VIDEO_KEY = ("video_id",)
LINK_COLUMNS = ("query_index", "query", "video_id", "position")
LINK_KEY = ("query_index", "query", "video_id")
FAILURES_TABLE = "pipeline_failures"
FAILURE_COLUMNS = ("id", "seq", "timestamp", "type", "query_index", "query", "video_id", "url",
                   "attempt", "error", "details")
FAILURE_KEY = ("id",)
COSTS_TABLE = "pipeline_costs"
COST_COLUMNS = ("id", "seq", "timestamp", "run", "task", "service", "model", "query_index",
                "query", "video_id", *COUNTS)
COST_KEY = ("id",)


class Database(Protocol):
    """What publishing needs from a database backend."""

    name: str

    def upsert_video(self, row: dict[str, Any]) -> None:
        """Insert or update one `videos` row (keyed by video_id)."""
        ...

    def upsert_links(self, rows: list[dict[str, Any]]) -> None:
        """Insert or update `query_videos` rows (keyed by query_index, query, video_id)."""
        ...

    def add_failures(self, records: list[dict[str, Any]]) -> None:
        """Store failure records (each with its `id` and `seq`); storing one twice is a no-op."""
        ...

    def failures(self) -> list[dict[str, Any]]:
        """Every stored failure record, oldest first."""
        ...

    def add_costs(self, records: list[dict[str, Any]]) -> None:
        """Store cost records (each with its `id` and `seq`); storing one twice is a no-op."""
        ...

    def cost_totals(self) -> list[dict[str, Any]]:
        """The stored costs summed per (run, service, model), as `costs.group_costs` sums
        them."""
        ...

    def close(self) -> None: ...


def failure_row(record: dict[str, Any]) -> dict[str, Any]:
    """A failure record as a `pipeline_failures` row (details as JSON text)."""
    row = {column: record.get(column) for column in FAILURE_COLUMNS}
    row["details"] = json.dumps(record.get("details") or {}, ensure_ascii=False, default=str)
    return row


def failure_record(row: dict[str, Any]) -> dict[str, Any]:
    """A `pipeline_failures` row as the record `failures.json` documents."""
    try:
        details = json.loads(row.get("details") or "{}")
    except ValueError:
        details = {"unparsed": row.get("details")}
    record = {"timestamp": row.get("timestamp"), "type": row.get("type"),
              "query_index": row.get("query_index"), "query": row.get("query"),
              "attempt": row.get("attempt"), "error": row.get("error"), "details": details}
    for optional in ("video_id", "url"):
        if row.get(optional) is not None:
            record[optional] = row[optional]
    return record


def schema_sql(added_columns: bool = True) -> str:
    """The shipped schema (PostgreSQL/Supabase); without `added_columns`, only its tables, up to
    the `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` statements (the backends add a missing column
    themselves: `ADDED_COLUMNS`)."""
    text = resources.files("tiktok_research").joinpath("schema.sql").read_text(encoding="utf-8")
    return text if added_columns else text.split(ADDED_COLUMNS_MARKER, 1)[0]


def upsert_statement(table: str, columns: tuple[str, ...], key: tuple[str, ...],
                     placeholder: str, update: bool = True) -> str:
    """`INSERT ... ON CONFLICT (key) DO UPDATE` — the same text runs on SQLite and PostgreSQL.

    Names come from the constants above, never from data.
    """
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in key)
    action = f"DO UPDATE SET {updates}" if updates and update else "DO NOTHING"
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

    def add_failures(self, records: list[dict[str, Any]]) -> None:
        if records:
            statement = upsert_statement(FAILURES_TABLE, FAILURE_COLUMNS, FAILURE_KEY,
                                         self.placeholder, update=False)
            rows = [failure_row(record) for record in records]
            self._write(statement, [tuple(row[c] for c in FAILURE_COLUMNS) for row in rows])

    def _read(self, statement: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def failures(self) -> list[dict[str, Any]]:
        rows = self._read(f"SELECT {', '.join(FAILURE_COLUMNS)} FROM {FAILURES_TABLE} "
                          "ORDER BY seq, id")
        return [failure_record(row) for row in rows]

    def add_costs(self, records: list[dict[str, Any]]) -> None:
        if records:
            statement = upsert_statement(COSTS_TABLE, COST_COLUMNS, COST_KEY, self.placeholder,
                                         update=False)
            self._write(statement, [tuple(record.get(c) for c in COST_COLUMNS)
                                    for record in records])

    def cost_totals(self) -> list[dict[str, Any]]:
        sums = ", ".join(f"SUM({name}) AS {name}" for name in COUNTS)
        rows = self._read(f"SELECT run, service, model, MIN(timestamp) AS first, "
                          f"MAX(timestamp) AS last, {sums} FROM {COSTS_TABLE} "
                          "GROUP BY run, service, model")
        return [{**row, **{name: int(row[name] or 0) for name in COUNTS}} for row in rows]


def open_database(config: dict[str, Any]) -> Database:
    """The backend named by `database.backend`; a missing secret raises MissingSecret."""
    settings = config.get("database") or {}
    backend = settings.get("backend", "sqlite")
    if backend == "sqlite":
        from tiktok_research.database.sqlite import SqliteDatabase

        return SqliteDatabase(settings.get("sqlite_path")
                              or OutputTree(config.get("output_dir", "output")).sqlite())
    if backend == "postgres":
        from tiktok_research.database.postgres import PostgresDatabase

        return PostgresDatabase.from_environment()
    if backend == "supabase":
        from tiktok_research.database.supabase import SupabaseDatabase

        return SupabaseDatabase.from_environment()
    raise ValueError(f"unknown database backend {backend!r}")
