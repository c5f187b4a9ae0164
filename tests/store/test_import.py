"""The History page's JSON import against hostile and malformed files.

An import is checked whole before anything is written, within the chat's own input limits, and whatever
is accepted must open in the chat page. Storage tests run on SQLite and PostgreSQL (the fixtures of
test_storage); page tests use AppTest on SQLite through the real uploader and button.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import test_storage
from conftest import ROOT
from PIL import Image
from streamlit.runtime.uploaded_file_manager import UploadedFile
from streamlit.testing.v1 import AppTest

from glmchat.chat import attachments
from glmchat.chat import conversation as conv
from glmchat.chat import sources as web
from glmchat.chat.errors import ChatError, Kind
from glmchat.chat.i18n import t
from glmchat.hosting.inputs import InputLimits
from glmchat.store import MAX_CONTENT, MAX_COST, MAX_IMPORT_MB, MAX_TOKENS, ImportRefused, Store, parse_export
from glmchat.store.folders import MAX_FOLDERS
from glmchat.ui import state

# The storage tests' fixtures: every storage test runs on SQLite and on PostgreSQL.
pg_admin, backend, store = test_storage.pg_admin, test_storage.backend, test_storage.store
A, B = test_storage.A, test_storage.B

LIMITS = InputLimits()  # the chat's defaults: 500 conversations, 1,000 messages, 5 files
MB = 1024 * 1024


# --------------------------------------------------------------------------- an export as the app writes it


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def reply(model: str, text: str, status: str = conv.DONE, **meta) -> dict:
    m = conv.assistant_message(
        model, {"temperature": 0.7, "top_p": 0.9, "max_tokens": 1024, "thinking": True, "web_search": False}
    )
    m.update(
        content=text,
        reasoning="想一想 think" if text else "",
        status=status,
        finish_reason="stop" if status == conv.DONE else None,
    )
    m["meta"].update(
        usage={
            "prompt_tokens": 1200,
            "completion_tokens": 30,
            "total_tokens": 1230,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
        ttft=0.42,
        tps=31.5,
        cost=0.0123,
        attempts=1,
    )
    m["meta"].update(meta)
    return m


def failed(model: str, error: dict) -> dict:
    m = conv.assistant_message(
        model, {"temperature": 0.7, "top_p": 0.9, "max_tokens": 1024, "thinking": None, "web_search": False}
    )
    m.update(status=conv.ERROR, error=error)
    m["meta"]["attempts"] = 3
    return m


def app_export() -> dict:
    """Every kind of message and field the chat writes, built with the app's own constructors.

    Messages with text carry a marker (mark01…) the page must show.
    """
    image = attachments.Attachment(
        name="photo.png", kind="image", size=2048, mime="image/png", data=png(), width=8, height=8
    )
    doc = attachments.Attachment(
        name="notes.md", kind="text", size=10, mime="text/markdown", data=b"# notes\nhi", text="# notes\nhi", tokens=3
    )
    pdf = attachments.Attachment(name="report.pdf", kind="extract", size=9, mime="application/pdf", data=b"%PDF-1.4\n")
    q1 = conv.user_message("mark01 看这张图和文档", [image, doc, pdf])
    a1 = reply("glm-4.5v", "mark02 一张红色的图 [ref_1]")
    a1["sources"] = web.to_record(
        web.parse([{"title": "Example 例子", "link": "https://example.com/a?b=1", "refer": "ref_1", "media": "x"}])
    )
    a1["feedback"] = 1
    earlier = reply("glm-4.5-flash", "an earlier answer")
    earlier["feedback"] = 0
    a1["alternatives"] = [earlier]
    stopped = reply("glm-4.5v", "mark10 partial", status=conv.STOPPED, usage=None, cost=None, tps=None)
    cut = reply("glm-4.5v", "mark12 cut", status=conv.INCOMPLETE)
    cut["finish_reason"] = "length"
    messages = [
        q1,
        a1,
        conv.user_message("mark03 busy?"),
        failed("glm-4.5v", conv.error_record(ChatError(Kind.BUSY, 429, "1302"))),
        conv.user_message("mark05 limit"),
        failed("glm-4.5v", {"kind": "limit", "limit": "rpm", "scope": "app", "retry_after": 42.0, "own_key": True}),
        conv.user_message("mark07 vision"),
        failed("glm-4.5v", {"kind": "attachment", "key": "attach.model_no_vision"}),
        conv.user_message("mark09 stop"),
        stopped,
        conv.user_message("mark11 long"),
        cut,
    ]
    for k, m in enumerate(messages):  # fixed ids and times: two calls give the same export
        m["id"], m["at"] = f"msg{k:02d}", 1740816000.0 + k
    earlier["id"], earlier["at"] = "alt01", 1740816000.5
    settings = {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 1024,
        "thinking": True,
        "web_search": False,
        "system_prompt": "Be brief. 简洁。",
        "preset": None,
        "summary": {"text": "mark summary", "upto": q1["id"]},
    }
    return {
        "format": "glmchat-export",
        "version": 1,
        "exported_at": "2025-03-02T00:00:00+00:00",
        "conversations": [
            {
                "id": "a" * 32,
                "title": "mark01 看这张图",
                "model": "glm-4.5v",
                "settings": settings,
                "created_at": "2025-03-01T08:00:00+00:00",
                "updated_at": "2025-03-01T08:05:00+00:00",
                "messages": messages,
            },
            {
                "id": "b" * 32,
                "title": "second",
                "model": "glm-4-flash",
                "settings": {},
                "created_at": "2025-03-01T09:00:00+00:00",
                "updated_at": "2025-03-01T09:00:00+00:00",
                "messages": [
                    dict(conv.user_message("mark21 hi"), id="msg21", at=1740819600.0),
                    dict(reply("glm-4-flash", "mark22 hello"), id="msg22", at=1740819601.0),
                ],
            },
        ],
    }


def as_file(data: object) -> bytes:
    """As the History page writes an export (UTF-8); a lone surrogate can only travel as a \\u escape."""
    try:
        return json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data).encode("ascii")


def counter(backend) -> Callable[[], tuple[int, int, int]]:
    """(conversations, messages, folders) in the database, through one engine (backend.count opens one per call)."""
    engine = backend.engine()

    def count() -> tuple[int, int]:
        with engine.connect() as c:
            return tuple(
                c.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
                for table in ("conversations", "messages", "folders")
            )

    return count


def exported(s, owner: str) -> list[dict]:
    return json.loads(json.dumps(s.export(owner), default=str))["conversations"]


# --------------------------------------------------------------------------- the corpus

Q1, A1, Q2, A2, Q3, A3, LAST = 0, 1, 2, 3, 4, 5, 11  # positions in the first conversation of app_export()


def first(d: dict) -> dict:
    return d["conversations"][0]


def msg(i: int, **fields) -> Callable[[dict], dict]:
    return lambda d: first(d)["messages"][i].update(fields)


def drop(i: int, key: str) -> Callable[[dict], dict]:
    return lambda d: first(d)["messages"][i].pop(key)


def meta(**fields):
    return lambda d: first(d)["messages"][A1]["meta"].update(fields)


def usage(**fields):
    return lambda d: first(d)["messages"][A1]["meta"]["usage"].update(fields)


def attachment(k: int, **fields):
    return lambda d: first(d)["messages"][Q1]["attachments"][k].update(fields)


def attachment_without(k: int, key: str):
    return lambda d: first(d)["messages"][Q1]["attachments"][k].pop(key)


def alternative(**fields):
    return lambda d: first(d)["messages"][A1]["alternatives"][0].update(fields)


def error(i: int = A2, **fields):
    return lambda d: first(d)["messages"][i]["error"].update(fields)


def source(**fields):
    return lambda d: first(d)["messages"][A1]["sources"][0].update(fields)


def conversation(**fields):
    return lambda d: first(d).update(fields)


def settings(**fields):
    return lambda d: first(d)["settings"].update(fields)


class Whole:
    """A mutation's result that replaces the whole file."""

    def __init__(self, value: object) -> None:
        self.value = value


def whole(value: object):
    return lambda d: Whole(value)


def deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"x": value}
    return value


HUGE = "x" * (MAX_CONTENT + 1)
ODD_TEXT = (
    "mark01 \u202eRTL override\u202c zero\u200bwidth \u200d👨‍👩‍👧 " + "e\u0301" * 500 + " \ufeffBOM "
    "NUL\x00 lone\ud800surrogate 𠀀 \U0010ffff"
)

# Refused: (mutation of app_export(), or a whole value). Each must raise ValueError and write nothing.
REFUSED: dict[str, Callable[[dict], object]] = {
    # the file
    "a list": whole([1, 2]),
    "a string": whole("export"),
    "null": whole(None),
    "a number": whole(1),
    "no format": lambda d: d.pop("format"),
    "other format": lambda d: d.update(format="chatgpt"),
    "version 0": lambda d: d.update(version=0),
    "version 2": lambda d: d.update(version=2),
    "version as text": lambda d: d.update(version="1"),
    "version as bool": lambda d: d.update(version=True),
    "no version": lambda d: d.pop("version"),
    "no conversations": lambda d: d.pop("conversations"),
    "conversations an object": lambda d: d.update(conversations={"a": 1}),
    "conversations text": lambda d: d.update(conversations="all"),
    # conversations
    "conversation text": lambda d: d["conversations"].append("x"),
    "conversation null": lambda d: d["conversations"].append(None),
    "conversation a list": lambda d: d["conversations"].append([]),
    "title a list": conversation(title=["x"]),
    "title null": conversation(title=None),
    "title a number": conversation(title=5),
    "model null": conversation(model=None),
    "model a number": conversation(model=5),
    "model too long": conversation(model="m" * 201),
    "settings a list": conversation(settings=[1]),
    "settings text": conversation(settings="x"),
    "temperature above the slider": settings(temperature=5),
    "temperature negative": settings(temperature=-0.1),
    "temperature text": settings(temperature="hot"),
    "temperature bool": settings(temperature=True),
    "temperature NaN": settings(temperature=float("nan")),
    "top_p zero": settings(top_p=0),
    "top_p infinite": settings(top_p=float("inf")),
    "max_tokens zero": settings(max_tokens=0),
    "max_tokens fraction": settings(max_tokens=1.5),
    "max_tokens huge": settings(max_tokens=10**12),
    "thinking text": settings(thinking="yes"),
    "web_search a number": settings(web_search=1),
    "system prompt a number": settings(system_prompt=5),
    "system prompt too long": settings(system_prompt="s" * 8001),
    "preset a number": settings(preset=5),
    "summary text": settings(summary="x"),
    "summary without text": settings(summary={"upto": "x"}),
    "summary text a number": settings(summary={"text": 5}),
    "summary upto a list": settings(summary={"text": "s", "upto": ["x"]}),
    "bad date": conversation(created_at="yesterday"),
    "date a number": conversation(updated_at=5),
    "date in year 1": conversation(created_at="0001-01-01T00:00:00+00:00"),
    "date past the last UTC day": conversation(updated_at="9999-12-31T23:59:59-23:00"),
    "pinned_at a bool": conversation(pinned_at=True),
    "pinned_at not a date": conversation(pinned_at="soon"),
    "folder a number": conversation(folder=5),
    "folder a list": conversation(folder=["work"]),
    "folder blank": conversation(folder=" \n "),
    "messages text": conversation(messages="hi"),
    "messages null": conversation(messages=None),
    "messages an object": conversation(messages={"0": {}}),
    # messages
    "message text": lambda d: first(d)["messages"].append("x"),
    "message null": lambda d: first(d)["messages"].append(None),
    "message a list": lambda d: first(d)["messages"].append([]),
    "no id": drop(Q1, "id"),
    "empty id": msg(Q1, id=""),
    "id a number": msg(Q1, id=5),
    "id too long": msg(Q1, id="i" * 65),
    "id markup": msg(Q1, id="<script>"),
    "duplicate id": lambda d: first(d)["messages"][A1].update(id=first(d)["messages"][Q1]["id"]),
    "no role": drop(Q1, "role"),
    "role system": msg(Q1, role="system"),
    "role null": msg(A1, role=None),
    "no content": drop(A1, "content"),
    "content null": msg(Q1, content=None),
    "content a number": msg(Q1, content=5),
    "content a vision list": msg(Q1, content=[{"type": "text", "text": "hi"}]),
    "content too long": msg(A1, content=HUGE),
    "reasoning a number": msg(A1, reasoning=5),
    "reasoning too long": msg(A1, reasoning=HUGE),
    "no status": drop(A1, "status"),
    "status unknown": msg(A1, status="weird"),
    "status null": msg(A1, status=None),
    "finish_reason a number": msg(A1, finish_reason=5),
    "status a list": msg(A1, status=["done"]),
    "attachment kind an object": attachment(0, kind={"image": 1}),
    # errors
    "error text": msg(A2, error="x"),
    "error a list": msg(A2, error=[]),
    "error without kind": msg(A2, error={}),
    "error kind a number": error(kind=5),
    "error status text": error(status="500"),
    "error code a number": error(code=5),
    "error code too long": error(code="c" * 201),
    "limit unknown": error(A3, limit="nope"),
    "limit missing": lambda d: first(d)["messages"][A3]["error"].pop("limit"),
    "retry_after text": error(A3, retry_after="soon"),
    "retry_after huge": error(A3, retry_after=1e308),
    "own_key text": error(A3, own_key="yes"),
    "error key unknown": error(key="attach.nope"),
    "error key not an attachment's": error(key="history.open"),
    "error key a number": error(key=5),
    # meta and usage
    "meta null": msg(A1, meta=None),
    "meta text": msg(A1, meta="x"),
    "meta a list": msg(A1, meta=[]),
    "meta model a number": meta(model=5),
    "params text": meta(params="x"),
    "params temperature text": meta(params={"temperature": "hot"}),
    "usage text": meta(usage="x"),
    "usage a list": meta(usage=[1]),
    "tokens as text": usage(prompt_tokens="3"),
    "tokens negative": usage(completion_tokens=-1),
    "tokens 10^15": usage(prompt_tokens=10**15),
    "tokens fraction": usage(total_tokens=1.5),
    "tokens bool": usage(prompt_tokens=True),
    "usage nested too deep": usage(prompt_tokens_details=deep(50)),
    "cost 1e308": meta(cost=1e308),
    "cost negative": meta(cost=-1),
    "cost text": meta(cost="free"),
    "cost NaN": meta(cost=float("nan")),
    "cost infinite": meta(cost=float("inf")),
    "cost bool": meta(cost=True),
    "ttft text": meta(ttft="fast"),
    "ttft 1e308": meta(ttft=1e308),
    "tps text": meta(tps="x"),
    "tps 1e308": meta(tps=1e308),
    "attempts negative": meta(attempts=-1),
    "attempts text": meta(attempts="1"),
    # attachments
    "attachments text": msg(Q1, attachments="x"),
    "attachments of text": msg(Q1, attachments=["x"]),
    "attachment null": msg(Q1, attachments=[None]),
    "attachment empty": msg(Q1, attachments=[{}]),
    **{f"attachment without {key}": attachment_without(0, key) for key in ("name", "kind", "size", "mime", "data")},
    "attachment kind video": attachment(0, kind="video"),
    "attachment name a number": attachment(0, name=5),
    "attachment name empty": attachment(0, name=""),
    "attachment name too long": attachment(0, name="n" * 256),
    "attachment size negative": attachment(0, size=-1),
    "attachment size text": attachment(0, size="1"),
    "attachment size huge": attachment(0, size=10**12),
    "attachment mime a number": attachment(0, mime=5),
    "attachment mime not a type": attachment(0, mime='image/png"><script>'),
    "attachment data not base64": attachment(0, data="!!!"),
    "attachment data a number": attachment(0, data=5),
    "attachment data wrongly padded": attachment(0, data="eA="),
    "attachment text a number": attachment(1, text=5),
    "attachment width text": attachment(0, width="8"),
    "attachment tokens negative": attachment(1, tokens=-3),
    # alternatives
    "alternatives text": msg(A1, alternatives="notalist"),
    "alternatives of text": msg(A1, alternatives=["x"]),
    "alternative null": msg(A1, alternatives=[None]),
    "alternative content a number": alternative(content=5),
    "alternative meta null": alternative(meta=None),
    "alternative cost 1e308": lambda d: first(d)["messages"][A1]["alternatives"][0]["meta"].update(cost=1e308),
    "alternative nested": alternative(alternatives=[]),
    "alternative of the user": alternative(role="user"),
    "alternative status unknown": alternative(status="weird"),
    "alternative error text": alternative(error="x"),
    # sources and feedback
    "sources text": msg(A1, sources="x"),
    "sources of text": msg(A1, sources=["x"]),
    "source title a number": source(title=5),
    "source link a number": source(link=5),
    "source title too long": source(title="t" * 1001),
    "too many sources": msg(A1, sources=[{"title": "s"}] * 51),
    "feedback 5": msg(A1, feedback=5),
    "feedback text": msg(A1, feedback="up"),
    "feedback bool": msg(A1, feedback=True),
    "feedback an object": msg(A1, feedback={"thumb": "up"}),
}

# Accepted: valid, or odd in a way the app can store in its own shape (see test_accepted_oddities_*).
ACCEPTED: dict[str, Callable[[dict], object]] = {
    "as the app writes it": lambda d: None,
    "keys this version does not know": lambda d: (
        d.update(extra=1),
        first(d).update(extra=[1]),
        settings(extra="x")(d),
        msg(Q1, edited=True)(d),
        meta(extra={"a": 1})(d),
        attachment(0, extra="x")(d),
        error(extra=1)(d),
        source(extra=None)(d),
        alternative(extra=2, attachments=["x"])(d),
        msg(Q2, alternatives=[{"content": "only an answer has them"}])(d),
        msg(Q2, feedback=1)(d),
        msg(A1, attachments=["only a question has them"])(d),
    ),
    "a reply still streaming": msg(A1, status=conv.STREAMING),
    # The last exchange draws its widgets at once (older ones in a menu opened on demand).
    "the last reply rated, cited, regenerated": lambda d: msg(
        LAST, **{k: first(d)["messages"][A1][k] for k in ("feedback", "sources", "alternatives")}
    )(d),
    "the last reply failed for a long prompt": msg(LAST, status=conv.ERROR, error={"kind": "prompt_too_long"}),
    "the last reply over a limit": msg(LAST, status=conv.ERROR, error={"kind": "limit", "limit": "tokens_day"}),
    "dates in the future": conversation(created_at="2999-01-01T00:00:00+00:00", updated_at="2999-01-02T00:00:00"),
    "no dates": lambda d: (first(d).pop("created_at"), first(d).pop("updated_at")),
    "naive dates": conversation(created_at="2025-03-01T08:00:00", updated_at="2025-03-01 08:05:00"),
    "a bare reply": lambda d: first(d)["messages"].__setitem__(
        A1, {"id": "bare", "role": "assistant", "content": "mark02 bare", "status": "done"}
    ),
    "an alternative as the browser corpus has it": msg(
        A1, alternatives=[{"content": "earlier", "meta": {"model": "m"}}]
    ),
    "empty lists and nulls": lambda d: (
        msg(Q2, attachments=[])(d),
        msg(A1, alternatives=[], sources=[], feedback=None, error=None, finish_reason=None, reasoning=None)(d),
        meta(usage=None, cost=None, ttft=None, tps=None)(d),
    ),
    "empty meta and usage": lambda d: (msg(A2, meta={})(d), meta(usage={})(d)),
    "an unknown error kind": error(kind="nope", code="[x](javascript:alert(1))", status=None),
    "a limit error with no wait": error(A3, retry_after=None, scope=None),
    "a source without a link": source(link=None, refer=None, site=""),
    "an image that is not an image": attachment(0, data="eA=="),
    "an empty attachment": attachment(2, data="", size=0),
    "the limits themselves": lambda d: (
        msg(Q1, attachments=first(d)["messages"][Q1]["attachments"] * 2)(d),  # 6 > 5: trimmed below
        first(d)["messages"][Q1]["attachments"].pop(),
        usage(prompt_tokens=MAX_TOKENS)(d),
        meta(cost=MAX_COST)(d),
    ),
    "unicode oddities": lambda d: (
        msg(Q1, content=ODD_TEXT)(d),
        conversation(title=ODD_TEXT)(d),
        attachment(1, name="\u202etxt.exe\u200b.md")(d),
        settings(system_prompt=ODD_TEXT)(d),
    ),
    "a long and bracket-heavy text": msg(A1, content="mark02 " + "[" * 30_000 + "x" * 200_000 + "]" * 30_000),
    "a long title": conversation(title="t" * 10_000),
    "a custom model": conversation(model="my-custom-model"),
    "whole-number temperature": settings(temperature=1, top_p=1),
    "settings null": conversation(settings=None),
    "no settings": lambda d: first(d).pop("settings"),
    "no messages": lambda d: first(d).pop("messages"),
    "empty conversation": conversation(messages=[]),
    "a reply first": lambda d: first(d)["messages"].pop(Q1),
    "a question last": lambda d: first(d)["messages"].pop(),
    "two questions in a row": lambda d: first(d)["messages"].pop(A2),
    "only replies": lambda d: first(d).update(messages=[m for m in first(d)["messages"] if m["role"] == "assistant"]),
}

# Files that are not JSON exports at all, or JSON only in part.
RAW_REFUSED = {
    "empty file": b"",
    "not JSON": b"{format: glmchat-export}",
    "not UTF-8": '{"format": "glmchat-export", "title": "caf\xe9"}'.encode("latin-1"),
    "UTF-16": json.dumps({"format": "glmchat-export"}).encode("utf-16"),
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
    "nested objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "an integer of 5000 digits": b'{"format": "glmchat-export", "version": ' + b"1" * 5000 + b"}",
    "a NaN cost": as_file(app_export()).replace(b'"cost": 0.0123', b'"cost": NaN', 1),
    "an Infinity token count": as_file(app_export()).replace(b'"prompt_tokens": 1200', b'"prompt_tokens": Infinity', 1),
}
RAW_ACCEPTED = {
    "a byte-order mark": b"\xef\xbb\xbf" + as_file(app_export()),
    "duplicate keys": as_file(app_export()).replace(b'"title": "second"', b'"title": "dup", "title": "second"', 1),
}


def mutated(mutate: Callable[[dict], object]) -> object:
    data = app_export()
    out = mutate(data)
    return out.value if isinstance(out, Whole) else data


# --------------------------------------------------------------------------- storage: both databases


def without(message: dict, *keys: str) -> dict:
    return {k: v for k, v in message.items() if k not in keys}


def test_an_export_the_app_wrote_round_trips_exactly(store):
    data = app_export()  # as written before the tree: an earlier answer inside the reply, no parents
    assert store.import_export(A, json.loads(as_file(data)), LIMITS) == 2
    again = exported(store, A)
    for old, new in zip(data["conversations"], again, strict=True):
        assert [without(m, "parent") for m in new["messages"]] == [without(m, "alternatives") for m in old["messages"]]
        assert [m["parent"] for m in new["messages"]] == [None] + [m["id"] for m in old["messages"][:-1]]
        assert (new["title"], new["model"], new["settings"]) == (old["title"], old["model"], old["settings"])
        assert (new["created_at"], new["updated_at"]) == (old["created_at"], old["updated_at"])
    # The earlier answer is the reply's sibling now, off the branch shown, and made before it.
    [earlier] = again[0]["branches"]
    [kept] = data["conversations"][0]["messages"][A1]["alternatives"]
    assert without(earlier, "parent", "at") == without(kept, "at")
    assert earlier["parent"] == data["conversations"][0]["messages"][Q1]["id"]
    assert earlier["at"] == kept["at"] and again[1]["branches"] == []
    # Its own export, a tree now, imports again unchanged, branches and times included.
    assert store.import_export(B, json.loads(json.dumps(store.export(A), default=str)), LIMITS) == 2
    assert [(c["messages"], c["branches"]) for c in exported(store, B)] == [
        (c["messages"], c["branches"]) for c in again
    ]


def test_pins_and_folders_travel_by_time_and_name_into_the_importers_own_folders(store, backend):
    work = store.create_folder(A, "Work 工作")
    store.import_export(A, app_export(), LIMITS)
    older, newer = (c["id"] for c in reversed(store.list_conversations(A)))
    assert store.move(A, older, work) and store.pin(A, newer, True)
    out = exported(store, A)
    assert [(c["folder"], c["pinned_at"] is not None) for c in out] == [("Work 工作", False), (None, True)]
    assert not {"folder_id", "pinned"} & set(out[0])  # ids of this database mean nothing elsewhere
    # B has a folder of that name already, and one of another name: the chat goes into B's own.
    mine = store.create_folder(B, " Work   工作 ")
    store.create_folder(B, "Home")
    count = counter(backend)
    before = count()
    assert store.import_export(B, json.loads(json.dumps(store.export(A), default=str)), LIMITS) == 2
    assert count()[2] == before[2]  # no folder made
    listed = store.list_conversations(B)
    assert [(c["title"], c["pinned"], c["folder_id"]) for c in listed] == [
        (out[1]["title"], True, None),
        (out[0]["title"], False, mine),
    ]
    assert [c["pinned_at"] for c in exported(store, B)] == [c["pinned_at"] for c in out]
    # An owner without the folder gets it made; the file's other chats stay out of folders.
    third = "key:ef56ab78"
    assert store.import_export(third, json.loads(json.dumps(store.export(A), default=str)), LIMITS) == 2
    assert [(f["name"], f["count"]) for f in store.folders(third)] == [("Work 工作", 1)]
    assert store.folders(A) == [{"id": work, "name": "Work 工作", "count": 1}]  # the exporter's are untouched


def test_an_import_cannot_pass_the_folder_limit_and_then_writes_nothing(store, backend):
    for i in range(MAX_FOLDERS - 1):
        store.create_folder(A, f"f{i:03}")
    data = app_export()
    data["conversations"][0]["folder"], data["conversations"][1]["folder"] = "new one", "f000"
    assert store.import_export(A, data, LIMITS) == 2  # one folder made: 100 of 100
    data["conversations"][1]["folder"] = "one too many"
    count = counter(backend)
    before = count()
    with pytest.raises(ImportRefused) as info:
        store.import_export(A, data, LIMITS)
    assert info.value.key == "history.import_folders"
    assert info.value.values == {"existing": MAX_FOLDERS, "n": 1, "limit": MAX_FOLDERS}
    assert count() == before
    t(info.value.key, "zh", **info.value.values)  # the page can say it in both languages
    t(info.value.key, "en", **info.value.values)


def test_a_second_import_of_the_same_file_finds_what_is_held_and_can_skip_it(store, backend):
    data = app_export()
    assert store.held(A, data, LIMITS) == (2, 0)
    assert store.import_export(A, data, LIMITS) == 2
    assert store.held(A, data, LIMITS) == (2, 2)  # the same file again
    assert store.held(B, data, LIMITS) == (2, 0)  # another owner holds nothing of it
    mine = json.loads(json.dumps(store.export(A), default=str))
    assert store.held(A, mine, LIMITS) == (2, 2)  # the owner's own export
    count = counter(backend)
    before = count()
    assert store.import_export(A, data, LIMITS, skip_held=True) == 0 and count() == before
    one_new = app_export()
    one_new["conversations"][1]["messages"][0]["id"] = "f" * 32
    assert store.held(A, one_new, LIMITS) == (2, 1)
    assert store.import_export(A, one_new, LIMITS, skip_held=True) == 1
    assert store.import_export(A, data, LIMITS) == 2  # copies, when asked for
    assert len(store.list_conversations(A)) == 5


def test_hostile_files_are_refused_whole_and_write_nothing(store, backend):
    store.import_export(A, app_export(), LIMITS)
    count = counter(backend)
    before = count()
    for reason, mutate in REFUSED.items():
        data = mutated(mutate)
        if isinstance(data, dict) and isinstance(data.get("conversations"), list):
            data["conversations"].reverse()  # the bad one second: a half-good file writes nothing either
        with pytest.raises(ValueError) as info:
            store.import_export(B, data, LIMITS)
            pytest.fail(f"accepted: {reason}")
        text = str(info.value)
        assert text and len(text) < 200 and "x" * 50 not in text and "<script>" not in text, (reason, text)
        assert count() == before, reason
    for reason, raw in RAW_REFUSED.items():
        with pytest.raises(ValueError):
            store.import_export(B, parse_export(raw), LIMITS)
            pytest.fail(f"accepted: {reason}")
        assert count() == before, reason
    assert store.list_conversations(B) == []


def test_accepted_oddities_are_stored_in_the_apps_shape(store):
    by_case = {}
    files = [(r, mutated(m)) for r, m in ACCEPTED.items()]
    files += [(r, parse_export(raw)) for r, raw in RAW_ACCEPTED.items()]
    for i, (reason, data) in enumerate(files):
        owner = f"case:{i}"  # one owner per case: exports list conversations by date, and cases change dates
        assert store.import_export(owner, data, LIMITS) == 2, reason
        by_case[reason] = next(c for c in exported(store, owner) if c["title"] != "second")
    # Keys this version does not read are dropped, not stored unchecked.
    odd = by_case["keys this version does not know"]
    plain = by_case["as the app writes it"]
    assert odd["messages"] == plain["messages"] and odd["settings"] == plain["settings"]
    # An imported reply cannot still be streaming: nothing is writing it.
    assert by_case["a reply still streaming"]["messages"][A1]["status"] == conv.INCOMPLETE
    # Dates after the import are brought back to the import's time.
    future = by_case["dates in the future"]
    assert datetime.fromisoformat(future["updated_at"]) <= datetime.now(UTC) + timedelta(seconds=5)
    assert by_case["whole-number temperature"]["settings"]["temperature"] == 1.0
    assert by_case["settings null"]["settings"] == {} and by_case["no messages"]["messages"] == []
    stored = by_case["unicode oddities"]["messages"][Q1]["content"]
    assert stored == ODD_TEXT.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")


def test_the_chats_limits_bound_an_import(store, backend):
    """Conversations per owner, messages per conversation and files per message: as in the chat."""

    def files(n: int) -> dict:
        data = app_export()
        first(data)["messages"][Q1]["attachments"] = first(data)["messages"][Q1]["attachments"][:1] * n
        return data

    small = InputLimits(conversations=5, conversation_messages=13, attachments=3)  # 12 + an earlier answer
    store.import_export(A, app_export(), small)  # A holds 2 of 5
    count = counter(backend)
    before = count()
    refusals = {
        "import.conversations": {
            "format": "glmchat-export",
            "version": 1,
            "conversations": app_export()["conversations"] * 2,
        },  # 2 + 4 > 5
        "import.file_conversations": {
            "format": "glmchat-export",
            "version": 1,
            "conversations": app_export()["conversations"] * 3,
        },  # 6 > 5 alone
        "import.messages": mutated(lambda d: first(d)["messages"].append(conv.user_message("14th"))),
        "import.files": files(4),
    }
    for key, data in refusals.items():
        with pytest.raises(ImportRefused) as info:
            store.import_export(A, data, small)
        assert f"history.{key.replace('.', '_')}" == info.value.key
        assert info.value.values["limit"] in (5, 13, 3)
        assert count() == before, key
    # The limits themselves are allowed.
    assert store.import_export(A, files(3), small) == 2 and store.count_conversations(A) == 4
    with pytest.raises(ImportRefused) as info:
        store.import_export(A, app_export(), small)
    assert info.value.key == "history.import_conversations" and info.value.values == {"existing": 4, "n": 2, "limit": 5}
    # The defaults are the chat's: 500 conversations, 1,000 messages (1,000 files and 50,000 messages were taken).
    with pytest.raises(ImportRefused):
        store.import_export(
            B,
            {
                "format": "glmchat-export",
                "version": 1,
                "conversations": [{"title": f"c{i}", "model": "m", "messages": []} for i in range(501)],
            },
            LIMITS,
        )
    with pytest.raises(ImportRefused):
        store.import_export(
            B,
            {
                "format": "glmchat-export",
                "version": 1,
                "conversations": [
                    {
                        "title": "long",
                        "model": "m",
                        "messages": [{"id": f"m{j}", "role": "user", "content": "x"} for j in range(1001)],
                    }
                ],
            },
            LIMITS,
        )
    assert store.count_conversations(B) == 0


def test_two_imports_at_once_cannot_pass_the_conversation_limit_together(backend):
    limits = InputLimits(conversations=3)
    stores = [backend.open(), backend.open()]
    results: list[object] = []
    go = threading.Barrier(2)

    def run(s) -> None:
        go.wait()
        try:
            results.append(s.import_export(A, app_export(), limits))
        except ImportRefused as exc:
            results.append(exc.key)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results, key=str) == [2, "history.import_conversations"]
    assert stores[0].count_conversations(A) == 2


def test_token_counts_and_cost_have_plausible_bounds(store):
    assert MAX_TOKENS == 10**9 and MAX_COST == 10**6
    data = mutated(lambda d: (usage(prompt_tokens=10**15)(d), meta(cost=1e308)(d)))
    with pytest.raises(ValueError, match="prompt_tokens"):
        store.import_export(A, data, LIMITS)
    with pytest.raises(ValueError, match="cost"):
        store.import_export(A, mutated(meta(cost=1e308)), LIMITS)
    # What the chat itself saves is held to the same bounds in the usage columns.
    cid = store.create_conversation(A, "t", "glm-4-plus")
    big = reply(
        "glm-4-plus", "x", usage={"prompt_tokens": 10**15, "completion_tokens": 5, "total_tokens": 7}, cost=1e308
    )
    store.save_message(A, cid, big)
    [row] = store.usage(A)
    assert row["prompt_tokens"] == 0 and row["cost"] is None and row["total_tokens"] == 7


def test_malformed_attachments_and_alternatives_are_refused(store):
    for mutate in (msg(Q1, attachments=["x"]), msg(A1, alternatives="notalist")):
        with pytest.raises(ValueError):
            store.import_export(A, mutated(mutate), LIMITS)
    assert store.count_conversations(A) == 0


def test_a_deeply_nested_file_is_a_bad_file():
    with pytest.raises(ImportRefused) as info:
        parse_export(b"[" * 100_000)
    assert info.value.key == "history.import_too_deep"
    with pytest.raises(ImportRefused):
        parse_export(b"x" * (MAX_IMPORT_MB * MB + 1))


# --------------------------------------------------------------------------- the History page (AppTest)


def history_page(lang: str = "en") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[state.LANG] = lang
    at.switch_page("app_pages/history.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, raw: bytes, copies: bool = False) -> AppTest:
    """Import `raw` through the page; with `copies`, answer "import all" if it asks about held chats."""
    at.file_uploader(key=state.IMPORT_FILE).set_value(("export.json", raw, "application/json")).run()
    at.button(key="import-go").click().run()
    if copies and [b for b in at.button if b.key == "import-all"]:
        at.button(key="import-all").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_chat(cid: str, params_open: bool = True) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[state.LANG] = "en"
    at.session_state[state.PARAMS_OPEN] = params_open  # the sidebar's parameters take the saved settings too
    at.query_params["c"] = cid
    return at.run()


def ids(db: Store) -> list[str]:
    return [c["id"] for c in db.list_conversations("local", limit=1000)]


def assert_opens(cid: str, db: Store, reason: str) -> None:
    """The conversation opens in the chat page, no exception, each drawn message in its bubble."""
    saved = db.messages("local", cid)
    at = open_chat(cid)
    assert not at.exception, (reason, [e.value for e in at.exception])
    assert [m["id"] for m in at.session_state[state.MESSAGES]] == [m["id"] for m in saved], reason
    shown = saved[-state.WINDOW_FIRST :]
    assert len(at.chat_message) == len(shown), reason
    assert at.sidebar.slider(key=state.TEMPERATURE), reason  # drawn with the restored settings
    for bubble, m in zip(at.chat_message, shown, strict=False):
        assert bubble.name == m["role"], reason
        if m["content"].startswith("mark"):
            marker = m["content"][:6]
            assert marker in " ".join(md.value for md in bubble.markdown), (reason, marker)


def test_an_upload_over_the_limit_is_refused_before_it_is_read(app_env, db_url, monkeypatch):
    """The uploader's limit is the browser's: a forged client sent 45 MB and it was imported."""
    read = []  # reads by the page (AppTest itself reads the file to carry it from run to run)

    def spy(name: str):
        original = getattr(UploadedFile, name)

        def call(self, *args):
            if sys._getframe(1).f_code.co_filename.endswith("history.py"):
                read.append(name)
            return original(self, *args)

        return call

    for name in ("getvalue", "read", "getbuffer"):
        monkeypatch.setattr(UploadedFile, name, spy(name))
    data = app_export()
    first(data)["title"] = "x" * (45 * MB)
    for lang in ("en", "zh"):
        at = upload(history_page(lang), as_file(data))
        assert [e.value for e in at.error] == [t("history.import_too_big", lang, size="45.0 MB", limit=MAX_IMPORT_MB)]
        assert not at.success and read == []
    assert Store(db_url).count_conversations("local") == 0
    # At the limit it is read and imported.
    first(data)["title"] = "x" * (MAX_IMPORT_MB * MB - len(as_file(app_export())) - 1000)
    at = upload(history_page(), as_file(data))
    assert [s.value for s in at.success] == [t("history.imported", "en", n=2)] and read


def test_the_history_page_applies_the_hosts_chat_limits(app_env, db_url, monkeypatch):
    monkeypatch.setenv("GLMCHAT_MAX_CONVERSATIONS", "3")
    monkeypatch.setenv("GLMCHAT_MAX_CONVERSATION_MESSAGES", "13")  # 12 and an earlier answer
    at = upload(history_page(), as_file(app_export()))
    assert [s.value for s in at.success] == [t("history.imported", "en", n=2)]
    for lang in ("en", "zh"):
        at = upload(history_page(lang), as_file(app_export()), copies=True)  # the same chats again, as copies
        assert [e.value for e in at.error] == [t("history.import_conversations", lang, existing="2", n="2", limit="3")]
    long = mutated(lambda d: first(d)["messages"].append(conv.user_message("14th")))
    at = upload(history_page("zh"), as_file(long))
    assert [e.value for e in at.error] == [t("history.import_messages", "zh", n="1", actual="14", limit="13")]
    assert Store(db_url).count_conversations("local") == 2


def test_a_deeply_nested_upload_is_a_bad_file_not_a_crash(app_env, db_url):
    at = upload(history_page(), b"[" * 100_000 + b"]" * 100_000)
    assert [e.value for e in at.error] == [t("history.import_too_deep", "en")]


def test_every_file_the_page_accepts_opens_in_the_chat(app_env, db_url):
    """The corpus through the History page: refusals are shown, and every accepted conversation opens."""
    db = Store(db_url)
    at = history_page()
    opened = 0
    cases = [(r, as_file(mutated(m)), False) for r, m in REFUSED.items()]
    cases += [(r, raw, False) for r, raw in RAW_REFUSED.items()]
    cases += [(r, as_file(mutated(m)), True) for r, m in ACCEPTED.items()]
    cases += [(r, raw, True) for r, raw in RAW_ACCEPTED.items()]
    for reason, raw, accept in cases:
        before = ids(db)
        upload(at, raw, copies=True)  # the cases share their message ids: each later one is asked about
        after = ids(db)
        if not accept:
            assert not at.success and len(at.error) == 1 and after == before, reason
            continue
        assert [s.value for s in at.success] == [t("history.imported", "en", n=2)], (
            reason,
            [e.value for e in at.error],
        )
        for cid in [c for c in after if c not in before]:
            assert_opens(cid, db, reason)
            opened += 1
    assert opened == 2 * (len(ACCEPTED) + len(RAW_ACCEPTED))
    # The History and Usage pages list them all without trouble.
    at.switch_page("app_pages/history.py").run()
    listed = [b for b in at.button if b.key and b.key.startswith("open-")]
    assert not at.exception and len(listed) == min(opened, 200)
    at.switch_page("app_pages/usage.py").run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_history_page_asks_before_importing_what_is_held_and_the_sidebar_shows_it_at_once(app_env, db_url):
    db = Store(db_url)
    raw = as_file(app_export())
    at = upload(history_page(), raw)
    assert t("history.imported", "en", n=2) in [s.value for s in at.success]
    assert len(ids(db)) == 2
    titles = {c["title"] for c in db.list_conversations("local")}
    sidebar_titles = {b.label for b in at.sidebar.button if (b.key or "").startswith("conv-")}
    assert titles <= sidebar_titles, (titles, sidebar_titles)  # no reload needed

    upload(at, raw)  # the same file again: asked, nothing written yet
    assert t("history.import_held", "en", n=2, total=2) in [w.value for w in at.warning]
    assert len(ids(db)) == 2 and not [b for b in at.button if b.key == "import-new"]  # nothing new in it
    at.button(key="import-cancel").click().run()
    assert not at.warning and len(ids(db)) == 2
    upload(at, raw)
    at.button(key="import-all").click().run()  # copies, when asked for
    assert t("history.imported", "en", n=2) in [s.value for s in at.success] and len(ids(db)) == 4
