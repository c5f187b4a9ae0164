import pytest

from glmchat.chat import catalogue
from glmchat.chat.settings import Widgets, checked
from glmchat.hosting.config import KeySource
from glmsim.simulator import KNOWN_MODELS

# glm-api.md §12: the platform's current chat, reasoning and vision models.
CURRENT = [
    "glm-5.2",
    "glm-5.1",
    "glm-5",
    "glm-5-turbo",
    "glm-5v-turbo",
    "glm-4.7",
    "glm-4.7-flashx",
    "glm-4.7-flash",
    "glm-4.6",
    "glm-4.6v",
    "glm-4.6v-flashx",
    "glm-4.6v-flash",
]

# §12's deprecated/legacy list (chatglm_* names no ids): kept for the saved conversations that name them.
LEGACY = ["glm-4-0520", "glm-4", "glm-4v", "glm-4v-plus", "glm-4v-plus-0111", "glm-zero-preview"]

# The rest of §12's table, and its "other models" (as in §9).
REQUIRED = CURRENT + [
    "glm-4.5",
    "glm-4.5-air",
    "glm-4.5-x",
    "glm-4.5-airx",
    "glm-4.5-flash",
    "glm-4.5v",
    "glm-4-plus",
    "glm-4-air",
    "glm-4-air-250414",
    "glm-4-airx",
    "glm-4-flash",
    "glm-4-flash-250414",
    "glm-4-flashx",
    "glm-4-flashx-250414",
    "glm-4-long",
    "glm-z1-air",
    "glm-z1-airx",
    "glm-z1-flash",
    "glm-z1-flashx",
    "glm-4v-flash",
    "glm-4.1v-thinking-flash",
    "glm-4.1v-thinking-flashx",
]

# glm-api.md §12's table, transcribed: id -> (thinking, function calling, ws listed, images).
SECTION_12 = {
    "glm-5.2": (True, True, False, False),
    "glm-5.1": (True, True, True, False),
    "glm-5": (True, True, True, False),
    "glm-5-turbo": (True, True, True, False),
    "glm-5v-turbo": (True, True, True, True),
    "glm-4.7": (True, True, False, False),
    "glm-4.7-flashx": (True, True, False, False),
    "glm-4.7-flash": (True, True, False, False),
    "glm-4.6": (True, True, False, False),
    "glm-4.6v": (True, True, False, True),
    "glm-4.6v-flashx": (True, True, False, True),
    "glm-4.6v-flash": (True, True, False, True),
    "glm-4.5": (True, True, False, False),
    "glm-4.5-air": (True, True, False, False),
    "glm-4.5-x": (True, True, False, False),
    "glm-4.5-airx": (True, True, False, False),
    "glm-4.5-flash": (True, True, False, False),
    "glm-4.5v": (True, False, False, True),
    "glm-4-plus": (False, True, True, False),
}


def test_catalogue_lists_the_required_models_and_vision_models():
    cat = catalogue.load()
    for model_id in REQUIRED + LEGACY:
        assert model_id in cat.ids(), model_id
    assert [m.id for m in cat.models if m.supports("vision")], "no vision model listed"


def test_default_is_free_and_offline_demo_is_marked():
    cat = catalogue.load()
    assert cat.default.price_in == 0 and cat.default.price_out == 0
    assert cat.offline.offline and cat.offline.id == "glm-offline-demo"


@pytest.mark.parametrize("model_id", sorted(SECTION_12))
def test_capabilities_follow_section_12(model_id):
    thinking, tools, ws, images = SECTION_12[model_id]
    m = catalogue.load().get(model_id)
    assert (m.supports("thinking"), m.supports("tools"), m.supports("vision")) == (thinking, tools, images)
    # ws where §12 lists it; on text models besides, as §7 documents the tool without naming models; on a
    # vision model only where §12 lists it (open question 8).
    assert m.supports("web_search") == (ws or not images)


def test_the_z1_models_think_in_tags_and_take_no_thinking_switch():
    for model_id in ("glm-z1-air", "glm-z1-airx", "glm-z1-flash", "glm-z1-flashx"):
        m = catalogue.load().get(model_id)
        assert m.supports("think_tags") and not m.supports("thinking"), model_id  # §8


def test_every_entry_is_sane_and_known_to_the_simulator():
    for m in catalogue.load().models:
        if m.retired:  # never sent; only its name is shown
            assert m.price_in is None and m.deprecated is False and m.id not in catalogue.load().offered()
            continue
        assert 0 < m.max_output <= m.context
        assert 0 <= m.temperature <= 1 and 0.01 <= m.top_p <= 1
        assert m.price_in >= 0 and m.price_out >= 0
        assert m.name and m.name_zh
        assert m.id in KNOWN_MODELS, m.id


def test_cost_uses_price_per_million():
    m = catalogue.load().get("glm-4-plus")  # 5 / 5 ¥ per million
    assert m.cost(1_000_000, 0) == pytest.approx(5.0)
    assert m.cost(18, 202) == pytest.approx((18 * 5 + 202 * 5) / 1e6)


def test_custom_id_gets_a_stand_in_with_unknown_price():
    m = catalogue.load().get("glm-9-custom")
    assert m.id == "glm-9-custom" and m.cost(10, 10) is None


def test_the_current_models_are_offered_first_and_the_deprecated_ones_only_kept():
    cat = catalogue.load()
    offered = cat.offered()
    assert offered[: len(CURRENT) + 1] == ["glm-offline-demo", *CURRENT]
    assert set(REQUIRED) <= set(offered)
    for model_id in LEGACY:  # a saved conversation still finds its model, a new one is not offered it
        assert model_id in cat.ids() and model_id not in offered, model_id
    # §9 gives figures for these: still served, with their price; glm-4-0520 retired 2025-12-30 (§12).
    assert [m for m in LEGACY if cat.get(m).deprecated] == ["glm-4", "glm-4v-plus", "glm-4v-plus-0111"]
    assert [m for m in LEGACY if cat.get(m).retired] == ["glm-4-0520", "glm-4v", "glm-zero-preview"]
    assert cat.get("glm-4v-plus-0111").cost(1_000_000, 0) == pytest.approx(4.0)


@pytest.mark.parametrize("key", [KeySource("k", "env"), None])
def test_a_retired_model_is_never_used_the_default_is(key):
    cat = catalogue.load()
    current = checked(Widgets(model="glm-4-0520"), cat, lang="en", key=key, base_url=None, custom_allowed=False)
    assert current.model.id == (cat.default_id if key else cat.offline_id)
    kept = checked(Widgets(model="glm-4"), cat, lang="en", key=key, base_url=None, custom_allowed=False)
    assert kept.model.id == "glm-4" and kept.model.deprecated  # deprecated, not retired: it goes on


@pytest.mark.parametrize(
    ("model", "prompt", "completion", "cached", "expected"),
    [
        # GLM-4.7: 2/8/0.4 under 32K input and 200 output; 3/14/0.6 from 200 output; 4/16/0.8 from 32K input
        ("glm-4.7", 1_000, 100, 0, 1_000 * 2 + 100 * 8),
        ("glm-4.7", 1_000, 300, 0, 1_000 * 3 + 300 * 14),
        ("glm-4.7", 40_000, 100, 0, 40_000 * 4 + 100 * 16),
        ("glm-4.7", 40_000, 300, 10_000, 30_000 * 4 + 10_000 * 0.8 + 300 * 16),
        ("glm-4.7", 1_000, 100, 600, 400 * 2 + 600 * 0.4 + 100 * 8),
        # GLM-5.1: 6/24/1.3; from 32K 8/28/2
        ("glm-5.1", 10_000, 500, 2_000, 8_000 * 6 + 2_000 * 1.3 + 500 * 24),
        ("glm-5.1", 32_000, 500, 0, 32_000 * 8 + 500 * 28),
        # No cached price listed: cached tokens cost what input costs
        ("glm-5.2", 10_000, 500, 4_000, 10_000 * 8 + 500 * 28),
        ("glm-4-plus", 18, 202, 0, (18 + 202) * 5),
        # More cached than prompt: the prompt excluded them (§13 [uncertain]); each is charged at its price
        ("glm-5", 100, 0, 500, 100 * 4 + 500 * 1.0),
        ("glm-4.7", 300, 1, 1024, 300 * 2 + 1024 * 0.4 + 8),
        # ... and the tier counts them: 20K + 20K is the ≥32K tier
        ("glm-5", 20_000, 0, 20_001, 20_000 * 6 + 20_001 * 1.5),
        ("glm-4.7-flash", 50_000, 5_000, 1_000, 0),
    ],
)
def test_cost_follows_the_tier_and_charges_cached_tokens_at_the_cached_price(
    model, prompt, completion, cached, expected
):
    m = catalogue.load().get(model)
    assert m.cost(prompt, completion, cached) == pytest.approx(expected / 1e6)


def test_every_tier_is_sane():
    for m in catalogue.load().models:
        previous = (0, 0)
        for tier in m.tiers:
            assert (tier.input_from, tier.output_from) > previous, m.id  # in order, each above the last
            previous = (tier.input_from, tier.output_from)
            assert tier.price_in >= m.price_in and tier.price_out >= m.price_out, m.id
            assert 0 <= tier.price_cached <= tier.price_in, m.id
        if m.price_cached is not None:
            assert 0 <= m.price_cached <= m.price_in, m.id


def test_labels_in_both_languages():
    m = catalogue.load().get("glm-4.5-flash")
    assert "免费" in m.label("zh") and "free" in m.label("en")


@pytest.mark.parametrize(
    "bad",
    [
        'default = "x"\noffline = "a"\n[[model]]\nid="a"\nname="A"\ncontext=1\nmax_output=1\nprice_in=0\n'
        "price_out=0\ntemperature=0.5\ntop_p=0.5\n",
        'default = "a"\noffline = "a"\n'
        + '[[model]]\nid="a"\nname="A"\ncontext=1\nmax_output=1\nprice_in=0\nprice_out=0\ntemperature=0.5\ntop_p=0.5\n'
        * 2,
    ],
)
def test_parse_rejects_inconsistent_data(bad):
    with pytest.raises(ValueError):
        catalogue.parse(bad)
