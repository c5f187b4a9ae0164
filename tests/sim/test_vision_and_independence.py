"""The simulator stands apart from the app (issue 16): it imports nothing from glmchat, counts tokens its own
way, and enforces the contract's vision rules per model (glm-api.md §6, §12, §19) through the real SDK."""

from __future__ import annotations

import ast
import base64
import io

import httpx
import pytest
import zhipuai
from conftest import CANARY_KEY, ROOT
from PIL import Image

from glmchat.chat.tokens import estimate_tokens
from glmsim import tokens
from glmsim.simulator import Simulator


def test_the_simulator_imports_nothing_from_the_app():
    found = []
    for path in sorted((ROOT / "glmsim").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "glmchat"]
    assert not found, found


@pytest.mark.parametrize(
    "text", ["Hello, world! How are you today?", "你好，世界。今天天气怎么样？", "x = 12345; y = [1, 2]"]
)
def test_its_count_is_its_own_not_the_apps_estimate(text):
    # Both are models of a tokenizer nobody ships; they need not agree, and for these texts they do not.
    assert tokens.text_tokens(text) != estimate_tokens(text)


def png(width: int, height: int, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def file_part(url: str = "https://example.com/report.pdf") -> dict:
    return {"type": "file_url", "file_url": {"url": url}}


@pytest.fixture
def client():
    sim = Simulator()
    http = httpx.Client(transport=sim.transport())
    yield zhipuai.ZhipuAI(api_key=CANARY_KEY, base_url="http://sim.local/api/paas/v4", http_client=http)
    http.close()


def ask(client, model: str, parts: list[dict], role: str = "user"):
    messages = [{"role": role, "content": [{"type": "text", "text": "what is it? sim:tokens=1"}, *parts]}]
    if role != "user":
        messages.append({"role": "user", "content": "and? sim:tokens=1"})
    return client.chat.completions.create(model=model, messages=messages)


def refused(client, model: str, parts: list[dict], role: str = "user") -> str:
    with pytest.raises(zhipuai.APIRequestFailedError) as info:
        ask(client, model, parts, role)
    assert info.value.status_code == 400
    return info.value.response.json()["error"]["code"]


def test_a_vision_model_takes_images_and_counts_them_in_the_prompt(client):
    small = ask(client, "glm-4.6v", [image_part(png(64, 48))])
    big = ask(client, "glm-4.6v", [image_part(png(560, 280))])
    # One token per 28×28 patch: 3×2 patches, then 20×10.
    assert big.usage.prompt_tokens - small.usage.prompt_tokens == 200 - 6
    assert small.choices[0].message.content == "tok0"


@pytest.mark.parametrize(
    "model, parts, role",
    [
        ("glm-4.7", [image_part(png(8, 8))], "user"),  # a text model
        ("glm-4.6v", [image_part(png(8, 8))], "assistant"),  # images outside a user message
        ("glm-4v-flash", [image_part(png(8, 8))], "user"),  # URLs only
        ("glm-4v-plus-0111", [image_part(png(8, 8))] * 6, "user"),  # at most 5
        ("glm-4.6v", [image_part(png(8, 8))] * 51, "user"),  # at most 50
        ("glm-4.6v", [image_part(png(8, 8, "GIF"))], "user"),  # JPEG or PNG only
        ("glm-4.6v", [image_part(png(6001, 10))], "user"),  # at most 6000 px a side
        ("glm-4.6v", [image_part("bm90IGFuIGltYWdl")], "user"),  # not an image
        ("glm-4.7", [], "user"),  # a content array, even of text alone, on a text model
        ("glm-4.6v", [], "system"),  # system content stays a plain string
        ("glm-4.6v", [{"type": "audio_url", "audio_url": {"url": "https://example.com/a.mp3"}}], "user"),
        ("glm-4.6v", [image_part(png(8, 8)), file_part()], "user"),  # file_url never with images
        ("glm-4.6v", [{"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}, file_part()], "user"),
        ("glm-4v-plus-0111", [file_part()], "user"),  # file_url: GLM-4.5V, 4.6V and 5V only
        ("glm-4.6v", [file_part("JVBERi0xLjQK")], "user"),  # file_url takes URLs only
        ("glm-4.6v", [file_part()] * 51, "user"),  # at most 50 files
    ],
)
def test_each_vision_rule_is_refused_as_the_api_does(client, model, parts, role):
    assert refused(client, model, parts, role) == "1214"


def test_the_limits_themselves_are_accepted(client):
    assert ask(client, "glm-4v-flash", [image_part("https://example.com/cat.png")]).choices
    assert ask(client, "glm-4v-plus-0111", [image_part(png(8, 8))] * 5).choices
    assert ask(client, "glm-4.6v", [image_part(png(8, 8, "JPEG"))] * 50).choices
    assert ask(client, "glm-4.6v", [image_part(png(6000, 10))]).choices
    assert ask(client, "glm-4.6v", [file_part()] * 50).choices
    assert ask(client, "glm-5v-turbo", [file_part()]).choices
    assert ask(client, "glm-4.5v", []).choices  # text alone in a content array, on a vision model


def test_an_image_over_5_mb_is_refused(client):
    noise = Image.effect_noise((1400, 1400), 120).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, "PNG", compress_level=0)
    assert len(buf.getvalue()) > 5 * 1024 * 1024
    assert refused(client, "glm-4.6v", [image_part(base64.b64encode(buf.getvalue()).decode())]) == "1214"
