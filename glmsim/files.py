"""The files API (``purpose="file-extract"``) for the local GLM simulator: a pure request handler.

Routes (under any prefix, e.g. ``/api/paas/v4``), as called by ``zhipuai`` 2.1.5:

==========================  ==============================  ================================================
SDK call                    route                           answer
==========================  ==============================  ================================================
``files.create(file, purpose)``  ``POST /files`` multipart      file object JSON
                            (fields ``purpose``, ``file``)
``files.content(id)``       ``GET /files/{id}/content``     file-extract: ``{"content", "file_type",
                            (``Accept: application/binary``)  "filename", "title", "type": "file"}``;
                                                            batch: the raw bytes; other purposes: 400 "1214"
``files.list()``            ``GET /files?purpose=&limit=``  ``{"object": "list", "data": [...], "has_more"}``
                            ``&after=&order=``
``files.delete(id)``        ``DELETE /files/{id}``          ``{"id", "deleted": true, "object": "file"}``
(not wrapped by the SDK)    ``GET /files/{id}``             file object JSON
==========================  ==============================  ================================================

The limits are glm-api.md §18's: a file-extract upload is one of pdf, docx, doc, xls, xlsx, ppt, pptx, png,
jpg, jpeg, csv (by its name), at most 50 MB, an image at most 5 MB; at most 100 files are kept, and the 101st
upload is refused until one is deleted; only batch and file-extract files can be read. The contract names no
code for these refusals, so each is 400 "1214" [uncertain], as the API answers other invalid parameters.

Errors use the API's body ``{"error": {"code": "...", "message": "..."}}``: no/blank Bearer token 401 "1001",
a key outside ``valid_keys`` 401 "1002", unparsable multipart 400 "1210", missing ``file``/``purpose``
400 "1213", a bad purpose or list parameter, a limit above, or content that cannot be extracted 400 "1214",
an unknown file id 404 "404". Extraction is crude but real: PDF text-showing operators (``(...) Tj``,
``[...] TJ``, also inside FlateDecode streams), the XML text of docx / xlsx / pptx read with bounded
decompression, the UTF-16 text runs of the old binary doc / xls / ppt, and csv as text; a picture has no text
the simulator can read (no OCR), so it extracts to "".

Wiring (the simulator's ``_dispatch``)::

    answer = self.files.handle(method, path, headers, body, query)   # self.files = FileStore(valid_keys=...)
    if answer is not None:
        status, headers, body = answer
        return Plan.body(status, body, headers["content-type"])  # glmsim.wire.Plan
"""

from __future__ import annotations

import html
import io
import json
import re
import secrets
import threading
import time
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qs

MB = 1024 * 1024
MAX_FILE_BYTES = 50 * MB
MAX_FILES = 100
MAX_IMAGE_BYTES = 5 * MB
# All stored files together: the simulator's own bound on its memory (the contract states none), refused
# like the file count.
MAX_TOTAL_BYTES = 256 * MB
MAX_EXTRACT_CHARS = 2_000_000
_MAX_INFLATE = 32 * MB  # per PDF stream / per zip member: a bound against zip and deflate bombs
PURPOSES = frozenset({"file-extract", "retrieval", "batch", "fine-tune", "code-interpreter", "agent"})
READABLE = frozenset({"file-extract", "batch"})  # §18: only these can be read through /content
EXTRACT_FORMATS = frozenset({"pdf", "docx", "doc", "xls", "xlsx", "ppt", "pptx", "png", "jpg", "jpeg", "csv"})
IMAGE_FORMATS = frozenset({"png", "jpg", "jpeg"})
# GET /files: the contract names the parameters only; their values follow the OpenAI-style files API the
# SDK mirrors [uncertain]: newest first unless order=asc, 20 a page, at most 100, ``after`` a file id.
LIST_LIMIT, LIST_MAX = 20, 100

_JSON_TYPE = "application/json; charset=UTF-8"
_MSG_1001 = "Header中未收到Authorization参数，无法进行身份验证。"
_MSG_1002 = "Authorization Token非法，请确认Authorization Token正确传递。"
_MSG_1210 = "API 调用参数有误，请检查文档。"

_MIME = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "csv": "text/csv",
}
_ROUTE_RE = re.compile(r"^(?P<prefix>.*?)/files(?:/(?P<id>[^/]+)(?P<content>/content)?)?/?$")

Answer = tuple[int, dict, bytes]


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def info(self) -> dict:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


def _json(status: int, payload: dict) -> Answer:
    return status, {"content-type": _JSON_TYPE}, json.dumps(payload, ensure_ascii=False).encode()


def _error(status: int, code: str, message: str) -> Answer:
    return _json(status, {"error": {"code": code, "message": message}})


class FileStore:
    """Uploaded files, in memory and bounded (at most ``max_files``; more are refused, as the API does)."""

    def __init__(
        self, *, valid_keys: set[str] | None = None, max_files: int = MAX_FILES, max_total_bytes: int = MAX_TOTAL_BYTES
    ):
        self.valid_keys = set(valid_keys) if valid_keys is not None else None
        self.max_files, self.max_total_bytes = max_files, max_total_bytes
        self._files: OrderedDict[str, StoredFile] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def reset(self) -> None:
        with self._lock:
            self._files.clear()

    def _add(self, stored: StoredFile) -> Answer | None:
        """Keep the file, or the refusal when the store is full (nothing is ever dropped to make room)."""
        with self._lock:
            if len(self._files) >= self.max_files:
                return _error(400, "1214", f"文件数量超过限制（{self.max_files}），请先删除不再使用的文件")
            if sum(len(f.data) for f in self._files.values()) + len(stored.data) > self.max_total_bytes:
                return _error(400, "1214", "文件总大小超过限制，请先删除不再使用的文件")
            self._files[stored.id] = stored
        return None

    # -- the handler ---------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict, body: bytes, query: str = "") -> Answer | None:
        """(status, headers, body) for a files route, or None for any other route; ``query`` without the "?"."""
        match = _ROUTE_RE.match(path or "")
        if not match:
            return None
        method = (method or "").upper()
        headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        try:
            denied = self._auth(headers)
            if denied:
                return denied
            file_id, content = match.group("id"), bool(match.group("content"))
            if file_id is None:
                if method == "POST":
                    return self._create(headers, body or b"")
                if method == "GET":
                    return self._list(query)
                return _error(405, "1212", f"{method} is not supported here")
            stored = self.get(file_id)
            if stored is None:
                return _error(404, "404", f"文件不存在: {file_id}")
            if method == "GET" and content:
                return self._content(stored)
            if method == "GET":
                return _json(200, stored.info())
            if method == "DELETE" and not content:
                with self._lock:
                    self._files.pop(file_id, None)
                return _json(200, {"id": file_id, "deleted": True, "object": "file"})
            return _error(405, "1212", f"{method} is not supported here")
        except Exception:  # a stand-in server must answer, whatever it was sent
            return _error(500, "500", "Internal Error")

    def _auth(self, headers: dict) -> Answer | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "1001", _MSG_1001)
        if self.valid_keys is not None and token.strip() not in self.valid_keys:
            return _error(401, "1002", _MSG_1002)
        return None

    def _create(self, headers: dict, body: bytes) -> Answer:
        if len(body) > MAX_FILE_BYTES + 64 * 1024:  # the file itself plus room for the multipart framing
            return _error(400, "1214", "文件大小超过限制（50MB）")
        fields = parse_multipart(headers.get("content-type", ""), body)
        if fields is None:
            return _error(400, "1210", _MSG_1210)
        purpose = fields.get("purpose")
        upload = fields.get("file")
        if upload is None or upload[0] is None:
            return _error(400, "1213", "未正常接收到file参数")
        if purpose is None:
            return _error(400, "1213", "未正常接收到purpose参数")
        purpose_text = purpose[1].decode("utf-8", "replace").strip()
        if purpose_text not in PURPOSES:
            return _error(400, "1214", "purpose 参数非法。请检查文档。")
        filename, data = upload
        if len(data) > MAX_FILE_BYTES:
            return _error(400, "1214", "文件大小超过限制（50MB）")
        if not data:
            return _error(400, "1214", "文件内容为空")
        if purpose_text == "file-extract":  # §18's formats and image size are those of file-extract uploads
            ext = _ext(filename)
            if ext not in EXTRACT_FORMATS:
                return _error(400, "1214", "不支持的文件格式，支持 " + "、".join(sorted(EXTRACT_FORMATS)))
            if ext in IMAGE_FORMATS and len(data) > MAX_IMAGE_BYTES:
                return _error(400, "1214", "图片大小超过限制（5MB）")
        stored = StoredFile(
            id="file-" + time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8),
            filename=filename[:255] or "file",
            purpose=purpose_text,
            data=data,
            created_at=int(time.time()),
        )
        return self._add(stored) or _json(200, stored.info())

    def _list(self, query: str) -> Answer:
        params = {k: v[-1] for k, v in parse_qs(query or "", keep_blank_values=True).items()}
        purpose, order, after = params.get("purpose") or None, params.get("order") or "desc", params.get("after")
        try:
            limit = int(params.get("limit") or LIST_LIMIT)
        except ValueError:
            limit = 0
        if (purpose is not None and purpose not in PURPOSES) or order not in ("asc", "desc"):
            return _error(400, "1214", "参数非法。请检查文档。")
        if not 1 <= limit <= LIST_MAX:
            return _error(400, "1214", "limit 参数非法。请检查文档。")
        with self._lock:
            files = [f for f in self._files.values() if purpose is None or f.purpose == purpose]
        if order == "desc":
            files.reverse()
        if after:
            ids = [f.id for f in files]
            if after not in ids:
                return _error(400, "1214", "after 参数非法。请检查文档。")
            files = files[ids.index(after) + 1 :]
        page = [f.info() for f in files[:limit]]
        return _json(200, {"object": "list", "data": page, "has_more": len(files) > limit})

    def _content(self, stored: StoredFile) -> Answer:
        if stored.purpose not in READABLE:
            return _error(400, "1214", "该用途的文件不支持读取内容")
        if stored.purpose == "batch":
            return 200, {"content-type": "application/octet-stream"}, stored.data
        kind = _ext(stored.filename)
        text = extract(stored.data, kind)
        if text is None:
            return _error(400, "1214", "文件格式不支持或无法解析")
        stem, dot, _ = stored.filename.rpartition(".")
        return _json(
            200,
            {
                "content": text[:MAX_EXTRACT_CHARS],
                "file_type": _MIME[kind],
                "filename": stored.filename,
                "title": stem if dot and stem else stored.filename,
                "type": "file",
            },
        )


# ---------------------------------------------------------------------------------------------------------
# multipart/form-data

_PARAM_RE = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


def _params(header_value: str) -> dict[str, str]:
    out = {}
    for name, quoted, bare in _PARAM_RE.findall(";" + header_value.split(";", 1)[1] if ";" in header_value else ""):
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted else bare
        out[name.lower()] = value
    return out


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]] | None:
    """{field name: (filename or None, bytes)} of a multipart/form-data body; None if it is not one."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    boundary = _params(content_type).get("boundary")
    if not boundary or len(boundary) > 200:
        return None
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    chunks = (b"\r\n" + body).split(b"\r\n" + delimiter)
    if len(chunks) < 3:  # preamble, at least one part, the closing "--"
        return None
    fields: dict[str, tuple[str | None, bytes]] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            return None
        disposition = ""
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("utf-8", "replace").partition(":")
            if name.strip().lower() == "content-disposition":
                disposition = value.strip()
        params = _params(disposition)
        if "name" not in params:
            continue
        filename = params.get("filename")
        if filename is not None:
            # httpx (HTML5 rules) percent-escapes quotes and control characters in the quoted value.
            filename = re.sub(r"%([01][0-9A-F]|22)", lambda m: chr(int(m.group(1), 16)), filename)
        fields.setdefault(params["name"], (filename, content))
    return fields


# ---------------------------------------------------------------------------------------------------------
# Extraction


def _ext(filename: str) -> str:
    stem, dot, ext = (filename or "").rpartition(".")
    return ext.lower() if dot and stem else ""


def extract(data: bytes, kind: str) -> str | None:
    """The text of a file of format ``kind`` (its extension); None when the content is not of that format."""
    if kind == "jpeg":
        kind = "jpg"
    found = _detect(data)
    if kind in ("pdf", "docx", "xlsx", "pptx"):
        if found != kind:
            return None
        return pdf_text(data) if kind == "pdf" else office_text(data, kind)
    if kind in ("doc", "xls", "ppt"):
        return ole_text(data) if data.startswith(_OLE2_MAGIC) else None
    if kind in ("png", "jpg"):
        # No OCR here: a picture is accepted and read, and has no text, as a scanned PDF has none.
        return "" if data.startswith(_IMAGE_MAGIC[kind]) else None
    if kind == "csv":
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            return None if "\x00" in text else text.replace("\r\n", "\n")
    return None


_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_IMAGE_MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff"}
# Runs of readable UTF-16 text (Latin, CJK and their punctuation) in an OLE2 file, and the names of the
# compound file's own streams, which are stored the same way and are not the document's text.
_OLE_RUN_RE = re.compile("[\t\n\r\x20-\x7e\u00a0-\u024f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]{4,}")
_OLE_NAMES = frozenset(
    {"Root Entry", "WordDocument", "SummaryInformation", "DocumentSummaryInformation", "Workbook", "Book"}
    | {"PowerPoint Document", "Current User", "CompObj", "0Table", "1Table", "Data", "Pictures", "ObjectPool"}
)


def ole_text(data: bytes) -> str:
    """Crude text of an old binary doc / xls / ppt: its UTF-16LE runs of 4+ readable characters."""
    decoded = data[: len(data) // 2 * 2].decode("utf-16-le", "replace")
    runs = (run.strip() for run in _OLE_RUN_RE.findall(decoded))
    return "\n".join(run for run in runs if run and run not in _OLE_NAMES)


def _detect(data: bytes) -> str | None:
    if data[:1024].find(b"%PDF-") != -1:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
        except Exception:
            return None
        for kind, member in (
            ("docx", "word/document.xml"),
            ("xlsx", "xl/workbook.xml"),
            ("pptx", "ppt/presentation.xml"),
        ):
            if member in names:
                return kind
    return None


def _inflate(data: bytes) -> bytes | None:
    try:
        d = zlib.decompressobj()
        out = d.decompress(data, _MAX_INFLATE)
        return out
    except zlib.error:
        return None


_STREAM_RE = re.compile(rb"<<(?P<dict>(?:(?!>>\s*stream).){0,2000}?)>>\s*stream\r?\n(?P<body>.*?)endstream", re.S)


def _pdf_string(src: bytes, i: int) -> tuple[bytes, int]:
    """A literal string starting at src[i] == '(': (its bytes, index after the closing ')')."""
    out = bytearray()
    depth, i = 1, i + 1
    escapes = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}
    while i < len(src):
        c = src[i]
        if c == 0x5C:  # backslash
            i += 1
            if i >= len(src):
                break
            e = src[i]
            if e in escapes:
                out += escapes[e]
            elif 0x30 <= e <= 0x37:
                digits = src[i : i + 3]
                n = 0
                for k, d in enumerate(digits):
                    if not 0x30 <= d <= 0x37:
                        break
                    n, used = n * 8 + d - 0x30, k + 1
                out.append(n & 0xFF)
                i += used - 1
            elif e in (0x0D, 0x0A):
                if e == 0x0D and src[i + 1 : i + 2] == b"\n":
                    i += 1
            else:
                out.append(e)
        elif c == 0x28:
            depth += 1
            out.append(c)
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out), i + 1
            out.append(c)
        else:
            out.append(c)
        i += 1
    return bytes(out), i


def _decode_pdf_string(raw: bytes) -> str:
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", "replace")
    return raw.decode("latin-1")


def _content_text(src: bytes) -> str:
    """Text drawn by Tj / TJ / ' / \" in one content stream; a new line at each text positioning operator."""
    lines: list[str] = []
    line: list[str] = []
    strings: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == 0x28:  # (
            raw, i = _pdf_string(src, i)
            strings.append(_decode_pdf_string(raw))
            continue
        if c == 0x3C and src[i + 1 : i + 2] != b"<":  # <hex string>
            end = src.find(b">", i)
            if end == -1:
                break
            hexdigits = re.sub(rb"[^0-9A-Fa-f]", b"", src[i + 1 : end])
            if len(hexdigits) % 2:
                hexdigits += b"0"
            strings.append(_decode_pdf_string(bytes.fromhex(hexdigits.decode())))
            i = end + 1
            continue
        if chr(c).isalpha() or c in (0x27, 0x22):  # an operator
            j = i + 1
            while j < n and (chr(src[j]).isalnum() or src[j] == 0x2A):
                j += 1
            op = src[i:j].decode("latin-1")
            if op in ("Tj", "'", '"') and strings:
                if op != "Tj" and line:
                    lines.append("".join(line))
                    line = []
                line.append(strings[-1])
            elif op == "TJ":
                line.append("".join(strings))
            elif op in ("Td", "TD", "T*", "Tm", "ET") and line:
                lines.append("".join(line))
                line = []
            strings = []
            i = j
            continue
        if c == 0x25:  # % comment
            end = src.find(b"\n", i)
            i = n if end == -1 else end + 1
            continue
        i += 1
    if line:
        lines.append("".join(line))
    return "\n".join(lines)


def pdf_text(data: bytes) -> str | None:
    """Crude PDF text extraction from content streams (plain or FlateDecode); "" when there is none (a scan)."""
    texts = []
    for m in _STREAM_RE.finditer(data):
        body = m.group("body")
        if b"/FlateDecode" in m.group("dict"):
            body = _inflate(body)
            if body is None:
                continue
        elif b"/Filter" in m.group("dict"):
            continue  # other filters (images, fonts...) carry no text we can read
        text = _content_text(body)
        if text.strip():
            texts.append(text)
    return "\n".join(texts)


def _zip_member(zf: zipfile.ZipFile, name: str) -> str | None:
    try:
        with zf.open(name) as f:
            data = f.read(_MAX_INFLATE + 1)
    except Exception:
        return None
    if len(data) > _MAX_INFLATE:
        return None
    return data.decode("utf-8", "replace")


def _xml_text(xml: str, paragraph_tags: tuple[str, ...]) -> str:
    for tag in paragraph_tags:
        xml = xml.replace(f"</{tag}>", "\n")
    xml = re.sub(r"<w:tab\s*/>", "\t", xml)
    xml = re.sub(r"<(?:w|a):br\s*/>", "\n", xml)
    text = html.unescape(re.sub(r"<[^>]*>", "", xml))
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


def _natural(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def office_text(data: bytes, kind: str) -> str | None:
    """Text of a docx (word/document.xml), xlsx (shared strings) or pptx (slides); None on failure."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if kind == "docx":
                xml = _zip_member(zf, "word/document.xml")
                return None if xml is None else _xml_text(xml, ("w:p",))
            if kind == "xlsx":
                xml = _zip_member(zf, "xl/sharedStrings.xml") if "xl/sharedStrings.xml" in names else ""
                return None if xml is None else _xml_text(xml, ("si",))
            if kind == "pptx":
                slides = sorted((n for n in names if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)), key=_natural)
                parts = []
                for slide in slides:
                    xml = _zip_member(zf, slide)
                    if xml is None:
                        return None
                    parts.append(_xml_text(xml, ("a:p",)))
                return "\n\n".join(parts)
    except Exception:
        return None
    return None
