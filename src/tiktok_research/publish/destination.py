"""Where a run publishes: the destination every receipt records (`republish` copies finished
videos to a new one).

A destination is the storage (backend and folder or bucket) and the database (backend and which
one) the config names.

A postgres database is named by host, port and database name from its `DATABASE_URL` (never
the password or the user); a supabase project by its URL; sqlite and local storage by their paths
as configured (a relative path is the working directory's: a project moved as a whole keeps its
destination).

    key = destination_key(config)   # "3f2a9c0d1b7e"
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tiktok_research.config import secret
from tiktok_research.paths import OutputTree


def destination(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The storage and the database `config` publishes to."""
    tree = OutputTree(config.get("output_dir", "output"))
    storage = config.get("storage") or {}
    storage_backend = storage.get("backend", "local")
    if storage_backend == "gcs":
        storage_where = f"gs://{secret('GCS_BUCKET') or storage.get('gcs_bucket') or ''}"
    else:
        storage_where = str(storage.get("local_dir") or tree.bucket())
    database = config.get("database") or {}
    database_backend = database.get("backend", "sqlite")
    if database_backend == "postgres":
        database_where = postgres_identity(secret("DATABASE_URL") or "")
    elif database_backend == "supabase":
        database_where = secret("SUPABASE_URL") or ""
    else:
        database_where = str(database.get("sqlite_path") or tree.sqlite())
    return {"storage": {"backend": storage_backend, "where": storage_where},
            "database": {"backend": database_backend, "where": database_where}}


def postgres_identity(url: str) -> str:
    """`postgres://host:port/dbname` of a `DATABASE_URL` in any form libpq takes: no password
    and no user, so a rotated password is the same database. One libpq cannot parse is named by
    a hash of it."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
    except Exception:  # unparseable (libpq's own error then comes from the backend itself)
        return "DATABASE_URL sha256:" + hashlib.sha256(url.encode()).hexdigest()[:16]
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    return f"postgres://{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def destination_key(config: dict[str, Any]) -> str:
    """A short name of the destination, for the file that says a query was published there."""
    text = json.dumps(destination(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
