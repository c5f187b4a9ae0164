"""A reply's life in glmchat/chat/turn.py, against the simulator through the real SDK (no Streamlit)."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from conftest import CANARY_KEY

from glmchat.chat import conversation as conv
from glmchat.chat.catalogue import load
from glmchat.chat.client import ChatRequest, Endpoint, Retrying
from glmchat.chat.conversation import DONE, ERROR, INCOMPLETE, STOPPED, Totals
from glmchat.chat.turn import Grew, Quiet, Turn, limit_error
from glmchat.hosting.limits import Refusal

MODEL = load().get("glm-4-plus")


class Ticket:
    """Records what a Turn does with its spend row."""

    request_id = "a" * 32

    def __init__(self) -> None:
        self.beats, self.finished = 0, []

    def beat(self) -> None:
        self.beats += 1

    def finish(self, usage, cost) -> None:
        self.finished.append((usage, cost))


def endpoint(sim) -> Endpoint:
    return Endpoint(CANARY_KEY, "http://sim.local/api/paas/v4", sim.transport())


def request(text: str) -> ChatRequest:
    return ChatRequest(model=MODEL.id, messages=[{"role": "user", "content": text}])


def settled(check, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


def lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage().removeprefix("request ")) for r in caplog.records if r.name == "glmchat.requests"]


@pytest.fixture
def requests_logged(caplog):
    caplog.set_level(logging.INFO, logger="glmchat.requests")
    return caplog


def started(
    sim, text: str, ticket: Ticket | None = None, saved: list | None = None, totals: Totals | None = None
) -> tuple[Turn, dict]:
    turn = Turn(MODEL, reserve=(lambda: (ticket, None)) if ticket else None)
    assert turn.reserve() is None
    message = conv.assistant_message(MODEL.id, {})
    turn.send(endpoint(sim), request(text)).adopt(
        message, save=(lambda m: saved.append(dict(m))) if saved is not None else None, totals=totals
    )
    return turn, message


def test_a_reply_is_read_saved_finished_counted_and_logged_once(sim, requests_logged):
    ticket, saved, totals = Ticket(), [], Totals()
    turn, message = started(sim, "hello sim:tokens=40", ticket, saved, totals)
    events = list(turn.events())
    turn.close()
    grew = [e for e in events if isinstance(e, Grew)]
    assert grew[0].first and not any(e.first for e in grew[1:])
    assert message["status"] == DONE and message["content"] == " ".join(f"tok{i}" for i in range(40))
    usage = message["meta"]["usage"]
    assert usage["completion_tokens"] == 40 and message["meta"]["cost"] == MODEL.cost(usage["prompt_tokens"], 40)
    assert totals.requests == 1 and totals.completion_tokens == 40
    assert saved[0]["status"] == "streaming" and saved[-1]["status"] == DONE  # at the start and at the end
    assert ticket.finished == [(usage, message["meta"]["cost"])]
    assert [(line["status"], line["completion_tokens"]) for line in lines(requests_logged)] == [("ok", 40)]
    turn.close()  # once only
    assert len(ticket.finished) == 1 and len(lines(requests_logged)) == 1
    assert sim.open_streams == 0


def test_cached_tokens_the_api_reports_are_charged_at_the_cached_price(sim):
    model = load().get("glm-4.7")  # 2 ¥ input, 0.4 ¥ cached, 8 ¥ output per million, under 32K and 200 out
    totals, ticket = Totals(), Ticket()
    turn = Turn(model, reserve=lambda: (ticket, None))
    assert turn.reserve() is None
    message = conv.assistant_message(model.id, {})
    text = "a question asked before " * 4 + "sim:tokens=5 sim:cached=12"
    turn.send(endpoint(sim), ChatRequest(model=model.id, messages=[{"role": "user", "content": text}]))
    turn.adopt(message, totals=totals)
    list(turn.events())
    turn.close()
    usage = message["meta"]["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 12 and conv.cached_tokens(usage) == 12
    prompt = usage["prompt_tokens"]
    expected = ((prompt - 12) * 2.0 + 12 * 0.4 + 5 * 8.0) / 1e6
    assert message["meta"]["cost"] == pytest.approx(expected)
    assert message["meta"]["cost"] < model.cost(prompt, 5)  # cheaper than without the cache hit
    # The session's totals and the host's spend row get the same figure.
    assert totals.cost == pytest.approx(expected) and ticket.finished[0][1] == pytest.approx(expected)


def test_a_reply_without_cached_tokens_costs_what_it_did(sim):
    model = load().get("glm-4.7")
    turn = Turn(model)
    message = conv.assistant_message(model.id, {})
    turn.send(endpoint(sim), ChatRequest(model=model.id, messages=[{"role": "user", "content": "hi sim:tokens=3"}]))
    turn.adopt(message)
    list(turn.events())
    turn.close()
    usage = message["meta"]["usage"]
    assert conv.cached_tokens(usage) == 0
    assert message["meta"]["cost"] == pytest.approx((usage["prompt_tokens"] * 2.0 + 3 * 8.0) / 1e6)


def test_new_text_is_batched_and_a_silent_upstream_gives_quiet_events(sim):
    turn, message = started(sim, "slow sim:tokens=3 sim:ttft=0.6")
    events = list(turn.events(flush=0.05, quiet=0.2))
    turn.close()
    quiet = [e for e in events if isinstance(e, Quiet)]
    assert quiet and all(e.waiting for e in quiet)  # before the first token
    assert sum(isinstance(e, Grew) for e in events) <= 3 and message["status"] == DONE


def test_stop_keeps_what_arrived_marked_stopped_and_closes_the_request(sim, requests_logged):
    ticket, saved = Ticket(), []
    turn, message = started(sim, "long sim:tokens=200 sim:rate=50", ticket, saved)
    for event in turn.events():
        if isinstance(event, Grew):
            break  # the page's run ends here (a Stop click)
    turn.stop()
    turn.close()
    assert message["status"] == STOPPED and message["content"].startswith("tok0")
    assert saved[-1]["status"] == STOPPED and len(ticket.finished) == 1
    assert [line["status"] for line in lines(requests_logged)] == ["stopped"]
    assert settled(lambda: sim.open_streams == 0)  # the simulator saw the stream closed


def test_a_detached_reply_goes_on_and_is_saved_and_logged_when_it_ends(sim, requests_logged):
    ticket, saved = Ticket(), []
    ended = threading.Event()
    turn, message = started(sim, "reload sim:tokens=30 sim:rate=100", ticket, saved)
    turn._saver._save = lambda m: (saved.append(dict(m)), ended.set() if m["status"] != "streaming" else None)
    for event in turn.events():
        if isinstance(event, Grew):
            break  # the page went away
    turn.detach()
    turn.close()  # the page's run closes it as usual: a detached Turn closes itself later
    assert not ticket.finished
    assert ended.wait(30)
    assert saved[-1]["status"] == DONE and saved[-1]["content"].endswith("tok29")
    assert settled(lambda: lines(requests_logged))  # the log line follows the last save
    assert ticket.finished and [line["status"] for line in lines(requests_logged)] == ["ok"]


def test_a_newer_run_reattaches_and_reads_the_rest_and_the_totals_count_it_once(sim, requests_logged):
    ticket, totals = Ticket(), Totals()
    turn, message = started(sim, "rerun sim:tokens=60 sim:rate=60", ticket, totals=totals)
    for event in turn.events():
        if isinstance(event, Grew):
            break  # a widget started a newer run of the page
    turn.detach()  # the old run lets go (it does not close a detached Turn); the detached reader goes on
    assert turn.streaming
    assert turn.reattach(timeout=5)  # the newer run takes it back
    events = list(turn.events())
    turn.close()
    assert any(isinstance(e, Grew) for e in events) and message["status"] == DONE
    assert message["content"] == " ".join(f"tok{i}" for i in range(60))
    assert totals.requests == 1 and totals.completion_tokens == 60 and len(ticket.finished) == 1
    assert [line["status"] for line in lines(requests_logged)] == ["ok"]


def test_the_old_run_closing_late_does_not_cut_the_reply_a_newer_run_took(sim):
    turn, message = started(sim, "late close sim:tokens=30 sim:rate=100")
    next(e for e in turn.events() if isinstance(e, Grew))
    old = threading.Thread(target=turn.detach)  # the old run's thread lets go...
    old.start()
    old.join()
    assert turn.reattach(timeout=5)  # ...a newer run (this thread) takes the reply...
    late = threading.Thread(target=turn.close)  # ...and the old run's `finally` comes after
    late.start()
    late.join()
    list(turn.events())
    turn.close()
    assert message["status"] == DONE and message["content"].endswith("tok29")


def test_reattach_waits_for_the_run_still_reading_and_says_no_once_the_reply_ended(sim):
    turn, message = started(sim, "race sim:tokens=40 sim:rate=100")
    events = turn.events()
    next(e for e in events if isinstance(e, Grew))
    # The newer run asks before the old run has seen its stop: it waits until that run detaches.
    threading.Timer(0.3, lambda: (events.close(), turn.detach())).start()
    began = time.monotonic()
    assert turn.reattach(timeout=5) and time.monotonic() - began >= 0.25
    list(turn.events())
    turn.close()
    assert message["status"] == DONE and turn.ended
    assert turn.reattach(timeout=0.1) is False  # nothing left to take: draw what was saved


def test_stop_reaches_a_detached_reply_and_wait_ended_sees_it_saved(sim, requests_logged):
    saved = []
    turn, message = started(sim, "stop me sim:tokens=300 sim:rate=40", saved=saved)
    for event in turn.events():
        if isinstance(event, Grew):
            break
    turn.detach()
    turn.stop()  # the Stop button's callback, in the newer run
    assert turn.wait_ended(timeout=10)
    assert message["status"] == STOPPED and saved[-1]["status"] == STOPPED and not turn.streaming
    assert [line["status"] for line in lines(requests_logged)] == ["stopped"]
    assert turn.reattach(timeout=0.1) is False
    assert settled(lambda: sim.open_streams == 0)


def test_a_refused_request_sends_nothing_and_is_logged_as_refused(sim, requests_logged):
    refusal = Refusal("rpm", "visitor", 30.0, 2, 2)
    turn = Turn(MODEL, reserve=lambda: (None, refusal))
    assert turn.reserve() == refusal
    message, saved = conv.assistant_message(MODEL.id, {}), []
    turn.adopt(message, save=saved.append)
    turn.refuse(limit_error(refusal, own_key=True))
    assert message["status"] == ERROR and message["error"]["limit"] == "rpm" and message["error"]["own_key"]
    assert saved == [message] and sim.attempts == 0
    assert [(line["status"], line["code"]) for line in lines(requests_logged)] == [("refused", "rpm")]


def test_retries_are_handed_to_the_page(sim):
    turn, message = started(sim, "busy once sim:busy-once sim:tokens=2")
    events = list(turn.events())
    turn.close()
    assert any(isinstance(e, Retrying) for e in events) and message["status"] == DONE


@pytest.mark.parametrize(
    "trigger,status,kind",
    [
        ("sim:length", INCOMPLETE, None),  # not an error: marked truncated, with Continue
        ("sim:network_error", INCOMPLETE, "model_error"),
        ("sim:context_exceeded", INCOMPLETE, "context_full"),
        ("sim:finish=brand_new_reason", INCOMPLETE, "odd_finish"),
    ],
)
def test_each_finish_reason_keeps_the_partial_text_with_its_own_outcome(sim, trigger, status, kind):
    turn, message = started(sim, f"go on sim:tokens=20 {trigger}")
    list(turn.events())
    turn.close()
    assert message["status"] == status and message["content"].startswith("tok0 tok1")
    assert (message["error"] or {}).get("kind") == kind


def test_a_sensitive_finish_is_the_content_filter_and_withdraws_what_was_shown(sim):
    turn, message = started(sim, "tell me sim:think sim:sensitive")
    grew = [e for e in turn.events() if isinstance(e, Grew)]
    turn.close()
    assert grew, "nothing was shown before the filter stopped it"
    assert message["finish_reason"] == "sensitive" and message["status"] == ERROR
    assert message["error"]["kind"] == "filtered"  # not the 1301 refusal of the question ("policy")
    assert message["content"] == "" and message["reasoning"] == ""  # withdrawn, as glm-api.md §15 asks


def test_a_tool_call_no_one_offered_is_said_not_left_blank(sim):
    turn, message = started(sim, "call sim:tool_calls")
    list(turn.events())
    turn.close()
    assert message["status"] == ERROR and message["content"] == "" and message["error"]["kind"] == "tool_call"
