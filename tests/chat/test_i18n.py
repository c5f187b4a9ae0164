import re

from conftest import ROOT

from glmchat.chat.i18n import LANGS, STRINGS, lang_from_locale, t


def test_every_string_exists_in_both_languages_with_the_same_placeholders():
    for key, texts in STRINGS.items():
        assert set(texts) - {"en_one"} == set(LANGS), key
        assert all(texts[lang].strip() for lang in LANGS), key
        fields = {lang: set(re.findall(r"{(\w+)}", texts[lang])) for lang in LANGS}
        assert fields["zh"] == fields["en"], key
        if "en_one" in texts:  # the singular: the same fields but n, which it spells out
            assert set(re.findall(r"{(\w+)}", texts["en_one"])) == fields["en"] - {"n"}, key


def test_english_counts_of_one_are_singular():
    assert t("history.count", "en", n=1) == "1 conversation" and t("history.count", "en", n=2) == "2 conversations"
    assert t("history.messages", "en", n=1) == "1 message"
    assert t("side.usage_line", "en", n=1, prompt=3, completion=4, cost="0").startswith("1 request ·")
    assert t("history.count", "zh", n=1) == "共 1 个对话"


def test_every_key_used_in_code_exists():
    used = set()
    for path in list((ROOT / "glmchat").rglob("*.py")) + list((ROOT / "app_pages").glob("*.py")) + [ROOT / "app.py"]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']""", path.read_text()))
    assert len(used) > 20, "found too few t() calls"
    assert used <= set(STRINGS), used - set(STRINGS)


def test_every_error_kind_has_a_message():
    from glmchat.chat.errors import Kind

    for kind in Kind:
        assert f"error.{kind.value}" in STRINGS, kind


def test_locale_detection():
    assert lang_from_locale("zh-CN") == "zh" and lang_from_locale("zh-Hant-TW") == "zh"
    assert lang_from_locale("en-US") == "en" and lang_from_locale(None) == "en"


def test_formatting():
    assert "3" in t("chat.retrying", "zh", s=3, n=2) and "attempt 2" in t("chat.retrying", "en", s=3, n=2)
