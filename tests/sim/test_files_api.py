"""The simulator's files API against glm-api.md §18, through the real SDK: the formats file-extract takes, the
image and file-count limits as refusals, content only for batch and file-extract files, and the list's
purpose / limit / after / order parameters."""

from __future__ import annotations

import io
import json

import httpx
import pytest
import zhipuai
from conftest import CANARY_KEY
from PIL import Image

from glmsim import files as sf
from glmsim.simulator import Simulator

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@pytest.fixture
def sim():
    return Simulator()


@pytest.fixture
def client(sim):
    http = httpx.Client(transport=sim.transport())
    yield zhipuai.ZhipuAI(api_key=CANARY_KEY, base_url="http://sim.local/api/paas/v4", http_client=http, max_retries=0)
    http.close()


def picture(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buf, fmt)
    return buf.getvalue()


def old_office(text: str) -> bytes:
    """The shape of an old binary Office file as far as extraction goes: OLE2 magic, binary, UTF-16LE text."""
    return OLE2 + b"\xff" * 56 + "Root Entry".encode("utf-16-le") + b"\x00" * 40 + text.encode("utf-16-le") + b"\0\0"


def upload(client, name: str, data: bytes, purpose: str = "file-extract"):
    return client.files.create(file=(name, data, "application/octet-stream"), purpose=purpose)


def code_of(info: pytest.ExceptionInfo) -> str:
    assert info.value.status_code == 400
    return info.value.response.json()["error"]["code"]


@pytest.mark.parametrize(
    "name, data, text",
    [
        ("memo.doc", old_office("Hello 旧文档"), "Hello 旧文档"),
        ("sheet.xls", old_office("Q1 revenue"), "Q1 revenue"),
        ("deck.ppt", old_office("Slide title"), "Slide title"),
        ("table.csv", "name,城市\r\nAda,北京\r\n".encode(), "name,城市\nAda,北京\n"),
        ("gbk.csv", "名字,城市\n".encode("gb18030"), "名字,城市\n"),
        ("photo.png", picture("PNG"), ""),  # no OCR in the simulator: a picture has no text for it
        ("photo.jpg", picture("JPEG"), ""),
        ("photo.jpeg", picture("JPEG"), ""),
    ],
)
def test_every_listed_format_is_accepted_and_read(client, name, data, text):
    obj = upload(client, name, data)
    payload = json.loads(client.files.content(obj.id).content)
    assert payload["content"] == text and payload["filename"] == name and payload["type"] == "file"


def test_a_format_off_the_list_or_content_unlike_its_name_is_refused(client, sim):
    for name in ("notes.txt", "tool.exe", "noextension"):
        with pytest.raises(zhipuai.APIRequestFailedError) as info:
            upload(client, name, b"hello")
        assert code_of(info) == "1214"
    assert len(sim.files) == 0
    fake = upload(client, "fake.doc", b"plain text, not a Word file")  # accepted by name, unreadable
    with pytest.raises(zhipuai.APIRequestFailedError) as info:
        client.files.content(fake.id)
    assert code_of(info) == "1214"
    # Other purposes are not held to the file-extract formats.
    assert upload(client, "requests.jsonl", b'{"custom_id": "1"}\n', purpose="batch").id


def test_an_image_is_at_most_5_mb_other_files_50(client):
    five = sf.MAX_IMAGE_BYTES
    assert upload(client, "limit.png", picture("PNG") + bytes(five - len(picture("PNG")))).bytes == five
    with pytest.raises(zhipuai.APIRequestFailedError) as info:
        upload(client, "big.jpg", picture("JPEG") + bytes(five))
    assert code_of(info) == "1214"
    assert upload(client, "big.pdf", b"%PDF-1.4\n" + bytes(five)).bytes == five + 9  # not an image: 50 MB


def test_the_101st_file_is_refused_until_one_is_deleted(client, sim):
    ids = [upload(client, f"{i}.csv", f"row {i}\n".encode()).id for i in range(sf.MAX_FILES)]
    with pytest.raises(zhipuai.APIRequestFailedError) as info:
        upload(client, "one-more.csv", b"x\n")
    assert code_of(info) == "1214"
    assert len(sim.files) == sf.MAX_FILES and all(sim.files.get(i) for i in ids)  # nothing dropped silently
    client.files.delete(ids[0])
    assert upload(client, "one-more.csv", b"x\n").id


def test_only_batch_and_file_extract_files_can_be_read(client):
    batch = upload(client, "requests.jsonl", b'{"custom_id": "1"}\n', purpose="batch")
    assert client.files.content(batch.id).content == b'{"custom_id": "1"}\n'
    kept = upload(client, "kb.pdf", b"%PDF-1.4\n", purpose="retrieval")
    with pytest.raises(zhipuai.APIRequestFailedError) as info:
        client.files.content(kept.id)
    assert code_of(info) == "1214"


def test_the_list_honours_purpose_limit_after_and_order(client):
    extract = [upload(client, f"{i}.csv", b"a\n").id for i in range(3)]
    batch = upload(client, "b.jsonl", b"{}\n", purpose="batch").id
    assert [f.id for f in client.files.list().data] == [batch, *extract[::-1]]  # newest first
    assert [f.id for f in client.files.list(purpose="file-extract", order="asc").data] == extract
    page = client.files.list(purpose="file-extract", limit=2)
    assert [f.id for f in page.data] == extract[:0:-1] and page.has_more is True
    rest = client.files.list(purpose="file-extract", limit=2, after=page.data[-1].id)
    assert [f.id for f in rest.data] == extract[:1] and rest.has_more is False
    assert [f.id for f in client.files.list(purpose="batch").data] == [batch]
    for bad in ({"limit": 0}, {"limit": 101}, {"order": "sideways"}, {"purpose": "nonsense"}, {"after": "file-x"}):
        with pytest.raises(zhipuai.APIRequestFailedError) as info:
            client.files.list(**bad)
        assert code_of(info) == "1214"
