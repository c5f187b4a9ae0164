from glmchat.chat import attachments as att
from glmchat.chat import conversation as conv
from glmchat.chat.errors import ChatError, Kind


def test_system_prompt_first_and_reasoning_never_sent():
    a = conv.assistant_message("glm-4.5", {})
    a.update(content="answer", reasoning="secret chain of thought", status=conv.DONE)
    msgs = [conv.user_message("q1"), a, conv.user_message("q2")]
    out = conv.api_messages(msgs, "Be brief")
    assert out == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "q2"},
    ]


def test_blank_system_prompt_and_failed_replies_are_left_out():
    failed = conv.assistant_message("m", {})
    failed.update(status=conv.ERROR, error=conv.error_record(ChatError(Kind.BUSY)))
    out = conv.api_messages([conv.user_message("q"), failed], "   ")
    assert out == [{"role": "user", "content": "q"}]


def test_stopped_partial_is_sent_as_seen():
    part = conv.assistant_message("m", {})
    part.update(content="half an ans", status=conv.STOPPED)
    assert conv.api_messages([conv.user_message("q"), part], None)[-1] == {
        "role": "assistant",
        "content": "half an ans",
    }


def test_retry_target_ends_at_last_user_message():
    u1, a1, u2, a2 = (
        conv.user_message("1"),
        conv.assistant_message("m", {}),
        conv.user_message("2"),
        conv.assistant_message("m", {}),
    )
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


def _turns(n, size=400):
    out = []
    for i in range(n):
        out.append(conv.user_message(f"q{i} " + "x" * size))
        a = conv.assistant_message("m", {})
        a.update(content=f"a{i} " + "y" * size, status=conv.DONE)
        out.append(a)
    return out


def test_context_use_starts_from_the_apis_own_count():
    msgs = _turns(2)
    msgs[-1]["meta"]["usage"] = {"prompt_tokens": 300, "completion_tokens": 100, "total_tokens": 400}
    assert conv.context_use(msgs, None) == 400
    msgs.append(conv.user_message("z" * 40))
    assert conv.context_use(msgs, None) == 400 + 10 + 4


def test_plan_keeps_system_prompt_and_drops_oldest_turns_first():
    msgs = _turns(10) + [conv.user_message("latest question")]
    plan = conv.plan_request(msgs, "SYSTEM", budget=600)
    assert plan.messages[0] == {"role": "system", "content": "SYSTEM"}
    assert plan.messages[-1]["content"] == "latest question"
    assert plan.messages[1]["role"] == "user"  # never starts with an answer
    assert plan.dropped == [m["id"] for m in msgs[: len(plan.dropped)]]  # the oldest, in order
    assert plan.tokens <= 600 and len(plan.dropped) > 0


def test_plan_sends_everything_when_it_fits():
    msgs = _turns(2) + [conv.user_message("q")]
    plan = conv.plan_request(msgs, None, budget=100_000)
    assert plan.dropped == [] and len(plan.messages) == 5


def _with_images(text: str, count: int) -> dict:
    image = att.Attachment(name="a.png", kind="image", size=3, mime="image/png", data=b"png", width=1, height=1)
    return conv.user_message(text, [image] * count)


def test_plan_sends_only_the_images_the_model_takes_newest_first():
    msgs = [_with_images("one", 2), _turns(1)[1], _with_images("two", 1), _turns(1)[1], _with_images("three", 2)]

    def sent(max_images):
        return [m["content"] for m in conv.plan_request(msgs, None, 100_000, max_images=max_images).messages][::2]

    one, two, three = sent(3)  # the newest 2 + 1 fit; the oldest message's images do not
    assert one == "one" and two[0] == {"type": "text", "text": "two"} and len(two) == len(three) - 1 == 2
    assert sent(0) == ["one", "two", "three"]  # a text model: plain strings only
    assert [len(c) for c in sent(None)] == [3, 2, 3]  # no limit given: every image goes


def test_summary_replaces_the_messages_it_covers():
    msgs = _turns(3) + [conv.user_message("now")]
    summary = {"text": "Earlier: we discussed q0-q1.", "upto": msgs[3]["id"]}
    plan = conv.plan_request(msgs, "S", budget=100_000, summary=summary)
    assert plan.messages[:2] == [
        {"role": "system", "content": "S"},
        {"role": "system", "content": "Earlier: we discussed q0-q1."},
    ]
    assert plan.dropped == [m["id"] for m in msgs[:4]]
    assert plan.messages[2]["content"].startswith("q2")


def test_summary_request_carries_the_text():
    req = conv.summary_request(_turns(1, size=5), "en")
    assert len(req) == 1 and "q0 xxxxx" in req[0]["content"] and "Summarise" in req[0]["content"]
