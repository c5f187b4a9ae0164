"""The request a chat input's callback starts early: taken by its own message's page run, else closed."""
from glmchat import prestart


class FakeReply:
    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


class FakeTicket:
    def __init__(self):
        self.finished = None

    def finish(self, usage, cost):
        self.finished = (usage, cost)


def test_the_matching_message_takes_the_started_reply_once():
    reply, ticket = FakeReply(), FakeTicket()
    prestart.put("m1", reply, ticket)
    assert prestart.take("m1") == (reply, ticket)
    assert prestart.take("m1") is None and not reply.closed


def test_a_reply_for_another_message_or_never_taken_is_closed_and_its_spend_ended():
    stale, stale_ticket = FakeReply(), FakeTicket()
    prestart.put("old", stale, stale_ticket)
    assert prestart.take("new") is None
    assert stale.closed and stale_ticket.finished == (None, 0.0)
    left = FakeReply()
    prestart.put("m2", left, None)
    prestart.discard()
    assert left.closed and prestart.take("m2") is None
    replaced = FakeReply()
    prestart.put("m3", replaced, None)
    prestart.put("m4", FakeReply(), None)  # a new hand-over closes the one waiting
    assert replaced.closed
    prestart.discard()
