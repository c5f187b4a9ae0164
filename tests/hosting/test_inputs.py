import pytest
import regex

from glmchat.hosting import inputs
from glmchat.hosting.inputs import InputLimits, Refusal, check, count_chars

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧: five code points
FLAG = "\U0001f1e8\U0001f1f3"  # 🇨🇳: two regional indicators
E_ACUTE = "e\u0301"  # e + combining acute
THUMB = "\U0001f44d\U0001f3fd"  # 👍🏽: emoji + skin tone


@pytest.mark.parametrize(
    "text, chars",
    [
        ("", 0),
        ("hello", 5),
        ("你好", 2),
        ("你好，世界！", 6),
        (FAMILY, 1),
        (FLAG, 1),
        (FLAG * 3, 3),
        (E_ACUTE, 1),
        ("cafe\u0301", 4),
        ("\u1100\u1161\u11a8", 1),  # Hangul jamo make one syllable
        (THUMB, 1),
        ("a\r\nb", 3),
        ("a\n\rb", 4),
        ("line\r\n" * 3, 15),
        ("你好\r\n", 3),
        (f"我{FAMILY}爱{FLAG}{E_ACUTE}", 5),
    ],
)
def test_count_chars(text, chars):
    assert count_chars(text) == chars


def test_ascii_shortcut_agrees_with_grapheme_clusters():
    text = "".join(chr(c) for c in range(128)) + "\r\n\r\r\n\n\r" + "x\r\ny" * 10
    assert count_chars(text) == len(regex.findall(r"\X", text))


def _check(
    limits=InputLimits(),  # noqa: B008 - frozen: one shared default is fine
    *,
    text="hi",
    attachments=0,
    conversation_messages=0,
    new_conversation=False,
    conversations=0,
):
    return check(
        limits,
        text=text,
        attachments=attachments,
        conversation_messages=conversation_messages,
        new_conversation=new_conversation,
        conversations=conversations,
    )


def test_defaults():
    assert InputLimits() == InputLimits(
        message_chars=20_000, attachments=5, conversation_messages=1_000, conversations=500
    )
    assert _check() is None


@pytest.mark.parametrize("unit", ["a", "你", FAMILY, FLAG, E_ACUTE, THUMB])
def test_message_length_exactly_at_the_limit_and_one_over(unit):
    limits = InputLimits(message_chars=10)
    assert _check(limits, text=unit * 10) is None
    assert _check(limits, text=unit * 11) == Refusal("input.too_long", 10, 11)


def test_graphemes_not_code_points_are_counted():
    # 10 family emoji are 50 code points: over the limit by len(), within it by what a person sees.
    limits = InputLimits(message_chars=10)
    assert len(FAMILY * 10) == 50 and _check(limits, text=FAMILY * 10) is None


def test_huge_paste_is_refused():
    for text in ("x" * 1_000_000, "你好" * 500_000, (FAMILY + "a") * 150_000):
        refusal = _check(text=text)
        assert refusal == Refusal("input.too_long", 20_000, count_chars(text))
    assert _check(text="你好" * 500_000).actual == 1_000_000


def test_a_forged_message_beyond_anything_typeable_is_refused_without_counting(monkeypatch):
    # Counting grapheme clusters costs time per code point: a forged multi-megabyte value is refused by
    # its length alone (more code points than MAX_COUNTED).
    def no_counting(text):
        raise AssertionError("counted")

    monkeypatch.setattr("glmchat.hosting.inputs.count_chars", no_counting)
    text = (FAMILY + "a") * 200_000
    assert _check(text=text) == Refusal("input.too_long", 20_000, len(text))


def test_long_text_within_the_limit_is_not_counted(monkeypatch):
    # A message no longer than the limit in code points cannot be over it in graphemes.
    monkeypatch.setattr(inputs, "count_chars", lambda text: pytest.fail("counted needlessly"))
    assert _check(text="你" * 20_000) is None


@pytest.mark.parametrize("attachments, refused", [(0, False), (5, False), (6, True), (50, True)])
def test_attachments(attachments, refused):
    expected = Refusal("input.too_many_files", 5, attachments) if refused else None
    assert _check(attachments=attachments) == expected


@pytest.mark.parametrize("messages, refused", [(0, False), (998, False), (999, True), (1_000, True), (5_000, True)])
def test_conversation_full(messages, refused):
    # A turn adds the question and its reply: 998 + 2 ends exactly at the limit, 999 + 2 goes over.
    expected = Refusal("input.conversation_full", 1_000, messages) if refused else None
    assert _check(conversation_messages=messages) == expected


@pytest.mark.parametrize(
    "conversations, new, refused",
    [
        (499, True, False),
        (500, True, True),
        (501, True, True),
        (500, False, False),
        (10_000, False, False),  # adding to an existing conversation is fine at the cap
    ],
)
def test_too_many_conversations(conversations, new, refused):
    expected = Refusal("input.too_many_conversations", 500, conversations) if refused else None
    assert _check(conversations=conversations, new_conversation=new) == expected


def test_first_broken_limit_is_reported():
    everything = dict(
        text="x" * 20_001, attachments=6, conversation_messages=999, new_conversation=True, conversations=500
    )
    assert _check(**everything).key == "input.too_long"
    assert _check(**{**everything, "text": "ok"}).key == "input.too_many_files"
    assert _check(**{**everything, "text": "ok", "attachments": 0}).key == "input.conversation_full"
    assert (
        _check(**{**everything, "text": "ok", "attachments": 0, "conversation_messages": 0}).key
        == "input.too_many_conversations"
    )


def test_from_settings_overrides():
    settings = {
        "GLMCHAT_MAX_MESSAGE_CHARS": "100",
        "GLMCHAT_MAX_ATTACHMENTS": " 2 ",
        "GLMCHAT_MAX_CONVERSATION_MESSAGES": "40",
        "GLMCHAT_MAX_CONVERSATIONS": 7,
    }
    assert InputLimits.from_settings(settings.get) == InputLimits(100, 2, 40, 7)


def test_from_settings_missing_or_blank_keep_defaults():
    assert InputLimits.from_settings({}.get) == InputLimits()
    assert InputLimits.from_settings({"GLMCHAT_MAX_ATTACHMENTS": "  "}.get) == InputLimits()
    assert InputLimits.from_settings({"GLMCHAT_MAX_CONVERSATIONS": "3"}.get) == InputLimits(conversations=3)


@pytest.mark.parametrize("name", list(inputs.SETTINGS.values()))
@pytest.mark.parametrize("bad", ["0", "-5", "abc", "1.5", "1e3", "1_000", "２０", True])
def test_from_settings_invalid_names_the_setting(name, bad):
    with pytest.raises(ValueError, match=name):
        InputLimits.from_settings({name: bad}.get)


def test_limits_are_frozen():
    with pytest.raises(AttributeError):
        InputLimits().message_chars = 1
    with pytest.raises(AttributeError):
        Refusal("input.too_long", 1, 2).limit = 3
