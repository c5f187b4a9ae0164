"""The contract's vision rules (glm-api.md §6, §12, §19), enforced per model as the API would.

Content arrays only for vision models (§2.1 "Vision models take content arrays"), and only in user messages
(§6: system and assistant content stay plain strings; §14: a tool message's content is a string), made of
text, image_url, video_url and file_url parts; GLM-4V-Flash takes image URLs only, no base64; at most a
model's number of images per request; each image at most 5 MB and 6000×6000 px, and JPEG or PNG.
``file_url`` only for GLM-4.5V, 4.6V and 5V, as URLs, at most 50, never with image or video parts (§6, §19).
The contract names no error code for a broken rule, so each is the generic 400 "1214" on `messages`
[uncertain], as the API answers other invalid messages.
"""

from __future__ import annotations

import base64
import binascii
import io

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_SIDE = 6000
FORMATS = frozenset({"JPEG", "PNG"})

# model: (images per request, URLs only). §6: GLM-4.5V/4.6V/5V 50, GLM-4V-Plus-0111 5, GLM-4V-Flash 1 and
# URLs only. GLM-4V-Plus and GLM-4.1V-Thinking have no stated count: taken as 5 and 50 [uncertain]. The
# offline demo is the simulator's own model: 5.
VISION_MODELS: dict[str, tuple[int, bool]] = {
    "glm-4v-flash": (1, True),
    "glm-4v-plus": (5, False),
    "glm-4v-plus-0111": (5, False),
    "glm-4.5v": (50, False),
    "glm-4.6v": (50, False),
    "glm-4.6v-flashx": (50, False),
    "glm-4.6v-flash": (50, False),
    "glm-5v-turbo": (50, False),
    "glm-4.1v-thinking-flash": (50, False),
    "glm-4.1v-thinking-flashx": (50, False),
    "glm-offline-demo": (5, False),
}
_PARTS = frozenset({"text", "image_url", "video_url", "file_url"})
# §6: "file_url is only accepted by GLM-4.5V, GLM-4.6V and GLM-5V"; the 4.6V flash variants are taken to be
# GLM-4.6V too [uncertain: §12 lists "file" for glm-4.6v alone]. At most 50 files (§19).
FILE_MODELS = frozenset({"glm-4.5v", "glm-4.6v", "glm-4.6v-flashx", "glm-4.6v-flash", "glm-5v-turbo"})
MAX_FILES = 50


def image_bytes(url: str) -> bytes | None:
    """The image a part carries: a data URL or bare base64 (as the SDK sends it); None for a link or junk."""
    if url.startswith(("http://", "https://")):
        return None
    try:
        return base64.b64decode(url.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        return None


def image_facts(url: str) -> tuple[str, int, int] | None:
    """(format, width, height) from the image's header, without decoding its pixels; None if unreadable."""
    from PIL import Image, UnidentifiedImageError

    data = image_bytes(url)
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            return str(img.format), img.width, img.height
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def image_size(url: str) -> tuple[int, int] | None:
    facts = image_facts(url)
    return (facts[1], facts[2]) if facts else None


def refusal(req: dict) -> str | None:
    """Why the request's content arrays break the model's rules (the field the 1214 names), or None."""
    rules = VISION_MODELS.get(req.get("model"))
    images = files = videos = 0
    for message in req.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        if rules is None or message.get("role") != "user":
            return "messages"  # a text model, or an array outside a user message
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in _PARTS or not isinstance(part.get(kind), str if kind == "text" else dict):
                return "messages"
            if kind == "file_url":
                files += 1
                if req.get("model") not in FILE_MODELS or not _is_link(str(part[kind].get("url") or "")):
                    return "messages"
            elif kind == "video_url":
                videos += 1
            elif kind == "image_url":
                images += 1
                if _bad_image(str(part[kind].get("url") or ""), url_only=rules[1]):
                    return "messages"
    if rules is not None and images > rules[0] or files > MAX_FILES or (files and (images or videos)):
        return "messages"
    return None


def _is_link(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _bad_image(url: str, *, url_only: bool) -> bool:
    if _is_link(url):
        return False  # a link: the API fetches it; nothing to check here
    if url_only:
        return True  # URLs only (GLM-4V-Flash)
    data = image_bytes(url)
    facts = image_facts(url)
    if data is None or facts is None or len(data) > MAX_IMAGE_BYTES:
        return True
    fmt, width, height = facts
    return fmt not in FORMATS or max(width, height) > MAX_SIDE
