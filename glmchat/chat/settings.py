"""This run's model and parameters, from what the sidebar's widgets hold, each checked against what they
offer (glmchat/hosting/offered.py). No Streamlit: the session-state layer hands the raw values in as `Widgets`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from glmchat.chat.catalogue import Catalogue, Model
from glmchat.hosting import offered
from glmchat.hosting.access import PERSONAL, SHARED
from glmchat.hosting.config import KeySource

if TYPE_CHECKING:
    from glmchat.chat.client import ChatRequest, Endpoint


@dataclass(frozen=True)
class Widgets:
    """The settings widgets' raw values, as a forged message may have left them."""

    model: object = None
    custom_model: object = None
    temperature: object = None
    top_p: object = None
    max_tokens: object = None
    system: object = None
    thinking: object = None
    effort: object = None
    web_search: object = None


# GLM-5.2's reasoning_effort, offered from the default down (glm-api.md §12 note 1: none…max, default max;
# [uncertain] whether low and medium differ from high, so each is offered as the platform names it).
EFFORTS = ("max", "high", "medium", "low", "none")


@dataclass(frozen=True)
class Settings:
    lang: str
    model: Model
    temperature: float
    top_p: float
    max_tokens: int
    system_prompt: str
    thinking: bool | None
    web_search: bool
    key: KeySource | None
    base_url: str | None
    effort: str | None = None  # reasoning_effort, for the models that take it

    def endpoint(self) -> Endpoint | None:
        """Where requests go; None when a real model is chosen but there is no key."""
        from glmchat.chat.client import Endpoint  # the SDK loads with the first request, not the first page

        if self.model.offline:
            return Endpoint.offline()
        if self.key is None:
            return None
        return Endpoint(self.key.key, self.base_url)

    def chat_request(self, messages: list[dict]) -> ChatRequest:
        """The request for these messages with this run's model and parameters."""
        from glmchat.chat.client import ChatRequest

        return ChatRequest(
            model=self.model.id,
            messages=messages,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            thinking=self.thinking,
            reasoning_effort=self.effort,
            web_search=self.web_search,
        )

    def params(self) -> dict:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "thinking": self.thinking,
            "reasoning_effort": self.effort,
            "web_search": self.web_search,
        }

    def conversation_settings(self, preset: str | None, summary: dict | None) -> dict:
        """What a conversation remembers and restores when it is opened again."""
        return {**self.params(), "system_prompt": self.system_prompt, "preset": preset, "summary": summary}

    def budget(self) -> int:
        """Prompt tokens a request may use: the context window less room for the answer."""
        return self.model.context - min(self.max_tokens, self.model.context // 2)


def custom_models_allowed(mode: str, local: bool, key: KeySource | None) -> bool:
    """A model outside the catalogue has no known price: offered on the visitor's own key, and on the host's
    to the machine's own user or in shared mode (the Turn's reservation still refuses it where limits in ¥
    would have to count it)."""
    if key is not None and key.origin == "visitor":
        return True
    return mode == SHARED or (mode == PERSONAL and local)


def checked(
    widgets: Widgets,
    catalogue: Catalogue,
    *,
    lang: str,
    key: KeySource | None,
    base_url: str | None,
    custom_allowed: bool,
) -> Settings:
    """The settings the widgets hold, each value used only if the sidebar offered it."""
    custom = offered.model_id(widgets.custom_model) if custom_allowed else ""
    fallback = catalogue.default_id if key is not None else catalogue.offline_id
    model = catalogue.get(custom or offered.choice(widgets.model, catalogue.ids(), fallback))
    if model.retired:  # a reopened conversation names a model the platform no longer serves
        model = catalogue.get(fallback)
    thinking = offered.flag(widgets.thinking, True) if model.supports("thinking") else None
    return Settings(
        lang=lang,
        model=model,
        temperature=offered.number(widgets.temperature, *offered.TEMPERATURE, model.temperature),
        top_p=offered.number(widgets.top_p, *offered.TOP_P, model.top_p),
        max_tokens=offered.whole(widgets.max_tokens, 1, model.max_output, model.max_output),
        system_prompt=offered.text(widgets.system, offered.SYSTEM_CHARS),
        thinking=thinking,
        web_search=offered.flag(widgets.web_search, False) and model.supports("web_search"),
        key=key,
        base_url=base_url,
        # How hard a model with `reasoning_effort` thinks; only while thinking is on.
        effort=offered.choice(widgets.effort, EFFORTS, EFFORTS[0])
        if thinking and model.supports("reasoning_effort")
        else None,
    )
