"""Chat attachments: images for vision models, documents as context.

Input is ``(name, data)`` pairs, e.g. ``[(f.name, f.getvalue()) for f in st.chat_input(accept_file="multiple").files]``.
No Streamlit here. Files are classified by CONTENT (magic bytes, a header-only image decode, a text decode), never
by the extension alone; the extension only picks the refusal message ("not an image" for a bogus ``.png``) and
the code-fence language.

* images (PNG, JPEG, WebP, GIF first frame) keep their quality: within ``IMAGE_MAX_SIDE`` (the app's choice
  for token cost) and the API's 5 MB, a JPEG is sent as it came with its metadata segments cut out (no
  re-encode), and anything else as a lossless PNG of its pixels (the API takes jpg/png only; a 16-bit
  greyscale PNG stays 16-bit). Only an image that is larger, or a JPEG that must be turned upright, is
  downscaled or re-encoded (JPEG q85), and its ``note`` (see ``NOTES``) says so for the bubble; metadata
  (EXIF, GPS) never goes;
* text documents (UTF-8 with or without BOM, UTF-16 with BOM, GB18030) become fenced blocks in the prompt
  (``document_context``);
* PDF / Office documents ("extract" kind) are sent to the files API (``extract_text``), whose text then goes
  into the prompt the same way.

``prepare`` never raises; every file ends up either as an ``Attachment`` or as a ``Refusal`` whose
``reason_key`` is an i18n key (see ``REFUSAL_KEYS``) and whose ``detail`` holds the values for the message.
"""

from __future__ import annotations

import base64
import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from glmchat.chat.tokens import estimate_tokens

if TYPE_CHECKING:
    from PIL import Image

# ---------------------------------------------------------------------------------------------------------
# Limits

MB = 1024 * 1024
MAX_FILES_PER_MESSAGE = 10
MAX_IMAGE_BYTES_IN = 20 * MB  # an uploaded image file
API_IMAGE_MAX_BYTES = 5 * MB  # what the API takes per image (glm-api.md §6)
API_IMAGE_MAX_SIDE = 6000  # px, per side (glm-api.md §6)
IMAGE_MAX_SIDE = 2048  # px: what we downscale to (longest side); must stay <= API_IMAGE_MAX_SIDE
JPEG_QUALITY = 85
MAX_PIXELS = 50_000_000  # refused from the header, before any pixel is decoded
MAX_DOC_BYTES = 10 * MB  # text and "extract" documents
MAX_TEXT_CHARS = 200_000  # decoded / extracted text
MAX_ZIP_UNCOMPRESSED = 200 * MB  # declared total of an Office zip; more is treated as a zip bomb
MAX_ZIP_ENTRIES = 10_000
NAME_MAX_CHARS = 100

REFUSAL_KEYS = (
    "attach.empty",  # 0 bytes
    "attach.too_many",  # beyond MAX_FILES_PER_MESSAGE; detail {limit}
    "attach.too_big",  # detail {size, limit}
    "attach.bomb",  # detail {width, height, limit} (image) or {uncompressed, limit} (zip)
    "attach.not_image",  # named like an image, content is not a usable PNG/JPEG/WebP/GIF
    "attach.not_text",  # named like a text file, content is binary
    "attach.text_too_long",  # detail {chars, limit}
    "attach.unsupported",  # anything else; detail {kind?}
)
IMAGE_EXTS = frozenset(
    {"png", "jpg", "jpeg", "jpe", "jfif", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif", "avif", "ico", "svg"}
)
TEXT_EXTS = frozenset(
    {
        "txt",
        "text",
        "md",
        "markdown",
        "rst",
        "csv",
        "tsv",
        "json",
        "jsonl",
        "log",
        "ini",
        "cfg",
        "conf",
        "xml",
        "py",
        "pyi",
        "ipynb",
        "js",
        "mjs",
        "cjs",
        "jsx",
        "ts",
        "tsx",
        "java",
        "kt",
        "kts",
        "scala",
        "c",
        "h",
        "cc",
        "cpp",
        "cxx",
        "hpp",
        "hh",
        "cs",
        "go",
        "rs",
        "rb",
        "php",
        "pl",
        "lua",
        "r",
        "m",
        "swift",
        "dart",
        "sql",
        "yaml",
        "yml",
        "toml",
        "html",
        "htm",
        "css",
        "scss",
        "sass",
        "less",
        "vue",
        "svelte",
        "sh",
        "bash",
        "zsh",
        "fish",
        "ps1",
        "bat",
        "cmd",
        "tex",
        "bib",
        "env",
        "properties",
        "gradle",
        "dockerfile",
        "makefile",
        "proto",
        "graphql",
        "srt",
        "vtt",
    }
)
EXTRACT_EXTS = frozenset({"pdf", "docx", "doc", "xlsx", "xls", "pptx", "ppt"})

_EXTRACT_MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
}
_TEXT_MIME = {
    "md": "text/markdown",
    "markdown": "text/markdown",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "html": "text/html",
    "htm": "text/html",
    "css": "text/css",
    "xml": "application/xml",
    "py": "text/x-python",
    "js": "text/javascript",
}
# Code-fence language hints (the rest use the extension itself when it is alphanumeric).
_FENCE_LANG = {
    "py": "python",
    "pyi": "python",
    "js": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "ts": "typescript",
    "md": "markdown",
    "yml": "yaml",
    "sh": "bash",
    "zsh": "bash",
    "rs": "rust",
    "kt": "kotlin",
    "rb": "ruby",
    "cc": "cpp",
    "cxx": "cpp",
    "hpp": "cpp",
    "h": "c",
    "htm": "html",
    "txt": "text",
    "text": "text",
    "log": "text",
    "cs": "csharp",
    "ps1": "powershell",
    "jsonl": "json",
}

# What was done to an image before it was sent, for the bubble (i18n key "attach.note_<note>"): made smaller
# (a JPEG stays JPEG, anything else a lossless PNG), re-encoded as JPEG at the same size, or both.
NOTES = ("scaled", "reencoded", "scaled_reencoded")

_PIL_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# ---------------------------------------------------------------------------------------------------------
# Data


@dataclass
class Attachment:
    name: str  # safe_name() of the upload name (an extract document may get its real extension appended)
    kind: str  # "image" | "text" | "extract"
    size: int  # bytes of the ORIGINAL upload
    mime: str  # of ``data``: image/jpeg or image/png for images; the detected type for documents
    data: bytes = field(repr=False)  # re-encoded image, or the original document bytes
    text: str | None = field(default=None, repr=False)  # decoded text; set for "extract" by extract_text()
    width: int = 0  # images: final size sent to the API
    height: int = 0
    note: str = ""  # images: one of NOTES when not sent as it was, else ""
    tokens: int = 0  # rough estimate of the text's tokens (0 for images and not yet extracted documents)

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass
class Refusal:
    name: str
    reason_key: str
    detail: dict = field(default_factory=dict)


class ExtractError(Exception):
    """extract_text() failed; ``reason_key`` is an i18n key, ``status``/``code`` come from the API if any."""

    def __init__(self, reason_key: str, *, status: int | None = None, code: str | None = None):
        super().__init__(reason_key)
        self.reason_key, self.status, self.code = reason_key, status, code


# ---------------------------------------------------------------------------------------------------------
# Names and small helpers


def safe_name(name: Any) -> str:
    """A display/upload-safe file name: basename only, no control or format characters, at most 100 chars."""
    try:
        text = name if isinstance(name, str) else (name.decode("utf-8", "replace") if isinstance(name, bytes) else "")
        text = unicodedata.normalize("NFC", text)
        text = re.split(r"[/\\]", text)[-1]
        # Cc: control characters (NUL, newline, ESC...); Cf: bidi overrides, zero-width characters;
        # Cs: lone surrogates (cannot be encoded anywhere).
        text = "".join(
            " " if ch.isspace() else ch
            for ch in text
            if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn") or ch in "\t\n\r"
        )
        text = " ".join(text.split())
        if text.strip(". ") == "":
            return "file"
        if len(text) > NAME_MAX_CHARS:
            stem, dot, ext = text.rpartition(".")
            if dot and stem and 0 < len(ext) <= 10:
                text = stem[: NAME_MAX_CHARS - len(ext) - 1].rstrip() + "." + ext
            else:
                text = text[:NAME_MAX_CHARS].rstrip()
        return text or "file"
    except Exception:  # pragma: no cover - defensive: never let a name break an upload
        return "file"


def _ext(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < MB:
        return f"{size / 1024:.1f} KB"
    return f"{size / MB:.1f} MB"


# ---------------------------------------------------------------------------------------------------------
# prepare()


class _Refuse(Exception):
    def __init__(self, key: str, **detail: Any):
        super().__init__(key)
        self.key, self.detail = key, detail


def prepare(files: Any) -> tuple[list[Attachment], list[Refusal]]:
    """Classify, check and convert uploads. Never raises; files are processed (and decoded) one at a time."""
    attachments: list[Attachment] = []
    refusals: list[Refusal] = []
    try:
        items = list(files or [])
    except Exception:
        return [], [Refusal("file", "attach.unsupported", {})]
    for index, item in enumerate(items):
        try:
            raw_name, data = item
        except Exception:
            raw_name, data = "", None
        name = safe_name(raw_name)
        try:
            if index >= MAX_FILES_PER_MESSAGE:
                raise _Refuse("attach.too_many", limit=MAX_FILES_PER_MESSAGE)
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            if not isinstance(data, bytes):
                raise _Refuse("attach.unsupported")
            attachments.append(_prepare_one(name, data))
        except _Refuse as refuse:
            refusals.append(Refusal(name, refuse.key, refuse.detail))
        except Exception:
            refusals.append(Refusal(name, "attach.unsupported", {}))
    return attachments, refusals


def _sniff_image(data: bytes) -> bool:
    return (
        data.startswith(b"\x89PNG\r\n\x1a\n")
        or data.startswith(b"\xff\xd8\xff")
        or data.startswith((b"GIF87a", b"GIF89a"))
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def _prepare_one(name: str, data: bytes) -> Attachment:
    size = len(data)
    ext = _ext(name)
    if size == 0:
        raise _Refuse("attach.empty")
    if _sniff_image(data):
        if size > MAX_IMAGE_BYTES_IN:
            raise _Refuse("attach.too_big", size=size, limit=MAX_IMAGE_BYTES_IN)
        return _prepare_image(name, data)
    office = None
    if data.startswith(b"PK\x03\x04"):
        _check_doc_size(size)
        office = _office_kind(data)  # refuses zip bombs, whatever the name
    if ext in IMAGE_EXTS:
        # Named like an image but it is not one: say so rather than quietly sending it as a document.
        raise _Refuse("attach.not_image")
    if data[:1024].find(b"%PDF-") != -1:
        _check_doc_size(size)
        return _extract_doc(name, data, "pdf")
    if data.startswith(b"PK\x03\x04"):
        if office:
            return _extract_doc(name, data, office)
        raise _Refuse(_mismatch_key(ext))
    if data.startswith(_OLE2_MAGIC) and ext in ("doc", "xls", "ppt"):
        _check_doc_size(size)
        return _extract_doc(name, data, ext)
    if size > MAX_DOC_BYTES:
        if b"\x00" in data[:8192]:
            raise _Refuse(_mismatch_key(ext))
        raise _Refuse("attach.too_big", size=size, limit=MAX_DOC_BYTES)
    text = _decode_text(data)
    if text is None:
        raise _Refuse(_mismatch_key(ext))
    if len(text) > MAX_TEXT_CHARS:
        raise _Refuse("attach.text_too_long", chars=len(text), limit=MAX_TEXT_CHARS)
    if not text.strip():
        raise _Refuse("attach.empty")
    mime = _TEXT_MIME.get(ext, "text/plain")
    return Attachment(name=name, kind="text", size=size, mime=mime, data=data, text=text, tokens=estimate_tokens(text))


def _mismatch_key(ext: str) -> str:
    if ext in IMAGE_EXTS:
        return "attach.not_image"
    if ext in TEXT_EXTS:
        return "attach.not_text"
    return "attach.unsupported"


def _check_doc_size(size: int) -> None:
    if size > MAX_DOC_BYTES:
        raise _Refuse("attach.too_big", size=size, limit=MAX_DOC_BYTES)


# -- images -----------------------------------------------------------------------------------------------


def _prepare_image(name: str, data: bytes) -> Attachment:
    from PIL import Image  # imported on first use: the first page load does not need Pillow

    try:
        # Header only, no pixels yet. Pillow's own, larger limit (Image.MAX_IMAGE_PIXELS, left as it is: it is
        # process-wide) may warn or raise here; with warnings turned into errors the warning raises too.
        im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _Refuse("attach.bomb", limit=MAX_PIXELS) from None
    except Exception:
        raise _Refuse("attach.not_image") from None
    try:
        width, height = im.size
        if width <= 0 or height <= 0:
            raise _Refuse("attach.not_image")
        if width * height > MAX_PIXELS:
            raise _Refuse("attach.bomb", width=width, height=height, limit=MAX_PIXELS)
        if im.format == "JPEG" and max(width, height) > IMAGE_MAX_SIDE:
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers the target size.
            factor = IMAGE_MAX_SIDE / max(width, height)
            im.draft(None, (max(1, int(width * factor)), max(1, int(height * factor))))
        try:
            im.seek(0)  # GIF/WebP animations: the first frame
            im.load()
        except _Refuse:
            raise
        except Exception:
            raise _Refuse("attach.not_image") from None
        if (kept := _jpeg_as_it_came(im, data)) is not None:
            out, mime, w, h, note = kept, "image/jpeg", width, height, ""
        elif (kept := _deep_png_as_it_came(im, data)) is not None:
            out, mime, w, h, note = kept, "image/png", width, height, ""
        else:
            out, mime, w, h, note = _encode_for_api(im)
    finally:
        im.close()
    return Attachment(name=name, kind="image", size=len(data), mime=mime, data=out, width=w, height=h, note=note)


# PNG chunks cut when a 16-bit colour PNG goes as it came: text and the modification time (one with EXIF is
# drawn anew instead).
_PNG_METADATA = {b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def _deep_png_as_it_came(im: Image.Image, data: bytes) -> bytes | None:
    """A 16-bit colour PNG's own bytes without metadata chunks, when it fits as it is; else None.

    Pillow opens it as 8-bit RGB(A), so any other way would lose half of every channel without a word."""
    if im.format != "PNG" or max(im.size) > IMAGE_MAX_SIDE or len(data) > API_IMAGE_MAX_BYTES:
        return None
    if data[24:25] != b"\x10" or data[25:26] not in (b"\x02", b"\x06"):  # IHDR: bit depth 16, RGB or RGBA
        return None
    out, at = bytearray(data[:8]), 8
    while at + 12 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        kind, end = data[at + 4 : at + 8], at + 12 + size
        if end > len(data) or kind == b"eXIf":
            return None  # broken, or an orientation the pixels would need to follow: drawn anew instead
        if kind not in _PNG_METADATA:
            out += data[at:end]
        at = end
        if kind == b"IEND":
            return bytes(out)
    return None


# JPEG segments kept when a JPEG goes as it came: the frame, tables and scan, JFIF (APP0), Adobe's colour
# transform (APP14) and an ICC colour profile (APP2 "ICC_PROFILE"); EXIF/XMP (APP1), IPTC (APP13), other
# APPn and comments are cut.
_JPEG_KEPT_APPS = {0xE0, 0xEE}


def _jpeg_as_it_came(im: Image.Image, data: bytes) -> bytes | None:
    """The JPEG's own bytes without metadata, when it fits as it is and is upright; else None."""
    if im.format != "JPEG" or max(im.size) > IMAGE_MAX_SIDE or len(data) > API_IMAGE_MAX_BYTES:
        return None
    try:
        if im.getexif().get(0x0112, 1) not in (1, None):
            return None  # turned by its EXIF: the pixels must be rotated, which means a re-encode
    except Exception:  # noqa: BLE001 - unreadable EXIF: re-encode, which drops it
        return None
    return _strip_jpeg(data)


def _strip_jpeg(data: bytes) -> bytes | None:
    """The JPEG without APP1–APP15 (but APP14 and ICC APP2) and COM segments; None if it is not well formed."""
    if not data.startswith(b"\xff\xd8"):
        return None
    out, i = [b"\xff\xd8"], 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data up to EOI
            out.append(data[i:])
            return b"".join(out)
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2 or i + 2 + length > len(data):
            return None
        segment = data[i : i + 2 + length]
        icc = marker == 0xE2 and segment[4:16] == b"ICC_PROFILE\x00"
        if not (0xE1 <= marker <= 0xEF or marker == 0xFE) or marker in _JPEG_KEPT_APPS or icc:
            out.append(segment)
        i += 2 + length
    return None


def _has_alpha(im: Image.Image) -> bool:
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return im.getextrema()[-1][0] < 255 if im.mode in ("RGBA", "LA") else True
    return im.mode == "P" and "transparency" in im.info or im.mode in ("RGB", "L") and "transparency" in im.info


def _encode_for_api(im: Image.Image) -> tuple[bytes, str, int, int, str]:
    """(bytes, mime, width, height, note) of an image that fits the API limits; ``im`` is loaded and may be
    replaced. A lossless PNG when that fits (a JPEG source stays JPEG), else JPEG at falling quality."""
    from PIL import Image, ImageOps

    source_jpeg = im.format == "JPEG"
    frame = im
    transparent = _has_alpha(frame)
    target_mode = "RGBA" if transparent else "RGB"
    # Resampling needs a "smooth" mode (palette and 1-bit images would be resized with NEAREST), so convert
    # those to the smallest smooth mode first, downscale, and only then convert to the target mode.
    if frame.mode.startswith("I"):  # 16-bit greyscale (PNG): resampled as I, sent as a 16-bit PNG
        frame = frame.convert("I")
    elif frame.mode == "1":
        frame = frame.convert("L")
    elif frame.mode not in ("RGB", "RGBA", "L", "LA", "CMYK", "YCbCr"):
        frame = frame.convert(target_mode)
    if frame is not im:
        im.close()  # one decoded copy at a time
    scaled = max(frame.size) > IMAGE_MAX_SIDE
    if scaled:
        frame.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if frame.mode != target_mode and not (frame.mode in ("L", "I") and not source_jpeg):
        frame = frame.convert(target_mode)  # greyscale stays greyscale in a PNG
    try:
        rotated = ImageOps.exif_transpose(frame)
        if rotated is not None:
            frame = rotated
    except Exception:
        pass  # broken EXIF: keep the pixels as they are

    if not source_jpeg:  # lossless, as screenshots of text and code need
        buf = io.BytesIO()
        # PNG writes 16-bit greyscale from I;16 only (values of a 16-bit source fit it as they are).
        (frame.convert("I;16") if frame.mode == "I" else frame).save(buf, "PNG")
        if buf.tell() <= API_IMAGE_MAX_BYTES:
            return buf.getvalue(), "image/png", frame.width, frame.height, "scaled" if scaled else ""
        if frame.mode == "I":  # to 8 bits for the JPEG: scaled down, not clipped
            frame = frame.point(lambda v: v * (1 / 256)).convert("L")
        if transparent:
            flat = Image.new("RGB", frame.size, (255, 255, 255))
            flat.paste(frame, mask=frame.getchannel("A"))
            frame = flat
    if frame.mode != "RGB":
        frame = frame.convert("RGB")

    quality = JPEG_QUALITY
    while True:
        buf = io.BytesIO()
        frame.save(buf, "JPEG", quality=quality, optimize=True)
        if buf.tell() <= API_IMAGE_MAX_BYTES:
            # A smaller JPEG from a JPEG is simply "scaled"; any other image turned into a JPEG says so.
            note = "scaled_reencoded" if scaled and not source_jpeg else "scaled" if scaled else "reencoded"
            return buf.getvalue(), "image/jpeg", frame.width, frame.height, note
        if quality > 55:
            quality -= 15
        else:
            scaled = True
            frame = frame.resize(
                (max(1, frame.width * 3 // 4), max(1, frame.height * 3 // 4)), Image.Resampling.LANCZOS
            )


# -- documents --------------------------------------------------------------------------------------------


def _office_kind(data: bytes) -> str | None:
    """docx / xlsx / pptx from the zip's central directory (nothing is decompressed); None for other zips."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except Exception:
        return None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise _Refuse("attach.bomb", entries=len(infos), limit=MAX_ZIP_ENTRIES)
    total = sum(max(0, i.file_size) for i in infos)
    if total > MAX_ZIP_UNCOMPRESSED:
        raise _Refuse("attach.bomb", uncompressed=total, limit=MAX_ZIP_UNCOMPRESSED)
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    return None


def _extract_doc(name: str, data: bytes, kind: str) -> Attachment:
    # The files API goes by the file name, so make the extension match the content.
    if _ext(name) != kind:
        name = safe_name(name + "." + kind)
    return Attachment(name=name, kind="extract", size=len(data), mime=_EXTRACT_MIME[kind], data=data)


# C0/C1 control characters other than tab, newlines, form feed and ESC (ANSI colours in logs).
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")


def _decode_text(data: bytes) -> str | None:
    """Text from UTF-8 (BOM optional), UTF-16 (BOM) or GB18030; None for binary content."""
    text: str | None = None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    else:
        if b"\x00" in data:
            return None
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    if text is None or "\x00" in text:
        return None
    text = text.lstrip("\ufeff")
    controls = len(_CONTROL_RE.findall(text, 0, MAX_TEXT_CHARS + 1))
    if controls > max(2, len(text) // 200):
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------------------
# Vision


def check_vision(model: Any, images: list[Attachment]) -> str | None:
    """The refusal key if ``model`` cannot take these images in one message, else None."""
    if not images:
        return None
    capabilities = getattr(model, "capabilities", None) or ()
    if "vision" not in capabilities:
        return "attach.model_no_vision"
    if "url_images_only" in capabilities:
        return "attach.model_url_only"
    if len(images) > images_allowed(model):
        return "attach.too_many_images"
    return None


def images_allowed(model: Any) -> int:
    """How many base64 images one request to ``model`` may carry: 0 for a text or a URL-only model."""
    capabilities = getattr(model, "capabilities", None) or ()
    if "vision" not in capabilities or "url_images_only" in capabilities:
        return 0
    return int(getattr(model, "max_images", 0) or 1)


# ---------------------------------------------------------------------------------------------------------
# Documents as context

_BACKTICKS_RE = re.compile(r"`+")


def _fence_lang(name: str, kind: str) -> str:
    if kind != "text":
        return ""  # extracted text has no syntax of its own
    ext = _ext(name)
    lang = _FENCE_LANG.get(ext, ext)
    return lang if re.fullmatch(r"[a-z0-9+#-]{1,20}", lang or "") else ""


def document_context(docs: list[Attachment]) -> str:
    """The block to put before the user's message: one header line and one fenced block per document.

    Documents without text (an "extract" one not yet run through extract_text) are skipped. "" if none.
    """
    blocks = []
    for doc in docs:
        if doc.text is None:
            continue
        text = doc.text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
        longest = max((len(m) for m in _BACKTICKS_RE.findall(text)), default=0)
        fence = "`" * max(3, longest + 1)
        header = f"Attached file: {safe_name(doc.name)} ({human_size(doc.size)})"
        blocks.append(f"{header}\n{fence}{_fence_lang(doc.name, doc.kind)}\n{text}\n{fence}")
    return "\n\n".join(blocks)


def with_documents(text: str, docs: list[Attachment]) -> str:
    """The user's message with the documents' context in front of it."""
    context = document_context(docs)
    return f"{context}\n\n{text}" if context else text


# ---------------------------------------------------------------------------------------------------------
# Files API extraction


def extract_text(sdk_client: Any, attachment: Attachment, *, delete_after: bool = True) -> str:
    """Upload an "extract" document (purpose "file-extract") and return the text the API extracted.

    Also sets ``attachment.text`` and ``attachment.tokens``. Routes: POST {base}/files (multipart),
    GET {base}/files/{id}/content (JSON {"content", "file_type", "filename", "title", "type"}), and, best effort,
    DELETE {base}/files/{id} so uploads do not pile up against the account's file quota.
    Raises ExtractError(reason_key).
    """
    import httpx
    import zhipuai

    def failure(exc: Exception) -> ExtractError:
        if isinstance(exc, zhipuai.APIStatusError):
            status = exc.status_code
            code = None
            try:
                code = str(exc.response.json()["error"]["code"])
            except Exception:
                pass
            if status == 401:
                key = "attach.extract_auth"
            elif status == 400 and code in ("1214", "1210", "1213"):
                key = "attach.extract_unsupported"
            else:
                key = "attach.extract_failed"
            return ExtractError(key, status=status, code=code)
        if isinstance(exc, (zhipuai.APIConnectionError, httpx.HTTPError)):
            return ExtractError("attach.extract_network")
        return ExtractError("attach.extract_failed")

    try:
        uploaded = sdk_client.files.create(
            file=(attachment.name, attachment.data, attachment.mime), purpose="file-extract"
        )
    except Exception as exc:
        raise failure(exc) from exc
    file_id = getattr(uploaded, "id", None)
    if not isinstance(file_id, str) or not file_id:
        raise ExtractError("attach.extract_failed")
    try:
        try:
            raw = sdk_client.files.content(file_id).content
        except Exception as exc:
            raise failure(exc) from exc
        try:
            payload = json.loads(raw)
            text = payload["content"]
        except Exception:
            raise ExtractError("attach.extract_failed") from None
        if not isinstance(text, str):
            raise ExtractError("attach.extract_failed")
    finally:
        if delete_after:
            try:
                sdk_client.files.delete(file_id)
            except Exception:
                pass  # best effort
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ExtractError("attach.extract_empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ExtractError("attach.text_too_long")
    attachment.text = text
    attachment.tokens = estimate_tokens(text)
    return text
