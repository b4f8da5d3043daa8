"""Fake Supabase REST (PostgREST) over a REAL PostgreSQL database, as the fake web's `supabase`.

Speaks what supabase-py's upserts send (reference/external-apis.md):
`POST /rest/v1/{table}?on_conflict=a,b&columns=...` with `apikey` and `Authorization: Bearer`
headers, `Content-Profile` for the schema, `Prefer: return=representation|minimal,
resolution=merge-duplicates|ignore-duplicates`, a JSON object or array body; 201 with the rows.
Also `GET /rest/v1/{table}?select=*` (all rows). Like PostgREST, the rows go through
`json_populate_recordset`, so PostgreSQL does the type conversion.

Errors are PostgREST bodies `{code, message, details, hint}`: 401 PGRST301 (bad JWT / key),
404 PGRST205 (unknown table), 400 PGRST204 (unknown column), 409 23505 (duplicate key),
other database errors with their SQLSTATE. Faults: `web.fail("supabase", 503, times=1)`.

Configure with `configure(web, dsn, key)`; without a DSN every request answers 503 PGRST001.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg import sql

from tiktok_research.fakeweb.web import Request, Response, Web, fault_response

SERVICE = "supabase"
PREFIX = "/rest/v1/"
DEFAULT_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.fake-service-role-signature"


def configure(web: Web, dsn: str, key: str = DEFAULT_KEY) -> None:
    """Back the fake with the database at `dsn`; accept `key` as apikey and bearer token."""
    web.state[SERVICE] = {"dsn": dsn, "key": key}


def _error(status: int, code: str, message: str, details: str | None = None,
           hint: str | None = None) -> Response:
    return Response.json({"code": code, "details": details, "hint": hint, "message": message},
                         status)


def _default_fault_body(status: int) -> dict[str, Any]:
    if status == 503:
        return {"code": "PGRST001", "details": "connection refused", "hint": None,
                "message": "Could not connect with the database due to an internal error"}
    if status == 504:
        return {"code": "PGRST003", "details": None, "hint": None,
                "message": "Timed out acquiring connection from connection pool."}
    return {"code": str(status), "details": None, "hint": None, "message": "injected error"}


def _prefer(request: Request) -> dict[str, str]:
    prefs = {}
    for part in request.header("prefer").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            prefs[name] = value
    return prefs


def _table_columns(connection: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    return [row[0] for row in rows]


def _authorised(request: Request, key: str) -> bool:
    bearer = request.header("authorization")
    return request.header("apikey") == key and bearer == f"Bearer {key}"


def handle(web: Web, request: Request) -> Response | None:
    if not request.path.startswith(PREFIX):
        return None
    fault = web.take_fault(SERVICE, request.path)
    if fault is not None:
        return fault_response(SERVICE, fault, _default_fault_body)
    settings = web.state.get(SERVICE)
    if not settings:
        return Response.json(_default_fault_body(503), 503)
    if not _authorised(request, settings["key"]):
        return _error(401, "PGRST301", "No suitable key or wrong key type",
                      "JWSError JWSInvalidSignature")
    table = request.path[len(PREFIX):].strip("/")
    schema = request.header("content-profile") or request.header("accept-profile") or "public"
    if request.method not in ("POST", "GET"):
        return _error(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
    try:
        with psycopg.connect(settings["dsn"], autocommit=False) as connection:
            columns = _table_columns(connection, schema, table)
            if not columns:
                return _error(404, "PGRST205",
                              f"Could not find the table '{schema}.{table}' in the schema cache")
            if request.method == "GET":
                return _select(connection, request, schema, table, columns)
            return _upsert(connection, request, schema, table, columns)
    except psycopg.OperationalError as error:
        return _error(503, "PGRST001", "Could not connect with the database", str(error))


MAX_ROWS = 1000


def _select(connection: psycopg.Connection, request: Request, schema: str, table: str,
            columns: list[str]) -> Response:
    """`select=*` or `select=col,...` with PostgREST's `order=col.asc|desc[,...]`, `limit` and
    `offset`; an unknown column is PostgreSQL's 42703, as PostgREST passes it on."""
    chosen = [name.strip() for name in request.query.get("select", "*").split(",")]
    for name in chosen:
        if name != "*" and name not in columns:
            return _error(400, "42703", f"column {table}.{name} does not exist")
    order = []
    for part in filter(None, request.query.get("order", "").split(",")):
        name, _, direction = part.partition(".")
        if name not in columns:
            return _error(400, "PGRST100", f"failed to parse order ({part})")
        order.append(sql.SQL("{} {}").format(
            sql.Identifier(name), sql.SQL("DESC" if direction.startswith("desc") else "ASC")))
    try:
        limit = int(request.query["limit"]) if "limit" in request.query else None
        offset = int(request.query.get("offset") or 0)
    except ValueError:
        return _error(400, "PGRST100", "failed to parse limit or offset")
    picked = (sql.SQL("*") if "*" in chosen else
              sql.SQL(", ").join(sql.Identifier(name) for name in chosen))
    query = sql.SQL("SELECT {} FROM {}.{}").format(picked, sql.Identifier(schema),
                                                   sql.Identifier(table))
    if order:
        query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(order)
    # Supabase's API answers at most MAX_ROWS rows per request (its `db-max-rows`), whatever the
    # limit asked for.
    limit = MAX_ROWS if limit is None else min(limit, MAX_ROWS)
    query += sql.SQL(" LIMIT {} OFFSET {}").format(sql.Literal(limit), sql.Literal(offset))
    statement = sql.SQL("SELECT coalesce(json_agg(t), '[]'::json) FROM ({}) AS t").format(query)
    rows = connection.execute(statement).fetchone()[0]
    return Response.json(rows, 200)


def _upsert(connection: psycopg.Connection, request: Request, schema: str, table: str,
            columns: list[str]) -> Response:
    try:
        payload = request.json()
    except ValueError as error:
        return _error(400, "PGRST102", "Empty or invalid json", str(error))
    rows = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(row, dict) for row in rows):
        return _error(400, "PGRST102", "All object keys must match")
    if request.query.get("columns"):
        wanted = [name.strip().strip('"') for name in request.query["columns"].split(",")]
    else:
        wanted = list(dict.fromkeys(name for row in rows for name in row))
    for name in wanted:
        if name not in columns:
            return _error(400, "PGRST204",
                          f"Could not find the '{name}' column of '{table}' in the schema cache")
    conflict = [name.strip() for name in request.query.get("on_conflict", "").split(",")
                if name.strip()]
    prefer = _prefer(request)
    resolution = prefer.get("resolution")
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    names = sql.SQL(", ").join(sql.Identifier(name) for name in wanted)
    statement = sql.SQL("INSERT INTO {target} ({names}) SELECT {names} FROM "
                        "json_populate_recordset(NULL::{target}, %s::json)").format(
                            target=target, names=names)
    if resolution in ("merge-duplicates", "ignore-duplicates"):
        if not conflict:  # PostgREST defaults to the primary key
            conflict = _primary_key(connection, schema, table)
        on = sql.SQL(", ").join(sql.Identifier(name) for name in conflict)
        updates = [name for name in wanted if name not in conflict]
        if resolution == "merge-duplicates" and updates:
            sets = sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in updates)
            statement += sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(on, sets)
        else:
            statement += sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(on)
    statement += sql.SQL(" RETURNING row_to_json({}.*)").format(sql.Identifier(table))
    try:
        with connection.transaction():
            returned = [row[0] for row in connection.execute(
                statement, (json.dumps(rows),)).fetchall()]
    except psycopg.errors.UniqueViolation as error:
        return _error(409, "23505", error.diag.message_primary or "duplicate key",
                      error.diag.message_detail)
    except psycopg.errors.ForeignKeyViolation as error:
        return _error(409, "23503", error.diag.message_primary or "foreign key violation",
                      error.diag.message_detail)
    except psycopg.errors.InvalidColumnReference as error:  # on_conflict without a constraint
        return _error(400, "42P10", error.diag.message_primary or str(error))
    except psycopg.OperationalError:
        raise
    except psycopg.Error as error:
        return _error(400, error.sqlstate or "XX000", error.diag.message_primary or str(error),
                      error.diag.message_detail, error.diag.message_hint)
    if prefer.get("return") == "representation":
        return Response.json(returned, 201)
    return Response(201, b"", {"Content-Range": f"*/{len(returned)}"})


def _primary_key(connection: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = connection.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (f"{schema}.{table}",),
    ).fetchall()
    return [row[0] for row in rows]
