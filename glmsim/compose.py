"""What an accepted chat request gets back: its reply, before it is framed as a stream or a body.

``compose`` picks the answer (a canned demo reply, or the text a trigger asks for), the reasoning (thinking
models, ``sim:think``, the GLM-Z1 ``<think>`` style) and the web search results with their citations; then
cuts the reply where a trigger, ``max_tokens`` or a ``stop`` word says, and sets its finish_reason, ending
and usage. ``glmsim.wire`` turns the ``Reply`` into bytes.
"""

from __future__ import annotations

import re

from glmsim import replies
from glmsim.tokens import CJK_RE
from glmsim.triggers import copies, number, say, strip_triggers
from glmsim.validation import OFFLINE_DEMO_MODEL, web_search_options
from glmsim.wire import Reply, split_pieces

_THINKING_PREFIXES = ("glm-5", "glm-4.5", "glm-4.6", "glm-4.7", "glm-4.1v-thinking")
_ENDINGS = ("cut", "stall", "streamerror", "malformed")
# The shape of glm-api.md §14's parsed call: id, type, index, function{name, arguments as a JSON string}.
TOOL_CALL = {
    "id": "call_sim_0001",
    "type": "function",
    "index": 0,
    "function": {"name": "get_weather", "arguments": '{"city": "北京"}'},
}


def compose(req: dict, text: str, triggers: dict[str, str], prompt_tokens: int) -> Reply:
    """The reply to a validated request whose last user message is ``text``."""
    model = req["model"]
    chinese = bool(CJK_RE.search(text))
    thinking = req.get("thinking")
    # Test/debug replies only reason when asked to, so their content stays predictable.
    synthetic = bool({"echo", "html", "slow", "say"} & triggers.keys())
    search = web_search_options(req)
    results: list[dict] = []
    if search is not None:
        hostile = "sources-hostile" in triggers
        results = replies.hostile_results() if hostile else replies.search_results(text, search, chinese)
        citations = replies.citations(results, chinese, hostile)
    else:
        citations = ""
    if "tokens" in triggers and triggers["tokens"].isdigit():
        count = int(triggers["tokens"])
        content = [f"tok{i} " for i in range(count - 1)] + ([f"tok{count - 1}"] if count else [])
        reasoning: list[str] = []
    else:
        if "echo" in triggers:
            answer = replies.echo(req)
        elif "html" in triggers:
            answer = replies.HTML_REPLY
        elif "say" in triggers:
            answer = say(triggers["say"]) or ""
        elif "slow" in triggers:
            answer = replies.slow_reply()
        else:
            answer = replies.canned_reply(text, chinese, citations)
            if seen := replies.describe_images(req, chinese):
                answer = f"{seen}\n\n{answer}"
        stop = req.get("stop")
        stop_word = stop if isinstance(stop, str) else (stop[0] if stop else None)
        if stop_word and stop_word in answer:
            answer = answer[: answer.index(stop_word)]
        thinks = model.startswith(_THINKING_PREFIXES) or model == OFFLINE_DEMO_MODEL
        wants_reasoning = "think" in triggers or (
            not synthetic
            and thinks
            and (thinking is None or thinking.get("type") == "enabled")
            and req.get("reasoning_effort") != "none"
            and (model == OFFLINE_DEMO_MODEL or len(strip_triggers(text).strip()) >= 6)
        )
        z1 = "z1" in triggers or (model.startswith("glm-z1") and "think" not in triggers and not synthetic)
        reasoning_text = replies.reasoning_text(text, chinese)
        if z1:
            content, reasoning = split_pieces(f"<think>\n{reasoning_text}\n</think>\n\n"), []
        else:
            content, reasoning = [], split_pieces(reasoning_text) if wants_reasoning else []
        repeat = copies(triggers)
        answer_pieces = [answer] * repeat if repeat else split_pieces(answer)
        if "box" in triggers:  # GLM-4.5V/4.6V's answer box (glm-api.md §19), each marker split across chunks
            answer_pieces = ["<|begin_of", "_box|>", *answer_pieces, "<|end_of_box", "|>"]
        content += answer_pieces

    finish: str | None = "stop"
    ending = ""
    tool_calls = None
    for name in ("sensitive", "length", "network_error"):
        if name in triggers:
            content, finish = content[: max(1, len(content) // 2)], name
    if "context_exceeded" in triggers:
        content, finish = content[: max(1, len(content) // 2)], "model_context_window_exceeded"
    if re.fullmatch(r"[a-z_]{1,40}", triggers.get("finish", "")):  # sim:finish=NAME: any value, known or not
        content, finish = content[: max(1, len(content) // 2)], triggers["finish"]
    if "tool_calls" in triggers:  # a function call no request offered: content "", the call, "tool_calls"
        content, finish = [], "tool_calls"
        tool_calls = [dict(TOOL_CALL)]
    max_tokens = req.get("max_tokens")
    if max_tokens is not None and len(reasoning) + len(content) > max_tokens:
        reasoning = reasoning[:max_tokens]
        content = content[: max_tokens - len(reasoning)]
        finish = "length"
    for name in _ENDINGS:
        if name in triggers:
            ending = name
    if ending and req.get("stream"):
        content = content[:5]
    if "nodone" in triggers and req.get("stream"):
        finish = None
    completion = len(reasoning) + len(content)
    cached = min(int(number(triggers.get("cached", "")) or 0), prompt_tokens)
    usage = (
        None
        if "nousage" in triggers
        else {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            # sim:cached=N: a cache hit of N prompt tokens (glm-api.md §13), part of prompt_tokens
            "prompt_tokens_details": {"cached_tokens": cached},
            # sim:reasoning_tokens: the field the SDK types but the API seldom sends (glm-api.md §8)
            **(
                {"completion_tokens_details": {"reasoning_tokens": len(reasoning)}}
                if "reasoning_tokens" in triggers
                else {}
            ),
        }
    )
    reply = Reply(reasoning, content, finish, usage, ending, tool_calls=tool_calls)
    if search is not None and search.get("search_result") is not False:
        reply.web_search = results
        reply.sources_first = search.get("result_sequence") == "before" or "sources-before" in triggers
    return reply
