"""Screenshots for the README: Chinese and English, light and dark, desktop and phone, on the offline demo.

    .venv/bin/python scripts/screenshots.py      # writes docs/ui-<lang>-<scheme>-<device>.png

Starts `streamlit run app.py` with no key (the offline demo) on a free port and drives Debian's Chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
QUESTIONS = {"zh-CN": "用一个小例子解释递归", "en-US": "Explain recursion with a small example"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    port = free_port()
    db = Path(tempfile.mkdtemp()) / "glmchat.db"  # a fresh history, not the developer's
    env = {**os.environ, "ZHIPUAI_API_KEY": "", "ZHIPUAI_BASE_URL": "", "GLMCHAT_DATABASE_URL": f"sqlite:///{db}"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for locale, question in QUESTIONS.items():
                for scheme in ("light", "dark"):
                    for device, size in SIZES.items():
                        ctx = browser.new_context(locale=locale, color_scheme=scheme, viewport=size)
                        page = ctx.new_page()
                        page.goto(url)
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
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
