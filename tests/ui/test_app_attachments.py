"""AppTest: images and documents attached to a message."""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib

from apptest import new_app
from PIL import Image
from streamlit.testing.v1 import AppTest

from glmchat.chat import attachments
from glmchat.chat.i18n import t
from glmchat.store import Store
from glmchat.ui import state


def png(w=64, h=48, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def huge_png_header(w=10_000, h=10_000) -> bytes:
    """A PNG claiming 100 megapixels, tiny on disk: refused before any pixel is decoded."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def submit(at: AppTest, text: str, *files) -> AppTest:
    box = at.chat_input[0]
    for name, data in files:
        box.upload(name, data)
    box.set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_image_goes_to_a_vision_model_as_a_content_array(app_env, db_url):
    at = submit(new_app(model="glm-4.5v"), "what colour is this? sim:tokens=3", ("red.png", png()))
    content = app_env.requests[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what colour is this? sim:tokens=3"}
    sent = base64.b64decode(content[1]["image_url"]["url"])  # the SDK strips the data: prefix
    assert Image.open(io.BytesIO(sent)).size == (64, 48)
    thumbs = at.chat_message[0].children[0].children.values()  # the row above the user's text
    assert [type(el).__name__ for el in thumbs] == ["Image"]
    saved = Store(db_url).messages("local", at.session_state[state.CONVERSATION])[0]
    assert saved["attachments"][0]["name"] == "red.png" and saved["attachments"][0]["kind"] == "image"
    assert at.session_state[state.MESSAGES][-1]["status"] == "done"


def test_a_png_goes_as_png_and_a_larger_one_says_it_was_scaled(app_env, db_url):
    shot = png(300, 80, (20, 20, 20))
    at = submit(new_app(model="glm-4.6v"), "read this sim:tokens=2", ("shot.png", shot), ("wide.png", png(3000, 100)))
    content = app_env.requests[-1]["messages"][-1]["content"]
    urls = [part["image_url"]["url"] for part in content[1:]]
    first, second = (Image.open(io.BytesIO(base64.b64decode(u))) for u in urls)
    assert first.format == "PNG" and first.size == (300, 80)  # lossless, as it came
    assert first.convert("RGB").tobytes() == Image.open(io.BytesIO(shot)).convert("RGB").tobytes()
    assert second.format == "PNG" and second.size == (2048, 68)
    notes = [a.get("note") for a in at.session_state[state.MESSAGES][0]["attachments"]]
    assert notes == ["", "scaled"]
    captions = " ".join(img.caption for el in at.get("image") for img in el.proto.imgs)
    assert t("attach.note_scaled", "en", w=2048, h=68) in captions and captions.count("scaled") == 1
    saved = Store(db_url).messages("local", at.session_state[state.CONVERSATION])[0]
    assert [a["note"] for a in saved["attachments"]] == ["", "scaled"]  # kept with the message


def test_a_png_turned_into_a_smaller_jpeg_says_both(app_env, db_url, monkeypatch):
    monkeypatch.setattr(attachments, "API_IMAGE_MAX_BYTES", 100 * 1024)  # noise this size is too big as PNG
    noise = Image.effect_noise((2600, 300), 100).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    at = submit(new_app(model="glm-4.6v"), "what is this? sim:tokens=2", ("noise.png", buf.getvalue()))
    sent = base64.b64decode(app_env.requests[-1]["messages"][-1]["content"][1]["image_url"]["url"])
    assert Image.open(io.BytesIO(sent)).format == "JPEG"
    record = at.session_state[state.MESSAGES][0]["attachments"][0]
    assert record["note"] == "scaled_reencoded" and record["width"] <= 2048
    captions = " ".join(img.caption for el in at.get("image") for img in el.proto.imgs)
    said = t("attach.note_scaled_reencoded", "en", w=record["width"], h=record["height"])
    assert said in captions and "JPEG" in said


def test_after_a_switch_to_a_text_model_earlier_images_are_left_out(app_env):
    at = submit(new_app(model="glm-4.6v"), "what colour is this? sim:tokens=2", ("red.png", png()))
    at.sidebar.selectbox(key=state.MODEL).set_value("glm-4.7").run()
    submit(at, "and in French? sim:tokens=2")
    sent = app_env.requests[-1]
    assert sent["model"] == "glm-4.7"
    # The API takes content arrays from vision models only: the earlier question goes as its text.
    assert [m["content"] for m in sent["messages"] if m["role"] == "user"] == [
        "what colour is this? sim:tokens=2",
        "and in French? sim:tokens=2",
    ]
    assert at.session_state[state.MESSAGES][-1]["status"] == "done"
    assert len(at.session_state[state.MESSAGES][0]["attachments"]) == 1  # still shown with its message


def test_image_with_a_text_model_says_so_without_an_upstream_call(app_env):
    at = new_app(model="glm-4-flash")
    before = app_env.attempts
    submit(at, "describe sim:tokens=2", ("cat.png", png()))
    assert app_env.attempts == before
    reply = [m for m in at.chat_message if m.name == "assistant"][-1]
    assert reply.error[0].value == t("attach.model_no_vision", "en")
    assert at.session_state[state.MESSAGES][0]["content"] == "describe sim:tokens=2"  # kept


def test_text_document_is_sent_as_context_in_front_of_the_message(app_env):
    doc = "# Notes\n量子纠缠 is spooky.\n```\ncode\n```\n".encode()
    at = submit(new_app(), "summarise the notes sim:tokens=2", ("notes.md", doc))
    sent = app_env.requests[-1]["messages"][-1]["content"]
    assert sent.startswith("Attached file: notes.md") and "量子纠缠 is spooky." in sent
    assert sent.endswith("summarise the notes sim:tokens=2")
    chip = at.chat_message[0].children[0].children[0].value  # st.badge is a Markdown directive
    assert chip.startswith(":gray-badge[:material/description: notes.md")


def test_hostile_files_are_refused_with_messages_and_never_sent(app_env):
    at = new_app(model="glm-4.5v")
    before = app_env.attempts
    zip_bomb = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zip_bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.bin", b"\0" * (300 * 1024 * 1024))
    files = [
        ("not-really.png", b"this is text, not an image"),
        ("huge.png", huge_png_header()),
        ("bomb.png", zip_bomb.getvalue()),
        ("../../etc/passwd.txt", b"root:x:0:0"),
        ("big.txt", b"a" * (11 * 1024 * 1024)),
    ]
    submit(at, "", *files)
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("not-really.png: ") and t("attach.not_image", "en") in w for w in warnings)
    assert any(w.startswith("huge.png: ") for w in warnings) and any(w.startswith("bomb.png: ") for w in warnings)
    assert any(w.startswith("big.txt: ") and "too big" in w for w in warnings)
    assert not any(w.startswith("../") for w in warnings)
    # The one acceptable file (passwd.txt, renamed safely) makes a message; nothing hostile went upstream.
    user = at.session_state[state.MESSAGES][0]
    assert [a["name"] for a in user["attachments"]] == ["passwd.txt"]
    for body in app_env.requests[before:]:
        text = repr(body)
        assert "not-really" not in text and "huge.png" not in text and "bomb.png" not in text


MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/Contents 4 0 R>>endobj\n"
    b"4 0 obj<</Length 44>>stream\nBT /F1 12 Tf 72 712 Td (Hello PDF world) Tj ET\nendstream endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def test_pdf_is_read_through_the_files_api_and_sent_as_context(app_env, db_url):
    at = submit(new_app(), "what does it say? sim:tokens=2", ("report.pdf", MINIMAL_PDF))
    sent = app_env.requests[-1]["messages"][-1]["content"]
    assert "Attached file: report.pdf" in sent and "Hello PDF world" in sent
    saved = Store(db_url).messages("local", at.session_state[state.CONVERSATION])[0]
    assert "Hello PDF world" in saved["attachments"][0]["text"]  # extracted once, kept


def test_web_search_sends_the_tool_and_shows_numbered_sources(app_env, db_url):
    at = new_app()
    at.sidebar.toggle(key=state.WEB_SEARCH).set_value(True).run()
    submit(at, "latest GLM news")
    assert app_env.requests[-1]["tools"] == [
        {
            "type": "web_search",
            "web_search": {"enable": True, "search_engine": "search_std", "search_result": True, "count": 5},
        }
    ]
    reply = at.session_state[state.MESSAGES][-1]
    assert len(reply["sources"]) == 5 and reply["sources"][0]["link"].startswith("https://")
    bubble = [m for m in at.chat_message if m.name == "assistant"][-1]
    text = " ".join(md.value for md in bubble.markdown)
    assert "[\\[1\\]](https://" in text  # a citation links to its source
    assert any(c.value == "Sources (5)" for c in bubble.caption)
    saved = Store(db_url).export("local")["conversations"][0]["messages"][-1]
    assert saved["sources"] == reply["sources"]  # saved, and in exports


def test_hostile_sources_yield_no_live_bad_link(app_env):
    at = new_app()
    at.sidebar.toggle(key=state.WEB_SEARCH).set_value(True).run()
    submit(at, "news sim:sources-hostile")
    bubble = [m for m in at.chat_message if m.name == "assistant"][-1]
    text = " ".join(md.value for md in bubble.markdown).lower()
    assert "](javascript" not in text and "](data:" not in text
    assert "\\<img src=x" in text and not re.search(r"(?<!\\)<img", text)  # shown as text, never a tag
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links and all(link.startswith("https://") for link in links)


def test_too_many_files_are_refused_before_any_is_decoded(app_env, monkeypatch):
    # Ten large images once cost ~10 s of CPU and +284 MB decoding and re-encoding each one, and only then
    # was the message refused for having too many: the count comes first now.
    decoded = []
    real = attachments._prepare_image
    monkeypatch.setattr(attachments, "_prepare_image", lambda name, data: decoded.append(name) or real(name, data))
    at = new_app(model="glm-4.5v")
    submit(at, "ten pictures", *[(f"p{i}.png", png()) for i in range(10)])
    assert decoded == [] and app_env.attempts == 0
    assert any(t("input.too_many_files", "en", limit=5, actual=10) in w.value for w in at.warning)
    assert at.session_state[state.MESSAGES] == []
    submit(at, "two pictures", *[(f"q{i}.png", png()) for i in range(2)])
    assert decoded == ["q0.png", "q1.png"]  # within the limit, they are decoded as before
