"""System-prompt presets: a few built in (presets.toml), plus each owner's own, kept in the database."""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

PRESETS_FILE = Path(__file__).with_name("presets.toml")
MAX_USER_PRESETS = 50
MAX_NAME = 60
MAX_PROMPT = 8000


@dataclass(frozen=True)
class Preset:
    id: str  # "builtin:<id>" or "user:<name>"
    name: str
    prompt: str


@functools.cache  # static data shipped with the app
def _builtin_raw() -> tuple[dict, ...]:
    return tuple(tomllib.loads(PRESETS_FILE.read_text(encoding="utf-8"))["preset"])


def builtin(lang: str) -> list[Preset]:
    suffix = "zh" if lang == "zh" else "en"
    return [Preset(f"builtin:{p['id']}", p[f"name_{suffix}"], p[f"prompt_{suffix}"]) for p in _builtin_raw()]


def meta_key(owner: str) -> str:
    return f"presets:{owner}"


def parse_user(raw: str | None) -> list[Preset]:
    """The owner's presets from their stored JSON; anything malformed is skipped."""
    try:
        items = json.loads(raw) if raw else []
    except ValueError:
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("prompt"), str):
            out.append(Preset(f"user:{item['name']}", item["name"], item["prompt"]))
    return out


def with_user_preset(existing: list[Preset], name: str, prompt: str) -> str:
    """The stored JSON after saving name → prompt (replacing a preset of the same name)."""
    name, prompt = name.strip()[:MAX_NAME], prompt[:MAX_PROMPT]
    if not name:
        raise ValueError("a preset needs a name")
    kept = [p for p in existing if p.name != name][: MAX_USER_PRESETS - 1]
    return json.dumps(
        [{"name": p.name, "prompt": p.prompt} for p in kept] + [{"name": name, "prompt": prompt}], ensure_ascii=False
    )


def find(presets: list[Preset], preset_id: str | None) -> Preset | None:
    return next((p for p in presets if p.id == preset_id), None)
