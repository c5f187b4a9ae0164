"""What the simulated API accepts: the models and their limits, and the parameter checks.

``invalid_field`` names the first parameter the real API would reject with 400 "1214" (messages, temperature,
top_p, max_tokens, stop, thinking, response_format, tools); ``tools`` is checked as glm-api.md §7 documents
it, web_search options included. The prompt's size is counted by the simulator's own tokenizer model
(``glmsim.tokens``, images included), not the app's estimate, and held against the model's context window.
"""

from __future__ import annotations

from glmsim import tokens, vision

_K = 1024
# (context window, max output) in tokens; from glm-api.md §9 and §12 (not read from the app's catalogue).
MODEL_LIMITS: dict[str, tuple[int, int]] = {
    # glm-api.md §12 (the current catalogue)
    "glm-5.2": (1024 * _K, 128 * _K),
    "glm-5.1": (200 * _K, 128 * _K),
    "glm-5": (200 * _K, 128 * _K),
    "glm-5-turbo": (200 * _K, 128 * _K),
    "glm-5v-turbo": (200 * _K, 128 * _K),
    "glm-4.7-flashx": (200 * _K, 128 * _K),
    "glm-4.7-flash": (200 * _K, 128 * _K),
    "glm-4.6v": (128 * _K, 32 * _K),
    "glm-4.6v-flashx": (128 * _K, 32 * _K),
    "glm-4.6v-flash": (128 * _K, 32 * _K),
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


def message_text(message: dict) -> str:
    """A message's text: its content string, or the text parts of a content array joined by newlines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def prompt_tokens(messages: list[dict]) -> int:
    """The prompt's tokens as the simulator's tokenizer model counts them, images included (glmsim.tokens)."""
    return tokens.prompt_tokens(messages, vision.image_size)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def invalid_field(req: dict, max_output: int) -> str | None:
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
    effort = req.get("reasoning_effort")  # GLM-5.2 only (glm-api.md §12 note 1: none…max)
    if effort is not None and not (req.get("model") in EFFORT_MODELS and effort in _EFFORTS):
        return "reasoning_effort"
    response_format = req.get("response_format")
    if response_format is not None and not (
        isinstance(response_format, dict) and response_format.get("type") in ("text", "json_object")
    ):
        return "response_format"
    tools = req.get("tools")
    if tools is not None and not valid_tools(tools):
        return "tools"
    return None


EFFORT_MODELS = frozenset({"glm-5.2"})
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
_TOOL_TYPES = frozenset({"function", "retrieval", "web_search", "mcp"})
_SEARCH_ENGINES = frozenset({"search_std", "search_pro", "search_pro_sogou", "search_pro_quark"})
_RECENCY = frozenset({"oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit"})
_CONTENT_SIZES = frozenset({"medium", "high"})
_SEQUENCES = frozenset({"before", "after"})
_MAX_TOOLS = 128


def valid_tools(tools: object) -> bool:
    if not isinstance(tools, list) or len(tools) > _MAX_TOOLS:
        return False
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") not in _TOOL_TYPES:
            return False
        if tool["type"] == "function":
            function = tool.get("function")
            if not (isinstance(function, dict) and isinstance(function.get("name"), str) and function["name"]):
                return False
        if tool["type"] == "web_search" and not valid_web_search(tool.get("web_search")):
            return False
    return True


def valid_web_search(ws: object) -> bool:
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


def web_search_options(req: dict) -> dict | None:
    """The first enabled web_search tool's options (already validated), or None."""
    for tool in req.get("tools") or ():
        if tool["type"] == "web_search" and tool["web_search"].get("enable") is not False:
            return tool["web_search"]
    return None
