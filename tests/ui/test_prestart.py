"""The request a chat input's callback starts early: taken by its own message's page run, else closed."""

from glmchat.chat.catalogue import load
from glmchat.chat.turn import Turn
from glmchat.ui import prestart


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


def sent(ticket: FakeTicket | None = None) -> Turn:
    """A Turn as the callback leaves it: reserved (or not limited) and sent."""
    turn = Turn(load().default)
    turn.reply, turn.ticket = FakeReply(), ticket
    return turn


def test_the_matching_message_takes_the_started_turn_once():
    turn = sent(FakeTicket())
    prestart.put("m1", turn)
    assert prestart.take("m1") is turn
    assert prestart.take("m1") is None and not turn.reply.closed and turn.ticket.finished is None


def test_a_turn_for_another_message_or_never_taken_is_closed_and_its_lease_freed():
    stale = sent(FakeTicket())
    prestart.put("old", stale)
    assert prestart.take("new") is None
    assert stale.reply.closed and stale.ticket.finished == (None, 0.0)
    left = sent()
    prestart.put("m2", left)
    prestart.discard()
    assert left.reply.closed and prestart.take("m2") is None
    replaced = sent()
    prestart.put("m3", replaced)
    prestart.put("m4", sent())  # a new hand-over closes the one waiting
    assert replaced.reply.closed
    prestart.discard()
