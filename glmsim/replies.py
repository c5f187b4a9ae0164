"""The canned demo replies: what an ordinary request gets back, and the web search results it cites.

Replies are picked deterministically from the last user message (a hash of its text), in Chinese when that
message contains CJK text: headings and lists, Python code, a table, LaTeX in GLM's ``\\( \\)``/``\\[ \\]``
style, bilingual text; each opens by quoting the question. Thinking models get a short reasoning text
(``reasoning_text``). With web search on, ``search_results`` makes the ``web_search`` field's results and
``citations`` the paragraph that cites them as ``[ref_N]``; ``hostile_results`` are the sim:sources-hostile
ones. The test/debug texts are here too: sim:html's hostile Markdown, sim:slow's words, sim:echo's summary.
"""

from __future__ import annotations

import hashlib
import json

from glmsim.triggers import strip_triggers

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

HTML_REPLY = """Here is some **hostile** content for testing sanitising:

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


def slow_reply() -> str:
    """sim:slow's reply: 60 words."""
    return " ".join(_SLOW_WORDS[i % len(_SLOW_WORDS)] for i in range(60))


def quote(text: str) -> str:
    """Up to 40 characters of the question's first line, verbatim."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= 40 else line[:40] + "…"


def canned_reply(text: str, chinese: bool, cited: str = "") -> str:
    """A canned demo reply to ``text``, opening with the question and then ``cited`` (the citations), if any."""
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    bodies = _REPLIES_ZH if chinese else _REPLIES_EN
    intro = f"关于你的问题“{quote(text)}”：" if chinese else f"You asked: “{quote(text)}”"
    if cited:
        intro += "\n\n" + cited
    return f"{intro}\n\n{bodies[digest % len(bodies)]}"


# ---------------------------------------------------------------------------------------------------------
# Reasoning and sim:echo


def describe_images(req: dict, chinese: bool) -> str:
    """What the last user message's images are (format and size), so the demo answers about them."""
    last = next((m for m in reversed(req.get("messages") or []) if m.get("role") == "user"), {})
    parts = last.get("content")
    if not isinstance(parts, list):
        return ""
    found = [
        _image_facts(str((p.get("image_url") or {}).get("url") or ""))
        for p in parts
        if isinstance(p, dict) and p.get("type") == "image_url"
    ]
    if not found:
        return ""
    if chinese:
        return f"你发送了 {len(found)} 张图片：" + "；".join(found) + "。"
    return f"You sent {len(found)} image{'s' if len(found) > 1 else ''}: " + "; ".join(found) + "."


def _image_facts(url: str) -> str:
    """ "PNG 64×64" for image data (a data URL or bare base64, as the SDK sends it); "URL" for a link."""
    from glmsim.vision import image_facts

    if url.startswith(("http://", "https://")):
        return "URL"
    facts = image_facts(url)
    return f"{facts[0]} {facts[1]}×{facts[2]}" if facts else "?"


def reasoning_text(text: str, chinese: bool) -> str:
    """What a thinking model "thinks" before answering ``text``."""
    digest = int.from_bytes(hashlib.sha256(b"reasoning" + text.encode()).digest()[:4], "big")
    templates = _REASONING_ZH if chinese else _REASONING_EN
    return templates[digest % len(templates)].replace("{q}", quote(text))


def echo(req: dict) -> str:
    """sim:echo's reply: the request's parameters and message roles, in a json fence."""
    messages = req.get("messages") or []
    summary = {
        key: req.get(key) for key in ("model", "stream", "temperature", "top_p", "do_sample", "max_tokens", "thinking")
    }
    summary["messages"] = [m.get("role") for m in messages]
    return "```json\n" + json.dumps(summary, ensure_ascii=False, separators=(",", ":")) + "\n```"


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
    topic = quote(query if isinstance(query, str) and query.strip() else strip_triggers(text))
    return topic or ("这个话题" if chinese else "this topic")


def search_results(text: str, options: dict, chinese: bool) -> list[dict]:
    """``min(count, 10)`` results (default 5) on distinct hosts, titled after the query or the question."""
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


def hostile_results() -> list[dict]:
    """sim:sources-hostile's five results: script links, an <img onerror> title, and one normal result."""

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


def citations(results: list[dict], chinese: bool, hostile: bool) -> str:
    """The paragraph that opens a reply with web search on, citing the results as [ref_N]."""
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
