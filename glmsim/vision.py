"""The contract's vision rules (glm-api.md §6, §12, §19), enforced per model as the API would.

Content arrays with images only for vision models, and only in user messages; GLM-4V-Flash takes image
URLs only, no base64; at most a model's number of images per request; each image at most 5 MB and
6000×6000 px, and JPEG or PNG. The contract names no error code for a broken image rule, so each is the
generic 400 "1214" on `messages` [uncertain], as the API answers other invalid messages.
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
_MEDIA = frozenset({"image_url", "video_url", "file_url"})


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
    """Why the request's media break the model's rules (the field the 1214 names), or None."""
    model = req.get("model")
    rules = VISION_MODELS.get(model)
    images = 0
    for message in req.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        media = [p for p in content if isinstance(p, dict) and p.get("type") in _MEDIA]
        if not media:
            continue
        if rules is None or message.get("role") != "user":
            return "messages"  # a text model, or images outside a user message
        for part in media:
            if part.get("type") != "image_url":
                continue
            images += 1
            url = str((part.get("image_url") or {}).get("url") or "")
            if url.startswith(("http://", "https://")):
                continue  # a link: the API fetches it; nothing to check here
            if rules[1]:
                return "messages"  # URLs only (GLM-4V-Flash)
            data = image_bytes(url)
            facts = image_facts(url)
            if data is None or facts is None or len(data) > MAX_IMAGE_BYTES:
                return "messages"
            fmt, width, height = facts
            if fmt not in FORMATS or max(width, height) > MAX_SIDE:
                return "messages"
    if rules is not None and images > rules[0]:
        return "messages"
    return None
