"""Fixtures for tests/e2e/test_replicas*.py: a fresh PostgreSQL database per test module, and app replicas behind
nginx started by scripts/replicas.sh (which the fixtures stop again, with the database dropped afterwards);
`replica_set` starts them with extra environment (e.g. spending limits).

The GLM simulator is tests/browser.py's session-wide `sim_proc`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from browser import ARTIFACTS, history_env
from conftest import PG_URL, ROOT, free_port

SCRIPT = ROOT / "scripts" / "replicas.sh"
SCRIPT_TIMEOUT = 150  # seconds; the script itself waits up to 60 s for each health check


def _run(*args: str, env: dict[str, str]) -> str:
    """Run scripts/replicas.sh; fail the test with its output if it fails."""
    done = subprocess.run(
        [str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT
    )
    if done.returncode != 0:
        pytest.fail(
            f"scripts/replicas.sh {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}",
            pytrace=False,
        )
    return done.stdout


@dataclass
class Replicas:
    """The proxy and its replicas, as scripts/replicas.sh started them."""

    proxy_url: str
    replica_urls: list[str]
    database_url: str
    rundir: Path
    env: dict[str, str] = field(repr=False)  # holds the API key: never in a failure report

    @property
    def addrs(self) -> list[str]:
        """Each replica's "127.0.0.1:PORT": what nginx writes into its cookie and the X-GLMChat-Replica header."""
        return [urlsplit(u).netloc for u in self.replica_urls]

    def restart(self, index: int) -> None:
        """Kill replica `index` (0-based) and start it again on the same port; returns once it is healthy."""
        _run("restart", str(self.rundir), str(index + 1), env=self.env)

    def access_log(self) -> list[str]:
        return (self.rundir / "access.log").read_text(encoding="utf-8", errors="replace").splitlines()

    def logs(self) -> dict[str, str]:
        """Every log in the run directory (nginx's and the replicas'), by file name."""
        return {p.name: p.read_text(encoding="utf-8", errors="replace") for p in sorted(self.rundir.glob("*.log"))}


@pytest.fixture(scope="module")
def pg_database():
    """A fresh PostgreSQL database (glmchat_rep_<random>), dropped afterwards; yields its URL."""
    admin = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3}, isolation_level="AUTOCOMMIT")
    name = "glmchat_rep_" + secrets.token_hex(5)
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is unreachable at {PG_URL} ({type(exc).__name__}); these tests never skip", pytrace=False
        )
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@contextmanager
def replica_set(sim, database_url: str, name: str, extra_env: dict[str, str] | None = None) -> Iterator[Replicas]:
    """Two replicas of the keyed app in shared mode (owner "local") behind nginx, on database_url, with
    extra_env on top of their environment; stopped on exit. Logs stay in test-artifacts/<name>."""
    rundir = ARTIFACTS / name  # kept after the run: nginx's and the replicas' logs
    # Shared, named so: through a proxy nobody is the machine's own user, and the tests' visitors share one
    # history across the replicas.
    env = {**os.environ, **history_env(sim, database_url, mode="shared"), **(extra_env or {})}
    if rundir.exists():
        _run("stop", str(rundir), env=env)  # whatever an interrupted earlier run left, by its pid files
        shutil.rmtree(rundir)
    rundir.mkdir(parents=True)
    out = _run("start", str(rundir), "--replicas", "2", "--port", str(free_port()), env=env)
    try:
        lines = [line.split() for line in out.splitlines()]
        proxy = [w[1] for w in lines if w[0] == "proxy"]
        urls = [w[2] for w in lines if w[0] == "replica"]
        assert len(proxy) == 1 and len(urls) == 2, f"unexpected output of scripts/replicas.sh start:\n{out}"
        yield Replicas(proxy_url=proxy[0], replica_urls=urls, database_url=database_url, rundir=rundir, env=env)
    finally:
        _run("stop", str(rundir), env=env)


@pytest.fixture(scope="module")
def replicas(sim_proc, pg_database):
    """Two replicas of the keyed app in shared mode (owner "local") behind nginx, on pg_database."""
    with replica_set(sim_proc, pg_database, "replicas") as started:
        yield started
