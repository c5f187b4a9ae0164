"""A client that speaks Streamlit's own WebSocket protocol to a running `streamlit run` server.

It connects to ws://HOST:PORT/_stcore/stream as the browser's frontend does (Streamlit 1.67), sends
BackMsg protobufs (reruns with any widget states, stop, upload URL requests) and reads ForwardMsgs into
a simple model of the page: the elements of the last script run by their delta path. It can send any
value for any widget id, including values the widget never offered, and upload files over HTTP.

Used by the protocol-level attack tests (tests/e2e/test_attacks.py) and the load generator (bench/load.py); it asserts
nothing itself: waits return booleans or raise TimeoutError / LookupError.

    with StClient(url) as c:
        c.open()                                            # the first run, as a page load
        box = c.find(kind="chat_input")
        c.rerun(widget(box.id, chat_input_value=chat_value("hello")))
        print(c.text())
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo
from streamlit.proto.Common_pb2 import (
    ChatInputValue,
    DoubleArray,
    FileUploaderState,
    FileURLs,
    FileURLsResponse,
    SInt64Array,
    StringArray,
    StringTriggerValue,
    UploadedFileInfo,
)
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

XSRF_COOKIE = "_streamlit_xsrf"
# What the frontend puts in the subprotocol list's token slot when it has no XSRF cookie.
PLACEHOLDER_TOKEN = "PLACEHOLDER_AUTH_TOKEN"
ROOTS = {0: "main", 1: "sidebar", 2: "event", 3: "bottom"}  # first index of a delta path (RootContainer)
FINAL = (
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
)  # FINISHED_EARLY_FOR_RERUN means another run follows


# -- widget states: any value for any widget id -------------------------------------------------------------


def widget(widget_id: str, **value: Any) -> WidgetState:
    """One widget's state with exactly one value field, e.g. widget(id, string_value="x").

    Fields (proto/WidgetStates.proto): trigger_value, bool_value, double_value, int_value, string_value,
    json_value, json_trigger_value, bytes_value (scalars); double_array_value, int_array_value,
    string_array_value (sequences); string_trigger_value (str); chat_input_value (ChatInputValue or str);
    file_uploader_state_value (FileUploaderState or a sequence of Upload / UploadedFileInfo).
    """
    if len(value) != 1:
        raise TypeError(f"exactly one value field, got {sorted(value)}")
    ((name, v),) = value.items()
    state = WidgetState(id=widget_id)
    if name == "double_array_value":
        state.double_array_value.CopyFrom(DoubleArray(data=list(v)))
    elif name == "int_array_value":
        state.int_array_value.CopyFrom(SInt64Array(data=list(v)))
    elif name == "string_array_value":
        state.string_array_value.CopyFrom(StringArray(data=list(v)))
    elif name == "string_trigger_value":
        state.string_trigger_value.CopyFrom(StringTriggerValue(data=v))
    elif name == "chat_input_value":
        state.chat_input_value.CopyFrom(v if isinstance(v, ChatInputValue) else chat_value(v))
    elif name == "file_uploader_state_value":
        state.file_uploader_state_value.CopyFrom(v if isinstance(v, FileUploaderState) else file_state(v))
    else:
        setattr(state, name, v)  # protobuf rejects unknown fields and wrongly typed values itself
    return state


def file_info(upload: Upload | UploadedFileInfo) -> UploadedFileInfo:
    return upload if isinstance(upload, UploadedFileInfo) else upload.info()


def file_state(files: Iterable[Upload | UploadedFileInfo]) -> FileUploaderState:
    """What a file_uploader (or a chat input's files) reports: the files it holds on the server."""
    return FileUploaderState(uploaded_file_info=[file_info(f) for f in files])


def chat_value(text: str, files: Iterable[Upload | UploadedFileInfo] = ()) -> ChatInputValue:
    """A chat input submission as the frontend sends it: the text and the files uploaded for it."""
    value = ChatInputValue(data=text)
    files = list(files)
    if files:
        value.file_uploader_state.CopyFrom(file_state(files))
    return value


# -- records ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Element:
    """One element or container of the page, as the last run left it."""

    path: tuple[int, ...]  # delta path: root container index, then positions
    kind: str  # Element oneof ("markdown", "selectbox", ...) or "block:<type>" for containers
    id: str = ""  # widget id ("$$ID-<hash>-<user key>") or block id; "" when none
    label: str = ""
    text: str = ""  # what it shows as text: body, label, placeholder
    options: tuple[str, ...] = ()  # formatted options (selectbox, radio, multiselect)
    fragment_id: str = ""
    proto: Any = field(default=None, repr=False, compare=False)  # the Element or Block message

    @property
    def root(self) -> str:
        return ROOTS.get(self.path[0], str(self.path[0])) if self.path else ""

    @property
    def key(self) -> str | None:
        """The user key of a keyed widget (ids end with "-<key>"; unkeyed ones with "-None")."""
        if not self.id.startswith("$$ID-"):
            return None
        key = self.id.split("-", 2)[2] if self.id.count("-") >= 2 else ""
        return None if key in ("", "None") else key

    @property
    def is_block(self) -> bool:
        return self.kind.startswith("block:")


@dataclass(frozen=True)
class Upload:
    """A file put on the server for this session (the upload endpoint's answer in `status`)."""

    name: str
    size: int
    file_id: str
    upload_url: str
    delete_url: str
    status: int

    def info(self) -> UploadedFileInfo:
        return UploadedFileInfo(
            name=self.name,
            size=self.size,
            file_id=self.file_id,
            file_urls=FileURLs(file_id=self.file_id, upload_url=self.upload_url, delete_url=self.delete_url),
        )


@dataclass
class _Run:
    number: int
    fragment_ids: tuple[str, ...] = ()


# Text an element shows, per Element oneof: the field that holds it.
_TEXT_FIELDS = {
    "markdown": "body",
    "alert": "body",
    "heading": "body",
    "text": "body",
    "code": "code_text",
    "toast": "body",
    "progress": "text",
    "json": "body",
    "chat_input": "placeholder",
    "metric": "body",
}


def _element_record(path: tuple[int, ...], proto, fragment_id: str) -> Element:
    kind = proto.WhichOneof("type") or ""
    inner = getattr(proto, kind) if kind else None
    label = str(getattr(inner, "label", "") or "")
    text = getattr(inner, _TEXT_FIELDS[kind]) if kind in _TEXT_FIELDS else label
    if kind == "exception":
        text = f"{inner.type}: {inner.message}"
    elif kind == "metric":
        text = f"{inner.label} {inner.body}"
    options = tuple(o for o in getattr(inner, "options", ()) if isinstance(o, str))
    return Element(path, kind, str(getattr(inner, "id", "") or ""), label, str(text or ""), options, fragment_id, proto)


def _block_record(path: tuple[int, ...], proto, fragment_id: str) -> Element:
    kind = proto.WhichOneof("type") or "vertical"
    inner = getattr(proto, kind)
    label = str(getattr(inner, "label", "") or getattr(inner, "title", "") or "")
    # A stateful expander or popover carries its widget id in the block's own message as well.
    block_id = str(getattr(inner, "id", "") or proto.id or "")
    return Element(path, f"block:{kind}", block_id, label, label, (), fragment_id, proto)


def _descends(path: tuple[int, ...], ancestor: tuple[int, ...]) -> bool:
    return len(path) > len(ancestor) and path[: len(ancestor)] == ancestor


# -- the client ---------------------------------------------------------------------------------------------


class StClient:
    """One browser session, without the browser.

    url: the app's http(s) URL. headers: extra headers for the WebSocket handshake and HTTP requests
    (e.g. X-Forwarded-For). source_address: a local address to connect from (e.g. "127.0.0.2", so the
    server sees another client). session_id: an existing session to ask to resume, as a reconnecting
    browser does. origin: the Origin header; "auto" sends the app's own, None sends none. xsrf: fetch
    the XSRF cookie first and present it, as the browser does; every cookie that response sets goes with the
    WebSocket and later requests, as a browser's would (a proxy's replica cookie keeps the session on the
    replica that answered). page: the URL path the page was opened
    at ("" for the app's root, "history" for /history). record_frames: keep every frame and message
    received. on_message(msg, at): called on the reader thread with each ForwardMsg (references
    resolved) and its time.monotonic() arrival, e.g. for timing measurements.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        source_address: str | None = None,
        session_id: str | None = None,
        origin: str | None = "auto",
        xsrf: bool = True,
        locale: str = "en-US",
        timezone: str = "UTC",
        page: str = "",
        query_string: str = "",
        use_cache: bool = True,
        record_frames: bool = True,
        timeout: float = 30.0,
        on_message: Callable[[ForwardMsg, float], None] | None = None,
    ):
        parts = urlsplit(url)
        self.url = url.rstrip("/")
        self.ws_url = (
            f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"
        )
        self.headers = dict(headers or {})
        self.source_address = source_address
        self.requested_session_id = session_id
        self.origin = f"{parts.scheme}://{parts.netloc}" if origin == "auto" else origin
        self.use_xsrf = xsrf
        self.locale, self.timezone, self.page, self.query_string = locale, timezone, page, query_string
        self.use_cache, self.record_frames, self.timeout = use_cache, record_frames, timeout
        self.on_message = on_message

        self.xsrf_token: str | None = None
        self.cookies: dict[str, str] = {}  # what the health response set (raw values)
        self.session_id: str | None = None
        self.page_script_hash = ""
        self.main_script_hash = ""
        self.app_pages: list[Any] = []  # AppPage messages (from navigation / new_session)
        self.frames: list[bytes] = []  # every frame received, raw (record_frames)
        self.messages: list[ForwardMsg] = []  # every ForwardMsg, references resolved (record_frames)
        self.events: list[Any] = []  # session_event, page_not_found, auth_redirect, parent_message ...
        self.statuses: list[int] = []  # script_finished statuses, in order
        self.running = False  # from session_status_changed
        self.closed = False
        self.close_code: int | None = None
        self.errors: list[str] = []  # what the reader could not make sense of
        self.cache_hits = 0  # messages the server sent by reference (ref_hash)

        self._ws: ClientConnection | None = None
        self._http: httpx.Client | None = None
        self._reader: threading.Thread | None = None
        self._cond = threading.Condition()
        self._elements: dict[tuple[int, ...], tuple[Element, int]] = {}  # path -> (record, run number)
        self._transients: dict[tuple[int, ...], list[Element]] = {}
        self._run = _Run(0)
        self._finished = 0  # final script_finished messages seen
        self._file_urls: dict[str, FileURLsResponse] = {}  # by request id
        self._cache: dict[str, tuple[ForwardMsg, int]] = {}  # hash -> (message, last run it was used in)
        self._max_cache_age = 2

    # -- connection ------------------------------------------------------------------------------------------

    def __enter__(self) -> StClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _http_client(self) -> httpx.Client:
        if self._http is None:
            transport = httpx.HTTPTransport(local_address=self.source_address) if self.source_address else None
            self._http = httpx.Client(
                base_url=self.url, headers=self.headers, transport=transport, timeout=self.timeout, trust_env=False
            )
        return self._http

    def _cookie_headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def fetch_xsrf(self) -> str | None:
        """GET the health endpoint, which sets the XSRF cookie (when XSRF protection is on), as the page load does;
        keep every cookie it sets."""
        resp = self._http_client().get("/_stcore/health")
        for value in resp.headers.get_list("set-cookie"):
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]  # raw: the XSRF value holds "|", never unquoted
        self.xsrf_token = self.cookies.get(XSRF_COOKIE)
        return self.xsrf_token

    def connect(self) -> StClient:
        """Open the WebSocket; subprotocols ["streamlit", XSRF token, existing session id], as the frontend sends."""
        if self.use_xsrf and self.xsrf_token is None:
            self.fetch_xsrf()
        protocols = ["streamlit", self.xsrf_token or PLACEHOLDER_TOKEN]
        if self.requested_session_id:
            protocols.append(self.requested_session_id)
        extra: dict[str, Any] = {}
        if self.source_address:
            extra["source_address"] = (self.source_address, 0)  # passed on to socket.create_connection
        self._ws = connect(
            self.ws_url,
            origin=self.origin,
            subprotocols=protocols,
            additional_headers={**self.headers, **self._cookie_headers()},
            max_size=None,
            open_timeout=self.timeout,
            proxy=None,
            user_agent_header="stclient",
            legacy=True,
            **extra,
        )
        self._reader = threading.Thread(target=self._read_loop, name="stclient-reader", daemon=True)
        self._reader.start()
        return self

    def open(self, widgets: Sequence[WidgetState] = (), *, timeout: float | None = None) -> StClient:
        """Connect and make the first run, as a page load does; wait until it has finished."""
        if self._ws is None:
            self.connect()
        self._send_rerun(widgets, page_script_hash="", page_name=self.page, query_string=self.query_string)
        self.wait_idle(timeout, since=0)
        return self

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- sending ---------------------------------------------------------------------------------------------

    def send(self, msg: BackMsg) -> None:
        if self._ws is None:
            raise RuntimeError("not connected")
        self._ws.send(msg.SerializeToString())

    def context_info(self) -> ContextInfo:
        return ContextInfo(
            timezone=self.timezone,
            timezone_offset=0,
            locale=self.locale,
            url=f"{self.url}/{self.page}",
            is_embedded=False,
            color_scheme="light",
        )

    def _send_rerun(
        self,
        widgets: Sequence[WidgetState],
        *,
        page_script_hash: str,
        page_name: str,
        query_string: str,
        fragment_id: str = "",
    ) -> int:
        with self._cond:
            before = self._finished
            hashes = list(self._cache) if self.use_cache else []
        state = ClientState(
            query_string=query_string,
            page_script_hash=page_script_hash,
            page_name=page_name,
            fragment_id=fragment_id,
            cached_message_hashes=hashes,
            context_info=self.context_info(),
        )
        state.widget_states.widgets.extend(widgets)
        msg = BackMsg()
        msg.rerun_script.CopyFrom(state)
        self.send(msg)
        return before

    def rerun(
        self,
        *widgets: WidgetState,
        fragment_id: str = "",
        page_script_hash: str | None = None,
        page_name: str = "",
        query_string: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> int:
        """Ask for a run carrying exactly these widget states; by default wait until the run chain ends.

        Streamlit keeps the values of widgets a rerun does not mention, so only what changes need be
        sent. Waits for the session to be idle first, so the finish awaited is this request's.
        Returns the number of finished runs before the request (for wait_idle(since=...)).
        """
        self.wait_idle(timeout)
        before = self._send_rerun(
            widgets,
            fragment_id=fragment_id,
            page_script_hash=self.page_script_hash if page_script_hash is None else page_script_hash,
            page_name=page_name,
            query_string=self.query_string if query_string is None else query_string,
        )
        if wait:
            self.wait_idle(timeout, since=before)
        return before

    def navigate(self, url_path: str, *widgets: WidgetState, timeout: float | None = None) -> None:
        """Go to another page of an st.navigation app, as a click in the page menu does."""
        page = next((p for p in self.app_pages if p.url_pathname == url_path), None)
        if page is not None:
            self.rerun(*widgets, page_script_hash=page.page_script_hash, timeout=timeout)
        else:  # not announced yet: ask by name, as a page load of /<url_path> does
            self.rerun(*widgets, page_script_hash="", page_name=url_path, timeout=timeout)
        self.page = url_path

    def stop_script(self) -> None:
        msg = BackMsg()
        msg.stop_script = True
        self.send(msg)

    # -- waiting ---------------------------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[StClient], bool], timeout: float | None = None) -> bool:
        """Wait until predicate(self) holds (re-checked on every message); False on timeout or disconnect."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            while True:
                if predicate(self):
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return predicate(self)
                self._cond.wait(min(left, 0.5))

    def finished_runs(self) -> int:
        with self._cond:
            return self._finished

    def idle(self, since: int | None = None) -> bool:
        """No script is running, and (with `since`) a run chain has ended after that many finishes."""
        with self._cond:
            return not self.running and (since is None or self._finished > since)

    def wait_idle(self, timeout: float | None = None, *, since: int | None = None) -> None:
        """Wait until the session is idle; TimeoutError names what was last seen."""
        if not self.wait_for(lambda c: c.idle(since), timeout):
            raise TimeoutError(
                f"session not idle (closed={self.closed}, code={self.close_code}, running="
                f"{self.running}, statuses={self.statuses[-5:]}, errors={self.errors[-3:]}); "
                f"page text: {self.text()[:500]!r}"
            )

    # -- the page --------------------------------------------------------------------------------------------

    @property
    def elements(self) -> list[Element]:
        """The page's elements and containers in delta-path order (what a browser would show now)."""
        with self._cond:
            return [e for _, (e, _) in sorted(self._elements.items())]

    def transients(self) -> list[Element]:
        with self._cond:
            return [e for _, items in sorted(self._transients.items()) for e in items]

    def find_all(
        self,
        key: str | None = None,
        *,
        label: str | None = None,
        kind: str | None = None,
        root: str | None = None,
        where: Callable[[Element], bool] | None = None,
    ) -> list[Element]:
        found = self.elements
        if key is not None:
            found = [e for e in found if e.key == key]
        if label is not None:
            found = [e for e in found if e.label == label]
        if kind is not None:
            found = [e for e in found if e.kind == kind]
        if root is not None:
            found = [e for e in found if e.root == root]
        if where is not None:
            found = [e for e in found if where(e)]
        return found

    def find(self, key: str | None = None, **how) -> Element:
        """The one element matching; LookupError listing the page's widgets otherwise."""
        found = self.find_all(key, **how)
        if len(found) != 1:
            widgets = [(e.kind, e.key or e.id, e.label) for e in self.elements if e.id]
            raise LookupError(f"{len(found)} elements match key={key!r} {how}; widgets on the page: {widgets}")
        return found[0]

    def has(self, key: str | None = None, **how) -> bool:
        return bool(self.find_all(key, **how))

    def texts(self) -> list[str]:
        """Every text the page shows now, in page order (elements, then transient ones)."""
        return [e.text for e in [*self.elements, *self.transients()] if e.text]

    def text(self) -> str:
        return "\n".join(self.texts())

    def received(self) -> bytes:
        """Every frame received so far, concatenated: protobuf strings are in it as UTF-8 bytes."""
        with self._cond:
            return b"".join(self.frames)

    # -- widget values by element kind ---------------------------------------------------------------------

    def value(self, target: str | Element, value: Any) -> WidgetState:
        """A state for a drawn widget (by user key or record) in the field its kind uses, with any value.

        selectbox/radio: the option as shown (formatted: what the frontend sends), or any other string;
        multiselect, date_input: strings; number_input: int_value for an int input given an int, else
        double_value; slider: a number or a sequence; button, form submit: trigger (value ignored);
        chat_input: text or ChatInputValue; file_uploader: uploads; checkbox/toggle, expander, popover:
        bool. For anything else use widget() directly.
        """
        el = self.find(target) if isinstance(target, str) else target
        kind = el.kind
        if kind in ("selectbox", "radio", "text_input", "text_area", "color_picker", "time_input"):
            return widget(el.id, string_value=value)
        if kind in ("multiselect", "date_input"):
            return widget(el.id, string_array_value=[value] if isinstance(value, str) else value)
        if kind == "number_input":
            is_int = el.proto.number_input.data_type == el.proto.number_input.INT
            if is_int and isinstance(value, int) and not isinstance(value, bool):
                return widget(el.id, int_value=value)
            return widget(el.id, double_value=value)
        if kind == "slider":
            return widget(el.id, double_array_value=list(value) if isinstance(value, (list, tuple)) else [value])
        if kind in ("checkbox", "block:expandable", "block:popover"):
            return widget(el.id, bool_value=value)
        if kind in ("button", "download_button"):
            return widget(el.id, trigger_value=True)
        if kind == "chat_input":
            return widget(el.id, chat_input_value=value)
        if kind == "file_uploader":
            return widget(el.id, file_uploader_state_value=value)
        raise ValueError(f"no default value field for {kind}; use widget(id, <field>=...)")

    # -- uploads ---------------------------------------------------------------------------------------------

    def upload_urls(self, names: Sequence[str], timeout: float | None = None) -> FileURLsResponse:
        """Ask for upload URLs (file_urls_request) as the frontend does before a PUT; the FileURLsResponse."""
        request_id = uuid.uuid4().hex
        msg = BackMsg()
        msg.file_urls_request.request_id = request_id
        msg.file_urls_request.session_id = self.session_id or ""
        msg.file_urls_request.file_names.extend(names)
        self.send(msg)
        if not self.wait_for(lambda c: request_id in c._file_urls, timeout):
            raise TimeoutError(f"no file_urls_response to {request_id} (closed={self.closed})")
        with self._cond:
            return self._file_urls.pop(request_id)

    def put_file(self, upload_url: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> int:
        """PUT one file as the frontend does (multipart, the field named after the file, XSRF header); the status."""
        headers = {**self._cookie_headers(), **({"X-Xsrftoken": self.xsrf_token} if self.xsrf_token else {})}
        if self.origin:
            headers["Origin"] = self.origin
        try:
            resp = self._http_client().put(upload_url, files={name: (name, data, content_type)}, headers=headers)
        except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
            return 0  # the server dropped the connection mid-body: a refusal without an answer
        return resp.status_code

    def upload(
        self, name: str, data: bytes, content_type: str = "application/octet-stream", *, file_id: str | None = None
    ) -> Upload:
        """Get a URL and PUT the file. file_id: skip the request and PUT to an id of one's own making."""
        if file_id is None:
            urls = self.upload_urls([name])
            if urls.error_msg or not urls.file_urls:
                raise RuntimeError(f"no upload URL: {urls.error_msg!r}")
            info = urls.file_urls[0]
            file_id, upload_url, delete_url = info.file_id, info.upload_url, info.delete_url
        else:
            upload_url = delete_url = f"/_stcore/upload_file/{self.session_id}/{file_id}"
        status = self.put_file(upload_url, name, data, content_type)
        return Upload(name, len(data), file_id, upload_url, delete_url, status)

    # -- reading ---------------------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            for frame in self._ws:
                at = time.monotonic()
                if isinstance(frame, str):
                    frame = frame.encode()
                msg = ForwardMsg()
                msg.ParseFromString(frame)
                with self._cond:
                    if self.record_frames:
                        self.frames.append(frame)
                    msg = self._handle(msg)
                    self._cond.notify_all()
                if self.on_message is not None:
                    self.on_message(msg, at)
        except (ConnectionClosed, OSError):
            pass
        except Exception as exc:  # noqa: BLE001 - a waiting caller must hear of it, not hang until its timeout
            self.errors.append(f"reader stopped: {exc!r}")
        finally:
            with self._cond:
                self.closed = True
                self.close_code = self._ws.close_code if self._ws is not None else None
                self._cond.notify_all()

    def _resolve(self, msg: ForwardMsg) -> ForwardMsg:
        """A ref_hash message stands for a message sent before (cacheable, listed in cached_message_hashes)."""
        if msg.WhichOneof("type") == "ref_hash":
            cached = self._cache.get(msg.ref_hash)
            if cached is None:
                self.errors.append(f"reference to an unknown cached message {msg.ref_hash}")
                return msg
            full = ForwardMsg()
            full.CopyFrom(cached[0])
            full.metadata.CopyFrom(msg.metadata)  # the position comes from the reference
            self._cache[msg.ref_hash] = (cached[0], self._run.number)
            self.cache_hits += 1
            return full
        if msg.metadata.cacheable and msg.hash and self.use_cache:
            self._cache[msg.hash] = (msg, self._run.number)
        return msg

    def _handle(self, msg: ForwardMsg) -> ForwardMsg:
        """Fold one message into the page model; the message with any reference resolved."""
        msg = self._resolve(msg)
        if self.record_frames:
            self.messages.append(msg)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            new = msg.new_session
            if new.initialize.session_id:
                self.session_id = new.initialize.session_id
            self.page_script_hash = new.page_script_hash
            self.main_script_hash = new.main_script_hash
            if new.app_pages:
                self.app_pages = list(new.app_pages)
            if new.config.max_cached_message_age:
                self._max_cache_age = new.config.max_cached_message_age
            self._run = _Run(self._run.number + 1, tuple(msg.metadata.run.fragment_ids))
            self._transients.clear()
        elif kind == "delta":
            self._apply(tuple(msg.metadata.delta_path), msg.delta)
        elif kind == "script_finished":
            self.statuses.append(msg.script_finished)
            if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                self._drop_stale(None)
            elif msg.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self._drop_stale(set(self._run.fragment_ids))
            if msg.script_finished in FINAL:
                self._finished += 1
                self._expire_cache()
        elif kind == "session_status_changed":
            self.running = msg.session_status_changed.script_is_running
        elif kind == "file_urls_response":
            self._file_urls[msg.file_urls_response.response_id] = msg.file_urls_response
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "navigation":
            self.app_pages = list(msg.navigation.app_pages)
            if msg.navigation.page_script_hash:
                self.page_script_hash = msg.navigation.page_script_hash
        elif kind in ("session_event", "page_not_found", "auth_redirect", "parent_message", "page_config_changed"):
            self.events.append(getattr(msg, kind))
        return msg

    def _apply(self, path: tuple[int, ...], delta) -> None:
        kind = delta.WhichOneof("type")
        fragment_id = delta.fragment_id
        if kind == "new_element":
            record = _element_record(path, delta.new_element, fragment_id)
            self._drop_descendants(path)  # an element in a container's place takes its children with it
        elif kind == "add_block":
            record = _block_record(path, delta.add_block, fragment_id)
            old = self._elements.get(path)
            if old is None or old[0].kind != record.kind:
                self._drop_descendants(path)  # the frontend keeps children only for a block of the same type
        elif kind == "new_transient":
            self._transients[path] = [_element_record(path, e, fragment_id) for e in delta.new_transient.elements]
            return
        else:
            return  # e.g. arrow_add_rows: nothing this model shows
        self._elements[path] = (record, self._run.number)

    def _drop_descendants(self, path: tuple[int, ...]) -> None:
        for p in [p for p in self._elements if _descends(p, path)]:
            del self._elements[p]

    def _drop_stale(self, fragment_ids: set[str] | None) -> None:
        """After a finished run, what it did not send again is gone (only within its fragments, for a fragment run)."""
        current = self._run.number
        for path, (record, run) in list(self._elements.items()):
            if run < current and (fragment_ids is None or record.fragment_id in fragment_ids):
                del self._elements[path]

    def _expire_cache(self) -> None:
        # As the frontend: a cached message not used for max_cached_message_age runs is forgotten.
        oldest = self._run.number - self._max_cache_age
        for h in [h for h, (_, used) in self._cache.items() if used < oldest]:
            del self._cache[h]
