"""Browser end-to-end test of what the bubble says about an image that could not go as it came (issue 16
item 5): a noisy PNG, too big for the API even after scaling, is sent as a smaller JPEG, and its thumbnail's
caption says both. Debian's Chromium against a real `streamlit run` process and the GLM simulator process.
"""

from __future__ import annotations

import io
import random

import pytest
from browser import (  # noqa: F401 - fixtures and helpers shared by the browser tests
    attach,
    bubbles,
    choose,
    context_meter,
    idle,
    keyed_app,
    open_app,
    reply_body,
    send,
    sim,
    sim_proc,
    tokens,
)
from PIL import Image
from playwright.sync_api import Page, expect

from glmchat.chat import attachments
from glmchat.chat.i18n import t

__all__ = ["sim_proc"]  # a fixture used via pytest, imported on purpose

EN = "en"
VISION = "GLM-4.5V (vision, thinking)"

expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def app(sim_proc, tmp_path_factory):
    yield from keyed_app("images", sim_proc, tmp_path_factory)


def noisy_png(width: int, height: int) -> bytes:
    """Random pixels: no PNG compresses them, so even scaled to 2048 px they are over the API's 5 MB."""
    pixels = random.Random(16).randbytes(width * height * 3)
    buf = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def test_a_png_sent_as_a_smaller_jpeg_says_so_under_its_thumbnail(page: Page, app, sim):
    data = noisy_png(2100, 1200)
    assert attachments.MAX_IMAGE_BYTES_IN > len(data) > attachments.API_IMAGE_MAX_BYTES
    open_app(page, app.url)
    choose(page, t("side.model", EN), VISION)
    expect(context_meter(page)).to_contain_text("/ 65.5K tokens")  # the model change has been run

    attach(page, {"name": "noise.png", "mimeType": "image/png", "buffer": data})
    send(page, "what is this? sim:tokens=3")

    user = bubbles(page, "user").first
    expect(user.get_by_test_id("stImage").locator("img")).to_have_count(1)
    said = t("attach.note_scaled_reencoded", EN, w=2048, h=1170)
    expect(user.get_by_test_id("stImageCaption")).to_have_text(f"noise.png · {said}")
    expect(reply_body(bubbles(page, "assistant").first)).to_have_text(tokens(3))
    idle(page)
    assert sim.stats()["requests"] == 1
