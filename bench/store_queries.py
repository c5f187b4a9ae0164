"""What the database costs the sidebar and a conversation's opening, on SQLite and PostgreSQL.

The sidebar asks for the owner's folders and the newest conversations on every run; opening a chat reads
the conversation, the newest LOAD_LIMIT messages of the branch shown and their siblings off it (the ‹ n / m ›
switches need them); for comparison, also with every message off the branch, as the app did before.
Run: `.venv/bin/python -m bench.store_queries [--reps 30]`; writes
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
CHATS, FOLDERS, MESSAGES, REGENERATED = 500, 100, 1_000, 200


def timed(reps: int, *fns: Callable[[], object]) -> list[str]:
    """ "p50 / max" milliseconds of each function over reps calls, after one unmeasured call; the functions
    take turns, so that what the database does meanwhile (autovacuum after the seeding) hits them alike."""
    runs: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()
    for _ in range(reps):
        for fn, times in zip(fns, runs, strict=True):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
    return [f"{statistics.median(times):.2f} / {max(times):.2f}" for times in runs]


def straight(store: Store, n: int) -> str:
    cid = store.create_conversation(OWNER, "straight", MODEL)
    parent = None
    for i in range(n):
        m = message(i) | {"parent": parent}
        store.save_message(OWNER, cid, m)
        parent = m["id"]
    return cid


def branched(store: Store, n: int, regenerated: int) -> str:
    """n messages in which every other answer, `regenerated` in all, was asked again: the first version of
    each sits off the branch, spread over the whole chat."""
    cid = store.create_conversation(OWNER, "branched", MODEL)
    parent, i, made, again = None, 0, 0, 0
    while made < n:
        question = message(2 * i) | {"parent": parent}
        store.save_message(OWNER, cid, question)
        answer = message(2 * i + 1) | {"parent": question["id"]}
        store.save_message(OWNER, cid, answer)
        made += 2
        if i % 2 == 0 and again < regenerated and made < n:
            store.leave_branch_after(OWNER, cid, question["id"])  # "regenerate": the old answer leaves
            answer = message(2 * i + 1) | {"parent": question["id"]}
            store.save_message(OWNER, cid, answer)
            made, again = made + 1, again + 1
        parent, i = answer["id"], i + 1
    return cid


def measure(store: Store, reps: int) -> list[tuple[str, str]]:
    rows = []
    for i in range(CHATS):
        store.create_conversation(OWNER, f"chat {i}", MODEL)
    sidebar = lambda: (store.folders(OWNER), store.list_conversations(OWNER, limit=LIST_LENGTH))  # noqa: E731
    rows.append((f"sidebar run, {CHATS} chats, no folder", *timed(reps, sidebar)))
    chats = [c["id"] for c in store.list_conversations(OWNER, limit=CHATS)]
    fids = [store.create_folder(OWNER, f"folder {k:03}") for k in range(FOLDERS)]
    for k, cid in enumerate(chats):
        store.move(OWNER, cid, fids[k % FOLDERS])
    rows.append((f"sidebar run, {CHATS} chats in {FOLDERS} folders", *timed(reps, sidebar)))
    one = lambda: store.list_conversations(OWNER, limit=LIST_LENGTH, folder=fids[0])  # noqa: E731
    rows.append(("sidebar run, one folder chosen", *timed(reps, lambda: (store.folders(OWNER), one()))))
    for label, cid, compare in (
        (f"open a chat of {MESSAGES:,} messages, one branch", straight(store, MESSAGES), False),
        (
            f"open a chat of {MESSAGES:,} messages, {REGENERATED} answers off the branch",
            branched(store, MESSAGES, REGENERATED),
            True,
        ),
    ):

        def opening(cid=cid, every=False):
            """As the app opens a chat (glmchat.ui.callbacks._load_branch); every: all of the off-branch messages."""
            found = store.conversation(OWNER, cid)
            shown = store.messages(OWNER, cid, limit=LOAD_LIMIT)
            parents = None if every else {m.get("parent") for m in shown}
            return found, shown, store.off_branch(OWNER, cid, parents=parents)

        variants = [(label, False), (f"{label}, loading every one of them", True)][: 1 + compare]
        took = timed(reps, *(lambda every=every: opening(every=every) for _, every in variants))
        for (what, every), ms in zip(variants, took, strict=True):
            _, shown, off = opening(every=every)
            rows.append((what, f"{ms} ({len(shown)} + {len(off)} messages, {len(pickle.dumps((shown, off))):,} B)"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    reps = parser.parse_args().reps
    report = [
        "# Store queries: p50 / max ms per call sequence",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {reps} repetitions each, one process, no browser.",
        "Opening: the conversation, its newest messages and their siblings off the branch (or every message off",
        "it), with how many messages and the pickled size of what the session keeps in brackets.",
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
