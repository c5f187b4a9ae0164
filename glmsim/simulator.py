"""A faithful local stand-in for the ZhipuAI GLM v4 chat-completions API.

It follows the wire contract in ``shared/glm-api.md`` (status codes, string business codes, SSE framing,
usage only on the last chunk, ``data: [DONE]``) so that the real ``zhipuai`` SDK can talk to it in two ways:

* in-process: ``httpx.Client(transport=Simulator().transport())`` passed as the SDK's ``http_client``;
* over loopback HTTP: ``Simulator().serve()`` or ``python -m glmsim.simulator --port 8765``.

Routes: ``POST <any prefix>/chat/completions``, ``GET /stats``, ``POST /reset``, ``GET /health``;
anything else is a 404 with a JSON error body.

Scenario triggers are written anywhere in the LAST user message (text parts of a content array are joined):

=======================  ==================================================================================
trigger                  behaviour
=======================  ==================================================================================
``sim:401``              401, code "1002" (invalid token)
``sim:balance``          429, code "1113" (account in arrears)
``sim:account``          429, code "1112" (account locked)
``sim:busy``             429, code "1305" (overloaded) on every attempt
``sim:busy-once``        429, code "1302" on the first attempt for that exact message text, then normal
``sim:policy``           400, code "1301" (unsafe content)
``sim:badparam``         400, code "1214"
``sim:toolong``          400, code "1261" (prompt too long)
``sim:unknown-model``    400, code "1211"
``sim:500``              500, ``{"error":{"code":"500","message":"Internal Error"}}`` on every attempt
``sim:500-once``         500 on the first attempt for that message text, then normal
``sim:502``              502 with an HTML gateway page (text/html)
``sim:hang``             no response headers: until the read timeout in-process (then ``httpx.ReadTimeout``);
                         the server sleeps (at most 120 s) and then closes the connection
``sim:stall``            5 content chunks, then silence (read timeout in-process; bounded sleep on the server);
                         a non-stream request gets half its JSON body, then silence
``sim:cut``              5 content chunks, then the connection drops (``httpx.RemoteProtocolError``);
                         a non-stream request gets half its JSON body, then the drop
``sim:nodone``           stream only: all content, then a clean end without finish_reason, usage or [DONE]
``sim:streamerror``      stream only: 5 content chunks, then ``data: {"error":{"code":"1301",...}}``, then end
``sim:malformed``        stream only: 5 content chunks, then ``data: {not json``, then end
``sim:error200``         HTTP 200 with a JSON ``{"error":{"code":"1214",...}}`` body (stream and non-stream)
``sim:sensitive``        about half the reply, then finish_reason "sensitive" (+usage)
``sim:length``           about half the reply, then finish_reason "length" (+usage)
``sim:network_error``    about half the reply, then finish_reason "network_error" (+usage)
``sim:nousage``          a normal reply whose final chunk (or body) carries no usage
``sim:html``             hostile Markdown/HTML (script, onerror, javascript:/data: links, remote image,
                         raw anchor, a fenced ``<b>kept</b>``, a lone ``$5``) for testing sanitising
``sim:think``            reasoning_content deltas even for models that do not think
``sim:z1``               reasoning inside content as ``<think>...</think>`` (the GLM-Z1 style)
``sim:echo``             a ```json fence with the request's model, stream, temperature, top_p, do_sample,
                         max_tokens, thinking and message roles
``sim:tokens=N``         exactly N content pieces ``tok0 tok1 ... tok{N-1}``, no reasoning
``sim:rate=R``           R pieces per second for this request (overrides token_delay)
``sim:ttft=S``           S seconds before the first chunk (overrides ttft)
``sim:slow``             60 pieces at 0.2 s each
``sim:sources-before``   with web search on: the results come on the first chunk, whatever ``result_sequence``
``sim:sources-hostile``  with web search on: 5 hostile results (``javascript:``, ``data:text/html``,
                         ``JaVaScRiPt:`` links, an ``<img onerror>`` title, one normal https result), all cited
``sim:say=B``            the reply is B decoded as base64url UTF-8 (padding optional), no reasoning: any chosen
                         text, e.g. a hostile payload; 400 "1214" when B does not decode
``sim:repeat=N``         with ``sim:say``: that text N times (1-1000), one chunk per copy, for very long replies
=======================  ==================================================================================

Request validation (before the triggers), in order: Authorization (401 "1001"/"1002"), JSON body (400 "1210"),
model present (400 "1213") and known (400 "1211"), messages and parameters (400 "1214"), prompt size against
the model's context window (400 "1261"). Errors that happen before the body get their status on stream
requests too, as the real API does. ``max_tokens`` smaller than the reply truncates it with
finish_reason "length"; a ``stop`` word cuts the reply before it.

Ordinary replies are canned but varied demo texts (headings and lists, Python code, a table, LaTeX in GLM's
``\\( \\)``/``\\[ \\]`` style, bilingual text), picked deterministically from the last user message; Chinese when
that message contains CJK text. Thinking models (glm-4.5*, glm-4.6, glm-4.7, glm-4.1v-thinking*,
glm-offline-demo) stream ``reasoning_content`` first unless ``thinking`` is ``{"type":"disabled"}``;
glm-z1-* models put the reasoning inside ``content`` as ``<think>...</think>``.

Web search (glm-api.md §7): ``tools`` must be a list of at most 128 known tool objects; a ``web_search`` tool
needs a ``web_search`` object whose ``search_engine`` is one of search_std/search_pro/search_pro_sogou/
search_pro_quark, with ``count`` 1-50, ``search_recency_filter``, ``content_size`` and ``result_sequence`` from
their documented values (else 400 "1214", ``tools 参数非法``). A web_search tool whose ``enable`` is not false
yields ``min(count, 10)`` results (default 5) ``{title, link, content, media, icon, refer:"ref_N",
publish_date}`` on distinct ``https://<name>N.example`` hosts, titled in the user's language (``search_query``
is used as the topic when given). They arrive as a top-level ``web_search`` field: on the first chunk when
``result_sequence`` is "before", else on the final (usage) chunk, so truncated streams never deliver them;
non-stream replies carry the field in the body. ``search_result: false`` leaves the field out. Canned replies
then open with a paragraph citing the results as ``[ref_1]``, ``[ref_2]``...; synthetic replies (``sim:tokens``,
``sim:echo``, ``sim:html``, ``sim:slow``, ``sim:say``) are left as they are.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import re
import secrets
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx

from glmchat.chat.tokens import CJK, CJK_RE, estimate_tokens
from glmsim.files import FileStore

_K = 1024
# (context window, max output) in tokens; from glm-api.md §9, aligned with glmchat/models.toml.
MODEL_LIMITS: dict[str, tuple[int, int]] = {
    "glm-4.7": (200 * _K, 128 * _K),
    "glm-4.6": (200 * _K, 128 * _K),
    "glm-4.5": (128 * _K, 96 * _K),
    "glm-4.5-air": (128 * _K, 96 * _K),
    "glm-4.5-x": (128 * _K, 96 * _K),
    "glm-4.5-airx": (128 * _K, 96 * _K),
    "glm-4.5-flash": (128 * _K, 96 * _K),
    "glm-4-plus": (128 * _K, 4 * _K),
    "glm-4-air": (128 * _K, 4 * _K),
    "glm-4-air-250414": (128 * _K, 4 * _K),
    "glm-4-airx": (8 * _K, 4 * _K),
    "glm-4-flash": (128 * _K, 4 * _K),
    "glm-4-flash-250414": (128 * _K, 4 * _K),
    "glm-4-flashx": (128 * _K, 4 * _K),
    "glm-4-flashx-250414": (128 * _K, 4 * _K),
    "glm-4-long": (1024 * _K, 4 * _K),
    "glm-4-0520": (128 * _K, 4 * _K),
    "glm-4": (128 * _K, 4 * _K),
    "glm-z1-air": (128 * _K, 32 * _K),
    "glm-z1-airx": (128 * _K, 32 * _K),
    "glm-z1-flash": (128 * _K, 32 * _K),
    "glm-z1-flashx": (128 * _K, 32 * _K),
    "glm-4v-plus": (8 * _K, 1 * _K),
    "glm-4v-plus-0111": (16 * _K, 1 * _K),
    "glm-4v-flash": (16 * _K, 1 * _K),
    "glm-4.5v": (64 * _K, 16 * _K),
    "glm-4.1v-thinking-flash": (64 * _K, 16 * _K),
    "glm-4.1v-thinking-flashx": (64 * _K, 16 * _K),
    "glm-offline-demo": (128 * _K, 8 * _K),
}
KNOWN_MODELS: frozenset[str] = frozenset(MODEL_LIMITS)
OFFLINE_DEMO_MODEL = "glm-offline-demo"

_ROLES = frozenset({"system", "user", "assistant", "tool"})
_JSON_TYPE = "application/json; charset=UTF-8"
_SSE_TYPE = "text/event-stream;charset=UTF-8"
_DEFAULT_READ_TIMEOUT = 30.0
_SERVER_MAX_WAIT = 120.0  # hang/stall on the loopback server never block a thread longer than this
_KEEP = 200  # how many requests/events are remembered

_MSG_1001 = "Header中未收到Authorization参数，无法进行身份验证。"
_MSG_1002 = "Authorization Token非法，请确认Authorization Token正确传递。"
_MSG_1112 = "当前账号已被锁定，请联系平台客服。"
_MSG_1113 = "您的账户已欠费，请充值后重试。"
_MSG_1210 = "API 调用参数有误，请检查文档。"
_MSG_1211 = "模型不存在，请检查模型代码。"
_MSG_1213 = "未正常接收到model参数"
_MSG_1261 = "Prompt 超过最大长度限制"
_MSG_1301 = "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。"
_MSG_1302 = "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"
_MSG_1305 = "当前API请求过多，请稍后重试。"
_HTML_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"

# Every character falls in one alternative, so the pieces always concatenate back to the input.
_PIECE_RE = re.compile(rf"[{CJK}]{{1,2}}\s*|[^\s{CJK}]+\s*|\s+")
_TRIGGER_RE = re.compile(r"\bsim:([a-z0-9_]+(?:-[a-z0-9_]+)*)(?:=(\S+))?", re.IGNORECASE)


def split_pieces(text: str) -> list[str]:
    """Streaming pieces: English words with their trailing whitespace, CJK in 1-2 character runs."""
    return _PIECE_RE.findall(text)


def _new_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)


def _message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _prompt_tokens(messages: list[dict]) -> int:
    return sum(estimate_tokens(_message_text(m)) + 4 for m in messages)


def _parse_triggers(text: str) -> dict[str, str]:
    return {name.lower(): value or "" for name, value in _TRIGGER_RE.findall(text)}


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _invalid_field(req: dict, max_output: int) -> str | None:
    """Name of the first parameter the real API would reject with 1214, or None."""
    messages = req.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or any(not isinstance(m, dict) or m.get("role") not in _ROLES for m in messages)
        or all(m["role"] in ("system", "assistant") for m in messages)
    ):
        return "messages"
    temperature = req.get("temperature")
    if temperature is not None and not (_is_number(temperature) and 0 <= temperature <= 1):
        return "temperature"
    top_p = req.get("top_p")
    if top_p is not None and not (_is_number(top_p) and 0.01 <= top_p <= 1):
        return "top_p"
    max_tokens = req.get("max_tokens")
    if max_tokens is not None and not (
        isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and 1 <= max_tokens <= max_output
    ):
        return "max_tokens"
    stop = req.get("stop")
    if stop is not None and not (isinstance(stop, str) or (isinstance(stop, list) and len(stop) <= 1)):
        return "stop"
    thinking = req.get("thinking")
    if thinking is not None and not (isinstance(thinking, dict) and thinking.get("type") in ("enabled", "disabled")):
        return "thinking"
    response_format = req.get("response_format")
    if response_format is not None and not (
        isinstance(response_format, dict) and response_format.get("type") in ("text", "json_object")
    ):
        return "response_format"
    tools = req.get("tools")
    if tools is not None and not _valid_tools(tools):
        return "tools"
    return None


_TOOL_TYPES = frozenset({"function", "retrieval", "web_search", "mcp"})
_SEARCH_ENGINES = frozenset({"search_std", "search_pro", "search_pro_sogou", "search_pro_quark"})
_RECENCY = frozenset({"oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit"})
_CONTENT_SIZES = frozenset({"medium", "high"})
_SEQUENCES = frozenset({"before", "after"})
_MAX_TOOLS = 128


def _valid_tools(tools: object) -> bool:
    if not isinstance(tools, list) or len(tools) > _MAX_TOOLS:
        return False
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") not in _TOOL_TYPES:
            return False
        if tool["type"] == "function":
            function = tool.get("function")
            if not (isinstance(function, dict) and isinstance(function.get("name"), str) and function["name"]):
                return False
        if tool["type"] == "web_search" and not _valid_web_search(tool.get("web_search")):
            return False
    return True


def _valid_web_search(ws: object) -> bool:
    if not isinstance(ws, dict) or ws.get("search_engine") not in _SEARCH_ENGINES:
        return False
    for name in ("enable", "search_result", "require_search"):
        if ws.get(name) is not None and not isinstance(ws[name], bool):
            return False
    count = ws.get("count")
    if count is not None and not (isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 50):
        return False
    for name, allowed in (
        ("search_recency_filter", _RECENCY),
        ("content_size", _CONTENT_SIZES),
        ("result_sequence", _SEQUENCES),
    ):
        if ws.get(name) is not None and ws[name] not in allowed:
            return False
    for name in ("search_query", "search_domain_filter", "search_prompt"):
        if ws.get(name) is not None and not isinstance(ws[name], str):
            return False
    return True


def _web_search_options(req: dict) -> dict | None:
    """The first enabled web_search tool's options (already validated), or None."""
    for tool in req.get("tools") or ():
        if tool["type"] == "web_search" and tool["web_search"].get("enable") is not False:
            return tool["web_search"]
    return None


# ---------------------------------------------------------------------------------------------------------
# Reply texts

_REPLIES_EN = (
    """## Overview

A good answer usually has three parts:

1. **Context**: what problem we are solving.
2. **Approach**: the steps, in order.
3. **Check**: how to verify the result.

### Key points

- Keep each step small and testable.
- Prefer clear names over long comments.
  - Comments should explain *why*, not *what*.
- Measure before optimising.

> Tip: ask a follow-up question if you want more detail on any step.""",
    """Here is a small, self-contained Python example:

```python
from collections import Counter


def top_words(text: str, n: int = 3) -> list[tuple[str, int]]:
    \"\"\"Return the n most common words in text.\"\"\"
    words = [w.strip(".,!?").lower() for w in text.split()]
    return Counter(w for w in words if w).most_common(n)


print(top_words("the cat and the hat and the bat"))
# [('the', 3), ('and', 2), ('cat', 1)]
```

`Counter.most_common` sorts by count; ties keep the order in which words first appeared.""",
    """A quick comparison:

| Model | Context | Best for |
|---|---|---|
| glm-4.6 | 200K | Long documents, agents |
| glm-4.5-air | 128K | Balanced cost and quality |
| glm-4-flash | 128K | Fast, free everyday chat |

**Rule of thumb:** start with the cheapest model that passes your tests, and move up only where quality falls short.""",
    r"""Mass–energy equivalence is written inline as \( E = mc^2 \), where \( c \) is the speed of light.

A classic integral, as a display formula:

\[ \int_0^1 x^2\,dx = \tfrac13 \]

More generally, \( \int_0^1 x^n\,dx = \frac{1}{n+1} \) for every \( n \ge 0 \).""",
    """**English:** Practise a little every day; consistency beats intensity.

**中文：** 每天练习一点点，坚持比强度更重要。

| English | 中文 |
|---|---|
| Hello | 你好 |
| Thank you | 谢谢 |
| See you tomorrow | 明天见 |""",
)

_REPLIES_ZH = (
    """## 概述

一个好的回答通常包含三部分：

1. **背景**：要解决什么问题。
2. **方法**：按顺序列出步骤。
3. **验证**：如何检查结果。

### 要点

- 每一步都保持小而可测试。
- 命名清晰胜过冗长的注释。
  - 注释应说明“为什么”，而不是“做什么”。
- 先测量，再优化。

> 提示：如果想深入了解某一步，可以继续追问。""",
    """下面是一个完整的 Python 小例子：

```python
from collections import Counter


def top_words(text: str, n: int = 3) -> list[tuple[str, int]]:
    \"\"\"返回文本中最常见的 n 个词。\"\"\"
    words = [w.strip(".,!?").lower() for w in text.split()]
    return Counter(w for w in words if w).most_common(n)


print(top_words("the cat and the hat and the bat"))
# [('the', 3), ('and', 2), ('cat', 1)]
```

`Counter.most_common` 按出现次数排序，次数相同时保持首次出现的顺序。""",
    """简单对比一下：

| 模型 | 上下文 | 适用场景 |
|---|---|---|
| glm-4.6 | 200K | 长文档、智能体 |
| glm-4.5-air | 128K | 成本与质量平衡 |
| glm-4-flash | 128K | 免费、快速的日常对话 |

**经验法则：** 先选能通过测试的最便宜模型，只在质量不够的地方再升级。""",
    r"""质能方程的行内写法是 \( E = mc^2 \)，其中 \( c \) 是光速。

一个经典的定积分（独立公式）：

\[ \int_0^1 x^2\,dx = \tfrac13 \]

一般地，对任意 \( n \ge 0 \)，有 \( \int_0^1 x^n\,dx = \frac{1}{n+1} \)。""",
    """**中文：** 每天练习一点点，坚持比强度更重要。

**English:** Practise a little every day; consistency beats intensity.

| 中文 | English |
|---|---|
| 你好 | Hello |
| 谢谢 | Thank you |
| 明天见 | See you tomorrow |""",
)

_REASONING_EN = (
    "The user asks: “{q}”. Let me work out what they actually need before answering. "
    "A short structured reply should work best: the main point first, then details or an example. "
    "I'll keep the formatting clean so that it renders well as Markdown.",
    "Question: “{q}”. First, what is being asked and what would a useful answer contain? "
    "A concrete example usually helps more than an abstract explanation. "
    "I'll check the details once more and then write the answer.",
)
_REASONING_ZH = (
    "用户的问题是“{q}”。先弄清楚对方真正想知道什么，再组织回答。"
    "比较好的结构是先给结论，再补充细节或示例。最后检查一下格式，确保 Markdown 能正确显示。",
    "问题：“{q}”。首先分析问题的核心，以及一个有用的回答应该包含什么。"
    "具体的例子通常比抽象的解释更有帮助。再核对一遍细节，然后给出回答。",
)

_HTML_REPLY = """Here is some **hostile** content for testing sanitising:

<script>window.__pwned=1</script>

<img src=x onerror="window.__pwned=1">

[click](javascript:window.__pwned=1) and [d](data:text/html,<script>alert(1)</script>)

![img](http://evil.example/pixel.png)

<a href="https://evil.example">x</a>

```html
<b>kept</b>
```

The upgrade costs $5 per month."""

_SLOW_WORDS = "This reply streams slowly so that you can try the Stop button while it is still arriving.".split()


def _quote(text: str) -> str:
    """Up to 40 characters of the question's first line, verbatim."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= 40 else line[:40] + "…"


def _canned_reply(text: str, chinese: bool, citations: str = "") -> str:
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    bodies = _REPLIES_ZH if chinese else _REPLIES_EN
    intro = f"关于你的问题“{_quote(text)}”：" if chinese else f"You asked: “{_quote(text)}”"
    if citations:
        intro += "\n\n" + citations
    return f"{intro}\n\n{bodies[digest % len(bodies)]}"


# ---------------------------------------------------------------------------------------------------------
# Web search results

_SEARCH_DEFAULT_COUNT = 5
_SEARCH_MAX_RESULTS = 10
# (host name, media name in English, in Chinese); result N lives on https://<host name>N.example
_SEARCH_SITES = (
    ("news", "Daily News", "每日新闻"),
    ("wiki", "Open Wiki", "开放百科"),
    ("blog", "Tech Blog", "技术博客"),
    ("docs", "Developer Docs", "开发者文档"),
    ("journal", "Science Journal", "科学期刊"),
    ("forum", "Community Forum", "社区论坛"),
    ("guide", "Study Guide", "学习指南"),
    ("daily", "Morning Daily", "晨报"),
    ("review", "Weekly Review", "每周评论"),
    ("lab", "Research Lab", "研究实验室"),
)
_SEARCH_TITLES_EN = (
    "{t}: what you need to know",
    "A beginner's guide to {t}",
    "{t} explained in five minutes",
    "Frequently asked questions about {t}",
    "The history of {t}",
    "{t}: latest news and analysis",
    "Common mistakes with {t}",
    "Experts weigh in on {t}",
    "{t} in numbers",
    "How {t} works",
)
_SEARCH_TITLES_ZH = (
    "{t}：你需要知道的事",
    "{t}入门指南",
    "五分钟读懂{t}",
    "关于{t}的常见问题",
    "{t}的发展历程",
    "{t}：最新动态与分析",
    "{t}的常见误区",
    "专家谈{t}",
    "数说{t}",
    "{t}是如何运作的",
)
_SEARCH_CONTENT_EN = "An overview of {t}: background, key facts and pointers to further reading."
_SEARCH_CONTENT_ZH = "关于{t}的综述：背景介绍、关键事实以及延伸阅读。"


def _search_topic(text: str, options: dict, chinese: bool) -> str:
    query = options.get("search_query")
    topic = _quote(query if isinstance(query, str) and query.strip() else _TRIGGER_RE.sub("", text))
    return topic or ("这个话题" if chinese else "this topic")


def _search_results(text: str, options: dict, chinese: bool) -> list[dict]:
    count = min(options.get("count") or _SEARCH_DEFAULT_COUNT, _SEARCH_MAX_RESULTS)
    topic = _search_topic(text, options, chinese)
    digest = int.from_bytes(hashlib.sha256(b"search" + text.encode()).digest()[:4], "big")
    titles = _SEARCH_TITLES_ZH if chinese else _SEARCH_TITLES_EN
    content = _SEARCH_CONTENT_ZH if chinese else _SEARCH_CONTENT_EN
    results = []
    for n in range(1, count + 1):
        name, media_en, media_zh = _SEARCH_SITES[(digest + n) % len(_SEARCH_SITES)]
        host = f"{name}{n}.example"
        results.append(
            {
                "title": titles[(digest + n) % len(titles)].replace("{t}", topic),
                "link": f"https://{host}/article-{n}",
                "content": content.replace("{t}", topic),
                "media": media_zh if chinese else media_en,
                "icon": f"https://{host}/favicon.ico",
                "refer": f"ref_{n}",
                "publish_date": f"2025-{(digest + n) % 12 + 1:02d}-{(digest // 7 + n) % 28 + 1:02d}",
            }
        )
    return results


def _hostile_results() -> list[dict]:
    def result(n: int, title: str, link: str, **extra: str) -> dict:
        item = {
            "title": title,
            "link": link,
            "content": "Hostile search result for testing sanitising.",
            "media": "Evil Media",
            "icon": "https://evil.example/favicon.ico",
            "refer": f"ref_{n}",
            "publish_date": "2025-01-01",
        }
        item.update(extra)
        return item

    return [
        result(1, "Click for details", "javascript:alert(1)", icon="javascript:alert(1)"),
        result(2, "Open the attachment", "data:text/html,<script>alert(1)</script>", media="<script>alert(1)</script>"),
        result(3, "<img src=x onerror=alert(1)>Title", "https://evil3.example/img"),
        result(4, "Mixed case scheme", "JaVaScRiPt:alert(1)"),
        result(
            5,
            "A normal result",
            "https://normal5.example/article-5",
            media="Normal News",
            icon="https://normal5.example/favicon.ico",
        ),
    ]


def _citations(results: list[dict], chinese: bool, hostile: bool) -> str:
    refs = [f"[{r['refer']}]" for r in results]
    if hostile:
        return (
            "Hostile sources for testing " + "".join(refs) + ", an unknown one [ref_99], and code that must "
            "stay literal: `[ref_1]`\n\n```text\n[ref_2] inside a fence\n```"
        )
    if chinese:
        text = f"根据网络搜索结果{refs[0]}，先给出简要结论。"
        if len(refs) > 1:
            text += f"更多细节可以参考{''.join(refs[1:3])}。"
        return text
    text = f"Here is what a web search found {refs[0]}."
    if len(refs) > 1:
        text += f" Further details come from {''.join(refs[1:3])}."
    return text


def _reasoning(text: str, chinese: bool) -> str:
    digest = int.from_bytes(hashlib.sha256(b"reasoning" + text.encode()).digest()[:4], "big")
    templates = _REASONING_ZH if chinese else _REASONING_EN
    return templates[digest % len(templates)].replace("{q}", _quote(text))


def _echo(req: dict) -> str:
    messages = req.get("messages") or []
    summary = {
        key: req.get(key) for key in ("model", "stream", "temperature", "top_p", "do_sample", "max_tokens", "thinking")
    }
    summary["messages"] = [m.get("role") for m in messages]
    return "```json\n" + json.dumps(summary, ensure_ascii=False, separators=(",", ":")) + "\n```"


_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_MAX_COPIES = 1000


def _say(value: str) -> str | None:
    """The text of ``sim:say=B``: B as base64url UTF-8 (padding optional), or None if it does not decode."""
    if not _BASE64URL_RE.fullmatch(value):
        return None
    bare = value.rstrip("=")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4)).decode("utf-8")
    except ValueError:  # bad length or padding (binascii.Error), or not UTF-8 (UnicodeDecodeError)
        return None


def _copies(triggers: dict[str, str]) -> int:
    """How many times ``sim:repeat`` asks for the ``sim:say`` text; 0 when it does not."""
    if "say" not in triggers or not triggers.get("repeat", "").isdigit():
        return 0
    return min(max(int(triggers["repeat"]), 1), _MAX_COPIES)


# ---------------------------------------------------------------------------------------------------------
# Response plans: what to send and when, rendered by the in-process transport or the loopback server.


@dataclass
class _Plan:
    status: int
    headers: dict[str, str]
    parts: list[tuple[float, bytes]] = field(default_factory=list)  # (delay before, bytes)
    pre_delay: float = 0.0  # before the headers; math.inf means never answer ("hang")
    ending: str = ""  # "", "cut" (drop the connection) or "stall" (stop sending)
    sse: bool = False  # counted in open_streams and events

    @classmethod
    def body(cls, status: int, content: bytes, content_type: str, request_id: str | None = None) -> _Plan:
        headers = {"content-type": content_type}
        if request_id:
            headers["x-request-id"] = request_id
        return cls(status, headers, [(0.0, content)])

    @classmethod
    def json(cls, status: int, payload: dict, request_id: str | None = None) -> _Plan:
        content = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls.body(status, content, _JSON_TYPE, request_id)

    @classmethod
    def error(cls, status: int, code: str, message: str, request_id: str | None = None) -> _Plan:
        return cls.json(status, {"error": {"code": code, "message": message}}, request_id)

    @property
    def simple(self) -> bool:
        return not self.sse and not self.ending and len(self.parts) == 1


def _sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


@dataclass
class _Reply:
    reasoning: list[str]
    content: list[str]
    finish_reason: str | None  # None: the stream just ends (sim:nodone)
    usage: dict | None
    ending: str = ""  # "", "cut", "stall", "streamerror", "malformed"
    web_search: list[dict] | None = None  # results to send, if web search is on
    sources_first: bool = False  # on the first chunk (result_sequence "before"), else on the final one


class _StreamTally:
    """Counts an SSE body as open while it is being sent, and records its timing when it ends.

    start() and end() each take effect once, so end() may come from the reader or from close() in
    another thread, whichever happens first.
    """

    def __init__(self, sim: Simulator, counted: bool):
        self._sim, self._counted = sim, counted
        self._lock = threading.Lock()
        self._state = "new"  # new -> open -> done, or new -> done when closed before it started
        self.first = self.last = None
        self.chunks = 0

    def start(self) -> None:
        with self._lock:
            if self._state != "new":
                return
            self._state = "open"
        if self._counted:
            self._sim._stream_started()

    def end(self) -> None:
        with self._lock:
            was_open, self._state = self._state == "open", "done"
        if was_open and self._counted:
            self._sim._stream_ended(self)

    def sent(self) -> None:
        self.last = time.time()
        self.first = self.first or self.last
        self.chunks += 1

    def __enter__(self) -> _StreamTally:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.end()


class Simulator:
    """GLM v4 chat-completions simulator; see the module docstring for routes and triggers."""

    def __init__(self, *, ttft: float = 0.0, token_delay: float = 0.0, valid_keys: set[str] | None = None):
        self.ttft = ttft
        self.token_delay = token_delay
        self.valid_keys = set(valid_keys) if valid_keys is not None else None
        self._lock = threading.Lock()
        self.attempts = 0
        self.open_streams = 0
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.events: list[dict] = []
        self._seen_once: set[tuple[str, str]] = set()
        self.files = FileStore(valid_keys=self.valid_keys)  # the file-extract endpoints

    # -- counters ------------------------------------------------------------------------------------------

    def stats(self) -> dict:
        with self._lock:
            # What each request asked for (not its messages): tests of another process check what was sent.
            asked = [
                {k: r.get(k) for k in ("model", "temperature", "top_p", "max_tokens", "thinking")}
                for r in self.requests
            ]
            return {
                "attempts": self.attempts,
                "open_streams": self.open_streams,
                "requests": len(self.requests),
                "asked": asked,
                "events": [dict(e) for e in self.events],
            }

    def reset(self) -> None:
        with self._lock:
            self.attempts = 0
            self.requests.clear()
            self.headers.clear()
            self.events.clear()
            self._seen_once.clear()
            # open_streams is left alone: streams still running will decrement it when they end.

    def _stream_started(self) -> None:
        with self._lock:
            self.open_streams += 1

    def _stream_ended(self, tally: _StreamTally) -> None:
        with self._lock:
            self.open_streams -= 1
            if tally.chunks:
                self.events.append({"first_chunk_at": tally.first, "last_chunk_at": tally.last, "chunks": tally.chunks})
                del self.events[:-_KEEP]

    def _first_time(self, trigger: str, text: str) -> bool:
        with self._lock:
            if (trigger, text) in self._seen_once:
                return False
            self._seen_once.add((trigger, text))
            return True

    # -- adapters ------------------------------------------------------------------------------------------

    def transport(self) -> httpx.BaseTransport:
        return _Transport(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> tuple[_Server, threading.Thread]:
        server = _Server((host, port), self)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="glm-simulator", daemon=True
        )
        thread.start()
        return server, thread

    # -- request handling ----------------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Plan:
        route = path.rstrip("/")
        if method == "POST" and route.endswith("/chat/completions"):
            return self._chat(headers, body)
        if method == "GET" and route == "/stats":
            return _Plan.json(200, self.stats())
        if method == "POST" and route == "/reset":
            self.reset()
            return _Plan.json(200, {"ok": True})
        if method == "GET" and route == "/health":
            return _Plan.body(200, b"ok", "text/plain; charset=utf-8")
        answer = self.files.handle(method, path, headers, body)
        if answer is not None:
            status, answer_headers, answer_body = answer
            return _Plan.body(status, answer_body, answer_headers["content-type"])
        return _Plan.error(404, "404", f"Not Found: {method} {path}")

    def _chat(self, headers: dict[str, str], body: bytes) -> _Plan:
        rid = _new_id()
        try:
            req = json.loads(body)
        except ValueError:
            req = None
        with self._lock:
            self.attempts += 1
            if isinstance(req, dict):
                self.requests.append(req)
                self.headers.append(dict(headers))
                del self.requests[:-_KEEP], self.headers[:-_KEEP]

        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _Plan.error(401, "1001", _MSG_1001, rid)
        if self.valid_keys is not None and token.strip() not in self.valid_keys:
            return _Plan.error(401, "1002", _MSG_1002, rid)
        if not isinstance(req, dict):
            return _Plan.error(400, "1210", _MSG_1210, rid)
        model = req.get("model")
        if model is None or model == "":
            return _Plan.error(400, "1213", _MSG_1213, rid)
        if model not in KNOWN_MODELS:
            return _Plan.error(400, "1211", _MSG_1211, rid)
        context, max_output = MODEL_LIMITS[model]
        bad = _invalid_field(req, max_output)
        if bad:
            return _Plan.error(400, "1214", f"{bad} 参数非法。请检查文档。", rid)
        prompt_tokens = _prompt_tokens(req["messages"])
        if prompt_tokens > context:
            return _Plan.error(400, "1261", _MSG_1261, rid)

        users = [m for m in req["messages"] if m["role"] == "user"]
        text = _message_text(users[-1]) if users else ""
        triggers = _parse_triggers(text)
        failure = self._trigger_failure(triggers, text, rid)
        if failure:
            return failure

        reply = self._compose(req, text, triggers, prompt_tokens)
        ttft = self.ttft
        if "ttft" in triggers and _number(triggers["ttft"]) is not None:
            ttft = _number(triggers["ttft"])
        delay = self.token_delay
        if "slow" in triggers:
            delay = 0.2
        if _number(triggers.get("rate", "")):
            delay = 1 / _number(triggers["rate"])
        created = int(time.time())
        if req.get("stream"):
            return self._stream_plan(reply, model, rid, created, ttft, delay)
        return self._completion_plan(
            req, reply, model, rid, created, ttft + delay * (len(reply.reasoning) + len(reply.content))
        )

    def _trigger_failure(self, triggers: dict[str, str], text: str, rid: str) -> _Plan | None:
        """The error a trigger asks for before any body is sent, if any."""
        if "401" in triggers:
            return _Plan.error(401, "1002", _MSG_1002, rid)
        if "balance" in triggers:
            return _Plan.error(429, "1113", _MSG_1113, rid)
        if "account" in triggers:
            return _Plan.error(429, "1112", _MSG_1112, rid)
        if "busy" in triggers:
            return _Plan.error(429, "1305", _MSG_1305, rid)
        if "busy-once" in triggers and self._first_time("busy-once", text):
            return _Plan.error(429, "1302", _MSG_1302, rid)
        if "policy" in triggers:
            return _Plan.error(400, "1301", _MSG_1301, rid)
        if "badparam" in triggers:
            return _Plan.error(400, "1214", "messages 参数非法。请检查文档。", rid)
        if "toolong" in triggers:
            return _Plan.error(400, "1261", _MSG_1261, rid)
        if "unknown-model" in triggers:
            return _Plan.error(400, "1211", _MSG_1211, rid)
        if "500" in triggers or ("500-once" in triggers and self._first_time("500-once", text)):
            return _Plan.error(500, "500", "Internal Error", rid)
        if "502" in triggers:
            return _Plan.body(502, _HTML_502, "text/html", rid)
        if "error200" in triggers:
            return _Plan.error(200, "1214", "messages 参数非法。请检查文档。", rid)
        if "hang" in triggers:
            return _Plan(200, {}, pre_delay=math.inf)
        if "say" in triggers and _say(triggers["say"]) is None:
            return _Plan.error(400, "1214", "sim:say is not base64url UTF-8", rid)
        return None

    def _compose(self, req: dict, text: str, triggers: dict[str, str], prompt_tokens: int) -> _Reply:
        model = req["model"]
        chinese = bool(CJK_RE.search(text))
        thinking = req.get("thinking")
        # Test/debug replies only reason when asked to, so their content stays predictable.
        synthetic = bool({"echo", "html", "slow", "say"} & triggers.keys())
        search = _web_search_options(req)
        results: list[dict] = []
        if search is not None:
            hostile = "sources-hostile" in triggers
            results = _hostile_results() if hostile else _search_results(text, search, chinese)
            citations = _citations(results, chinese, hostile)
        else:
            citations = ""
        if "tokens" in triggers and triggers["tokens"].isdigit():
            count = int(triggers["tokens"])
            content = [f"tok{i} " for i in range(count - 1)] + ([f"tok{count - 1}"] if count else [])
            reasoning: list[str] = []
        else:
            if "echo" in triggers:
                answer = _echo(req)
            elif "html" in triggers:
                answer = _HTML_REPLY
            elif "say" in triggers:
                answer = _say(triggers["say"]) or ""
            elif "slow" in triggers:
                answer = " ".join(_SLOW_WORDS[i % len(_SLOW_WORDS)] for i in range(60))
            else:
                answer = _canned_reply(text, chinese, citations)
            stop = req.get("stop")
            stop_word = stop if isinstance(stop, str) else (stop[0] if stop else None)
            if stop_word and stop_word in answer:
                answer = answer[: answer.index(stop_word)]
            thinks = (
                model.startswith(("glm-4.5", "glm-4.6", "glm-4.7", "glm-4.1v-thinking")) or model == OFFLINE_DEMO_MODEL
            )
            wants_reasoning = "think" in triggers or (
                not synthetic
                and thinks
                and (thinking is None or thinking.get("type") == "enabled")
                and (model == OFFLINE_DEMO_MODEL or len(_TRIGGER_RE.sub("", text).strip()) >= 6)
            )
            z1 = "z1" in triggers or (model.startswith("glm-z1") and "think" not in triggers and not synthetic)
            reasoning_text = _reasoning(text, chinese)
            if z1:
                content, reasoning = split_pieces(f"<think>\n{reasoning_text}\n</think>\n\n{answer}"), []
            else:
                copies = _copies(triggers)
                content = [answer] * copies if copies else split_pieces(answer)
                reasoning = split_pieces(reasoning_text) if wants_reasoning else []

        finish: str | None = "stop"
        ending = ""
        for name in ("sensitive", "length", "network_error"):
            if name in triggers:
                content, finish = content[: max(1, len(content) // 2)], name
        max_tokens = req.get("max_tokens")
        if max_tokens is not None and len(reasoning) + len(content) > max_tokens:
            reasoning = reasoning[:max_tokens]
            content = content[: max_tokens - len(reasoning)]
            finish = "length"
        for name in ("cut", "stall", "streamerror", "malformed"):
            if name in triggers:
                ending = name
        if ending and req.get("stream"):
            content = content[:5]
        if "nodone" in triggers and req.get("stream"):
            finish = None
        completion = len(reasoning) + len(content)
        usage = (
            None
            if "nousage" in triggers
            else {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": prompt_tokens + completion,
                "prompt_tokens_details": {"cached_tokens": 0},
            }
        )
        reply = _Reply(reasoning, content, finish, usage, ending)
        if search is not None and search.get("search_result") is not False:
            reply.web_search = results
            reply.sources_first = search.get("result_sequence") == "before" or "sources-before" in triggers
        return reply

    def _stream_plan(self, reply: _Reply, model: str, rid: str, created: int, ttft: float, delay: float) -> _Plan:
        def chunk(delta: dict, finish: str | None = None) -> dict:
            choice: dict = {"index": 0}
            if finish:
                choice["finish_reason"] = finish
            choice["delta"] = delta
            return {"id": rid, "created": created, "model": model, "choices": [choice]}

        first = chunk({"role": "assistant", "content": ""})
        if reply.web_search is not None and reply.sources_first:
            first["web_search"] = reply.web_search
        parts = [(ttft, _sse(first))]
        for piece in reply.reasoning:
            parts.append((delay, _sse(chunk({"role": "assistant", "reasoning_content": piece}))))
        for i, piece in enumerate(reply.content):
            delta = {"role": "assistant", "content": piece}
            if i == 0 and reply.reasoning:
                delta["reasoning_content"] = ""  # the transition chunk real thinking models send
            parts.append((delay, _sse(chunk(delta))))
        plan = _Plan(200, {"content-type": _SSE_TYPE, "x-request-id": rid}, parts, sse=True)
        if reply.ending in ("cut", "stall"):
            plan.ending = reply.ending
        elif reply.ending == "streamerror":
            parts.append((delay, _sse({"error": {"code": "1301", "message": _MSG_1301}})))
        elif reply.ending == "malformed":
            parts.append((delay, b"data: {not json\n\n"))
        elif reply.finish_reason:
            final = chunk({"role": "assistant", "content": ""}, reply.finish_reason)
            if reply.usage:
                final["usage"] = reply.usage
            if reply.web_search is not None and not reply.sources_first:
                final["web_search"] = reply.web_search
            parts += [(delay, _sse(final)), (0.0, b"data: [DONE]\n\n")]
        return plan

    def _completion_plan(self, req: dict, reply: _Reply, model: str, rid: str, created: int, wait: float) -> _Plan:
        message: dict = {"content": "".join(reply.content), "role": "assistant"}
        if reply.reasoning:
            message["reasoning_content"] = "".join(reply.reasoning)
        request_id = req.get("request_id") if isinstance(req.get("request_id"), str) else rid
        payload: dict = {
            "choices": [{"finish_reason": reply.finish_reason, "index": 0, "message": message}],
            "created": created,
            "id": rid,
            "model": model,
            "request_id": request_id,
        }
        if reply.usage:
            payload["usage"] = reply.usage
        if reply.web_search is not None:
            payload["web_search"] = reply.web_search
        plan = _Plan.json(200, payload, rid)
        plan.pre_delay = wait
        if reply.ending in ("cut", "stall"):
            content = plan.parts[0][1]
            plan.parts, plan.ending = [(0.0, content[: len(content) // 2])], reply.ending
        return plan


# ---------------------------------------------------------------------------------------------------------
# In-process transport


class _SimStream(httpx.SyncByteStream):
    """Incremental body; close() from any thread wakes a reader blocked in a delay."""

    def __init__(self, sim: Simulator, plan: _Plan, request: httpx.Request, read_timeout: float):
        self._plan, self._request, self._read_timeout = plan, request, read_timeout
        self._closed = threading.Event()
        self._tally = _StreamTally(sim, plan.sse)

    def __iter__(self):
        self._tally.start()
        try:
            for delay, data in self._plan.parts:
                if not self._pause(delay):
                    return
                self._tally.sent()
                yield data
            if self._plan.ending == "cut":
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body (incomplete chunked read)",
                    request=self._request,
                )
            if self._plan.ending == "stall":
                self._pause(math.inf)
        finally:
            self._tally.end()

    def _pause(self, seconds: float) -> bool:
        """Wait like a socket read would; False if the stream was closed meanwhile."""
        if self._closed.is_set():
            return False
        if seconds > self._read_timeout:
            if self._closed.wait(self._read_timeout):
                return False
            raise httpx.ReadTimeout("timed out", request=self._request)
        return seconds <= 0 or not self._closed.wait(seconds)

    def close(self) -> None:
        # A reader suspended between chunks may never resume, so the stream counts as ended right here.
        self._closed.set()
        self._tally.end()


class _Transport(httpx.BaseTransport):
    def __init__(self, sim: Simulator):
        self._sim = sim

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        plan = self._sim._dispatch(request.method, request.url.path, headers, request.read())
        read_timeout = (request.extensions.get("timeout") or {}).get("read") or _DEFAULT_READ_TIMEOUT
        if plan.pre_delay > read_timeout:
            time.sleep(read_timeout)
            raise httpx.ReadTimeout("timed out", request=request)
        if plan.pre_delay > 0:
            time.sleep(plan.pre_delay)
        if plan.simple:
            return httpx.Response(plan.status, headers=plan.headers, content=plan.parts[0][1])
        return httpx.Response(
            plan.status, headers=plan.headers, stream=_SimStream(self._sim, plan, request, read_timeout)
        )


# ---------------------------------------------------------------------------------------------------------
# Loopback HTTP server

_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sim: Simulator):
        self.sim = sim
        self.stopping = threading.Event()  # wakes handlers sleeping in hang/stall
        super().__init__(address, _Handler)

    def get_request(self):
        sock, address = super().get_request()
        # Each SSE event is a small write; without this Nagle would batch them and distort timing.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()

    def server_close(self) -> None:
        self.stopping.set()
        super().server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GLMSimulator/1.0"
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args) -> None:
        """Quiet: the simulator's counters are the log."""

    def handle(self) -> None:
        # A client that goes away (Stop button, timeout, closed keep-alive) is normal, not a server error.
        try:
            super().handle()
        except _DISCONNECTS:
            self.close_connection = True

    def _handle(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._send(self.server.sim._dispatch(method, urlsplit(self.path).path, headers, body))

    def _send(self, plan: _Plan) -> None:
        if plan.pre_delay == math.inf:
            self._idle(_SERVER_MAX_WAIT)
            self.close_connection = True  # give up without ever answering
            return
        if plan.pre_delay > 0 and not self._idle(plan.pre_delay):
            self.close_connection = True
            return
        self.send_response(plan.status)
        for name, value in plan.headers.items():
            self.send_header(name, value)
        if plan.simple:
            self.send_header("Content-Length", str(len(plan.parts[0][1])))
            self.end_headers()
            self.wfile.write(plan.parts[0][1])
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with _StreamTally(self.server.sim, plan.sse) as tally:
            for delay, data in plan.parts:
                if delay > 0 and not self._idle(delay):
                    self.close_connection = True
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                tally.sent()
            if plan.ending == "cut":
                self._drop()
            elif plan.ending == "stall":
                self._idle(_SERVER_MAX_WAIT)
                self._drop()
            else:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

    def _drop(self) -> None:
        """Close abruptly mid-body: the client sees an incomplete chunked read."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone
        self.connection.close()

    def _idle(self, seconds: float) -> bool:
        """Sleep; False as soon as the client hangs up or the server stops."""
        deadline = time.monotonic() + seconds
        watch_socket = True
        while (left := deadline - time.monotonic()) > 0:
            if self.server.stopping.is_set():
                return False
            step = min(left, 0.05)
            if not watch_socket:
                self.server.stopping.wait(step)
                continue
            if select.select([self.connection], [], [], step)[0]:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False  # orderly close by the client
                except OSError:
                    return False
                watch_socket = False  # the client sent more bytes; readable forever, so stop polling it
        return not self.server.stopping.is_set()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m glmsim.simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before the first chunk")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--key", action="append", help="accept only this API key (repeatable)")
    args = parser.parse_args(argv)
    sim = Simulator(ttft=args.ttft, token_delay=args.token_delay, valid_keys=set(args.key) if args.key else None)
    server, thread = sim.serve(args.host, args.port)
    host, port = server.server_address[:2]
    sys.stdout.write(f"GLM simulator on http://{host}:{port}/api/paas/v4\n")
    sys.stdout.flush()
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
