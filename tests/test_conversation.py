from glmchat import conversation as conv
from glmchat.errors import ChatError, Kind


def test_system_prompt_first_and_reasoning_never_sent():
    a = conv.assistant_message("glm-4.5", {})
    a.update(content="answer", reasoning="secret chain of thought", status=conv.DONE)
    msgs = [conv.user_message("q1"), a, conv.user_message("q2")]
    out = conv.api_messages(msgs, "Be brief")
    assert out == [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "q1"},
                   {"role": "assistant", "content": "answer"}, {"role": "user", "content": "q2"}]


def test_blank_system_prompt_and_failed_replies_are_left_out():
    failed = conv.assistant_message("m", {})
    failed.update(status=conv.ERROR, error=conv.error_record(ChatError(Kind.BUSY)))
    out = conv.api_messages([conv.user_message("q"), failed], "   ")
    assert out == [{"role": "user", "content": "q"}]


def test_stopped_partial_is_sent_as_seen():
    part = conv.assistant_message("m", {})
    part.update(content="half an ans", status=conv.STOPPED)
    assert conv.api_messages([conv.user_message("q"), part], None)[-1] == {"role": "assistant", "content": "half an ans"}


def test_retry_target_ends_at_last_user_message():
    u1, a1, u2, a2 = conv.user_message("1"), conv.assistant_message("m", {}), conv.user_message("2"), conv.assistant_message("m", {})
    assert conv.retry_target([u1, a1, u2, a2]) == [u1, a1, u2]
    assert conv.retry_target([]) is None


def test_totals_use_api_counts():
    t = conv.Totals()
    t.add({"prompt_tokens": 18, "completion_tokens": 202, "total_tokens": 220}, 0.002)
    t.add(None, None)
    assert (t.requests, t.prompt_tokens, t.completion_tokens) == (2, 18, 202)
    assert abs(t.cost - 0.002) < 1e-12


def test_tokens_per_second():
    assert conv.tokens_per_second(100, 1.0, 3.0) == 50
    assert conv.tokens_per_second(None, 1.0, 3.0) is None and conv.tokens_per_second(5, 2.0, 2.0) is None
