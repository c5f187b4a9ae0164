"""The sidebar's plain helpers: date groups and model labels."""

from datetime import UTC, datetime, timedelta, timezone

from glmchat.chat.catalogue import load
from glmchat.chat.i18n import t
from glmchat.ui.sidebar import ROW_WIDTH, day_group, model_label, row_title


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


def test_row_titles_are_cut_by_width_so_the_menu_stays_on_the_row():
    assert row_title("short") == "short" and row_title("  two   spaces ") == "two spaces"
    latin = row_title("a" * 40)
    assert latin == "a" * ROW_WIDTH + "…"
    chinese = row_title("量子计算" * 10)  # a Chinese character is two letters wide
    assert chinese == ("量子计算" * 4)[: ROW_WIDTH // 2] + "…"
    mixed = row_title("GLM 量子" + "x" * 30)
    assert sum(2 if "\u4e00" <= ch <= "\u9fff" else 1 for ch in mixed[:-1]) <= ROW_WIDTH
