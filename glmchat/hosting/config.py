"""Where the API key and endpoint come from: Streamlit secrets, then the environment (and .env)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

# The database URL setting: named by the store, which reads it itself (default_url) and imports nothing from here.
from glmchat.store.engine import DATABASE_URL_NAME  # noqa: F401 - config.DATABASE_URL_NAME, as before

KEY_NAME = "ZHIPUAI_API_KEY"
BASE_URL_NAME = "ZHIPUAI_BASE_URL"
ENV_FILE = Path(__file__).resolve().parents[2] / ".env"  # beside app.py, whatever the working directory


def load_env_file(path: Path | None = None) -> None:
    """Load the project's .env into the environment without overriding what is already set."""
    load_dotenv(path or ENV_FILE, override=False)


def _clean(value: object) -> str | None:
    # A blank key counts as missing: the SDK would send "Bearer " and retry for ~6 s.
    # TOML gives numbers and booleans for settings like GLMCHAT_LIMIT_RPM = 30: read them as text.
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def lookup(name: str, secrets: Mapping[str, object], environ: Mapping[str, str] = os.environ) -> str | None:
    """A setting from secrets first, then the environment; blank values count as missing."""
    return _clean(secrets.get(name)) or _clean(environ.get(name))


@dataclass(frozen=True)
class KeySource:
    """The API key in use and where it came from ("secrets", "env" or "visitor")."""

    key: str
    origin: str

    def __repr__(self) -> str:  # never show the key, even in a debugger or log
        return f"KeySource(origin={self.origin!r})"


def find_key(
    secrets: Mapping[str, object], visitor_key: object = None, environ: Mapping[str, str] = os.environ
) -> KeySource | None:
    """The key to use: secrets, then environment, then the visitor's own; None for the offline demo."""
    if key := _clean(secrets.get(KEY_NAME)):
        return KeySource(key, "secrets")
    if key := _clean(environ.get(KEY_NAME)):
        return KeySource(key, "env")
    if key := _clean(visitor_key):
        return KeySource(key, "visitor")
    return None


def base_url(secrets: Mapping[str, object], environ: Mapping[str, str] = os.environ) -> str | None:
    return lookup(BASE_URL_NAME, secrets, environ)
