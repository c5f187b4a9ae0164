"""The spend ticket: lease renewals are throttled, finish records the API's counts once."""

from glmchat.hosting.quota import HEARTBEAT, Ticket


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Recording:
    """Stands in for the store's spend methods (the store itself is tested in test_storage_limits.py)."""

    def __init__(self):
        self.calls = []

    def heartbeat_request(self, rid):
        self.calls.append(("beat", rid))

    def finish_request(self, rid, tokens, cost):
        self.calls.append(("finish", rid, tokens, cost))


def test_beats_only_every_heartbeat_and_finishes_once():
    clock, store = FakeClock(), Recording()
    ticket = Ticket(store, "r1", clock)
    ticket.beat()
    clock.now = HEARTBEAT - 0.1
    ticket.beat()
    assert store.calls == []
    clock.now = HEARTBEAT + 0.1
    ticket.beat()
    ticket.beat()
    assert store.calls == [("beat", "r1")]
    ticket.finish({"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}, 0.25)
    ticket.finish({"total_tokens": 99}, 9.0)
    clock.now += 100
    ticket.beat()
    assert store.calls == [("beat", "r1"), ("finish", "r1", 12, 0.25)]


def test_finish_without_usage_counts_zero_tokens_and_sums_when_total_is_missing():
    store = Recording()
    Ticket(store, "a").finish(None, None)
    Ticket(store, "b").finish({"prompt_tokens": 3, "completion_tokens": 4}, 0.1)
    assert store.calls == [("finish", "a", 0, 0.0), ("finish", "b", 7, 0.1)]
