"""The one module that owns st.session_state keys; everything else gets plain values from here."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from glmchat import config
from glmchat.catalogue import Catalogue, Model
from glmchat.client import Endpoint
from glmchat.config import KeySource
from glmchat.conversation import Totals
from glmchat.i18n import lang_from_locale

MESSAGES = "messages"
TOTALS = "totals"
RETRY = "retry_requested"
HAD_KEY = "had_key"           # whether a key was available on the previous run
PARAMS_FOR = "params_for"     # the model whose defaults the parameter widgets hold
# Widget keys.
LANG = "w_lang"
MODEL = "w_model"
CUSTOM_MODEL = "w_custom_model"
TEMPERATURE = "w_temperature"
TOP_P = "w_top_p"
MAX_TOKENS = "w_max_tokens"
SYSTEM = "w_system"
THINKING = "w_thinking"
VISITOR_KEY = "w_visitor_key"


def init() -> None:
    st.session_state.setdefault(MESSAGES, [])
    st.session_state.setdefault(TOTALS, Totals())


def messages() -> list[dict]:
    return st.session_state[MESSAGES]


def totals() -> Totals:
    return st.session_state[TOTALS]


def new_chat() -> None:
    st.session_state[MESSAGES] = []


def request_retry() -> None:
    st.session_state[RETRY] = True


def take_retry() -> bool:
    return bool(st.session_state.pop(RETRY, False))


def lang() -> str:
    choice = st.session_state.get(LANG, "auto")
    return choice if choice in ("zh", "en") else lang_from_locale(st.context.locale)


def secrets() -> dict:
    """Streamlit secrets as a plain mapping; empty when the app has no secrets file."""
    try:
        return {k: v for k, v in st.secrets.items()}
    except Exception:  # noqa: BLE001 - no secrets.toml, or an unreadable one, means no secrets
        return {}


def key_source(secret_values: dict) -> KeySource | None:
    return config.find_key(secret_values, st.session_state.get(VISITOR_KEY))


def choose_model_on_key_change(catalogue: Catalogue, has_key: bool) -> None:
    """Start on the demo without a key; switch to the default GLM model as soon as a key appears."""
    had_key = st.session_state.get(HAD_KEY)
    if MODEL not in st.session_state or (has_key and not had_key and st.session_state[MODEL] == catalogue.offline_id):
        st.session_state[MODEL] = catalogue.default_id if has_key else catalogue.offline_id
    st.session_state[HAD_KEY] = has_key


def reset_params_if_model_changed(model: Model) -> None:
    """Parameter widgets take the chosen model's defaults whenever the model changes."""
    if st.session_state.get(PARAMS_FOR) == model.id:
        return
    st.session_state[TEMPERATURE] = model.temperature
    st.session_state[TOP_P] = model.top_p
    st.session_state[MAX_TOKENS] = model.max_output
    st.session_state[PARAMS_FOR] = model.id


@dataclass(frozen=True)
class Settings:
    lang: str
    model: Model
    temperature: float
    top_p: float
    max_tokens: int
    system_prompt: str
    thinking: bool | None
    key: KeySource | None
    base_url: str | None

    def endpoint(self) -> Endpoint | None:
        """Where requests go; None when a real model is chosen but there is no key."""
        if self.model.offline:
            return Endpoint.offline()
        if self.key is None:
            return None
        return Endpoint(self.key.key, self.base_url)

    def params(self) -> dict:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
                "thinking": self.thinking}


def settings(catalogue: Catalogue, key: KeySource | None, base_url: str | None) -> Settings:
    custom = (st.session_state.get(CUSTOM_MODEL) or "").strip()
    model = catalogue.get(custom or st.session_state[MODEL])
    thinking = bool(st.session_state.get(THINKING, True)) if model.supports("thinking") else None
    return Settings(
        lang=lang(), model=model,
        temperature=float(st.session_state.get(TEMPERATURE, model.temperature)),
        top_p=float(st.session_state.get(TOP_P, model.top_p)),
        max_tokens=int(st.session_state.get(MAX_TOKENS, model.max_output)),
        system_prompt=st.session_state.get(SYSTEM, "") or "",
        thinking=thinking, key=key, base_url=base_url,
    )



def current_settings(catalogue: Catalogue) -> Settings:
    """This run's settings, from the widgets and the configuration (the key is never kept in state)."""
    secret_values = secrets()
    return settings(catalogue, key_source(secret_values), config.base_url(secret_values))
