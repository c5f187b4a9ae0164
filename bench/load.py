"""A load generator without a browser: visitors that speak Streamlit's own protocol (bench/stclient.py).

Each visitor opens a session (the page load), sends a message through the chat input's widget state,
reads the deltas until its reply has ended, checks that the reply is complete and its own (every reply
names its visitor and turn, via the simulator's ``sim:say``), thinks, and goes on. Two ways to load:

- closed loop (``--visitors N``): N visitors at once, each doing ``--turns`` turns;
- open loop (``--rate R --duration S``): visitors arrive at R per second for S seconds (Poisson), each
  doing ``--turns`` turns, as on a real site: a slow server does not slow the arrivals down.

Per turn it records, from the moment the message is sent: the first token's delta (the first delta that
holds the reply's first word), the number of messages the server sent before it, the last token, and any
error. It reports percentiles, turns per second, the generator's own CPU per visitor (so a report can say
how much of the machine the load itself used) and, with ``--server-pid``, the server's CPU per turn.

    .venv/bin/python -m bench.load --url http://127.0.0.1:8501 --visitors 5 --turns 3
    .venv/bin/python -m bench.load --url http://127.0.0.1:8501 --rate 2 --duration 30 --json out.json
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from bench.stclient import StClient

WORDS = 20  # words per reply
WORD_RE = re.compile(r"\bv(\d+)t\d+w\d+\b")  # a word of some visitor's reply


def reply_words(visitor: int, turn: int, words: int = WORDS) -> list[str]:
    """The reply a turn asks the simulator for: words that name the visitor and the turn."""
    return [f"v{visitor}t{turn}w{i}" for i in range(words)]


def message_text(visitor: int, turn: int, words: int = WORDS, triggers: str = "") -> str:
    """The message of a turn; `triggers` adds simulator triggers (such as ``sim:ttft=0.3``)."""
    said = base64.urlsafe_b64encode(" ".join(reply_words(visitor, turn, words)).encode()).decode().rstrip("=")
    return f"load v{visitor} t{turn} sim:say={said} {triggers}".rstrip()


@dataclass
class TurnResult:
    visitor: int
    turn: int
    sent_at: float  # time.monotonic()
    first_token_s: float | None = None  # from sending to the first token's delta
    messages_before_first: int | None = None  # ForwardMsgs received between sending and that delta
    places_before_first: int | None = None  # distinct places among them and that delta (see Places)
    last_token_s: float | None = None  # from sending to the run chain's end with the whole reply shown
    complete: bool = False  # every word of its own reply shown, and no other visitor's
    error: str | None = None


class Places:
    """The distinct places a run of ForwardMsgs wrote to: deltas by their path, other messages one each.

    Streamlit composes two deltas for one place that are queued before a flush into one message, so the raw
    count of messages depends on timing (a first token that comes at once often lands on its empty slot);
    the places they touch do not.
    """

    def __init__(self) -> None:
        self.paths: set[tuple[int, ...]] = set()
        self.others = 0

    def add(self, msg) -> None:
        if msg.WhichOneof("type") == "delta":
            self.paths.add(tuple(msg.metadata.delta_path))
        else:
            self.others += 1

    def __len__(self) -> int:
        return len(self.paths) + self.others


@dataclass
class Visitor:
    """One simulated visitor: a protocol session and the turns it takes."""

    url: str
    number: int
    words: int = WORDS
    timeout: float = 60.0
    triggers: str = ""  # simulator triggers added to every message
    query: str = ""  # the page's query string when it opens (e.g. "c=<id>": a returning visitor's chat)
    arrive: Callable[[StClient], None] | None = None  # called once the page is open, before the first turn
    leave: Callable[[StClient], None] | None = None  # called as the visitor goes, its session still open
    results: list[TurnResult] = field(default_factory=list)

    def run(self, turns: int, think: tuple[float, float], rng: random.Random) -> None:
        current: dict = {}

        def watch(msg, at: float) -> None:
            turn = current.get("turn")
            if turn is None or turn.first_token_s is not None:
                return
            current["count"] += 1
            current["places"].add(msg)
            if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
                return
            element = msg.delta.new_element
            if element.WhichOneof("type") == "markdown" and current["first"] in element.markdown.body:
                turn.first_token_s = at - turn.sent_at
                turn.messages_before_first = current["count"] - 1
                turn.places_before_first = len(current["places"])

        try:
            with StClient(
                self.url, record_frames=False, timeout=self.timeout, on_message=watch, query_string=self.query
            ) as client:
                client.open()
                if self.arrive is not None:
                    self.arrive(client)
                for n in range(turns):
                    words = reply_words(self.number, n, self.words)
                    turn = TurnResult(self.number, n, time.monotonic())
                    self.results.append(turn)
                    box = client.find(kind="chat_input")
                    current.update(turn=None, count=0, places=Places(), first=words[0])
                    client.wait_idle()
                    value = client.value(box, message_text(self.number, n, self.words, self.triggers))
                    turn.sent_at = time.monotonic()
                    current["turn"] = turn
                    before = client.rerun(value, wait=False)
                    client.wait_idle(since=before)
                    turn.last_token_s = time.monotonic() - turn.sent_at
                    shown = client.text()
                    owners = {int(m.group(1)) for m in WORD_RE.finditer(shown)}
                    turn.complete = " ".join(words) in shown and owners == {self.number}
                    if not turn.complete:
                        turn.error = "reply incomplete or not its own"
                    if client.errors:
                        turn.error = f"protocol: {client.errors[-1]}"
                    current["turn"] = None
                    if n + 1 < turns:
                        time.sleep(rng.uniform(*think))
                if self.leave is not None:
                    self.leave(client)
        except Exception as exc:  # noqa: BLE001 - a failed visitor is a result, reported with its turn
            if self.results and self.results[-1].error is None and not self.results[-1].complete:
                self.results[-1].error = f"{type(exc).__name__}: {str(exc)[:200]}"
            else:
                self.results.append(TurnResult(self.number, len(self.results), time.monotonic(), error=repr(exc)))


def _cpu_seconds(pids: Sequence[int]) -> float | None:
    from bench.procs import cpu_seconds

    return sum(cpu_seconds(pid) for pid in pids) if pids else None


@dataclass
class LoadReport:
    mode: str
    visitors: int
    turns: int
    wall_s: float
    results: list[TurnResult]
    generator_cpu_s: float
    server_cpu_s: float | None
    machine_cpu_s: float  # every process on the machine: servers, generator, simulator, proxy, database, others

    def summary(self) -> dict:
        done = [r for r in self.results if r.error is None and r.complete]
        first = sorted(r.first_token_s for r in done if r.first_token_s is not None)
        last = sorted(r.last_token_s for r in done if r.last_token_s is not None)
        counts = [r.messages_before_first for r in done if r.messages_before_first is not None]
        places = [r.places_before_first for r in done if r.places_before_first is not None]
        return {
            "mode": self.mode,
            "visitors": self.visitors,
            "turns": len(self.results),
            "complete": len(done),
            "errors": [r.error for r in self.results if r.error],
            "turns_per_s": round(len(done) / self.wall_s, 3) if self.wall_s else None,
            "first_token_ms": percentiles(first),
            "last_token_ms": percentiles(last),
            "messages_before_first_token": percentiles(counts, scale=1),
            "places_before_first_token": percentiles(places, scale=1),
            "generator_cpu_ms_per_visitor": round(self.generator_cpu_s * 1000 / max(1, self.visitors), 1),
            "server_cpu_ms_per_turn": (
                round(self.server_cpu_s * 1000 / max(1, len(done)), 1) if self.server_cpu_s is not None else None
            ),
            # Cores in use over the run: what the servers took, and the whole machine (the rest is the
            # generator, the simulator, a proxy and database, and anything else on the box).
            "server_cores": round(self.server_cpu_s / self.wall_s, 2)
            if self.server_cpu_s is not None and self.wall_s
            else None,
            "machine_cores": round(self.machine_cpu_s / self.wall_s, 2) if self.wall_s else None,
        }


def percentiles(values: list[float], scale: float = 1000) -> dict:
    """p50/p95/p99 and the count, times `scale` (seconds to ms by default); {} for no values."""
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * scale, 1)

    return {"p50": round(statistics.median(ordered) * scale, 1), "p95": at(0.95), "p99": at(0.99), "n": len(ordered)}


def run_load(
    url: str,
    *,
    visitors: int = 0,
    rate: float = 0.0,
    duration: float = 0.0,
    turns: int = 1,
    think: tuple[float, float] = (0.2, 1.0),
    words: int = WORDS,
    server_pids: Sequence[int] = (),
    seed: int = 17,
    setup: Callable[[Visitor], None] | None = None,
    present: Callable[[int], None] | None = None,
) -> LoadReport:
    """Closed loop with `visitors`, or open loop at `rate` visitors per second for `duration` seconds.

    setup(visitor) may set a new visitor's query and leave hook; present(n) is called about every 0.25 s
    with the number of visitors still there (e.g. to sample the server's memory against it).
    """
    rng = random.Random(seed)
    crowd: list[Visitor] = []
    threads: list[threading.Thread] = []
    cpu0, server0, start = time.process_time(), _cpu_seconds(server_pids), time.monotonic()
    from bench.procs import machine_cpu_seconds

    machine0 = machine_cpu_seconds()

    def arrive(number: int) -> None:
        visitor = Visitor(url, number, words)
        if setup is not None:
            setup(visitor)
        crowd.append(visitor)
        thread = threading.Thread(
            target=visitor.run, args=(turns, think, random.Random(seed * 1000 + number)), daemon=True
        )
        threads.append(thread)
        thread.start()

    def wait_until(at: float) -> None:
        while (left := at - time.monotonic()) > 0:
            time.sleep(min(left, 0.25))
            if present is not None:
                present(sum(t.is_alive() for t in threads))

    if rate > 0:
        number, at = 0, start
        while at < start + duration:
            wait_until(at)
            arrive(number)
            number += 1
            at += rng.expovariate(rate)
    else:
        for number in range(visitors):
            arrive(number)
    while any(t.is_alive() for t in threads):
        wait_until(time.monotonic() + 0.25)
    wall = time.monotonic() - start
    server1 = _cpu_seconds(server_pids)
    machine1 = machine_cpu_seconds()
    return LoadReport(
        mode=f"open loop, {rate:g}/s for {duration:g} s" if rate > 0 else f"closed loop, {visitors} at once",
        visitors=len(crowd),
        turns=turns,
        wall_s=wall,
        results=[r for v in crowd for r in v.results],
        generator_cpu_s=time.process_time() - cpu0,
        server_cpu_s=(server1 - server0) if server0 is not None and server1 is not None else None,
        machine_cpu_s=machine1 - machine0,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the app, e.g. http://127.0.0.1:8501")
    parser.add_argument("--visitors", type=int, default=1, help="closed loop: visitors at once")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: visitors arriving per second")
    parser.add_argument("--duration", type=float, default=30.0, help="open loop: seconds of arrivals")
    parser.add_argument("--turns", type=int, default=3, help="messages per visitor")
    parser.add_argument("--words", type=int, default=WORDS, help="words per reply")
    parser.add_argument(
        "--server-pid", type=int, action="append", default=[], help="a server's pid, for CPU per turn (repeatable)"
    )
    parser.add_argument("--json", help="write every turn and the summary here")
    args = parser.parse_args(argv)
    report = run_load(
        args.url,
        visitors=args.visitors,
        rate=args.rate,
        duration=args.duration,
        turns=args.turns,
        words=args.words,
        server_pids=args.server_pid,
    )
    summary = report.summary()
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"summary": summary, "turns": [asdict(r) for r in report.results]}, out, indent=1)


if __name__ == "__main__":
    main()
