"""Shared fixtures: the GLM simulator in-process and on loopback, and a no-skip rule."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

from glmsim.simulator import Simulator  # noqa: E402

# A key that must never show up anywhere: page, session state, logs.
CANARY_KEY = "canary-5f1e2d3c4b5a.SECRETcanary0987"

# The PostgreSQL server of the storage, replica and history tests. GLMCHAT_TEST_PG_URL is a plain libpq URI, as
# scripts/test.sh reads it (it makes sure the server answers there, and sets it up on a fresh machine).
PG_TEST_URI_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def pg_url(*, libpq: bool = False, query: dict[str, str] | None = None, **parts) -> str:
    """GLMCHAT_TEST_PG_URL (default PG_TEST_URI_DEFAULT) as a SQLAlchemy URL with the psycopg 3 driver, or
    as a libpq URI with libpq=True. `parts` replace pieces of it (port=..., database=...), `query` adds
    parameters: another database, or a server that is not there, on the same terms."""
    import sqlalchemy as sa

    uri = os.environ.get("GLMCHAT_TEST_PG_URL") or PG_TEST_URI_DEFAULT
    url = sa.engine.make_url(uri)
    if url.drivername not in ("postgresql", "postgres"):
        raise ValueError(
            f"GLMCHAT_TEST_PG_URL must be a plain postgresql:// URI (as libpq takes it), not {url.drivername}://"
        )
    url = url.set(drivername="postgresql" if libpq else "postgresql+psycopg", **parts)
    if query:
        url = url.update_query_dict(query)
    return url.render_as_string(hide_password=False)


PG_URL = pg_url()  # the one definition every test uses (SQLAlchemy form)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest.fixture(scope="session")
def sim_server():
    """One loopback simulator for the session; tests reset its counters."""
    simulator = Simulator()
    server, thread = simulator.serve("127.0.0.1", 0)
    port = server.server_address[1]
    simulator.base_url = f"http://127.0.0.1:{port}/api/paas/v4"
    yield simulator
    server.shutdown()


@pytest.fixture
def served(sim_server):
    sim_server.reset()
    return sim_server


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    """A fresh SQLite database for the app under test."""
    url = f"sqlite:///{tmp_path / 'glmchat.db'}"
    monkeypatch.setenv("GLMCHAT_DATABASE_URL", url)
    for name in (
        "GLMCHAT_ACCESS_MODE",
        "GLMCHAT_HOST_KEY_HISTORY",
        "GLMCHAT_OWNER_SECRET",
        "GLMCHAT_ACCESS_PASSWORD_HASH",
        "GLMCHAT_ALLOWED_EMAILS",
        "GLMCHAT_ALLOW_OWN_KEY",
        "GLMCHAT_BEHIND_PROXY",
        *(
            f"GLMCHAT_{n}"
            for n in (
                "MAX_MESSAGE_CHARS",
                "MAX_ATTACHMENTS",
                "MAX_CONVERSATION_MESSAGES",
                "MAX_CONVERSATIONS",
                "LOG_CONTENT",
            )
        ),
        *(
            f"GLMCHAT_LIMIT_{n}"
            for n in (
                "RPM",
                "VISITOR_RPM",
                "TOKENS_DAY",
                "VISITOR_TOKENS_DAY",
                "CNY_DAY",
                "VISITOR_CNY_DAY",
                "STREAMS",
                "VISITOR_STREAMS",
            )
        ),
    ):
        monkeypatch.delenv(name, raising=False)
    return url


@pytest.fixture
def app_env(served, monkeypatch, db_url):
    """Environment for an app that talks to the loopback simulator with the canary key."""
    monkeypatch.setenv("ZHIPUAI_API_KEY", CANARY_KEY)
    monkeypatch.setenv("ZHIPUAI_BASE_URL", served.base_url)
    return served


@pytest.fixture
def no_key_env(monkeypatch, tmp_path, db_url):
    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    monkeypatch.delenv("ZHIPUAI_BASE_URL", raising=False)
    monkeypatch.setattr("glmchat.hosting.config.ENV_FILE", tmp_path / ".env")  # a developer's own .env stays out


# -- pytest-playwright: Debian's Chromium, or CHROMIUM_PATH (`playwright install` cannot download browsers here)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    from browser import CHROMIUM, CHROMIUM_ARGS

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does), or set CHROMIUM_PATH; "
            "`playwright install` cannot download browsers here"
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}, "locale": "en-US"}


# -- no skips: a skip fails the run (proved by tests/test_no_skips.py) ---------------------------------------

pytest_plugins = ["pytester"]  # for tests/test_no_skips.py, which runs inner pytest sessions with these hooks

_skipped: list[str] = []


def pytest_runtest_logreport(report):
    """A test that skipped (pytest.skip in a test or a fixture, a skip mark)."""
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_collectreport(report):
    """A module skipped as a whole: pytest.skip(allow_module_level=True), or a pytest.importorskip that found
    nothing. Its tests are never collected, so no test report tells of it."""
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    # The storage replay thread may still retry a database some test left unreachable; pytest closes its
    # streams before the process's atexit stop runs, and a warning logged then prints "Logging error".
    from glmchat.store import resilient

    resilient.REPLAYER.stop()
    # A skipped test is not a passed one: fail the run so a missing browser or service is noticed. A run whose
    # only tests were in skipped modules collected none (exit status 5): it fails as a failed run too.
    if _skipped and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_line(f"FAILED: {len(_skipped)} test(s) skipped; skips are not allowed here:", red=True)
        for nodeid in _skipped:
            terminalreporter.write_line(f"  {nodeid}", red=True)
