"""Hostile text for tests/e2e/test_security_browser.py, as data: payloads grouped by kind, and a hostile export.

Every payload that could run script sets ``window.__xss`` (the test page traps that name and alert/confirm/
prompt/print) and every resource it could load lives on ``evil.example``, so "nothing ran" and "nothing
was fetched from elsewhere" are real checks. No payload contains a simulator trigger (``sim:...``).
"""

from __future__ import annotations

import base64
import io

from PIL import Image

PWN = "window.__xss=1"
JS = f"javascript:{PWN}"
EVIL = "evil.example"

# Link targets that must never become a live link, spelled the ways browsers and CommonMark decode them.
BAD_TARGETS = [
    JS,
    f"JaVaScRiPt:{PWN}",
    "vbscript:msgbox(1)",
    "VBScript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3M9MTwvc2NyaXB0Pg==",
    "data:image/svg+xml,<svg/onload=parent.__xss=1>",
    "file:///etc/passwd",
    f"jav&#x61;script:{PWN}",
    f"&#106;avascript:{PWN}",
    f"&#x6A&#x61&#x76&#x61script:{PWN}",
    f"javascript&colon;{PWN}",
    f"javascript&#58;{PWN}",
    f"java\tscript:{PWN}",
    f"java&#9;script:{PWN}",
    f"java\nscript:{PWN}",
    f"java&#10;script:{PWN}",
    f"\x01javascript:{PWN}",
    f"\x00javascript:{PWN}",
    f"\u200bjavascript:{PWN}",
    f"javascript\\:{PWN}",
    f"%6Aavascript:{PWN}",
    f"//{EVIL}/protocol-relative",
    "\\\\evil.example\\share",
    "relative/page.html",
    "/absolute/path",
    "?c=0123456789abcdef0123456789abcdef",
]

# The Markdown shapes a link can take; {u} is the target, {n} a label unique within one message.
LINK_FORMS = [
    "[inline {n}]({u})",
    "[angle {n}](<{u}>)",
    '[titled {n}]({u} "title")',
    "[full {n}][r{n}]\n\n[r{n}]: {u}",
    "[c{n}][]\n\n[c{n}]: <{u}>",
    "[s{n}]\n\n[s{n}]: {u} 'title'",
    "<{u}>",
]

RAW_HTML = [
    f"<script>{PWN}</script>",
    f"<SCRIPT SRC=https://{EVIL}/x.js></SCRIPT>",
    f"<img src=x onerror={PWN}>",
    f"<IMG SRC=x OnErRoR={PWN}>",
    f'<img src="https://{EVIL}/raw.png">',
    f"<svg onload={PWN}></svg>",
    f"<svg><animate onbegin={PWN} attributeName=x dur=1s></animate></svg>",
    f'<svg><a xlink:href="{JS}"><text y=20>svg link</text></a></svg>',
    f'<iframe src="{JS}"></iframe>',
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    f'<iframe src="https://{EVIL}/frame"></iframe>',
    f"<details open ontoggle={PWN}>details</details>",
    f"<input autofocus onfocus={PWN}>",
    f"<body onload={PWN}>",
    f"<video><source onerror={PWN}></video>",
    f'<object data="{JS}"></object>',
    f'<embed src="https://{EVIL}/x.swf">',
    "<style>*{display:none!important}</style>",
    f"<style>@import 'https://{EVIL}/x.css';</style>",
    f'<link rel=stylesheet href="https://{EVIL}/x.css">',
    f'<meta http-equiv="refresh" content="0;url={JS}">',
    f'<base href="https://{EVIL}/">',
    f'<a href="{JS}">raw anchor</a>',
    f'<form action="{JS}"><button>form button</button></form>',
    f"<math><mtext><table><mglyph><style><img src=x onerror={PWN}>",
    f'<noscript><p title="</noscript><img src=x onerror={PWN}>">',
    f"<!-- --><img src=x onerror={PWN}> -->",
    f"&lt;img src=x onerror={PWN}&gt; and &#60;script&#62;{PWN}&#60;/script&#62;",
    f'<div style="position:fixed;inset:0;background:url(https://{EVIL}/bg.png)">cover</div>',
]

IMAGES = [
    f"![md image](https://{EVIL}/md.png)",
    f"![ref image][img1]\n\n[img1]: https://{EVIL}/ref.png",
    f'![titled](https://{EVIL}/titled.png "t")',
    f"![rel](//{EVIL}/rel.png)",
    f"[![nested](https://{EVIL}/nested.png)](https://ok.example/)",
    "![svg](data:image/svg+xml;base64," + base64.b64encode(b'<svg onload="parent.__xss=1"/>').decode() + ")",
    f'<img src="//{EVIL}/html.png" srcset="https://{EVIL}/set.png 2x">',
]

MATH = [
    f"$\\href{{{JS}}}{{katex href}}$",
    f"$\\url{{{JS}}}$",
    f"$$\\href{{{JS}}}{{display href}}$$",
    f"\\(\\href{{{JS}}}{{paren href}}\\)",
    f"\\[\\url{{{JS}}}\\]",
    f"$\\href{{https://{EVIL}/k}}{{https href}}$",
    f"$\\includegraphics{{https://{EVIL}/k.png}}$",
    f"$\\includegraphics[height=1em]{{https://{EVIL}/k2.png}}$",
    "$\\htmlData{x=1}{d} \\htmlId{xss}{i} \\htmlClass{c}{k}$",
    f"$\\htmlStyle{{background:url(https://{EVIL}/s.png)}}{{s}}$",
    f"$\\def\\h{{\\href}}\\h{{{JS}}}{{macro href}}$",
    f"$\\text{{<img src=x onerror={PWN}>}}$",
    f"$$\n\\begin{{aligned}} a &= \\href{{{JS}}}{{b}} \\end{{aligned}}\n$$",
]

DIRECTIVES = [
    ":red[red text]",
    ":red-background[red background]",
    ":blue-badge[badge]",
    ":rainbow[rainbow]",
    ":small[small]",
    ":orange-background[:material/warning: icon inside]",
    ":material/home:",
    ":material/lock_open:",
    ":streamlit:",
    ":smile: :+1:",
    "&#58;red[entity colon]",
    "\\:red[escaped]",
]

# Shown literally (word joiners aside) wherever they are drawn: proof that directives did not apply.
LITERAL_DIRECTIVES = [":red[red text]", ":red-background[red background]", ":material/home:", ":streamlit:"]


def link_payloads() -> list[str]:
    """Every bad target in every link form; labels are numbered so definitions never collide."""
    out, n = [], 0
    for form in LINK_FORMS:
        for target in BAD_TARGETS:
            n += 1
            out.append(form.replace("{u}", target).replace("{n}", str(n)))
    return out


GROUPS: dict[str, list[str]] = {
    "html": RAW_HTML,
    "links": link_payloads(),
    "images": IMAGES,
    "math": MATH,
    "directives": DIRECTIVES,
}

# A chat message may hold 20,000 characters (glmchat/hosting/inputs.py), and one message carries the payload both
# as text and as base64 for sim:say: about 7,000 characters of payload fit.
CHUNK = 7_000


def messages() -> list[tuple[str, str, str]]:
    """(kind, marker, text): the groups cut into messages of at most about CHUNK characters, each ending with
    a marker line of its own that the page can wait for."""
    out: list[tuple[str, str, str]] = []
    for kind, payloads in GROUPS.items():
        parts: list[list[str]] = [[]]
        for payload in payloads:
            if parts[-1] and len("\n\n".join(parts[-1] + [payload])) > CHUNK:
                parts.append([])
            parts[-1].append(payload)
        for part in parts:
            mark = f"END{len(out)}{kind.upper()}"
            out.append((kind, mark, "\n\n".join(part + [mark])))
    return out


# First lines that become conversation titles (clipped to 40 characters by the app).
TITLES = [
    f"<img src=x onerror={PWN}>",
    f"[t](javascript:{PWN})",
    f"![t](https://{EVIL}/title.png)",
    f"$\\href{{{JS}}}{{t}}$",
    ":red[t] :material/home: :streamlit:",
    f"<javascript:{PWN}>",
]
# The titles that read the same on the page (word joiners aside); the rest lose their inert link syntax.
LITERAL_TITLES = [TITLES[0], TITLES[4], TITLES[5]]


def oversized(size: int) -> str:
    """About `size` characters of unbalanced, link-heavy Markdown with hostile HTML, no blank line."""
    unit = (
        "[" * 20
        + "x"
        + "](" * 20
        + f"https://{EVIL}/p.png"
        + ")" * 10
        + " *_`$ "
        + f"<img src=x onerror={PWN}> "
        + "> - 1. "
        + "\\" * 7
        + " :red["
        + "![" * 10
        + "\n"
    )
    return (unit * (size // len(unit) + 1))[:size]


BIG_BLOCK_END = "BIG-BLOCK-END"
# One copy of the model's oversized reply (sim:say with sim:repeat, to about 200 KB): a long answer of the
# usual shapes with payloads in between, as a model talked into writing them would produce.
BIG_BLOCK = f"""## A section of a very long answer

Some prose with **bold**, *italic*, `inline code`, a [link](https://ok.example/docs) and math $x^2 + y^2$.
It goes on for a while, as long answers do, and then slips in <img src=x onerror={PWN}> and
[a link](javascript:{PWN}) and ![an image](https://{EVIL}/big.png) and :red[colour] :material/home:.

- a list item with <script>{PWN}</script>
- another one, with a reference [there][big] and an autolink <javascript:{PWN}>
  1. nested, with `code` and \\(\\href{{{JS}}}{{x}}\\)

[big]: vbscript:msgbox(1)

```python
def f(a, b):
    return a < b and "<img src=x onerror={PWN}>"  # stays code
```

| column | other |
|---|---|
| <b>cell</b> | [x](data:text/html,x) |

> A quote with a [link](https://ok.example/quote) and $\\url{{{JS}}}$.

{"Then the answer carries on in plain prose for a good while, the way long answers do. " * 13}

{BIG_BLOCK_END}

"""

BIG_IMPORT_END = "BIG-IMPORT-END"
# An imported 120 KB message whose brackets nest 30,000 deep: quadratic for a renderer that looks at
# everything inside each "[" again.
BIG_IMPORT = "[" * 30_000 + oversized(60_000) + "]" * 30_000 + f"\n\n{BIG_IMPORT_END}"


# -- a hostile export file (History page > Import) -------------------------------------------------------


def png() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


# Stored web-search sources (glmchat.chat.sources.to_record format); only the last two have usable links.
HOSTILE_SOURCES = [
    {"n": 1, "title": f"<img src=x onerror={PWN}>", "site": "x", "link": JS, "refer": "ref_1"},
    {
        "n": 2,
        "title": f"![s](https://{EVIL}/source.png)",
        "site": EVIL,
        "link": f"java\tscript:{PWN}",
        "refer": "ref_2",
    },
    {"n": 3, "title": "entity", "site": "z", "link": f"jav&#x61;script:{PWN}", "refer": "ref_3"},
    {
        "n": 4,
        "title": "[t](javascript:1) :red[x]",
        "site": "y",
        "link": f"https://ok.example/a)[x]({JS}",
        "refer": "ref_4",
    },
    {"n": 5, "title": "fine", "site": "ok.example", "link": "https://ok.example/fine", "refer": "ref_5"},
]
SAFE_SOURCE_LINKS = {"https://ok.example/a%29%5Bx%5D%28javascript:window.__xss=1", "https://ok.example/fine"}

IMPORT_MARK = "IMPORTED-END"
# A word only the imported assistant message holds: the History search shows it in a snippet.
IMPORT_NEEDLE = "needle7f3a"


def hostile_export() -> dict:
    """An export (glmchat.store.validate_export format) whose text fields are all hostile."""
    everything = "\n\n".join(RAW_HTML[:10] + IMAGES[:3] + MATH[:3] + DIRECTIVES[:4] + link_payloads()[:40])
    user = {
        "id": "u1",
        "role": "user",
        "content": f"{everything}\n\n{IMPORT_MARK}",
        "attachments": [
            {
                "name": "photo.png",
                "kind": "image",
                "size": 60,
                "mime": "image/png",
                "data": png(),
                "width": 8,
                "height": 8,
                "tokens": 1,
                "text": None,
            },
            {
                "name": f"[doc](javascript:{PWN}) ![d](https://{EVIL}/d.png) :red[x].txt",
                "kind": "text",
                "size": 1,
                "mime": "text/plain",
                "data": "eA==",
                "text": "x",
            },
        ],
    }
    answer = {
        "id": "a1",
        "role": "assistant",
        "reasoning": everything,
        "status": "done",
        "error": None,
        "finish_reason": "stop",
        "meta": {"model": "glm-4-flash"},
        "sources": HOSTILE_SOURCES,
        "content": f"{IMPORT_NEEDLE} cites [ref_1][ref_2][ref_3][ref_4][ref_5]\n\n{everything}\n\n{IMPORT_MARK}",
        "alternatives": [{"content": everything, "meta": {"model": "glm-4-flash"}}],
    }
    return {
        "format": "glmchat-export",
        "version": 1,
        "conversations": [
            {
                "title": f"Imported <img src=x onerror={PWN}> ![t](https://{EVIL}/import.png)",
                "model": "glm-4-flash",
                "settings": {"summary": {"text": everything, "upto": "u1"}},
                "messages": [user, answer],
            },
            {
                "title": f"Big [x](javascript:{PWN}) :red[y] $\\href{{{JS}}}{{z}}$",
                "model": "glm-4-flash",
                "messages": [{"id": "u1", "role": "user", "content": BIG_IMPORT}],
            },
        ],
    }


# Saved fields the app draws as they are: each must be inert too (model name, error code, image caption).
META = f"![m](//{EVIL}/m.png) [d](data:,x) :red[m]"
# Names for uploaded files (no "/" or "\\": browsers take those for folders).
IMAGE_NAME = "[d](data:,x) :red[i].png"
DOC_NAME = f"<img src=x onerror={PWN}> [d](data:,x) x].txt"
# A saved document name that is inert Markdown as it stands; but st.badge turns every "\\[" into "\\\\[",
# which re-arms the brackets safe_inline escaped.
BADGE_NAME = "x] [b\\](data:,x).txt"


def hostile_meta_export() -> dict:
    return {
        "format": "glmchat-export",
        "version": 1,
        "conversations": [
            {
                "title": "Imported metadata",
                "model": "glm-4-flash",
                "messages": [
                    {
                        "id": "u1",
                        "role": "user",
                        "content": "question",
                        "attachments": [
                            {
                                "name": META[:30],
                                "kind": "image",
                                "size": 60,
                                "mime": "image/png",
                                "data": png(),
                                "width": 8,
                                "height": 8,
                                "tokens": 1,
                                "text": None,
                            },
                            {
                                "name": BADGE_NAME,
                                "kind": "text",
                                "size": 1,
                                "mime": "text/plain",
                                "data": "eA==",
                                "text": "x",
                            },
                        ],
                    },
                    {
                        "id": "a1",
                        "role": "assistant",
                        "content": "answer",
                        "reasoning": "",
                        "status": "done",
                        "error": None,
                        "finish_reason": "stop",
                        "meta": {"model": META},
                        "alternatives": [{"content": "earlier", "meta": {"model": META}}],
                    },
                    {"id": "u2", "role": "user", "content": "again"},
                    {
                        "id": "a2",
                        "role": "assistant",
                        "content": "",
                        "reasoning": "",
                        "status": "error",
                        "finish_reason": None,
                        "error": {"kind": "server", "status": 500, "code": META},
                        "meta": {"model": META, "usage": {"prompt_tokens": 1}},
                    },
                ],
            }
        ],
    }
