"""Widget values checked against what the widgets offer (glmchat/hosting/offered.py)."""

import math

from glmchat.hosting import offered


def test_choice_takes_only_an_offered_option():
    assert offered.choice("glm-4-plus", ["glm-4-plus", "glm-4-air"], "d") == "glm-4-plus"
    for forged in ("glm-4.7", "", None, 3, ["glm-4-plus"]):
        assert offered.choice(forged, ["glm-4-plus", "glm-4-air"], "d") == "d"


def test_numbers_within_the_widgets_range_only():
    assert offered.number(0.3, 0.0, 1.0, 0.75) == 0.3 and offered.number(1, 0.0, 1.0, 0.75) == 1.0
    for forged in (7.5, -0.01, math.nan, math.inf, True, "0.3", None):
        assert offered.number(forged, 0.0, 1.0, 0.75) == 0.75
    assert offered.whole(4096.0, 1, 4096, 7) == 4096 and offered.whole(1, 1, 4096, 7) == 1
    for forged in (0, 4097, 10**9, 1.5, True, "12", None):
        assert offered.whole(forged, 1, 4096, 7) == 7


def test_flags_texts_and_feedback():
    assert offered.flag(False, True) is False and offered.flag("no", True) is True and offered.flag(0, True) is True
    assert offered.text("abc", 3) == "abc" and offered.text("abcd", 3) == "" and offered.text(5, 3) == ""
    assert [offered.feedback(v) for v in (0, 1, None, 2, True, 1.0, "1")] == [0, 1, None, None, None, None, None]


def test_model_ids_and_visitor_keys_have_the_platforms_form():
    assert offered.model_id(" glm-4.7 ") == "glm-4.7" and offered.model_id("glm-4v-plus-0111") == "glm-4v-plus-0111"
    for forged in ("glm 4", "glm-4\nX", "-rf", "x" * 65, "模型", "", None, 42):
        assert offered.model_id(forged) == "", forged
    assert offered.visitor_key(" abc.DEF123 ") == "abc.DEF123"
    for forged in ("a b", "key\r\nX-Injected: 1", "密钥", "k" * 257, "", None):
        assert offered.visitor_key(forged) is None, forged
