"""The model catalogue: GLM models, their limits, prices and capabilities, loaded from models.toml."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CATALOGUE_FILE = Path(__file__).with_name("models.toml")


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

    def label(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Cost in ¥ of one request, or None when the price is unknown."""
        if self.price_in is None or self.price_out is None:
            return None
        return (prompt_tokens * self.price_in + completion_tokens * self.price_out) / 1_000_000


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
        return Model(
            id=model_id, name=model_id, name_zh=model_id, context=131072, max_output=4096, price_in=None, price_out=None
        )

    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    @property
    def default(self) -> Model:
        return self.get(self.default_id)

    @property
    def offline(self) -> Model:
        return self.get(self.offline_id)


def _model(raw: dict) -> Model:
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
