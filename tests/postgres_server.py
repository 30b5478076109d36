"""A private PostgreSQL server for the tests, started from the machine's server binaries.

`initdb` into a temporary folder, `pg_ctl start` on a Unix socket in that folder (no TCP port
is opened), fsync off (a test database is thrown away). PostgreSQL refuses to run as root, so
when the tests run as root the server runs as the `postgres` user. Each test gets a database of
its own (`new_database`), made from a template that already holds the schema.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl) were not found; "
    "install them (Debian/Ubuntu: apt-get install postgresql) to run these tests"
)


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when this machine has no server."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


class PostgresServer:
    """One server for the whole test session."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="relaytale-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        self.user = "postgres" if self.as_postgres else _current_user()
        self._databases = 0

    def url(self, database: str = "postgres") -> str:
        """A URL asyncpg understands: the Unix socket in our folder, no password."""
        return f"postgresql://{self.user}@/{database}?host={self.folder}&port={self.port}"

    def start(self) -> None:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8")
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.folder}' "
            f"-c port={self.port} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
            "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start the server again (a database restart under a running bot)."""
        # -l as at start: without it the server would write to our pipes, and never close them.
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-m", "fast", "-w",
            "restart",
        )  # fmt: skip

    def new_database_name(self) -> str:
        self._databases += 1
        return f"test_{os.getpid()}_{self._databases}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed: {done.stderr.strip()}\n{tail}")


def _free_port() -> int:
    # Only names the socket file here (no TCP listener); a free TCP port keeps names apart.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _current_user() -> str:
    import getpass

    return getpass.getuser()


@asynccontextmanager
async def new_database(server: PostgresServer) -> AsyncIterator[str]:
    """A fresh, empty database on the server for one test; its URL. Dropped afterwards (over a
    connection of its own: the test may have restarted the server meanwhile)."""
    import asyncpg

    name = server.new_database_name()
    admin = await asyncpg.connect(server.url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield server.url(name)
    finally:
        admin = await asyncpg.connect(server.url())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
