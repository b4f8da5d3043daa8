"""The `postgres` database backend: psycopg against `DATABASE_URL`, tables created when absent,
columns added since the first release added to an older database."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors as pg_errors

from tiktok_research.config import redact, require_secret
from tiktok_research.database import ADDED_COLUMNS, SqlUpserts, schema_sql
from tiktok_research.errors import DatabaseError

CONNECT_TIMEOUT_SECONDS = 10
# Serialises concurrent `CREATE TABLE IF NOT EXISTS` (which can race on the catalog).
SCHEMA_LOCK_KEY = 0x7469_6B74  # "tikt"
RETRYABLE = (psycopg.OperationalError, pg_errors.SerializationFailure,
             pg_errors.DeadlockDetected, pg_errors.LockNotAvailable)


def _database_error(error: psycopg.Error) -> DatabaseError:
    # Only the driver's message, redacted: libpq quotes words of a malformed connection string
    # (a password with spaces) in it.
    message = redact(f"postgres: {type(error).__name__}: {str(error).strip()}")
    return DatabaseError(message, retryable=isinstance(error, RETRYABLE))


class PostgresDatabase(SqlUpserts):
    name = "postgres"
    placeholder = "%s"

    def __init__(self, dsn: str) -> None:
        try:
            self.connection = psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS)
            with self.connection.transaction():
                self.connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                self.connection.execute(schema_sql(added_columns=False))
                self._add_columns()
        except psycopg.Error as error:
            raise _database_error(error) from None

    def _add_columns(self) -> None:
        """The columns added since the first release, to a database created before them. Only
        a missing one is added: ALTER TABLE takes an ACCESS EXCLUSIVE lock on the table even
        when the column is there (IF NOT EXISTS), which would stop every reader of `videos`
        while any publish job connects."""
        for table, column, definition in ADDED_COLUMNS:
            present = self.connection.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s AND column_name = %s", (table, column)).fetchone()
            if present is None:
                self.connection.execute(
                    f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {definition}")

    @classmethod
    def from_environment(cls) -> PostgresDatabase:
        return cls(require_secret("DATABASE_URL", "the postgres database backend"))

    def _write(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                cursor.executemany(statement, rows)
        except psycopg.Error as error:
            raise _database_error(error) from None

    def _read(self, statement: str) -> list[dict[str, Any]]:
        try:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                cursor.execute(statement)
                names = [column.name for column in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
        except psycopg.Error as error:
            raise _database_error(error) from None

    def close(self) -> None:
        self.connection.close()
