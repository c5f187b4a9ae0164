import dataclasses
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import CANARY_KEY

from glmchat.hosting import requestlog
from glmchat.hosting.requestlog import RequestRecord, include_text_from, log_request, new_request_id

KEYS = [
    "request_id",
    "time",
    "model",
    "status",
    "code",
    "http_status",
    "attempts",
    "latency_ms",
    "duration_ms",
    "prompt_tokens",
    "completion_tokens",
    "owner_tag",
]


def _record(**changes) -> RequestRecord:
    values = dict(
        request_id=new_request_id(),
        model="glm-4-flash",
        status="ok",
        attempts=1,
        duration_ms=1234,
        latency_ms=310,
        prompt_tokens=12,
        completion_tokens=40,
        owner_tag="a1b2c3d4",
        prompt="今天天气怎么样？",
        reply="晴天。",
    )
    return RequestRecord(**{**values, **changes})


def _logged(caplog, record, **kwargs) -> tuple[str, dict]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="glmchat.requests"):
        log_request(record, **kwargs)
    [entry] = caplog.records
    assert entry.name == "glmchat.requests" and entry.levelno == logging.INFO
    message = entry.getMessage()
    assert message.startswith("request {")
    return message, json.loads(message.removeprefix("request "))


def test_new_request_ids_are_hex_and_distinct():
    ids = {new_request_id() for _ in range(100)}
    assert len(ids) == 100 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_one_compact_line_with_stable_keys_and_utc_time(caplog):
    record = _record()
    message, data = _logged(caplog, record)
    assert list(data) == KEYS
    assert ", " not in message and '": ' not in message
    assert data["request_id"] == record.request_id and data["model"] == "glm-4-flash"
    assert (data["status"], data["attempts"], data["latency_ms"], data["duration_ms"]) == ("ok", 1, 310, 1234)
    assert (data["prompt_tokens"], data["completion_tokens"], data["owner_tag"]) == (12, 40, "a1b2c3d4")
    assert data["code"] is None and data["http_status"] is None
    when = datetime.fromisoformat(data["time"])
    assert when.utcoffset() == timedelta(0) and abs(datetime.now(UTC) - when) < timedelta(minutes=1)


def test_error_record(caplog):
    _, data = _logged(
        caplog,
        _record(status="error", code="1302", http_status=429, attempts=3, latency_ms=None, completion_tokens=None),
    )
    assert (data["status"], data["code"], data["http_status"], data["attempts"]) == ("error", "1302", 429, 3)
    assert data["latency_ms"] is None and data["completion_tokens"] is None


def test_text_absent_by_default(caplog):
    message, data = _logged(caplog, _record())
    assert "prompt" not in data and "reply" not in data
    assert "今天天气" not in caplog.text and "晴天" not in caplog.text and "今天天气" not in message


def test_text_included_only_when_asked(caplog):
    message, data = _logged(caplog, _record(), include_text=True)
    assert list(data) == KEYS + ["prompt", "reply"]
    assert (data["prompt"], data["reply"]) == ("今天天气怎么样？", "晴天。")
    assert "今天天气怎么样" in message  # readable, not \u-escaped


@pytest.mark.parametrize(
    "breaker", ["\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1b[2J", "\x9b2J", "\x00"]
)
def test_one_request_is_one_line(caplog, breaker):
    record = _record(model=f"glm{breaker}x", code=f"c{breaker}", prompt=f"a{breaker}b", reply=f"{breaker}end")
    message, data = _logged(caplog, record, include_text=True)
    assert len(message.splitlines()) == 1 and "\x1b" not in message and "\x9b" not in message
    assert (data["model"], data["code"], data["prompt"], data["reply"]) == (
        f"glm{breaker}x",
        f"c{breaker}",
        f"a{breaker}b",
        f"{breaker}end",
    )


def test_percent_signs_in_text_are_not_formatting(caplog):
    _, data = _logged(caplog, _record(prompt="100%s %d %%"), include_text=True)
    assert data["prompt"] == "100%s %d %%"


def test_canary_key_never_logged(caplog, monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", CANARY_KEY)
    record = _record(status="error", code="1000", http_status=401)
    for include_text in (False, True):
        _logged(caplog, record, include_text=include_text)
        assert CANARY_KEY not in caplog.text
    assert "key" not in {f.name for f in dataclasses.fields(RequestRecord)}
    assert CANARY_KEY not in repr(record)


def test_text_stays_out_of_repr():
    # A record in a traceback or a debug print must not carry the visitor's words.
    assert "今天天气" not in repr(_record()) and "晴天" not in repr(_record())


def test_default_logger_is_glmchat_requests(caplog):
    with caplog.at_level(logging.INFO, logger="glmchat.requests"):
        log_request(_record())
    assert [r.name for r in caplog.records] == ["glmchat.requests"]


def test_unknown_status_rejected():
    with pytest.raises(ValueError, match="status"):
        _record(status="done")
    for status in requestlog.STATUSES:
        assert _record(status=status).status == status


@pytest.mark.parametrize(
    "value, expected",
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        (" TRUE ", True),
        ("Yes", True),
        (True, True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("off", False),
        ("", False),
        (None, False),
        ("maybe", False),
        (False, False),
    ],
)
def test_include_text_from(value, expected):
    settings = {} if value is None else {"GLMCHAT_LOG_CONTENT": value}
    assert include_text_from(settings.get) is expected
