"""What the database costs the sidebar and a conversation's opening, on SQLite and PostgreSQL.

The sidebar asks for the owner's folders and the newest conversations on every run; opening a chat reads
the conversation, the newest LOAD_LIMIT messages of the branch shown and every message off it (the ‹ n / m ›
switches need them). Run: `.venv/bin/python -m bench.store_queries [--reps 30]`; writes
bench/results/store_queries.md. PostgreSQL: GLMCHAT_BENCH_PG_URL (default the test server), in a schema of
its own that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import pickle
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from bench.seed import MODEL, OWNER, message
from glmchat.store import Store
from glmchat.ui.sidebar import LIST_LENGTH
from glmchat.ui.state import LOAD_LIMIT

PG_URL = os.environ.get("GLMCHAT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).parent / "results" / "store_queries.md"
CHATS, FOLDERS, MESSAGES, REGENERATED = 500, 100, 1_000, 250


def timed(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """(p50, max) milliseconds over reps calls, after one unmeasured call."""
    fn()
    runs = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs)


def straight(store: Store, n: int) -> str:
    cid = store.create_conversation(OWNER, "straight", MODEL)
    parent = None
    for i in range(n):
        m = message(i) | {"parent": parent}
        store.save_message(OWNER, cid, m)
        parent = m["id"]
    return cid


def branched(store: Store, n: int, regenerated: int) -> str:
    """n messages of which `regenerated` earlier answers were asked again and sit off the branch."""
    cid = store.create_conversation(OWNER, "branched", MODEL)
    parent, i, made = None, 0, 0
    while made < n:
        question = message(2 * i) | {"parent": parent}
        store.save_message(OWNER, cid, question)
        answer = message(2 * i + 1) | {"parent": question["id"]}
        store.save_message(OWNER, cid, answer)
        made += 2
        if i < regenerated and made < n:
            store.leave_branch_after(OWNER, cid, question["id"])  # "regenerate": the old answer leaves
            answer = message(2 * i + 1) | {"parent": question["id"]}
            store.save_message(OWNER, cid, answer)
            made += 1
        parent, i = answer["id"], i + 1
    return cid


def measure(store: Store, reps: int) -> list[tuple[str, str]]:
    rows = []
    for i in range(CHATS):
        store.create_conversation(OWNER, f"chat {i}", MODEL)
    sidebar = lambda: (store.folders(OWNER), store.list_conversations(OWNER, limit=LIST_LENGTH))  # noqa: E731
    rows.append((f"sidebar run, {CHATS} chats, no folder", "%.2f / %.2f" % timed(sidebar, reps)))
    chats = [c["id"] for c in store.list_conversations(OWNER, limit=CHATS)]
    fids = [store.create_folder(OWNER, f"folder {k:03}") for k in range(FOLDERS)]
    for k, cid in enumerate(chats):
        store.move(OWNER, cid, fids[k % FOLDERS])
    rows.append((f"sidebar run, {CHATS} chats in {FOLDERS} folders", "%.2f / %.2f" % timed(sidebar, reps)))
    one = lambda: store.list_conversations(OWNER, limit=LIST_LENGTH, folder=fids[0])  # noqa: E731
    rows.append(("sidebar run, one folder chosen", "%.2f / %.2f" % timed(lambda: (store.folders(OWNER), one()), reps)))
    for label, cid in (
        (f"open a chat of {MESSAGES:,} messages, one branch", straight(store, MESSAGES)),
        (
            f"open a chat of {MESSAGES:,} messages, {REGENERATED} answers off the branch",
            branched(store, MESSAGES, REGENERATED),
        ),
    ):

        def opening(cid=cid):
            found = store.conversation(OWNER, cid)
            return found, store.messages(OWNER, cid, limit=LOAD_LIMIT), store.off_branch(OWNER, cid)

        _, shown, off = opening()
        held = len(pickle.dumps((shown, off)))
        rows.append(
            (label, "%.2f / %.2f" % timed(opening, reps) + f" ({len(shown)} + {len(off)} messages, {held:,} B)")
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    reps = parser.parse_args().reps
    report = [
        "# Store queries: p50 / max ms per call sequence",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {reps} repetitions each, one process, no browser.",
        "Opening: the conversation, its newest messages and every message off the branch (pickled size of what",
        "the session keeps in brackets).",
        "",
        "| what | SQLite | PostgreSQL |",
        "| --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        lite = Store(f"sqlite:///{tmp}/bench.db")
        try:
            on_sqlite = measure(lite, reps)
        finally:
            lite.close()
    schema = "bench_" + secrets.token_hex(4)
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        pg = Store(PG_URL, schema=schema)
        try:
            on_pg = measure(pg, reps)
        finally:
            pg.close()
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
    for (what, a), (_, b) in zip(on_sqlite, on_pg, strict=True):
        report.append(f"| {what} | {a} | {b} |")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
