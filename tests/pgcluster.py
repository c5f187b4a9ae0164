"""A throwaway PostgreSQL server for tests that stop and restart the database (tests/e2e/test_fault_soak.py).

It lives in a temp dir on its own loopback port, so the machine's shared server on 5432 is never touched.
Debian's binaries (/usr/lib/postgresql/<version>/bin) do the work; initdb and postgres refuse to run as
root, so as root every command runs as the `postgres` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import free_port

PG_ROOT = Path("/usr/lib/postgresql")
START_TIMEOUT = 30  # seconds pg_ctl waits for the server to accept connections


def bindir() -> Path:
    """The newest installed PostgreSQL's bin directory; fails the test when there is none."""
    found = [p.parent for p in PG_ROOT.glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    if not found:
        pytest.fail(f"no PostgreSQL server binaries under {PG_ROOT}/<version>/bin: install Debian's postgresql package")
    return max(found, key=lambda p: int(p.parent.name))


class PgCluster:
    """A PostgreSQL server of its own: initdb in a temp dir, trust auth, fsync off, loopback only."""

    def __init__(self) -> None:
        self.bin = bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="glmchat-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root and there is no `postgres` user to run initdb as")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            )
            self.start()
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT + 30)
        if done.returncode != 0:
            pytest.fail(
                f"{tool} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                f"server log tail:\n{self.log_text()[-3000:]}"
            )

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def start(self) -> None:
        # The socket goes into our own dir: /var/run/postgresql belongs to the shared server.
        options = (
            f"-p {self.port} -h 127.0.0.1 -k {self.dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT), "-o", options, "start"
        )

    def restart(self, while_down: Callable[[], object] | None = None) -> float:
        """Stop (fast: open connections are cut), call `while_down()` if given, start on the same port.

        Returns the seconds from the stop request until the server accepts connections again.
        """
        began = time.monotonic()
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        if while_down is not None:
            while_down()
        self.start()
        return time.monotonic() - began

    def stop(self) -> None:
        """Stop the server for good and delete its files."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
