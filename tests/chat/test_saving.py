from datetime import UTC, datetime, timedelta

from glmchat.chat import saving
from glmchat.chat.conversation import assistant_message


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_title_is_the_first_line_clipped():
    assert saving.title_for("\n\n  Hello world  \nsecond") == "Hello world"
    long = "量" * 100
    assert saving.title_for(long) == "量" * 39 + "…" and len(saving.title_for(long)) == saving.TITLE_CHARS


def test_reply_is_saved_throttled_never_per_token_and_always_at_the_end():
    clock, saved = Clock(), []
    saver = saving.ReplySaver(lambda m: saved.append(m["content"]), clock)
    msg = assistant_message("m", {})
    saver.maybe_save(msg)  # the first call always writes
    for i in range(100):  # 100 tokens in 0.99 s
        clock.now = i * 0.01
        msg["content"] += "x"
        saver.maybe_save(msg)
    assert 2 <= len(saved) <= 4  # at most every 0.5 s
    saver.save(msg)
    assert saved[-1] == "x" * 100


def test_silent_stream_still_writes_a_heartbeat():
    clock, saved = Clock(), []
    saver = saving.ReplySaver(lambda m: saved.append(1), clock)
    msg = assistant_message("m", {})
    saver.maybe_save(msg)
    clock.now = 4.9
    saver.maybe_save(msg)
    assert len(saved) == 1
    clock.now = 5.1
    saver.maybe_save(msg)
    assert len(saved) == 2


def test_interrupted_only_when_streaming_and_silent():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    msg = assistant_message("m", {})
    assert not saving.is_interrupted(msg, now - timedelta(seconds=5), now)
    assert saving.is_interrupted(msg, now - timedelta(seconds=16), now)
    msg["status"] = "done"
    assert not saving.is_interrupted(msg, now - timedelta(hours=1), now)
