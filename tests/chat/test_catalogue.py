import pytest

from glmchat.chat import catalogue
from glmsim.simulator import KNOWN_MODELS

REQUIRED = [
    "glm-4.6",
    "glm-4.5",
    "glm-4.5-air",
    "glm-4.5-flash",
    "glm-4-plus",
    "glm-4-air",
    "glm-4-airx",
    "glm-4-flash",
    "glm-4-flashx",
    "glm-4-long",
    "glm-z1-air",
    "glm-z1-flash",
]


def test_catalogue_lists_the_required_models_and_vision_models():
    cat = catalogue.load()
    for model_id in REQUIRED:
        assert model_id in cat.ids()
    assert [m.id for m in cat.models if m.supports("vision")], "no vision model listed"


def test_default_is_free_and_offline_demo_is_marked():
    cat = catalogue.load()
    assert cat.default.price_in == 0 and cat.default.price_out == 0
    assert cat.offline.offline and cat.offline.id == "glm-offline-demo"


def test_every_entry_is_sane_and_known_to_the_simulator():
    for m in catalogue.load().models:
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
    m = catalogue.load().get("glm-4.7")
    assert m.id == "glm-4.7" and m.cost(10, 10) is None


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
