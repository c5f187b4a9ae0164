"""Screenshots for the README: Chinese and English, light and dark, desktop and phone, on the offline demo.

    .venv/bin/python scripts/screenshots.py      # writes docs/ui-<lang>-<scheme>-<device>.png

Starts `streamlit run app.py` with no key (the offline demo) through the browser tests' helpers
(tests/browser.py) and drives Debian's Chromium.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the app's packages; the browser tests' helpers

from browser import CHROMIUM, CHROMIUM_ARGS, streamlit_app  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
QUESTIONS = {"zh-CN": "用一个小例子解释递归", "en-US": "Explain recursion with a small example"}


def main() -> None:
    # No key: the offline demo; a fresh SQLite file of its own (streamlit_app's default).
    with (
        streamlit_app("screenshots", {"ZHIPUAI_API_KEY": "", "ZHIPUAI_BASE_URL": ""}) as server,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for locale, question in QUESTIONS.items():
            for scheme in ("light", "dark"):
                for device, size in SIZES.items():
                    ctx = browser.new_context(locale=locale, color_scheme=scheme, viewport=size)
                    page = ctx.new_page()
                    page.goto(server.url)
                    box = page.get_by_test_id("stChatInputTextArea")
                    box.wait_for(timeout=30_000)
                    box.fill(question)
                    box.press("Enter")
                    usage = page.get_by_test_id("stChatMessage").nth(1).get_by_test_id("stCaptionContainer")
                    usage.filter(has_text="tokens").first.wait_for(timeout=60_000)
                    time.sleep(1.0)
                    # From the top: the model line and New chat above the chat (and the ↓ to the newest).
                    page.mouse.move(size["width"] * 0.7, size["height"] / 2)
                    for _ in range(10):
                        page.mouse.wheel(0, -2000)
                    time.sleep(0.5)
                    out = ROOT / "docs" / f"ui-{locale[:2]}-{scheme}-{device}.png"
                    page.screenshot(path=str(out))
                    print(out.relative_to(ROOT))
                    ctx.close()
        browser.close()


if __name__ == "__main__":
    main()
