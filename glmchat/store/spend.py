"""What the host's API key spends, kept in the database so limits hold across reruns, tabs, restarts and
replicas: table `spend` (one row per request, with a lease while it streams) and `login_failures`.

The store counts; the limits it is given decide. `reserve_request` takes any object with the shape of
`SpendLimits` (glmchat.hosting.limits.Limits is the app's), counts a `Usage` for each scope it limits, and asks
its `check`. The words both sides share live here, below the app: the China Standard Time day the store
counts in, the rolling minute, what was counted, and a refusal (the store makes one itself,
`UNAVAILABLE`, when it cannot count).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glmchat.store.codec import CID, MAX_TOKENS, is_int, model_text, owner_key, positive_seconds
from glmchat.store.engine import LOCK_KEY, Engine
from glmchat.store.schema import login_failures_t, spend, utc

# China has had no daylight saving time since 1991, so a fixed offset is Asia/Shanghai exactly.
CST = timezone(timedelta(hours=8), "CST")
WINDOW = 60.0  # seconds: the rolling window of the requests-per-minute limits
SPEND_KEEP = timedelta(days=3)  # spend rows and login failures older than this are pruned
PRUNE_EVERY = timedelta(hours=1)  # by reserve_request, at most this often per Store
TOP_VISITORS = 20


def day_start(now: datetime) -> datetime:
    """The start (UTC-aware) of the CST calendar day holding `now` (naive means UTC): 16:00 UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local = now.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Refusal:
    """Why a request may not start now. retry_after: seconds until it may (None: when a reply ends,
    or unknown for "unavailable"); limit and used are None for "unavailable"."""

    kind: str
    scope: str
    retry_after: float | None
    limit: int | float | None
    used: int | float | None


UNAVAILABLE = Refusal("unavailable", "app", None, None, None)


@dataclass(frozen=True)
class Usage:
    """What one scope (a visitor, or the whole app) has used, as counted by the store."""

    recent: tuple[datetime, ...] = ()  # start times within the last WINDOW seconds, oldest first
    tokens: int = 0  # since day_start
    cost: float = 0.0  # ¥ since day_start
    streams: int = 0  # replies whose lease has not run out


class ScopeLimits(Protocol):
    """The four limits of one scope; None means no limit (so nothing is counted for it)."""

    rpm: int | None
    tokens_day: int | None
    cny_day: float | None
    streams: int | None


class SpendLimits(Protocol):
    """What reserve_request asks of the limits it is given."""

    @property
    def active(self) -> bool: ...  # any limit set at all

    def scope(self, scope: str) -> ScopeLimits: ...  # "visitor" or "app"

    def check(self, visitor: Usage, app: Usage, now: datetime) -> Refusal | None: ...  # the first limit reached


class Spend(Engine):
    """The spending and login-attempt methods of Store."""

    _pruned_at: datetime | None = None

    def _when(self, now: datetime | None) -> datetime:
        return self._now() if now is None else utc(now)

    def _due_for_prune(self, now: datetime) -> bool:
        with self._clock_lock:
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
                return False
            self._pruned_at = now
            return True

    @staticmethod
    def _usage(conn: Connection, limits: SpendLimits, scope: str, visitor: str, now: datetime) -> Usage:
        """What `scope` has used, counting only what one of its configured limits needs."""
        lim = limits.scope(scope)
        mine = [spend.c.visitor == visitor] if scope == "visitor" else []
        recent, tokens, cost, streams = (), 0, 0.0, 0
        if lim.rpm is not None:
            recent = tuple(
                conn.execute(
                    sa.select(spend.c.started_at)
                    .where(*mine, spend.c.started_at > now - timedelta(seconds=WINDOW))
                    .order_by(spend.c.started_at)
                ).scalars()
            )
        if lim.tokens_day is not None or lim.cny_day is not None:
            tokens, cost = conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(spend.c.tokens), 0), sa.func.coalesce(sa.func.sum(spend.c.cost), 0.0)
                ).where(*mine, spend.c.started_at >= day_start(now))
            ).one()
        if lim.streams is not None:
            streams = conn.execute(
                sa.select(sa.func.count()).select_from(spend).where(*mine, spend.c.active_until > now)
            ).scalar()
        return Usage(recent=recent, tokens=int(tokens), cost=float(cost), streams=int(streams))

    def reserve_request(
        self, visitor: str, model: str, limits: SpendLimits, *, now: datetime | None = None, lease: float = 60.0
    ) -> tuple[str | None, Refusal | None]:
        """Count a request against `limits` and, if none is reached, record it as started and streaming
        for `lease` seconds: (request id, None); else (None, the first limit reached). Race-free across
        threads, processes and replicas: the count and the insert share one serialised transaction."""
        visitor, model = owner_key(visitor, "visitor"), model_text(model)
        lease_for = positive_seconds(lease, "lease")
        now = self._when(now)
        rid = secrets.token_hex(16)
        with self._tx(write=True) as conn:
            if limits.active:
                if self.dialect == "postgresql":
                    # SQLite's BEGIN IMMEDIATE already excludes other writers; PostgreSQL needs a lock,
                    # per schema like the migration's, under a different second half.
                    conn.execute(
                        sa.text(
                            "SELECT pg_advisory_xact_lock(:k, hashtext('spend:' || coalesce(current_schema(), '')))"
                        ),
                        {"k": LOCK_KEY},
                    )
                refusal = limits.check(
                    self._usage(conn, limits, "visitor", visitor, now),
                    self._usage(conn, limits, "app", visitor, now),
                    now,
                )
                if refusal is not None:
                    return None, refusal
            if self._due_for_prune(now):
                self._prune(conn, now - SPEND_KEEP)
            conn.execute(
                spend.insert().values(
                    id=rid,
                    visitor=visitor,
                    model=model,
                    started_at=now,
                    tokens=0,
                    cost=0.0,
                    active_until=now + lease_for,
                )
            )
        return rid, None

    def heartbeat_request(self, request_id: str, *, now: datetime | None = None, lease: float = 60.0) -> bool:
        """Extend a running request's lease to now + lease; False if it is unknown or finished."""
        lease_for = positive_seconds(lease, "lease")
        if not isinstance(request_id, str) or not CID.fullmatch(request_id):
            return False
        now = self._when(now)
        with self._tx(write=True) as conn:
            n = conn.execute(
                spend.update()
                .where(spend.c.id == request_id, spend.c.active_until.is_not(None))
                .values(active_until=now + lease_for)
            ).rowcount
        return n > 0

    def finish_request(self, request_id: str, tokens: int, cost: float) -> bool:
        """Record the API's own counts for a request and end its lease; False if the id is unknown.
        Setting (not adding) the counts makes a repeated call harmless."""
        if not is_int(tokens) or not 0 <= tokens <= MAX_TOKENS:
            raise ValueError("tokens must be a non-negative integer")
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= cost < math.inf:
            raise ValueError("cost must be a non-negative number")
        if not isinstance(request_id, str) or not CID.fullmatch(request_id):
            return False
        with self._tx(write=True) as conn:
            n = conn.execute(
                spend.update()
                .where(spend.c.id == request_id)
                .values(tokens=tokens, cost=float(cost), active_until=None)
            ).rowcount
        return n > 0

    def spend_today(self, *, now: datetime | None = None) -> dict:
        """Today's (CST) requests, tokens and cost, the replies streaming now, and the top visitors by cost."""
        now = self._when(now)
        today = spend.c.started_at >= day_start(now)
        cost = sa.func.coalesce(sa.func.sum(spend.c.cost), 0.0)
        tokens = sa.func.coalesce(sa.func.sum(spend.c.tokens), 0)
        with self._tx() as conn:
            requests, total_tokens, total_cost = conn.execute(
                sa.select(sa.func.count(), tokens, cost).select_from(spend).where(today)
            ).one()
            streams = conn.execute(
                sa.select(sa.func.count()).select_from(spend).where(spend.c.active_until > now)
            ).scalar()
            top = conn.execute(
                sa.select(spend.c.visitor, sa.func.count().label("n"), tokens.label("t"), cost.label("c"))
                .where(today)
                .group_by(spend.c.visitor)
                .order_by(sa.desc("c"), sa.desc("t"), sa.desc("n"), spend.c.visitor)
                .limit(TOP_VISITORS)
            ).all()
        return {
            "requests": int(requests),
            "tokens": int(total_tokens),
            "cost": float(total_cost),
            "streams": int(streams),
            "visitors": [{"visitor": v, "requests": int(n), "tokens": int(t), "cost": float(c)} for v, n, t, c in top],
        }

    # ---------------------------------------------------------------- login attempts

    @staticmethod
    def _failures(conn: Connection, client: str | None, since: datetime) -> int:
        q = sa.select(sa.func.count()).select_from(login_failures_t).where(login_failures_t.c.at >= utc(since))
        if client is not None:
            q = q.where(login_failures_t.c.client == owner_key(client, "client"))
        return int(conn.execute(q).scalar())

    def begin_login_attempt(
        self, client: str, wait_seconds: Callable[[int, int], float], window: float, *, now: datetime | None = None
    ) -> tuple[float, datetime | None]:
        """Check the throttle and count this attempt as a failure in one serialised step.

        wait_seconds(client failures, app-wide failures) -> seconds, over the last `window` seconds. Locked
        while the latest failure (this client's, or anyone's once many have failed) is younger than its
        wait: (that wait, None). Otherwise the attempt is recorded before the password is checked, so
        parallel guesses see each other: (0, its time), for forgive_login_attempt when it was right.
        """
        client, now = owner_key(client, "client"), self._when(now)
        with self._tx(write=True) as conn:
            if self.dialect == "postgresql":  # SQLite's BEGIN IMMEDIATE already excludes other writers
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k, hashtext('login:' || coalesce(current_schema(), '')))"),
                    {"k": LOCK_KEY},
                )
            since = now - timedelta(seconds=window)
            for who, wait in (
                (client, wait_seconds(self._failures(conn, client, since), 0)),
                (None, wait_seconds(0, self._failures(conn, None, since))),
            ):
                if wait and self._failures(conn, who, now - timedelta(seconds=wait)):
                    return wait, None
            conn.execute(login_failures_t.insert().values(client=client, at=now))
        return 0.0, now

    def forgive_login_attempt(self, client: str, at: datetime) -> None:
        """Remove an attempt begin_login_attempt counted, once its password turned out right."""
        with self._tx(write=True) as conn:
            conn.execute(
                login_failures_t.delete().where(
                    login_failures_t.c.client == owner_key(client, "client"), login_failures_t.c.at == utc(at)
                )
            )

    def login_failures(self, client: str | None, since: datetime) -> int:
        """Failed logins at or after `since`: one client's, or everyone's (client None)."""
        with self._tx() as conn:
            return self._failures(conn, client, since)

    # ---------------------------------------------------------------- pruning

    @staticmethod
    def _prune(conn: Connection, before: datetime) -> int:
        n = conn.execute(spend.delete().where(spend.c.started_at < before)).rowcount
        return n + conn.execute(login_failures_t.delete().where(login_failures_t.c.at < before)).rowcount

    def prune_spend(self, before: datetime) -> int:
        """Delete spend rows started, and login failures, before `before`; returns how many."""
        with self._tx(write=True) as conn:
            return self._prune(conn, utc(before))
