"""A real PostgreSQL server for the tests (Debian's package), started once per session.

PostgreSQL refuses to run as root, so initdb/pg_ctl run as the `postgres` system user
(`runuser`) in a temporary directory it owns; the server listens on a free local port and a
unix socket in that directory, trusts local connections, and is stopped at the end.
Each test gets its own fresh database (`postgres_dsn`).

With `TIKTOK_RESEARCH_TEST_POSTGRES_PORT` set, the session uses the server already listening
on that local port (trusting `postgres`) instead of starting one: `make mutation` starts one
server for its whole run, where every mutant is a pytest session of its own.

The server is whichever version is installed: Debian's unversioned `postgresql` package pulls
in the release's default major version, so no version number is written down here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

DEBIAN_ROOT = Path("/usr/lib/postgresql")
SERVER_TOOLS = ("initdb", "pg_ctl")
RUNNING_SERVER_PORT = "TIKTOK_RESEARCH_TEST_POSTGRES_PORT"


def _has_server_tools(directory: Path) -> bool:
    return all((directory / tool).is_file() for tool in SERVER_TOOLS)


def _major_version(directory: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in directory.name.split(".") if part.isdigit())


def find_pg_bin(debian_root: Path = DEBIAN_ROOT) -> Path | None:
    """The bin directory holding initdb and pg_ctl, or None when no server is installed.

    Debian keeps each major version in /usr/lib/postgresql/<N>/bin, off the PATH; the newest
    installed one wins. Elsewhere `pg_config --bindir` or the PATH says where the server is
    (on Debian, pg_config may belong to libpq-dev alone, so it is only the fallback).
    """
    debian = [path for path in debian_root.glob("*/bin") if _has_server_tools(path)]
    if debian:
        return max(debian, key=lambda path: _major_version(path.parent))
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if bindir.returncode == 0 and bindir.stdout.strip():
            candidates.append(Path(bindir.stdout.strip()))
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(Path(pg_ctl).parent)
    return next((path for path in candidates if _has_server_tools(path)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="tiktok-pg-"))
        self.data = self.root / "data"
        self.port = free_port()

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(_as_postgres(self.tool("initdb"), "-D", str(self.data), "-U", "postgres",
                                    "--auth=trust", "--no-sync", "-E", "UTF8"),
                       check=True, capture_output=True)
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=50")
        subprocess.run(_as_postgres(self.tool("pg_ctl"), "-D", str(self.data), "-o", options,
                                    "-l", str(self.root / "server.log"), "-w", "start"),
                       check=True, capture_output=True)
        return self

    @classmethod
    def running_at(cls, port: int) -> PostgresServer:
        """A server someone else started and stops (`TIKTOK_RESEARCH_TEST_POSTGRES_PORT`)."""
        server = cls.__new__(cls)
        server.bin_dir, server.root, server.data, server.port = None, None, None, port
        return server

    def stop(self) -> None:
        if self.data is None:
            return
        subprocess.run(_as_postgres(self.tool("pg_ctl"), "-D", str(self.data), "-m", "fast",
                                    "-w", "stop"), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if port := os.environ.get(RUNNING_SERVER_PORT):
        yield PostgresServer.running_at(int(port))
        return
    bin_dir = find_pg_bin()
    if bin_dir is None:
        # Under CI the conftest hook turns this skip into a failure: the server is required.
        pytest.skip("PostgreSQL server (initdb, pg_ctl) is not installed (make system-deps)")
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of a new, empty database on the session's server."""
    return postgres_server.create_database()


@pytest.fixture
def supabase(fake_web, postgres_dsn, monkeypatch) -> str:
    """The fake PostgREST over a real PostgreSQL database with the shipped schema applied;
    SUPABASE_URL and SUPABASE_KEY point at it. The database's DSN."""
    import psycopg

    from tiktok_research.database import schema_sql
    from tiktok_research.fakeweb import postgrest

    with psycopg.connect(postgres_dsn) as connection:
        connection.execute(schema_sql())
    postgrest.configure(fake_web, postgres_dsn)
    monkeypatch.setenv("SUPABASE_URL", fake_web.base_url)
    monkeypatch.setenv("SUPABASE_KEY", postgrest.DEFAULT_KEY)
    return postgres_dsn
