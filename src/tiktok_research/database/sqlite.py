"""The `sqlite` database backend (the default): one file, tables created when absent, columns
added since the first release added to an older file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tiktok_research.database import ADDED_COLUMNS, SqlUpserts, schema_sql
from tiktok_research.errors import DatabaseError

# Concurrent publish jobs share the file; a writer waits this long for the lock.
BUSY_TIMEOUT_SECONDS = 60


class SqliteDatabase(SqlUpserts):
    name = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)
            self.connection.execute("PRAGMA foreign_keys = ON")
            self.connection.executescript(schema_sql(added_columns=False))
            self._add_columns()
        except sqlite3.Error as error:
            raise DatabaseError(f"sqlite {self.path}: {error}") from error

    def _add_columns(self) -> None:
        """The columns added since the first release, to a file created before them (SQLite
        has no ADD COLUMN IF NOT EXISTS). Another job may add one first: that is no error."""
        for table, column, definition in ADDED_COLUMNS:
            present = {row[1] for row in self.connection.execute(f"PRAGMA table_info({table})")}
            if column in present:
                continue
            try:
                self.connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            except sqlite3.OperationalError as error:
                if "duplicate column" not in str(error):
                    raise

    def _write(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            with self.connection:  # one transaction, rolled back on error
                self.connection.executemany(statement, rows)
        except sqlite3.OperationalError as error:  # locked, disk I/O: worth another try
            raise DatabaseError(f"sqlite {self.path}: {error}") from error
        except sqlite3.Error as error:
            raise DatabaseError(f"sqlite {self.path}: {error}", retryable=False) from error

    def _read(self, statement: str) -> list[dict[str, Any]]:
        try:
            cursor = self.connection.execute(statement)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        except sqlite3.Error as error:
            raise DatabaseError(f"sqlite {self.path}: {error}") from error

    def close(self) -> None:
        self.connection.close()
