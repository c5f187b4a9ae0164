"""Attachments: classification, limits, image re-encoding, vision content, document context, and text
extraction through the REAL zhipuai SDK against the simulator's files handler (glmsim.files)."""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import weakref
import zipfile
import zlib

import httpx
import pytest
import zhipuai
from PIL import Image

from glmchat.chat import attachments as att
from glmchat.chat import conversation as conv
from glmchat.chat.attachments import Attachment, ExtractError
from glmchat.chat.catalogue import load
from glmsim import files as sf

pytestmark = pytest.mark.timeout(60)

BASE = "http://sim.local/api/paas/v4"
CAT = load()


# ---------------------------------------------------------------------------------------------------------
# Generated test files


def image_bytes(fmt: str, size=(64, 48), mode="RGB", color=(200, 30, 30), **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt, **save)
    return buf.getvalue()


def gradient_jpeg(width: int, height: int) -> bytes:
    grad = Image.linear_gradient("L")
    r = grad.resize((width, height))
    g = grad.rotate(90).resize((width, height))
    b = Image.radial_gradient("L").resize((width, height))
    buf = io.BytesIO()
    Image.merge("RGB", (r, g, b)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bilevel_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of any size, built directly (all zeros compress to almost nothing)."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def zip_bomb(uncompressed: int = 210 * 1024 * 1024) -> bytes:
    buf = io.BytesIO()
    zero = bytes(1024 * 1024)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("zeros.bin", "w", force_zip64=True) as f:
            for _ in range(uncompressed // len(zero)):
                f.write(zero)
    return buf.getvalue()


def minimal_pdf(*content_ops: bytes, flate: bool = False) -> bytes:
    """A hand-written one-page PDF whose content stream is ``content_ops``."""
    stream = b"BT /F1 24 Tf 72 720 Td " + b" ".join(content_ops) + b" ET"
    dict_extra = b""
    if flate:
        stream, dict_extra = zlib.compress(stream), b" /Filter /FlateDecode"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d%s >>\nstream\n" % (len(stream), dict_extra) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def minimal_docx(*paragraphs: str) -> bytes:
    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{p}</w:t></w:r></w:p>' for p in paragraphs)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        zf.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.'
            f'org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>',
        )
    return buf.getvalue()


def one(name: str, data: bytes):
    accepted, refused = att.prepare([(name, data)])
    assert len(accepted) + len(refused) == 1
    return accepted[0] if accepted else refused[0]


def decoded(a: Attachment) -> Image.Image:
    im = Image.open(io.BytesIO(a.data))
    im.load()
    return im


# ---------------------------------------------------------------------------------------------------------
# Names


def test_safe_name():
    assert att.safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert att.safe_name("C:\\Users\\me\\..\\secret.md") == "secret.md"
    assert att.safe_name("..") == "file" and att.safe_name("") == "file" and att.safe_name("a/b/") == "file"
    assert att.safe_name(None) == "file"
    assert att.safe_name("evil\x00na\nme\x1b[31m.txt") == "evilna me[31m.txt"
    assert att.safe_name("invoice\u202efdp.exe") == "invoicefdp.exe"  # bidi override dropped
    long = att.safe_name("x" * 300 + ".py")
    assert len(long) == 100 and long.endswith(".py")
    assert len(att.safe_name("y" * 300)) == 100
    assert att.safe_name("报告 2024.pdf") == "报告 2024.pdf"
    # prepare() uses it for every result
    accepted, _ = att.prepare([("../../etc/passwd.txt", b"root:x:0:0\n")])
    assert accepted[0].name == "passwd.txt" and accepted[0].kind == "text"


# ---------------------------------------------------------------------------------------------------------
# Images


@pytest.mark.parametrize("fmt, ext", [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"), ("GIF", "gif")])
@pytest.mark.parametrize("size", [(1, 1), (64, 48), (2048, 10), (2500, 1200)])
def test_images_keep_their_quality_and_only_a_larger_one_is_scaled(fmt, ext, size):
    data = image_bytes(fmt, size)
    a = one(f"pic.{ext}", data)
    assert isinstance(a, Attachment), a
    im = decoded(a)
    assert a.kind == "image" and a.size == len(data) and im.size == (a.width, a.height)
    # A JPEG stays JPEG; anything else goes as a lossless PNG (the API takes jpg and png only).
    assert (a.mime, im.format) == (("image/jpeg", "JPEG") if fmt == "JPEG" else ("image/png", "PNG"))
    if max(size) <= att.IMAGE_MAX_SIDE:
        assert im.size == size and a.note == ""
        if fmt == "JPEG":
            assert a.data == data  # as it came: no re-encode (this one has no metadata to cut)
        else:
            original = Image.open(io.BytesIO(data)).convert("RGB")
            assert im.convert("RGB").tobytes() == original.tobytes()  # pixel for pixel
    else:
        assert max(im.size) == att.IMAGE_MAX_SIDE and a.note == "scaled"
        assert abs(im.width / im.height - size[0] / size[1]) < 0.01


def test_a_screenshot_of_small_text_is_sent_lossless():
    from PIL import ImageDraw

    shot = Image.new("RGB", (800, 200), (255, 255, 255))
    ImageDraw.Draw(shot).text((10, 10), "def f(x): return x + 1  # 9px text, antialiased", fill=(30, 30, 30))
    buf = io.BytesIO()
    shot.save(buf, "PNG")
    a = one("screenshot.png", buf.getvalue())
    assert a.mime == "image/png" and a.note == ""
    assert decoded(a).convert("RGB").tobytes() == shot.tobytes()


def test_a_jpeg_goes_as_it_came_without_its_metadata():
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0112] = 1  # upright
    buf = io.BytesIO()
    Image.new("RGB", (200, 100), (10, 200, 10)).save(buf, "JPEG", exif=exif, comment=b"secret note")
    data = buf.getvalue()
    a = one("photo.jpg", data)
    assert a.mime == "image/jpeg" and a.note == "" and (a.width, a.height) == (200, 100)
    assert b"SpyCam" not in a.data and b"secret note" not in a.data and b"Exif" not in a.data
    assert a.data.endswith(data[data.index(b"\xff\xda") :])  # the same scan: not re-encoded
    assert decoded(a).tobytes() == Image.open(io.BytesIO(data)).tobytes()


def test_a_malformed_jpeg_is_re_encoded_not_passed_through():
    data = image_bytes("JPEG", (40, 40))
    broken = data[:2] + b"\xff\xe1\x00\x01" + data[2:]  # a segment length below 2
    assert att._strip_jpeg(broken) is None


def test_classification_is_by_content_not_extension():
    a = one("photo.txt", image_bytes("PNG"))  # a PNG under a text name is still an image
    assert isinstance(a, Attachment) and a.kind == "image"


def test_7000x3000_is_downscaled_within_api_limits():
    data = gradient_jpeg(7000, 3000)
    a = one("wide.jpg", data)
    assert a.kind == "image" and (a.width, a.height) == (2048, 878)
    assert len(a.data) <= att.API_IMAGE_MAX_BYTES
    im = decoded(a)
    assert im.size == (2048, 878) and max(im.size) <= att.API_IMAGE_MAX_SIDE


def test_quality_steps_down_until_the_image_fits(monkeypatch):
    noise = Image.effect_noise((1500, 1500), 100).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    monkeypatch.setattr(att, "API_IMAGE_MAX_BYTES", 300 * 1024)
    a = one("noise.png", buf.getvalue())
    assert a.kind == "image" and len(a.data) <= 300 * 1024
    assert decoded(a).format == "JPEG"


def test_a_16_bit_png_stays_16_bit_and_loses_only_its_metadata():
    from PIL import PngImagePlugin

    deep = Image.new("I;16", (300, 200))
    deep.putdata([(x * 211 + y * 7) % 65536 for y in range(200) for x in range(300)])
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "SpyCam")
    buf = io.BytesIO()
    deep.save(buf, "PNG", pnginfo=info)
    a = one("scan.png", buf.getvalue())
    out = decoded(a)
    assert a.mime == "image/png" and a.note == "" and a.data[24] == 16  # IHDR bit depth: still 16
    assert out.mode == "I;16" and out.tobytes() == deep.tobytes()  # every 16-bit value as it was
    assert b"SpyCam" not in a.data
    # Larger than IMAGE_MAX_SIDE: made smaller, still a 16-bit PNG, and the bubble says it was scaled.
    big = Image.new("I;16", (2500, 100), 40000)
    buf = io.BytesIO()
    big.save(buf, "PNG")
    a = one("wide.png", buf.getvalue())
    assert (a.mime, a.note, a.data[24]) == ("image/png", "scaled", 16)
    assert decoded(a).size == (2048, 82) and decoded(a).getpixel((1000, 40)) == 40000


def test_a_16_bit_colour_png_goes_as_it_came_without_its_metadata():
    """Pillow reads a 16-bit RGB(A) PNG as 8-bit: drawn anew it would lose half of every channel."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    w, h = 40, 30
    rows = b"".join(
        b"\x00" + b"".join(struct.pack(">HHH", x * 1601, y * 2111, 65535 - x) for x in range(w)) for y in range(h)
    )
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
        + chunk(b"tEXt", b"Author\x00SpyCam")
        + chunk(b"tIME", b"\x07\xea\x0c\x07\x0c\x00\x00")
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"iTXt", b"Comment\x00\x00\x00\x00\x00secret")
        + chunk(b"IEND", b"")
    )
    a = one("deep.png", png)
    assert (a.mime, a.note, a.width, a.height) == ("image/png", "", w, h)
    assert a.data[24:26] == b"\x10\x02"  # IHDR: still 16 bits per channel, RGB
    assert b"SpyCam" not in a.data and b"secret" not in a.data and b"tIME" not in a.data
    assert zlib.compress(rows) in a.data  # the pixels, byte for byte
    decoded(a).load()  # a PNG Pillow still reads


def test_a_noisy_png_over_the_limits_says_it_was_scaled_and_turned_into_a_jpeg():
    noise = Image.effect_noise((2600, 2600), 100).convert("RGB")
    buf = io.BytesIO()
    noise.save(buf, "PNG", compress_level=1)
    a = one("noise.png", buf.getvalue())
    assert (a.mime, decoded(a).format) == ("image/jpeg", "JPEG")
    assert (a.width, a.height) == (2048, 2048) and a.note == "scaled_reencoded"
    # A JPEG made smaller stays a JPEG: "scaled" alone is the whole story.
    assert one("big.jpg", gradient_jpeg(2600, 1300)).note == "scaled"


def test_transparent_png_stays_png():
    im = Image.new("RGBA", (300, 200), (0, 120, 255, 0))
    im.paste((255, 0, 0, 255), (50, 50, 150, 150))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    a = one("logo.png", buf.getvalue())
    assert a.mime == "image/png"
    out = decoded(a)
    assert out.format == "PNG" and out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0 and out.getpixel((100, 100)) == (255, 0, 0, 255)
    # An RGBA image that is fully opaque is a PNG too: lossless, without the alpha channel.
    opaque = one("opaque.png", image_bytes("PNG", mode="RGBA", color=(1, 2, 3, 255)))
    assert opaque.mime == "image/png" and decoded(opaque).mode == "RGB"
    # A GIF with a transparent palette entry keeps its transparency too.
    gif = Image.new("P", (40, 40), 0)
    gif.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    buf = io.BytesIO()
    gif.save(buf, "GIF", transparency=0)
    assert one("t.gif", buf.getvalue()).mime == "image/png"


def test_gif_first_frame_only():
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    a = one("anim.gif", buf.getvalue())
    r, g, b = decoded(a).getpixel((15, 15))
    assert r > 200 and g < 50 and b < 50


def test_exif_rotation_applied_and_metadata_dropped():
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x010F] = "SpyCam"  # Make
    buf = io.BytesIO()
    Image.new("RGB", (200, 100), (10, 200, 10)).save(buf, "JPEG", exif=exif)
    a = one("phone.jpg", buf.getvalue())
    out = decoded(a)
    assert out.size == (100, 200) and a.note == "reencoded"  # turned upright: the bubble says so
    assert b"SpyCam" not in a.data and not out.getexif()


def test_not_an_image_named_png():
    assert one("fake.png", b"this is just some text, not a picture").reason_key == "attach.not_image"
    assert one("fake.jpg", bytes(range(256)) * 10).reason_key == "attach.not_image"
    # Right magic, broken body: refused when decoding, not crashed.
    truncated = image_bytes("PNG", (300, 300))[:60]
    assert one("cut.png", truncated).reason_key == "attach.not_image"
    assert one("hdr.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 100).reason_key == "attach.not_image"
    # Formats the API does not take (and we do not decode) are not images either.
    bmp = image_bytes("BMP")
    assert one("pic.bmp", bmp).reason_key == "attach.not_image"


def test_100_megapixel_png_refused_before_decoding(monkeypatch):
    data = bilevel_png(10_000, 10_000)
    assert len(data) < 100_000  # small on disk, 100 MP once decoded
    loads = []
    from PIL import ImageFile

    def spy(real):
        def load(self):
            loads.append(self.size)
            return real(self)

        return load

    # Pixel memory: every image buffer Pillow allocates goes through Image.core.new or .fill; a decoded
    # 100 MP image needs one of 100 MP.
    buffers = []

    def alloc(real):
        def new(mode, size, *args):
            buffers.append(tuple(size))
            return real(mode, size, *args)

        return new

    with monkeypatch.context() as m:
        m.setattr(ImageFile.ImageFile, "load", spy(ImageFile.ImageFile.load))
        m.setattr(Image.Image, "load", spy(Image.Image.load))
        m.setattr(Image.core, "new", alloc(Image.core.new))
        m.setattr(Image.core, "fill", alloc(Image.core.fill))
        with pytest.warns(Image.DecompressionBombWarning):  # Pillow's own (larger) limit, header only
            r = one("huge.png", data)
        refused_buffers = list(buffers)
        assert one("tiny.png", image_bytes("PNG")).kind == "image" and loads  # the spy does see decoding
        assert (64, 48) in buffers  # ... and the allocation spy sees its pixel buffer
    assert r.reason_key == "attach.bomb"
    assert r.detail["width"] == 10_000 and r.detail["height"] == 10_000 and r.detail["limit"] == att.MAX_PIXELS
    # The 100 MP image was never loaded, and no pixel buffer was made while refusing it.
    assert set(loads) == {(64, 48)} and refused_buffers == []
    # Just under the limit is fine (and decodes).
    ok = one("big.png", bilevel_png(7000, 7000))
    assert ok.kind == "image" and max(ok.width, ok.height) == att.IMAGE_MAX_SIDE


def test_pillow_bomb_error_and_warning_are_refusals(monkeypatch):
    data = bilevel_png(10_000, 10_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # Pillow raises for > 2x this
    assert one("huge.png", data).reason_key == "attach.bomb"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60_000_000)  # Pillow only warns
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert one("huge.png", data).reason_key == "attach.bomb"


def test_zip_bomb_named_png():
    data = zip_bomb()
    assert len(data) < 2 * 1024 * 1024
    r = one("cute-cat.png", data)
    assert r.reason_key == "attach.bomb" and r.detail["uncompressed"] > att.MAX_ZIP_UNCOMPRESSED


def test_at_most_one_decoded_image_at_a_time(monkeypatch):
    opened: list[weakref.ref] = []
    real_open = Image.open

    def is_closed(im) -> bool:
        try:
            im.im  # noqa: B018 - raises once the core is released
        except ValueError:
            return True
        return False

    def spy_open(*args, **kwargs):
        for ref in opened:
            im = ref()
            assert im is None or is_closed(im), "an earlier image is still decoded"
        im = real_open(*args, **kwargs)
        opened.append(weakref.ref(im))
        return im

    monkeypatch.setattr(Image, "open", spy_open)
    files = [(f"p{i}.png", image_bytes("PNG", (2500 + i, 900), mode="P", color=i)) for i in range(3)]
    files += [("q.jpg", image_bytes("JPEG", (3000, 100))), ("r.webp", image_bytes("WEBP", (100, 100)))]
    accepted, refused = att.prepare(files)
    assert len(accepted) == 5 and not refused and len(opened) == 5


# ---------------------------------------------------------------------------------------------------------
# Sizes and counts


def test_size_limits():
    r = one("big.txt", b"a" * (50 * 1024 * 1024))
    assert r.reason_key == "attach.too_big" and r.detail == {"size": 50 * 1024 * 1024, "limit": att.MAX_DOC_BYTES}
    r = one("big.pdf", b"%PDF-1.4\n" + bytes(50 * 1024 * 1024))
    assert r.reason_key == "attach.too_big" and r.detail["limit"] == att.MAX_DOC_BYTES
    r = one("big.png", b"\x89PNG\r\n\x1a\n" + bytes(21 * 1024 * 1024))
    assert r.reason_key == "attach.too_big" and r.detail["limit"] == att.MAX_IMAGE_BYTES_IN
    r = one("movie.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(11 * 1024 * 1024))
    assert r.reason_key == "attach.unsupported"
    assert one("empty.txt", b"").reason_key == "attach.empty"
    assert one("blank.md", b"  \n\n").reason_key == "attach.empty"
    r = one("long.txt", b"x" * (att.MAX_TEXT_CHARS + 1))
    assert r.reason_key == "attach.text_too_long" and r.detail["chars"] == att.MAX_TEXT_CHARS + 1


def test_too_many_files():
    files = [(f"n{i}.txt", f"note {i}".encode()) for i in range(12)]
    accepted, refused = att.prepare(files)
    assert [a.name for a in accepted] == [f"n{i}.txt" for i in range(10)]
    assert [(r.name, r.reason_key, r.detail) for r in refused] == [
        ("n10.txt", "attach.too_many", {"limit": 10}),
        ("n11.txt", "attach.too_many", {"limit": 10}),
    ]


# ---------------------------------------------------------------------------------------------------------
# Text and extract documents


def test_text_documents_utf8_bom_gb18030():
    chinese = "你好，世界！这是一个测试文件。\n第二行：GLM 模型。\n"
    for name, data in [
        ("a.md", chinese.encode("utf-8")),
        ("b.txt", b"\xef\xbb\xbf" + chinese.encode("utf-8")),
        ("c.txt", chinese.encode("gb18030")),
        ("d.csv", chinese.encode("utf-16")),
        ("e.py", chinese.replace("\n", "\r\n").encode("gb18030")),
    ]:
        a = one(name, data)
        assert isinstance(a, Attachment), (name, a)
        assert a.kind == "text" and a.text == chinese and a.size == len(data)
        assert a.tokens == att.estimate_tokens(chinese) > 0
    assert one("data.json", b'{"a": 1}').mime == "application/json"
    assert one("notes", b"plain text without an extension").kind == "text"


def test_binary_named_txt_refused():
    assert one("x.txt", b"hello\x00world\x00" * 20).reason_key == "attach.not_text"
    rng = random.Random(1)
    assert one("y.py", bytes(rng.randrange(1, 256) for _ in range(4000))).reason_key == "attach.not_text"
    assert one("z.bin", b"\x01\x02\x03\x04" * 100).reason_key == "attach.unsupported"


def test_extract_documents_detected_by_magic():
    pdf = one("report.pdf", minimal_pdf(b"(Hello PDF) Tj"))
    assert pdf.kind == "extract" and pdf.mime == "application/pdf" and pdf.text is None and pdf.tokens == 0
    docx = one("memo.docx", minimal_docx("Hello DOCX"))
    assert docx.kind == "extract" and docx.mime.endswith("wordprocessingml.document")
    renamed = one("memo.txt", minimal_docx("x"))  # content wins; the name gets the real extension
    assert renamed.kind == "extract" and renamed.name == "memo.txt.docx"
    assert one("memo.png", minimal_docx("x")).reason_key == "attach.not_image"  # an image name must be one
    assert one("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)).mime == "application/msword"
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as zf:
        zf.writestr("a.txt", "hi")
    assert one("archive.zip", plain_zip.getvalue()).reason_key == "attach.unsupported"
    assert one("archive.png", plain_zip.getvalue()).reason_key == "attach.not_image"


def test_document_context_fences_and_headers():
    docs, _ = att.prepare(
        [
            ("../a.md", b"# Title\n\n```python\nprint(1)\n```\n"),
            ("b.txt", b"has ````` five and `` two"),
            ("c.py", b"x = 1\r\n"),
            ("d.pdf", minimal_pdf(b"(x) Tj")),
        ]
    )
    ctx = att.document_context(docs)
    blocks = ctx.split("\n\n")
    assert ctx.startswith("Attached file: a.md (")
    assert "````markdown\n# Title\n\n```python\nprint(1)\n```\n````" in ctx
    assert "``````text\nhas ````` five and `` two\n``````" in ctx
    assert "Attached file: c.py (7 B)\n```python\nx = 1\n```" in ctx
    assert "d.pdf" not in ctx  # not extracted yet
    assert len(blocks) >= 3
    assert att.document_context([]) == ""
    assert att.with_documents("Summarise", docs).endswith("```\n\nSummarise")
    assert att.with_documents("Hi", []) == "Hi"
    weird = Attachment(name="n`\n\x00.txt", kind="text", size=3, mime="text/plain", data=b"abc", text="abc")
    assert att.document_context([weird]).splitlines()[0] == "Attached file: n` .txt (3 B)"


# ---------------------------------------------------------------------------------------------------------
# Vision


def test_check_vision_rules():
    img = one("a.png", image_bytes("PNG"))
    assert att.check_vision(CAT.get("glm-4-flash"), [img]) == "attach.model_no_vision"
    assert att.check_vision(CAT.get("glm-4v-flash"), [img]) == "attach.model_url_only"
    assert att.check_vision(CAT.get("glm-4v-plus-0111"), [img] * 6) == "attach.too_many_images"
    assert att.check_vision(CAT.get("glm-4v-plus-0111"), [img] * 5) is None
    assert att.check_vision(CAT.get("glm-4.5v"), [img] * 6) is None
    assert att.check_vision(CAT.get("glm-4.1v-thinking-flash"), [img] * 2) == "attach.too_many_images"
    assert att.check_vision(CAT.get("my-custom-model"), [img]) == "attach.model_no_vision"
    assert att.check_vision(None, [img]) == "attach.model_no_vision"
    assert att.check_vision(CAT.get("glm-4-flash"), []) is None


def test_images_go_after_the_text_as_a_content_array():
    images, _ = att.prepare(
        [("a.jpg", gradient_jpeg(3000, 1000)), ("b.png", image_bytes("PNG", (50, 50), mode="RGBA", color=(0, 0, 0, 0)))]
    )
    content = conv.api_content(conv.user_message("What is this?", images))
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert [c["type"] for c in content[1:]] == ["image_url", "image_url"]
    for item, mime in zip(content[1:], ("image/jpeg", "image/png"), strict=False):
        url = item["image_url"]["url"]
        prefix = f"data:{mime};base64,"
        assert url.startswith(prefix)
        raw = base64.b64decode(url[len(prefix) :], validate=True)
        assert len(raw) <= att.API_IMAGE_MAX_BYTES
        im = Image.open(io.BytesIO(raw))
        im.load()
        assert max(im.size) <= att.API_IMAGE_MAX_SIDE
    assert [c["type"] for c in conv.api_content(conv.user_message("  ", images))] == ["image_url"] * 2


def test_image_content_through_the_sdk_reaches_the_api_as_bare_base64():
    captured = {}

    def handler(request: httpx.Request) -> httpx.Response:
        captured["body"] = json.loads(request.read())
        return httpx.Response(
            200,
            json={
                "id": "1",
                "created": 1,
                "model": "glm-4.5v",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "a cat"}}
                ],
            },
        )

    client = zhipuai.ZhipuAI(
        api_key="k", base_url=BASE, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    images, _ = att.prepare([("a.png", image_bytes("PNG"))])
    content = conv.api_content(conv.user_message("What?", images))
    reply = client.chat.completions.create(model="glm-4.5v", messages=[{"role": "user", "content": content}])
    assert reply.choices[0].message.content == "a cat"
    sent = captured["body"]["messages"][0]["content"]
    assert sent[0] == {"type": "text", "text": "What?"}
    assert base64.b64decode(sent[1]["image_url"]["url"]) == images[0].data  # the SDK strips "data:...;base64,"


# ---------------------------------------------------------------------------------------------------------
# Files API: extract_text through the real SDK and simulator_files


def sdk_client(store: sf.FileStore, key: str = "k") -> zhipuai.ZhipuAI:
    def route(request: httpx.Request) -> httpx.Response:
        query = request.url.query.decode()
        answer = store.handle(request.method, request.url.path, dict(request.headers), request.read(), query)
        if answer is None:
            return httpx.Response(404, json={"error": {"code": "404", "message": "no route"}})
        status, headers, body = answer
        return httpx.Response(status, headers=headers, content=body)

    return zhipuai.ZhipuAI(
        api_key=key, base_url=BASE, max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(route))
    )


def test_extract_text_pdf_and_docx_via_sdk():
    store = sf.FileStore()
    client = sdk_client(store)
    pdf = one("report.pdf", minimal_pdf(b"(Hello PDF) Tj", b"0 -30 Td", b"[(Sec) -20 (ond \\(line\\))] TJ"))
    assert att.extract_text(client, pdf) == "Hello PDF\nSecond (line)"
    assert pdf.text == "Hello PDF\nSecond (line)" and pdf.tokens > 0
    docx = one("备忘录.docx", minimal_docx("Hello DOCX", "第二段 &amp; more"))
    assert att.extract_text(client, docx) == "Hello DOCX\n第二段 & more"
    assert len(store) == 0  # deleted after extraction
    ctx = att.document_context([pdf, docx])
    assert "Attached file: report.pdf (" in ctx and "```\nHello PDF\nSecond (line)\n```" in ctx
    assert "Attached file: 备忘录.docx (" in ctx


def test_files_routes_as_the_sdk_calls_them():
    store = sf.FileStore()
    client = sdk_client(store)
    data = minimal_pdf(b"(Compressed text) Tj", flate=True)
    obj = client.files.create(file=('a "quoted" 名.pdf', data, "application/pdf"), purpose="file-extract")
    assert obj.id.startswith("file-") and obj.object == "file" and obj.bytes == len(data)
    assert obj.filename == 'a "quoted" 名.pdf' and obj.purpose == "file-extract" and obj.status == "processed"
    assert isinstance(obj.created_at, int)
    payload = json.loads(client.files.content(obj.id).content)
    assert payload == {
        "content": "Compressed text",
        "file_type": "application/pdf",
        "filename": 'a "quoted" 名.pdf',
        "title": 'a "quoted" 名',
        "type": "file",
    }
    listed = client.files.list()
    assert [f.id for f in listed.data] == [obj.id]
    assert client.files.delete(obj.id).deleted is True
    with pytest.raises(zhipuai.APIStatusError) as err:
        client.files.content(obj.id)
    assert err.value.status_code == 404
    assert err.value.response.json()["error"]["code"] == "404"
    assert set(err.value.response.json()["error"]) == {"code", "message"}


def test_extract_text_errors():
    store = sf.FileStore(valid_keys={"good"})
    pdf = one("r.pdf", minimal_pdf(b"(Hi) Tj"))
    with pytest.raises(ExtractError) as err:
        att.extract_text(sdk_client(store, key="bad"), pdf)
    assert err.value.reason_key == "attach.extract_auth" and err.value.status == 401 and err.value.code == "1002"
    assert pdf.text is None
    good = sdk_client(store, key="good")
    # A file the (simulated) service cannot extract.
    odd = Attachment(name="x.txt", kind="extract", size=5, mime="text/plain", data=b"hello")
    with pytest.raises(ExtractError) as err:
        att.extract_text(good, odd)
    assert err.value.reason_key == "attach.extract_unsupported" and err.value.code == "1214"
    # A PDF without any text (a scan) extracts to nothing.
    scan = one("scan.pdf", minimal_pdf(b"0 0 m 10 10 l S"))
    with pytest.raises(ExtractError) as err:
        att.extract_text(good, scan)
    assert err.value.reason_key == "attach.extract_empty"
    # Network failure.
    broken = zhipuai.ZhipuAI(
        api_key="k",
        base_url=BASE,
        max_retries=0,
        http_client=httpx.Client(
            transport=httpx.MockTransport(lambda r: (_ for _ in ()).throw(httpx.ConnectError("down", request=r)))
        ),
    )
    with pytest.raises(ExtractError) as err:
        att.extract_text(broken, pdf)
    assert err.value.reason_key == "attach.extract_network"
    # Unknown id through the SDK.
    with pytest.raises(zhipuai.APIStatusError) as err:
        good.files.content("file-does-not-exist")
    assert err.value.status_code == 404 and "error" in err.value.response.json()
    assert len(store) == 0


def test_files_handler_rules():
    store = sf.FileStore()
    assert store.handle("POST", "/api/paas/v4/chat/completions", {}, b"{}") is None
    assert store.handle("GET", "/health", {}, b"") is None
    status, headers, body = store.handle("POST", "/api/paas/v4/files", {}, b"")
    assert status == 401 and json.loads(body) == {"error": {"code": "1001", "message": sf._MSG_1001}}
    assert headers["content-type"].startswith("application/json")
    auth = {"Authorization": "Bearer k"}

    def multipart(fields: list[tuple[str, str | None, bytes]]) -> tuple[dict, bytes]:
        boundary = "b0undary"
        out = b""
        for name, filename, value in fields:
            disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
            out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + value + b"\r\n"
        return {
            **auth,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        }, out + f"--{boundary}--\r\n".encode()

    h, b = multipart([("purpose", None, b"file-extract")])
    assert json.loads(store.handle("POST", "/v4/files", h, b)[2])["error"]["code"] == "1213"
    h, b = multipart([("file", "a.pdf", b"%PDF-")])
    assert json.loads(store.handle("POST", "/v4/files", h, b)[2])["error"]["code"] == "1213"
    h, b = multipart([("purpose", None, b"nonsense"), ("file", "a.pdf", b"%PDF-")])
    status, _, body = store.handle("POST", "/v4/files", h, b)
    assert status == 400 and json.loads(body)["error"]["code"] == "1214"
    assert store.handle("POST", "/v4/files", {**auth, "Content-Type": "application/json"}, b"{}")[0] == 400
    # Binary content with CR/LF and boundary-like bytes survives the multipart parser.
    tricky = b"\r\n--b0undar\r\n\r\n\x00\xff" * 50
    h, b = multipart([("purpose", None, b"batch"), ("file", "t.bin", tricky)])
    status, _, body = store.handle("POST", "/v4/files", h, b)
    assert status == 200
    file_id = json.loads(body)["id"]
    assert store.get(file_id).data == tricky
    assert store.handle("GET", f"/v4/files/{file_id}/content", auth, b"")[2] == tricky  # a batch file: its raw bytes
    # Bounded: a full store refuses the next upload and keeps every file it has (glm-api.md §18).
    small = sf.FileStore(max_files=3)
    answers = []
    for i in range(4):
        h, b = multipart([("purpose", None, b"file-extract"), ("file", f"{i}.pdf", b"%PDF-" + bytes([i]))])
        answers.append(small.handle("POST", "/v4/files", h, b))
    assert [a[0] for a in answers] == [200, 200, 200, 400] and json.loads(answers[3][2])["error"]["code"] == "1214"
    assert len(small) == 3 and all(small.get(json.loads(a[2])["id"]) for a in answers[:3])


def test_upload_over_50_mb_refused_via_sdk():
    client = sdk_client(sf.FileStore())
    with pytest.raises(zhipuai.APIRequestFailedError) as err:
        client.files.create(file=("big.pdf", b"%PDF-1.4\n" + bytes(50 * 1024 * 1024 + 1)), purpose="file-extract")
    assert err.value.response.json()["error"]["code"] == "1214"


def test_docx_zip_bomb_is_not_inflated_by_the_simulator():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w", force_zip64=True) as f:
            for _ in range(40):
                f.write(bytes(1024 * 1024))
    assert sf.office_text(buf.getvalue(), "docx") is None


# ---------------------------------------------------------------------------------------------------------
# Fuzz


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_prepare_never_raises_fuzz():
    rng = random.Random(20250901)
    prefixes = [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"GIF89a",
        b"RIFF\x00\x00\x00\x00WEBP",
        b"%PDF-1.7\n",
        b"PK\x03\x04",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\xef\xbb\xbf",
        b"\xff\xfe",
    ]
    valid = [image_bytes("PNG"), image_bytes("GIF"), image_bytes("WEBP"), image_bytes("JPEG"), minimal_docx("x")]
    names = ["a.png", "b.txt", "../../c.pdf", "", "\x00", "d" * 500, "e.docx", "名字.md", "f.", ".g", "h\\i.jpg"]
    total = 0
    for _ in range(400):
        kind = rng.random()
        if kind < 0.5:
            data = rng.choice(prefixes) + rng.randbytes(rng.randrange(0, 3000))
        else:  # a real file, mutated or cut
            data = bytearray(rng.choice(valid))
            for _ in range(rng.randrange(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[: rng.randrange(1, len(data) + 1)])
        name = (
            rng.choice(names)
            if rng.random() < 0.7
            else "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(0, 30)))
        )
        accepted, refused = att.prepare([(name, data)])
        assert len(accepted) + len(refused) == 1
        for r in refused:
            assert r.reason_key in att.REFUSAL_KEYS and isinstance(r.detail, dict)
        for a in accepted:
            assert a.kind in ("image", "text", "extract") and len(a.name) <= att.NAME_MAX_CHARS
            if a.kind == "image":
                assert len(a.data) <= att.API_IMAGE_MAX_BYTES
        total += 1
    # Garbage shapes of the input itself.
    for junk in (
        None,
        5,
        [None],
        [("a",)],
        [("a", None)],
        [(b"n.txt", b"hi")],
        [("a", "str data")],
        [("m.txt", memoryview(b"ok"))],
        "abc",
    ):
        accepted, refused = att.prepare(junk)
        assert all(isinstance(r.reason_key, str) for r in refused)
    assert total == 400


def test_simulator_extractors_never_raise_fuzz():
    rng = random.Random(7)
    seeds = [minimal_pdf(b"(Hello PDF) Tj"), minimal_pdf(b"(x) Tj", flate=True), minimal_docx("x")]
    for _ in range(200):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 10)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data[: rng.randrange(1, len(data) + 1)])
        sf.pdf_text(data)
        sf.office_text(data, "docx")
        sf.parse_multipart("multipart/form-data; boundary=x", data)
        sf.FileStore().handle(
            "POST", "/files", {"authorization": "Bearer k", "content-type": "multipart/form-data; boundary=x"}, data
        )
