"""The `supabase` database backend: supabase-py (PostgREST upserts), `SUPABASE_URL`/`SUPABASE_KEY`.

The tables must exist (apply `tiktok_research/schema.sql` once in the Supabase SQL editor, and
again after an upgrade that adds columns: it adds them to existing tables).
PostgREST answers errors as `{code, message, details, hint}`; auth failures name SUPABASE_KEY
and are final, service and connection failures are retryable.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
from postgrest.exceptions import APIError
from supabase import Client, create_client
from supabase.lib.client_options import SyncClientOptions

from tiktok_research.config import require_secret
from tiktok_research.costs import group_costs
from tiktok_research.database import (
    COST_COLUMNS,
    COST_KEY,
    COSTS_TABLE,
    FAILURE_KEY,
    FAILURES_TABLE,
    LINK_KEY,
    LINKS_TABLE,
    VIDEO_KEY,
    VIDEOS_TABLE,
    failure_record,
    failure_row,
)
from tiktok_research.errors import DatabaseError

REQUEST_TIMEOUT_SECONDS = 30
PAGE_ROWS = 1000  # Supabase answers at most this many rows per request by default
# PostgREST's codes for "could not reach / query the database" and HTTP codes the client puts in
# `code` when the body is not PostgREST JSON; plus Postgres connection/serialisation classes.
RETRYABLE_CODES = {"PGRST000", "PGRST001", "PGRST002", "PGRST003", "500", "502", "503", "504",
                   "520", "40001", "40P01", "57P01", "57P03"}
AUTH_CODES = {"PGRST300", "PGRST301", "PGRST302", "PGRST303", "401", "403", "42501"}


class SupabaseDatabase:
    name = "supabase"

    def __init__(self, url: str, key: str) -> None:
        try:
            options = SyncClientOptions(postgrest_client_timeout=REQUEST_TIMEOUT_SECONDS)
            self.client: Client = create_client(url, key, options=options)
            with warnings.catch_warnings():
                # supabase-py itself passes PostgREST options that postgrest-py deprecates.
                warnings.simplefilter("ignore", DeprecationWarning)
                self.client.postgrest  # noqa: B018 (created now, inside the filter)
        except Exception as error:  # supabase rejects malformed URLs and keys up front
            raise DatabaseError(f"supabase: {error} (check SUPABASE_URL and SUPABASE_KEY)",
                                retryable=False) from None

    @classmethod
    def from_environment(cls) -> SupabaseDatabase:
        url = require_secret("SUPABASE_URL", "the supabase database backend")
        key = require_secret("SUPABASE_KEY", "the supabase database backend")
        return cls(url, key)

    def _upsert(self, table: str, rows: list[dict[str, Any]], key: tuple[str, ...],
                ignore_duplicates: bool = False) -> None:
        try:
            self.client.table(table).upsert(rows, on_conflict=",".join(key),
                                            ignore_duplicates=ignore_duplicates).execute()
        except APIError as error:
            raise _database_error(table, error) from None
        except httpx.HTTPError as error:
            raise DatabaseError(f"supabase {table}: {type(error).__name__}: {error}") from None

    def upsert_video(self, row: dict[str, Any]) -> None:
        self._upsert(VIDEOS_TABLE, [row], VIDEO_KEY)

    def upsert_links(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._upsert(LINKS_TABLE, rows, LINK_KEY)

    def add_failures(self, records: list[dict[str, Any]]) -> None:
        if records:
            self._upsert(FAILURES_TABLE, [failure_row(record) for record in records],
                         FAILURE_KEY, ignore_duplicates=True)

    def _all_rows(self, table: str, columns: str = "*") -> list[dict[str, Any]]:
        """Every row of `table`, page by page, in `seq` order."""
        rows: list[dict[str, Any]] = []
        try:
            while True:
                page = (self.client.table(table).select(columns).order("seq")
                        .range(len(rows), len(rows) + PAGE_ROWS - 1).execute().data)
                rows.extend(page)
                if len(page) < PAGE_ROWS:
                    break
        except APIError as error:
            raise _database_error(table, error) from None
        except httpx.HTTPError as error:
            raise DatabaseError(f"supabase {table}: {type(error).__name__}: {error}") from None
        rows.sort(key=lambda row: (int(row.get("seq") or 0), str(row.get("id") or "")))
        return rows

    def failures(self) -> list[dict[str, Any]]:
        return [failure_record(row) for row in self._all_rows(FAILURES_TABLE)]

    def add_costs(self, records: list[dict[str, Any]]) -> None:
        if records:
            rows = [{column: record.get(column) for column in COST_COLUMNS} for record in records]
            self._upsert(COSTS_TABLE, rows, COST_KEY, ignore_duplicates=True)

    def cost_totals(self) -> list[dict[str, Any]]:
        # PostgREST sums only with aggregates enabled (off by default): the rows are summed here.
        return group_costs(self._all_rows(COSTS_TABLE, ",".join(COST_COLUMNS)))

    def close(self) -> None:
        self.client.postgrest.session.close()


def _database_error(table: str, error: APIError) -> DatabaseError:
    code = str(error.code or "")
    message = error.message or "request failed"
    if code in AUTH_CODES or "api key" in message.lower():
        return DatabaseError(f"supabase rejected SUPABASE_KEY ({code or 'auth'}: {message})",
                             retryable=False)
    if code == "PGRST204":  # a table made before a column was added
        return DatabaseError(f"supabase {table}: {code}: {message} (apply "
                             "tiktok_research/schema.sql again: it adds the newer columns)",
                             retryable=False)
    return DatabaseError(f"supabase {table}: {code}: {message}",
                         retryable=code in RETRYABLE_CODES or code.startswith("08"))
