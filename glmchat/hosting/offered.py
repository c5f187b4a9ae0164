"""Widget values checked against what the server offered, before anything uses them.

A visitor can send any WebSocket message, not only what the widgets allow: Streamlit hands a selectbox
a value that is not among its options, and a slider or number input a value outside its range. Each
helper returns the value when the widget could have produced it, else the given default. No Streamlit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection

# What the sidebar's widgets offer (glmchat/ui/sidebar.py draws them with these bounds).
TEMPERATURE = (0.0, 1.0)
TOP_P = (0.01, 1.0)
SYSTEM_CHARS = 8000
CUSTOM_MODEL_CHARS = 64
VISITOR_KEY_CHARS = 256
PASSWORD_CHARS = 200
SEARCH_CHARS = 200
# A model id as the platform writes them (glm-4.7, glm-4v-plus-0111, charglm-4): no spaces or controls.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")


def choice(value: object, options: Collection[str], default: str) -> str:
    return value if isinstance(value, str) and value in options else default


def number(value: object, low: float, high: float, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return float(value) if low <= value <= high else default


def whole(value: object, low: int, high: int, default: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a figure saved in JSON may come back as 4096.0
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value if low <= value <= high else default


def flag(value: object, default: bool) -> bool:
    return value if isinstance(value, bool) else default


def text(value: object, max_chars: int, default: str = "") -> str:
    return value if isinstance(value, str) and len(value) <= max_chars else default


def model_id(value: object) -> str:
    """A custom model id typed by the visitor, or "" when it is not one."""
    value = text(value, CUSTOM_MODEL_CHARS).strip()
    return value if _MODEL_ID.fullmatch(value) else ""


def visitor_key(value: object) -> str | None:
    """An API key typed by the visitor: printable ASCII without spaces (it goes into a header), or None."""
    value = text(value, VISITOR_KEY_CHARS).strip()
    return value if value and value.isascii() and value.isprintable() and " " not in value else None


def feedback(value: object) -> int | None:
    """st.feedback("thumbs"): 0, 1 or nothing."""
    return value if type(value) is int and value in (0, 1) else None
