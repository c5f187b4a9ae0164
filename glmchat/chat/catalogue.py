"""The model catalogue: GLM models, their limits, prices and capabilities, loaded from models.toml."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CATALOGUE_FILE = Path(__file__).with_name("models.toml")
# The limits assumed where a model's own are unknown: a custom id, a retired model.
UNKNOWN_CONTEXT, UNKNOWN_MAX_OUTPUT = 131072, 4096


@dataclass(frozen=True)
class Tier:
    """Prices from an input length (and, for some models, an output length) on; ¥ per million tokens."""

    input_from: int
    output_from: int
    price_in: float
    price_out: float
    price_cached: float


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    name_zh: str
    context: int
    max_output: int
    price_in: float | None  # ¥ per million input tokens; None when unknown (custom ids)
    price_out: float | None
    capabilities: frozenset[str] = field(default_factory=frozenset)
    temperature: float = 0.75
    top_p: float = 0.9
    offline: bool = False
    max_images: int = 0
    # ¥ per million cached input tokens; None when the platform lists none (they are charged as input then).
    price_cached: float | None = None
    tiers: tuple[Tier, ...] = ()  # higher tiers, in order; the fields above are the entry tier
    deprecated: bool = False  # not offered for new chats; saved conversations still name it
    retired: bool = False  # no longer served: never sent; a conversation naming it goes on with the default

    def label(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float | None:
        """Cost in ¥ of one request, or None when the price is unknown.

        `cached_tokens` are charged at the cached price. They are taken as part of `prompt_tokens`
        (glm-api.md §13 assumes so, [uncertain]); more cached than prompt tokens means the prompt excluded
        them: the prompt's tokens are then charged at the input price and the cached ones at the cached
        price. The tier is chosen by the request's own input (cached tokens included) and output lengths.
        """
        if self.price_in is None or self.price_out is None:
            return None
        cached = max(cached_tokens, 0)
        fresh = prompt_tokens - cached if cached <= prompt_tokens else prompt_tokens
        input_tokens = fresh + cached
        price_in, price_out = self.price_in, self.price_out
        price_cached = self.price_cached if self.price_cached is not None else self.price_in
        for tier in self.tiers:
            if input_tokens >= tier.input_from and completion_tokens >= tier.output_from:
                price_in, price_out, price_cached = tier.price_in, tier.price_out, tier.price_cached
        return (fresh * price_in + cached * price_cached + completion_tokens * price_out) / 1_000_000


@dataclass(frozen=True)
class Catalogue:
    models: tuple[Model, ...]
    default_id: str
    offline_id: str

    def get(self, model_id: str) -> Model:
        """The catalogue entry, or a conservative stand-in for a custom model id."""
        for m in self.models:
            if m.id == model_id:
                return m
        return _unknown(model_id, model_id, model_id)

    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    def offered(self) -> list[str]:
        """The ids a new chat may choose: every model but the deprecated and retired ones."""
        return [m.id for m in self.models if not (m.deprecated or m.retired)]

    @property
    def default(self) -> Model:
        return self.get(self.default_id)

    @property
    def offline(self) -> Model:
        return self.get(self.offline_id)


def _unknown(model_id: str, name: str, name_zh: str, **flags) -> Model:
    return Model(
        id=model_id,
        name=name,
        name_zh=name_zh,
        context=UNKNOWN_CONTEXT,
        max_output=UNKNOWN_MAX_OUTPUT,
        price_in=None,
        price_out=None,
        **flags,
    )


def _model(raw: dict) -> Model:
    if raw.get("retired"):  # only a name to show: nothing is sent to it, its figures do not matter
        return _unknown(raw["id"], raw["name"], raw.get("name_zh", raw["name"]), retired=True)
    return Model(
        id=raw["id"],
        name=raw["name"],
        name_zh=raw.get("name_zh", raw["name"]),
        context=int(raw["context"]),
        max_output=int(raw["max_output"]),
        price_in=float(raw["price_in"]),
        price_out=float(raw["price_out"]),
        capabilities=frozenset(raw.get("capabilities", ())),
        temperature=float(raw["temperature"]),
        top_p=float(raw["top_p"]),
        offline=bool(raw.get("offline", False)),
        max_images=int(raw.get("max_images", 0)),
        price_cached=float(raw["price_cached"]) if "price_cached" in raw else None,
        tiers=tuple(_tier(t) for t in raw.get("tier", ())),
        deprecated=bool(raw.get("deprecated", False)),
    )


def _tier(raw: dict) -> Tier:
    price_in = float(raw["price_in"])
    return Tier(
        input_from=int(raw.get("input_from", 0)),
        output_from=int(raw.get("output_from", 0)),
        price_in=price_in,
        price_out=float(raw["price_out"]),
        price_cached=float(raw.get("price_cached", price_in)),
    )


def parse(text: str) -> Catalogue:
    data = tomllib.loads(text)
    models = tuple(_model(m) for m in data["model"])
    ids = [m.id for m in models]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate model id in catalogue")
    for key in ("default", "offline"):
        if data[key] not in ids:
            raise ValueError(f"catalogue {key} model {data[key]!r} is not listed")
    return Catalogue(models=models, default_id=data["default"], offline_id=data["offline"])


@functools.cache  # static data shipped with the app: no user content
def load() -> Catalogue:
    return parse(CATALOGUE_FILE.read_text(encoding="utf-8"))
