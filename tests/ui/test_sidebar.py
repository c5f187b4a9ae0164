"""The sidebar's plain helpers: date groups and model labels."""

from datetime import UTC, datetime, timedelta, timezone

from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.ui.sidebar import day_group, model_label


def test_day_groups_follow_the_browsers_calendar_day():
    shanghai = timezone(timedelta(hours=8))
    now = datetime(2026, 12, 6, 0, 30, tzinfo=shanghai)  # just after midnight in Shanghai
    assert day_group(datetime(2026, 12, 5, 16, 20, tzinfo=UTC), now) == "today"  # 00:20 in Shanghai
    assert day_group(datetime(2026, 12, 5, 15, 50, tzinfo=UTC), now) == "yesterday"  # 23:50 the day before
    assert day_group(datetime(2026, 12, 4, 15, 50, tzinfo=UTC), now) == "earlier"
    assert day_group(now + timedelta(minutes=5), now) == "today"  # a clock a little ahead is not "tomorrow"


def test_model_labels_say_what_a_model_does_and_costs():
    cat = load()
    assert model_label(cat.get("glm-4.6"), "en", has_key=True) == "GLM-4.6 💭🔎 ¥2/8"
    assert model_label(cat.get("glm-4.5-flash"), "en", has_key=True) == "GLM-4.5-Flash (free) 💭🔎"  # said once
    assert model_label(cat.get("glm-4.5-flash"), "zh", has_key=True) == "GLM-4.5-Flash（免费） 💭🔎"
    assert model_label(cat.offline, "en", has_key=True).endswith(" " + t("side.free", "en"))
    assert model_label(cat.get("glm-4.5v"), "zh", has_key=False).endswith(t("side.needs_key", "zh"))
    demo = model_label(cat.offline, "en", has_key=False)
    assert "🖼" in demo and t("side.needs_key", "en") not in demo
    assert model_label(cat.get("my-custom-id"), "en", has_key=True) == "my-custom-id"  # no price known
