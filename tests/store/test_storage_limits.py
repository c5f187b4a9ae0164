"""Spending limits in the database (migration 3): every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from test_storage import Backend, Switch, backend, pg_admin, store  # noqa: E402,F401 - fixtures

from glmchat.hosting.limits import Limits, Refusal  # noqa: E402
from glmchat.store import CURRENT_VERSION, ResilientStore, Store  # noqa: E402
from glmchat.store.migrations import apply_migrations  # noqa: E402
from glmchat.store.schema import spend  # noqa: E402

UTC = UTC
T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # 20:00 in Beijing: the day resets at T + 4 h
UNTIL_TOMORROW = 4 * 3600.0
A, B = "visitor-a", "visitor-b"


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def reserve(s, visitor: str, limits: Limits, seconds: float = 0, **kwargs) -> tuple[str | None, Refusal | None]:
    return s.reserve_request(visitor, "glm-4-plus", limits, now=at(seconds), **kwargs)


def at_once(n: int, call) -> list:
    """call(i) for i in range(n), from n threads released together; any exception fails the test."""
    barrier, results, errors = threading.Barrier(n), [], []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results.append(call(i))
        except Exception as exc:  # noqa: BLE001 - reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def spend_rows(backend: Backend) -> list[tuple]:
    with backend.engine().connect() as c:
        return [
            tuple(r)
            for r in c.execute(
                sa.text("SELECT visitor, model, tokens, cost, active_until IS NULL FROM spend ORDER BY started_at")
            )
        ]


# --------------------------------------------------------------------------- each limit, both scopes


def test_requests_per_minute_per_visitor_and_app_wide(store):
    limits = Limits(visitor_rpm=2)
    assert reserve(store, A, limits, 0)[1] is None and reserve(store, A, limits, 10)[1] is None
    assert reserve(store, A, limits, 20) == (None, Refusal("rpm", "visitor", 40.0, 2, 2))
    assert reserve(store, B, limits, 20)[1] is None  # another visitor has their own allowance
    assert reserve(store, A, limits, 59.999)[0] is None
    rid, refusal = reserve(store, A, limits, 60)  # the first request has just left the window
    assert rid and refusal is None

    limits = Limits(rpm=4, visitor_rpm=10)  # app-wide: A's 10 and 60, B's 20 and one more are in the window
    assert reserve(store, B, limits, 61)[1] is None
    assert reserve(store, A, limits, 62) == (None, Refusal("rpm", "app", 8.0, 4, 4))  # B's at 10 s is the oldest
    assert reserve(store, B, limits, 70)[1] is None


def test_a_finished_request_that_used_nothing_still_counts_for_rpm(store):
    limits = Limits(rpm=1)
    rid, _ = reserve(store, A, limits)
    assert store.finish_request(rid, 0, 0.0) is True
    assert reserve(store, A, limits, 1) == (None, Refusal("rpm", "app", 59.0, 1, 1))


@pytest.mark.parametrize("scope", ["visitor", "app"])
def test_tokens_per_day(store, scope):
    limits = Limits(**{("visitor_" if scope == "visitor" else "") + "tokens_day": 1000})
    first, _ = reserve(store, A, limits, 0)
    assert reserve(store, A, limits, 1)[1] is None  # tokens are counted when a reply ends
    store.finish_request(first, 999, 0.01)
    assert reserve(store, A, limits, 2)[1] is None
    second, _ = reserve(store, B, limits, 3)
    store.finish_request(second, 1, 0.0)
    if scope == "visitor":
        assert reserve(store, A, limits, 4)[1] is None and reserve(store, B, limits, 4)[1] is None
        store.finish_request(reserve(store, A, limits, 5)[0], 1, 0.0)
    assert reserve(store, A, limits, 6) == (None, Refusal("tokens_day", scope, UNTIL_TOMORROW - 6, 1000, 1000))
    assert reserve(store, A, limits, UNTIL_TOMORROW - 0.001)[0] is None  # 15:59:59.999 UTC: still today
    limits_one = Limits(**{("visitor_" if scope == "visitor" else "") + "tokens_day": 1})
    assert reserve(store, A, limits_one, UNTIL_TOMORROW)[1] is None  # 16:00 UTC: a new day in Beijing


@pytest.mark.parametrize("scope", ["visitor", "app"])
def test_cost_per_day(store, scope):
    limits = Limits(**{("visitor_" if scope == "visitor" else "") + "cny_day": 0.5})
    rid, _ = reserve(store, A, limits, 0)
    store.finish_request(rid, 10, 0.3)
    rid, _ = reserve(store, B if scope == "app" else A, limits, 1)
    store.finish_request(rid, 10, 0.2)
    assert reserve(store, A, limits, 2) == (None, Refusal("cny_day", scope, UNTIL_TOMORROW - 2, 0.5, 0.5))
    assert (reserve(store, B, limits, 3)[1] is None) is (scope == "visitor")
    assert reserve(store, A, limits, UNTIL_TOMORROW + 1)[1] is None


@pytest.mark.parametrize("scope", ["visitor", "app"])
def test_streams_at_once_end_by_finish_or_when_the_lease_runs_out(store, scope):
    limits = Limits(**{("visitor_" if scope == "visitor" else "") + "streams": 2})
    first, _ = reserve(store, A, limits, 0, lease=30)
    second, _ = reserve(store, B if scope == "app" else A, limits, 1, lease=30)
    assert reserve(store, A, limits, 2) == (None, Refusal("streams", scope, None, 2, 2))
    assert store.finish_request(first, 5, 0.0) is True  # ok, error or stopped: the reply has ended
    third, _ = reserve(store, A, limits, 3, lease=30)
    assert third and reserve(store, A, limits, 4)[1].kind == "streams"
    assert store.heartbeat_request(third, now=at(25), lease=30) is True  # third now runs until 55 s
    assert reserve(store, A, limits, 30.5)[1].kind == "streams"  # second's lease runs until 31 s
    fourth, _ = reserve(store, A, limits, 31, lease=30)  # ... and has just run out
    assert fourth and reserve(store, A, limits, 54)[1].kind == "streams"  # third (heartbeat) and fourth
    assert reserve(store, A, limits, 55)[1] is None  # third's extended lease ran out: one slot
    assert reserve(store, A, limits, 56)[1].kind == "streams"


def test_heartbeat_and_finish_of_unknown_or_finished_requests(store, backend):
    rid, _ = reserve(store, A, Limits())
    assert store.heartbeat_request("0" * 32) is False and store.finish_request("f" * 32, 1, 0.1) is False
    assert store.heartbeat_request("not an id") is False and store.finish_request("../x", 1, 0.1) is False
    assert store.finish_request(rid, 1234, 0.0567) is True
    assert store.finish_request(rid, 1234, 0.0567) is True  # a repeat sets the same counts, never adds
    assert store.heartbeat_request(rid, now=at(1)) is False  # a finished reply is not revived
    assert spend_rows(backend) == [(A, "glm-4-plus", 1234, 0.0567, True)]


def test_bad_arguments_raise_value_error(store):
    rid, _ = reserve(store, A, Limits())
    for tokens, cost in (
        (-1, 0.0),
        (1.5, 0.0),
        (True, 0.0),
        (None, 0.0),
        (1, -0.1),
        (1, float("nan")),
        (1, float("inf")),
        (1, "0.1"),
        (10**16, 0.0),
    ):
        with pytest.raises(ValueError):
            store.finish_request(rid, tokens, cost)
    for lease in (0, -1, float("nan"), float("inf"), "60"):
        with pytest.raises(ValueError):
            reserve(store, A, Limits(), lease=lease)
        with pytest.raises(ValueError):
            store.heartbeat_request(rid, lease=lease)
    for visitor in ("", "x" * 256, None, 7):
        with pytest.raises(ValueError):
            reserve(store, visitor, Limits())
    with pytest.raises(ValueError):
        store.begin_login_attempt("", never_wait, 900)


def test_nothing_is_counted_when_no_limit_is_set_but_requests_are_recorded(store):
    for i in range(5):
        rid, refusal = reserve(store, A, Limits(), i)
        assert rid and refusal is None
    assert store.spend_today(now=at(5))["requests"] == 5 and store.spend_today(now=at(5))["streams"] == 5


# --------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize("limits, k", [(Limits(rpm=3), 3), (Limits(visitor_streams=2), 2)])
def test_concurrent_reservations_never_exceed_the_limit(backend, limits, k):
    stores = [backend.open(), backend.open()]  # two engines: two replicas (or processes) of the app
    n = 12
    results = at_once(n, lambda i: stores[i % 2].reserve_request(A, "glm-4-plus", limits))
    ids = [rid for rid, _ in results if rid]
    assert len(ids) == k and len(set(ids)) == k and len(results) - len(ids) == n - k
    assert backend.count("spend") == k


# --------------------------------------------------------------------------- reads for the usage page


def test_spend_today(store):
    limits = Limits()
    yesterday, _ = reserve(store, A, limits, -20 * 3600 - 1)  # 15:59:59 UTC on 28 Feb: 23:59:59 in Beijing
    store.finish_request(yesterday, 10**6, 9.0)
    for i, (visitor, tokens, cost) in enumerate([(A, 100, 0.01), (B, 300, 0.05), (A, 50, 0.02), ("c", 10, 0.05)]):
        rid, _ = reserve(store, visitor, limits, i)
        store.finish_request(rid, tokens, cost)
    reserve(store, "d", limits, 10)  # still streaming: counted, with no tokens yet
    today = store.spend_today(now=at(20))
    assert {k: today[k] for k in ("requests", "tokens", "streams")} == {"requests": 5, "tokens": 460, "streams": 1}
    assert today["cost"] == pytest.approx(0.13)
    assert [(v["visitor"], v["requests"], v["tokens"]) for v in today["visitors"]] == [
        (B, 1, 300),
        ("c", 1, 10),
        (A, 2, 150),
        ("d", 1, 0),
    ]  # by cost; B before c on tokens
    assert today["visitors"][2]["cost"] == pytest.approx(0.03)
    assert store.spend_today(now=at(UNTIL_TOMORROW))["requests"] == 0


def test_spend_today_lists_the_top_20_visitors(store):
    for i in range(25):
        rid, _ = reserve(store, f"v{i:02d}", Limits(), i)
        store.finish_request(rid, i, i / 100)
    visitors = store.spend_today(now=at(30))["visitors"]
    assert [v["visitor"] for v in visitors] == [f"v{i:02d}" for i in range(24, 4, -1)]


def never_wait(client_failures: int, app_failures: int) -> float:
    return 0.0


def fail(store, client: str, seconds: float) -> None:
    """A wrong password at T + seconds: the attempt is counted and never forgiven."""
    assert store.begin_login_attempt(client, never_wait, 900, now=at(seconds)) == (0.0, at(seconds))


def test_login_failures(store):
    for seconds, client in ((0, "1.2.3.4"), (10, "1.2.3.4"), (20, "5.6.7.8"), (30, "1.2.3.4")):
        fail(store, client, seconds)
    assert store.login_failures("1.2.3.4", at(10)) == 2 and store.login_failures("1.2.3.4", at(0)) == 3
    assert store.login_failures(None, at(10)) == 3 and store.login_failures("9.9.9.9", at(0)) == 0


def test_a_login_attempt_is_counted_before_its_check_and_forgiven_when_right(store):
    def after_two(client_failures: int, app_failures: int) -> float:
        return 60.0 if client_failures >= 2 else 0.0

    wait, first = store.begin_login_attempt("1.2.3.4", after_two, 900, now=at(0))
    assert wait == 0 and store.login_failures("1.2.3.4", at(0)) == 1  # counted while it is being checked
    store.forgive_login_attempt("1.2.3.4", first)  # it was right
    assert store.login_failures("1.2.3.4", at(0)) == 0
    fail(store, "1.2.3.4", 1)
    fail(store, "1.2.3.4", 2)
    # Locked for 60 s after the latest failure, whoever asks and whatever they would type.
    assert store.begin_login_attempt("1.2.3.4", after_two, 900, now=at(30)) == (60.0, None)
    assert store.login_failures("1.2.3.4", at(0)) == 2  # a refused attempt is not counted
    assert store.begin_login_attempt("1.2.3.4", after_two, 900, now=at(63))[0] == 0
    assert store.begin_login_attempt("5.6.7.8", after_two, 900, now=at(30))[0] == 0  # another client


def test_parallel_login_attempts_cannot_all_pass_the_throttle(backend):
    """Five guesses at once, from two engines (replicas), after the free ones: exactly one is checked."""
    from glmchat.hosting import passwords

    stores = [backend.open(), backend.open()]
    for i in range(passwords.FREE_ATTEMPTS):
        fail(stores[0], "1.2.3.4", i)
    later = at(passwords.FREE_ATTEMPTS + passwords.FIRST_WAIT)  # the first wait has passed
    results = at_once(
        5,
        lambda i: stores[i % 2].begin_login_attempt(
            "1.2.3.4", passwords.wait_seconds, passwords.WINDOW, now=later + timedelta(microseconds=i)
        ),
    )
    assert sum(1 for wait, attempt in results if attempt is not None) == 1
    assert store_failures(stores[0]) == passwords.FREE_ATTEMPTS + 1


def store_failures(store) -> int:
    return store.login_failures(None, at(-(10**6)))


def test_prune_by_hand_and_from_reserve_at_most_hourly(store, backend):
    reserve(store, A, Limits(), 0)  # the first reserve of this Store prunes (there is nothing to prune)
    reserve(store, A, Limits(), -4 * 86400)  # within the hour: no prune
    fail(store, "1.2.3.4", -4 * 86400)
    fail(store, "1.2.3.4", 0)
    assert backend.count("spend") == 2
    assert store.prune_spend(at(-86400)) == 2  # the old request and the old login failure
    assert backend.count("spend") == 1 and store.login_failures(None, at(-(10**7))) == 1

    fail(store, "1.2.3.4", -5 * 86400)
    with backend.engine().begin() as c:  # an old request written behind the store's back
        c.execute(spend.insert().values(id="a" * 32, visitor=A, model="m", started_at=at(-5 * 86400)))
    reserve(store, A, Limits(), 3599)  # less than an hour after the last prune: not yet
    assert backend.count("spend") == 3 and store.login_failures(None, at(-(10**7))) == 2
    reserve(store, A, Limits(), 3600)  # an hour: what started more than 3 days ago goes
    assert backend.count("spend") == 3 and store.login_failures(None, at(-(10**7))) == 1
    assert backend.count("spend", "WHERE id = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'") == 0


# --------------------------------------------------------------------------- migration 3


def test_migration_from_version_2(backend):
    with backend.engine().begin() as conn:
        apply_migrations(conn, target=2)
        conn.execute(
            sa.text(
                "INSERT INTO conversations (id, owner, title, model, settings_json, created_at, updated_at) "
                "VALUES (:id, 'local', '旧的', 'glm-4-plus', '{}', :t, :t)"
            ),
            {"id": "c" * 32, "t": "2025-03-01 08:00:00" + (".000000" if backend.name == "sqlite" else "+00")},
        )
    s = backend.open()
    assert s.version() == 6 == CURRENT_VERSION
    assert s.conversation("local", "c" * 32)["title"] == "旧的"
    inspector = sa.inspect(backend.engine())
    assert {c["name"] for c in inspector.get_columns("spend")} == {
        "id",
        "visitor",
        "model",
        "started_at",
        "tokens",
        "cost",
        "active_until",
    }
    assert {tuple(i["column_names"]) for i in inspector.get_indexes("spend")} == {
        ("started_at",),
        ("visitor", "started_at"),
        ("active_until",),
    }
    assert {tuple(i["column_names"]) for i in inspector.get_indexes("login_failures")} == {("client", "at"), ("at",)}
    with backend.engine().begin() as c:  # the column defaults are in the schema, not only in the app
        c.execute(sa.text("INSERT INTO spend (id, visitor, started_at) VALUES ('x', 'v', :t)"), {"t": T})
        assert tuple(c.execute(sa.text("SELECT tokens, cost, active_until FROM spend")).one()) == (0, 0.0, None)
    rid, refusal = reserve(s, A, Limits(rpm=5))
    assert rid and refusal is None and s.migrate() == 6 and backend.open().version() == 6


# --------------------------------------------------------------------------- ResilientStore


def test_resilient_store_fails_closed_and_queues_nothing_while_down(backend, caplog):
    switch = Switch(backend)
    r = ResilientStore(switch, retry_interval=0)
    limits = Limits(visitor_rpm=5)
    caplog.set_level(logging.WARNING, logger="glmchat.store")
    assert r.reserve_request(A, "glm-4-plus", limits) == (None, Refusal("unavailable", "app", None, None, None))
    assert r.reserve_request(A, "glm-4-plus", Limits()) == (None, None)  # no limit to check: the chat goes on
    assert r.heartbeat_request("a" * 32) is False and r.finish_request("a" * 32, 10, 0.1) is False
    # No attempt can be counted, so none is checked: the visitor is told to wait.
    assert r.begin_login_attempt("1.2.3.4", never_wait, 900, down_wait=30.0) == (30.0, None)
    assert r.spend_today() == {"requests": 0, "tokens": 0, "cost": 0.0, "streams": 0, "visitors": []}
    assert r.pending == 0 and r.healthy is False
    logged = caplog.text
    assert "finish_request not recorded" in logged and "begin_login_attempt not recorded" in logged
    assert A not in logged and "a" * 32 not in logged and "1.2.3.4" not in logged

    switch.up = True
    rid, refusal = r.reserve_request(A, "glm-4-plus", limits)
    assert rid and refusal is None and r.healthy
    assert r.heartbeat_request(rid) is True and r.finish_request(rid, 10, 0.1) is True
    assert r.begin_login_attempt("1.2.3.4", never_wait, 900)[0] == 0
    assert store_failures(backend.open()) == 1 and r.spend_today()["tokens"] == 10
    assert r.pending == 0 and backend.count("spend") == 1


def test_resilient_store_refuses_during_the_retry_interval(backend):
    now = [0.0]
    switch = Switch(backend)
    r = ResilientStore(switch, clock=lambda: now[0])
    assert r.reserve_request(A, "m", Limits(streams=1))[1].kind == "unavailable"
    switch.up = True
    now[0] += 1  # the database is left alone for 5 s, so the limit still cannot be checked
    assert r.reserve_request(A, "m", Limits(streams=1))[1].kind == "unavailable" and switch.calls == 1
    now[0] += 5
    rid, refusal = r.reserve_request(A, "m", Limits(streams=1))
    assert rid and refusal is None and switch.calls == 2


def test_resilient_store_passes_bad_arguments_through(backend):
    r = ResilientStore(backend.open)
    with pytest.raises(ValueError):
        r.reserve_request("", "m", Limits())
    with pytest.raises(ValueError):
        r.finish_request("a" * 32, -1, 0.0)
    assert r.healthy


def test_without_now_the_store_uses_its_own_clock(backend):
    s: Store = backend.open()
    rid, _ = s.reserve_request(A, "m", Limits(visitor_rpm=1))
    refusal = s.reserve_request(A, "m", Limits(visitor_rpm=1))[1]
    assert rid and refusal.kind == "rpm" and 0 < refusal.retry_after <= 60
    assert s.spend_today()["streams"] == 1 and s.heartbeat_request(rid) is True
    s.begin_login_attempt("1.2.3.4", never_wait, 900)
    assert s.login_failures("1.2.3.4", datetime.now(UTC) - timedelta(minutes=1)) == 1
