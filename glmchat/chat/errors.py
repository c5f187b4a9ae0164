"""Turn every failure the GLM API, the SDK or the network can produce into one ChatError."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import zhipuai


class Kind(str, Enum):
    AUTH = "auth"  # 1000–1005, 401
    NO_BALANCE = "no_balance"  # 1113
    ACCOUNT = "account"  # 1110–1121 but 1113
    QUOTA = "quota"  # 1304, 1308–1321: daily or plan quota used up
    BUSY = "busy"  # 1302, 1303, 1305, 1312, bare 429
    POLICY = "policy"  # 1300, 1301: content refused with an error code
    UNKNOWN_MODEL = "unknown_model"  # 1211, 1221, 1222
    BAD_PARAM = "bad_param"  # 1210, 1212–1215, other 400
    PROMPT_TOO_LONG = "prompt_too_long"  # 1261
    PERMISSION = "permission"  # 1220, 403
    NOT_FOUND = "not_found"  # 404: usually a wrong base URL
    SERVER = "server"  # 5xx, 1200, 1230, 1234
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    CUT = "cut"  # stream ended or dropped before the reply finished
    MALFORMED = "malformed"  # a chunk that is not JSON, or a body that is not the API's
    MODEL_ERROR = "model_error"  # finish_reason "network_error": inference failed upstream
    NO_KEY = "no_key"  # a real model was chosen with no API key: nothing is sent
    TOOL_CALL = "tool_call"  # finish_reason "tool_calls": the model asked for a function no request offered
    FILTERED = "filtered"  # finish_reason "sensitive": the content filter stopped the reply midway (§15)
    CONTEXT_FULL = "context_full"  # finish_reason "model_context_window_exceeded": the window filled up
    ODD_FINISH = "odd_finish"  # a finish_reason this version does not know (its value is the error's code)
    UNKNOWN = "unknown"


# Worth retrying automatically (with backoff): the same request may well succeed soon.
RETRYABLE = frozenset({Kind.BUSY, Kind.SERVER, Kind.CONNECTION})
# Not worth a Retry button either: the same request fails the same way until the key or account changes.
HOPELESS = frozenset({Kind.AUTH, Kind.NO_BALANCE, Kind.ACCOUNT, Kind.PERMISSION})


@dataclass(frozen=True)
class ChatError:
    kind: Kind
    status: int | None = None
    code: str | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


def kind_for_code(code: str) -> Kind | None:
    """The kind of a business code from an error body (codes are strings on the wire)."""
    if code == "401":
        return Kind.AUTH
    if code == "500":
        return Kind.SERVER
    if not code.isdigit():
        return None
    n = int(code)
    if 1000 <= n <= 1005:
        return Kind.AUTH
    if n == 1113:
        return Kind.NO_BALANCE
    if 1110 <= n <= 1121:
        return Kind.ACCOUNT
    if n in (1200, 1230, 1234):
        return Kind.SERVER
    if n in (1211, 1221, 1222):
        return Kind.UNKNOWN_MODEL
    if n == 1220:
        return Kind.PERMISSION
    if n == 1261:
        return Kind.PROMPT_TOO_LONG
    if n in (1210, 1212, 1213, 1214, 1215):
        return Kind.BAD_PARAM
    if n in (1300, 1301):
        return Kind.POLICY
    if n in (1302, 1303, 1305, 1312):
        return Kind.BUSY
    if n == 1304 or 1308 <= n <= 1321:
        return Kind.QUOTA
    return None


def kind_for_status(status: int) -> Kind:
    if status == 401:
        return Kind.AUTH
    if status == 403:
        return Kind.PERMISSION
    if status == 404:
        return Kind.NOT_FOUND
    if status in (408, 429):
        return Kind.BUSY
    if status >= 500:
        return Kind.SERVER
    if 400 <= status < 500:
        return Kind.BAD_PARAM
    return Kind.UNKNOWN


def code_from_body(body: object) -> str | None:
    """The business code of an error body {"error": {"code": …}}, if it is one."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        if code is not None:
            return str(code)
    return None


def from_body(body: object, status: int | None = None) -> ChatError:
    """Classify an error body that arrived without an HTTP error status (200 or in-stream)."""
    code = code_from_body(body)
    if code is None:
        return ChatError(Kind.MALFORMED, status)
    return ChatError(kind_for_code(code) or Kind.UNKNOWN, status, code)


def _status_error(e: zhipuai.APIStatusError) -> ChatError:
    status = e.status_code
    try:  # HTML error pages (a gateway's 502) are not JSON
        code = code_from_body(e.response.json())
    except Exception:  # noqa: BLE001 - any unreadable body just has no code
        code = None
    kind = (kind_for_code(code) if code else None) or kind_for_status(status)
    return ChatError(kind, status, code)


def classify(exc: BaseException) -> ChatError:
    """One ChatError for any exception raised by create() or by iterating a stream."""
    import httpx  # the SDK loads on first use, not with the first page
    import zhipuai

    # Order matters: the SDK's timeout, connection and validation errors subclass APIResponseError.
    if isinstance(exc, zhipuai.APIStatusError):
        return _status_error(exc)
    if isinstance(exc, (zhipuai.APITimeoutError, httpx.TimeoutException)):
        return ChatError(Kind.TIMEOUT)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return ChatError(Kind.CUT)
    if isinstance(exc, (zhipuai.APIConnectionError, httpx.TransportError)):
        return ChatError(Kind.CONNECTION)
    if isinstance(exc, (json.JSONDecodeError, zhipuai.APIResponseValidationError)):
        return ChatError(Kind.MALFORMED)
    if isinstance(exc, zhipuai.APIResponseError):  # an {"error": …} event inside the stream
        code = code_from_body({"error": getattr(exc, "json_data", None)})
        return ChatError((kind_for_code(code) if code else None) or Kind.SERVER, None, code)
    return ChatError(Kind.UNKNOWN)


def for_finish_reason(reason: str | None) -> ChatError | None:
    """The error implied by how a stream finished (glm-api.md §15); None for a normal end ("length" is
    marked as truncated, with Continue, not as an error)."""
    if reason in ("stop", "length"):
        return None
    if reason == "sensitive":
        return ChatError(Kind.FILTERED)
    if reason == "network_error":
        return ChatError(Kind.MODEL_ERROR)
    if reason == "model_context_window_exceeded":
        return ChatError(Kind.CONTEXT_FULL)
    if reason == "tool_calls":
        return ChatError(Kind.TOOL_CALL)  # this app offers no functions: say so, not a blank bubble
    if reason is None or not isinstance(reason, str):
        return ChatError(Kind.CUT)  # no finish_reason at all: the stream was truncated
    return ChatError(Kind.ODD_FINISH, code=reason[:40])
