"""A PostgreSQL cluster the test owns: `initdb` and `pg_ctl` from the machine's PostgreSQL binaries, a
temporary data directory, trust authentication, a free port on 127.0.0.1. Never the shared server on 5432:
this one can be restarted, stopped and started at will.

As root (CI containers, this machine) the server runs as the `postgres` user, since PostgreSQL refuses to run
as root; the data directory is made in /tmp and handed to that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.e2e.harness import free_port

BINARIES = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/pgsql-*/bin")


def binaries() -> Path | None:
    """The newest PostgreSQL bin directory holding `initdb` and `pg_ctl`, or None."""
    for pattern in BINARIES:
        found = sorted(glob.glob(pattern), key=lambda path: [int(p) for p in path.split("/") if p.isdigit()])
        for directory in reversed(found):
            if Path(directory, "initdb").exists() and Path(directory, "pg_ctl").exists():
                return Path(directory)
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class Cluster:
    """`start`, `restart` (pg_ctl restart -m fast), `stop`, `destroy`; `url(database)` for SQLAlchemy."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mgrid-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=self.root)

    def start(self, *settings: str) -> None:
        """Start the server; `settings` are `name=value` server settings (by default fsync=off, for speed)."""
        chosen = " ".join(f"-c {setting}" for setting in settings or ("fsync=off",))
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 {chosen}"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.log), "-o", options)

    def restart(self) -> None:
        """Fast shutdown (every session cut, transactions rolled back), then start with the same options."""
        self._run("pg_ctl", "restart", "-w", "-m", "fast", "-D", str(self.data), "-l", str(self.log))

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {name}"))
        finally:
            engine.dispose()
        return self.url(name)
