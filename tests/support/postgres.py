"""A real PostgreSQL 15 server for the tests (Debian's package), started once per session.

PostgreSQL refuses to run as root, so initdb/pg_ctl run as the `postgres` system user
(`runuser`) in a temporary directory it owns; the server listens on a free local port and a
unix socket in that directory, trusts local connections, and is stopped at the end.
Each test gets its own fresh database (`postgres_dsn`).
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

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tiktok-pg-"))
        self.data = self.root / "data"
        self.port = free_port()

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(_as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U",
                                    "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"),
                       check=True, capture_output=True)
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=50")
        subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                                    "-l", str(self.root / "server.log"), "-w", "start"),
                       check=True, capture_output=True)
        return self

    def stop(self) -> None:
        subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast",
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
    if not (PG_BIN / "pg_ctl").exists():
        pytest.skip("PostgreSQL 15 is not installed (make system-deps)")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of a new, empty database on the session's server."""
    return postgres_server.create_database()
