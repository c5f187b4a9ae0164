"""Export files: one owner's conversations out as JSON (and Markdown), and an export checked whole and
written in one transaction.

A conversation's `messages` are the branch shown, in order; `branches` holds every other message, each
naming its `parent` (tree.py). Files exported before the tree have no `branches`: their replies may hold
earlier answers in `alternatives`, which are read as that reply's siblings. `pinned_at` and `folder` (the
folder's name) are where the owner kept it: an import puts it in the importer's folder of that name, made
if needed.

An import meets the chat's own limits, given by the caller as an object shaped like `ImportLimits`
(glmchat.hosting.inputs.InputLimits is the app's): at most `conversations` saved conversations per owner counting
those already there, at most `conversation_messages` messages in one conversation, `attachments` files on
one message, and every field the page reads in the shapes the app writes (`shapes`, see shapes.py).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from glmchat.store.codec import (
    decode_message,
    encode_message,
    is_int,
    message_time,
    model_text,
    owner_key,
    settings_text,
    title_text,
    valid_cid,
)
from glmchat.store.conversations import conversation_dict
from glmchat.store.engine import LOCK_KEY, Engine
from glmchat.store.folders import MAX_FOLDERS, folder_name
from glmchat.store.schema import conversations, folders, messages_t, utc
from glmchat.store.shapes import Shapes, reader
from glmchat.store.tree import made

EXPORT_FORMAT = "glmchat-export"
EXPORT_VERSION = 1
MAX_IMPORT_MB = 20  # an export file (the History page's uploader limit, checked again on the server)
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_GIVEN = object()  # a branch message keeps the parent its file gives


class ImportRefused(ValueError):
    """An export file refused for a reason the page puts in words itself, in either language: `key` is an
    i18n key and `values` fill it in (the chat's input limits, the file's size, its nesting). Nothing is
    written."""

    def __init__(self, key: str, reason: str, **values: int) -> None:
        super().__init__(reason)
        self.key, self.values = key, values


class ImportLimits(Protocol):
    """What an import is held to: the chat's input limits and the shapes its page reads."""

    @property
    def conversations(self) -> int: ...

    @property
    def conversation_messages(self) -> int: ...

    @property
    def attachments(self) -> int: ...

    @property
    def shapes(self) -> Shapes: ...


# --------------------------------------------------------------------------- export files


def parse_export(raw: bytes) -> object:
    """An uploaded export file as JSON: ValueError for one that is too big, not UTF-8 JSON or nested too deeply.

    The page checks the upload's size before reading it; this holds any other caller to the same limit.
    """
    if len(raw) > MAX_IMPORT_MB * 1024 * 1024:
        raise ImportRefused("history.import_too_big", "the file is too big", size=len(raw), limit=MAX_IMPORT_MB)
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some editors write, is fine
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None
    try:
        return json.loads(text)
    except RecursionError:
        # The parser recurses once per level: "[[[[…" must be a refusal, not an uncaught error.
        raise ImportRefused("history.import_too_deep", "the file is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg}, line {exc.lineno})") from None
    except ValueError:  # an integer of thousands of digits
        raise ValueError("not JSON that can be read") from None


def _parse_time(value: object, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(f"{what} must be an ISO date-time")
    try:
        return utc(datetime.fromisoformat(value))
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:59-23:00 is past the last UTC date
        raise ValueError(f"{what} must be an ISO date-time") from None


def _import_time(value: object, what: str, now: datetime) -> datetime | None:
    when = _parse_time(value, what)
    if when is not None and when < _EARLIEST:
        raise ValueError(f"{what} is before 2000")  # and year 1 cannot be shown in a timezone west of UTC
    # A date after the import (another machine's clock) would keep the conversation first in every list.
    return None if when is None else min(when, now)


def validate_export(data: object, limits: ImportLimits) -> list[dict]:
    """An export checked from top to bottom, as rows ready to insert (ValueError with a short reason).

    Whatever the chat page reads must have the shape the app writes, so that every imported conversation
    opens (see shapes.Reader.message); keys this version does not read are dropped. `limits` are the chat's:
    limits.conversations bounds the file here, and the owner's total when it is written.
    """
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ValueError("not a GLM Chat export")
    version = data.get("version")
    if not is_int(version) or version != EXPORT_VERSION:
        raise ValueError("unsupported export version")
    convs = data.get("conversations")
    if not isinstance(convs, list):
        raise ValueError("conversations must be a list")
    if len(convs) > limits.conversations:
        raise ImportRefused(
            "history.import_file_conversations",
            f"more than {limits.conversations:,} conversations",
            n=len(convs),
            limit=limits.conversations,
        )
    read = reader(limits.shapes)
    now = datetime.now(UTC)
    plan = []
    for i, conv in enumerate(convs, start=1):
        where = f"conversation {i}"
        if not isinstance(conv, dict):
            raise ValueError(f"{where}: not an object")
        msgs, branches = conv.get("messages", []), conv.get("branches", [])
        if not isinstance(msgs, list) or not isinstance(branches, list):
            raise ValueError(f"{where}: messages and branches must be lists")
        _held_to(limits, len(msgs) + len(branches), where, i)  # before any message is read
        try:
            title, model = title_text(conv.get("title")), model_text(conv.get("model"))
            settings_json = settings_text(read.settings(conv.get("settings")))
            created = _import_time(conv.get("created_at"), "created_at", now)
            updated = _import_time(conv.get("updated_at"), "updated_at", now)
            pinned_at = _import_time(conv.get("pinned_at"), "pinned_at", now)
            folder = None if conv.get("folder") is None else folder_name(conv["folder"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        rows, off = _message_rows(msgs, branches, read, limits, where, i, updated or now)
        _held_to(limits, len(rows) + len(off), where, i)  # with the earlier answers of an older file
        plan.append(
            {
                "title": title,
                "model": model,
                "settings_json": settings_json,
                "created_at": created,
                "updated_at": updated,
                "pinned_at": pinned_at,
                "folder": folder,
                "messages": rows,
                "off": off,
            }
        )
    return plan


def _held_to(limits: ImportLimits, count: int, where: str, n: int) -> None:
    """ImportRefused when one conversation brings more messages than the chat's limit."""
    if count > limits.conversation_messages:
        raise ImportRefused(
            "history.import_messages",
            f"{where}: more than {limits.conversation_messages:,} messages",
            n=n,
            actual=count,
            limit=limits.conversation_messages,
        )


def _message_rows(
    msgs: list, branches: list, read, limits: ImportLimits, where: str, n: int, when: datetime
) -> tuple[list, list]:
    """(the branch shown, the other messages) as rows, each made at its "at" (`when` if the file does not say).

    The branch shown is a chain whatever parents the file gives; every other message must hang, through
    its parents, from a message of the branch shown or be a first question itself."""
    seen: set[str] = set()

    def row_of(message: object, what: str, m: int, parent: object, made: datetime, alternative: bool = False) -> dict:
        files = message.get("attachments") if isinstance(message, dict) and message.get("role") == "user" else None
        if isinstance(files, list) and len(files) > limits.attachments:
            raise ImportRefused(
                "history.import_files",
                f"{what}: more than {limits.attachments} files",
                n=n,
                m=m,
                actual=len(files),
                limit=limits.attachments,
            )
        try:
            checked = read.message(message, alternative=alternative)
            if alternative:
                checked = {"role": "assistant", "status": "done", **checked}
                if "id" not in checked or checked["id"] in seen:
                    checked["id"] = secrets.token_hex(16)
            earlier = checked.pop("alternatives", [])
            checked["parent"] = checked.get("parent") if parent is _GIVEN else parent
            row = {"created_at": message_time(checked) or made}
            checked["at"] = row["created_at"].timestamp()  # siblings are ordered by it
            row |= encode_message(checked)
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None
        if row["id"] in seen:
            raise ValueError(f"{what}: duplicate message id")
        seen.add(row["id"])
        row["earlier"] = earlier
        return row

    rows, off = [], []
    for j, message in enumerate(msgs, start=1):
        rows.append(row_of(message, f"{where}, message {j}", j, rows[-1]["id"] if rows else None, when))
    for row in rows:
        earlier = row.pop("earlier")
        for k, alt in enumerate(earlier):
            before = row["created_at"] - timedelta(milliseconds=len(earlier) - k)  # than the answer replacing it
            alt_row = row_of(alt, f"{where}, alternative {k + 1}", k + 1, row["parent"], before, alternative=True)
            del alt_row["earlier"]
            off.append(alt_row)
    for j, message in enumerate(branches, start=1):
        what = f"{where}, branch message {j}"
        if isinstance(message, dict) and "alternatives" in message:
            raise ValueError(f"{what}: alternatives belong to files without branches")
        row = row_of(message, what, len(msgs) + j, _GIVEN, when)
        del row["earlier"]
        off.append(row)
    on = {r["id"] for r in rows}
    parents = {r["id"]: r["parent"] for r in off}
    for r in off:
        node, steps = r["parent"], 0
        while node is not None and node not in on:
            if node not in parents or steps > len(parents):
                raise ValueError(f"{where}: message {r['id']} hangs from no message of the conversation")
            node, steps = parents[node], steps + 1
    return rows, off


def to_markdown(conversation: dict) -> str:
    """One exported conversation as Markdown. Message text is kept verbatim (code blocks included)."""
    title = " ".join(str(conversation.get("title") or "").split()) or "Untitled"
    parts = [f"# {title}"]
    for m in conversation.get("messages", []):
        if m.get("role") == "user":
            parts.append("**User**")
        else:
            meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
            parts.append(f"**GLM ({meta.get('model') or conversation.get('model') or '?'})**")
        parts.append(m.get("content") or "")
        status = m.get("status")
        if m.get("role") == "assistant" and status not in (None, "done"):
            parts.append(f"_({status})_")
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- the Store methods


class Exchange(Engine):
    """The export and import methods of Store."""

    def export(self, owner: str, cid: str | None = None) -> dict:
        """All of the owner's conversations (oldest first), or one; a missing/foreign cid exports none."""
        owner = owner_key(owner)
        out = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": datetime.now(UTC).isoformat(),
            "conversations": [],
        }
        if cid is not None and not valid_cid(cid):
            return out
        cq = sa.select(conversations).where(conversations.c.owner == owner)
        mq = (
            sa.select(messages_t)
            .join(conversations, conversations.c.id == messages_t.c.conversation_id)
            .where(conversations.c.owner == owner)
        )
        if cid is not None:
            cq, mq = cq.where(conversations.c.id == cid), mq.where(messages_t.c.conversation_id == cid)
        with self._tx() as conn:
            convs = conn.execute(cq.order_by(conversations.c.created_at, conversations.c.id)).all()
            names = dict(conn.execute(sa.select(folders.c.id, folders.c.name).where(folders.c.owner == owner)).all())
            by_conv: dict[str, list[dict]] = {}
            off: dict[str, list[dict]] = {}
            for r in conn.execute(mq.order_by(messages_t.c.conversation_id, messages_t.c.seq)):
                (by_conv if r.seq > 0 else off).setdefault(r.conversation_id, []).append(decode_message(r))
        for r in convs:
            item = conversation_dict(r)
            del item["pinned"], item["folder_id"]  # ids mean nothing to another database: a time and a name
            item["created_at"], item["updated_at"] = r.created_at.isoformat(), r.updated_at.isoformat()
            item["pinned_at"] = None if r.pinned_at is None else r.pinned_at.isoformat()
            item["folder"] = names.get(r.folder_id)
            item["messages"] = by_conv.get(r.id, [])
            item["branches"] = sorted(off.get(r.id, []), key=made)
            out["conversations"].append(item)
        return out

    def held(self, owner: str, data: object, limits: ImportLimits) -> tuple[int, int]:
        """(conversations in the export, how many of them the owner holds already): an earlier import of
        the same file, or an export of these very chats. A conversation is known by its first message's id."""
        plan = validate_export(data, limits)
        return len(plan), sum(self._held(owner_key(owner), plan))

    def _held(self, owner: str, plan: list[dict]) -> list[bool]:
        firsts = [c["messages"][0]["id"] for c in plan if c["messages"]]
        found: set[str] = set()
        with self._tx() as conn:
            for i in range(0, len(firsts), 500):  # bounded IN lists
                q = (
                    sa.select(messages_t.c.id)
                    .join(conversations, conversations.c.id == messages_t.c.conversation_id)
                    .where(conversations.c.owner == owner, messages_t.c.id.in_(firsts[i : i + 500]))
                )
                found |= set(conn.execute(q).scalars())
        return [bool(c["messages"]) and c["messages"][0]["id"] in found for c in plan]

    def import_export(self, owner: str, data: object, limits: ImportLimits, *, skip_held: bool = False) -> int:
        """Check everything, then write it all in one transaction under new conversation ids.

        `skip_held`: leave out the conversations the owner holds already (see `held`).

        `limits` are the chat's (glmchat.hosting.inputs.InputLimits with the host's settings): an import may not
        bring the owner above limits.conversations conversations in all, nor a conversation above
        limits.conversation_messages messages, nor a message above limits.attachments files (ImportRefused).
        """
        owner = owner_key(owner)
        plan = validate_export(data, limits)
        if skip_held:
            plan = [c for c, held in zip(plan, self._held(owner, plan), strict=True) if not held]
        now = self._now()
        conv_rows, message_rows = [], []
        for conv in plan:
            cid = secrets.token_hex(16)
            created = conv["created_at"] or now
            updated = conv["updated_at"] or created
            conv_rows.append(
                {
                    "id": cid,
                    "owner": owner,
                    "title": conv["title"],
                    "model": conv["model"],
                    "settings_json": conv["settings_json"],
                    "created_at": created,
                    "updated_at": updated,
                    "pinned_at": conv["pinned_at"],
                }
            )
            message_rows += [
                {
                    **row,
                    "conversation_id": cid,
                    "seq": i,
                    "updated_at": updated,
                }
                for i, row in enumerate(conv["messages"], start=1)
            ]
            message_rows += [  # off the branch shown: negative seq (conversations.py)
                {
                    **row,
                    "conversation_id": cid,
                    "seq": -i,
                    "updated_at": updated,
                }
                for i, row in enumerate(conv["off"], start=1)
            ]
        if not conv_rows:
            return 0
        with self._tx(write=True) as conn:
            if self.dialect == "postgresql":
                # Two imports of one owner count and write in turn (SQLite's BEGIN IMMEDIATE already does this).
                conn.execute(
                    sa.text(
                        "SELECT pg_advisory_xact_lock(:k, hashtext('import:' || "
                        "coalesce(current_schema(), '') || ':' || :owner))"
                    ),
                    {"k": LOCK_KEY, "owner": owner},
                )
            existing = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(conversations).where(conversations.c.owner == owner)
                ).scalar()
            )
            if existing + len(plan) > limits.conversations:
                raise ImportRefused(
                    "history.import_conversations",
                    f"more than {limits.conversations:,} conversations in all",
                    existing=existing,
                    n=len(plan),
                    limit=limits.conversations,
                )
            in_folders = self._folders_for(conn, owner, [c["folder"] for c in plan], now)
            for row, fid in zip(conv_rows, in_folders, strict=True):
                row["folder_id"] = fid
            conn.execute(conversations.insert(), conv_rows)
            if message_rows:
                conn.execute(messages_t.insert(), message_rows)
        return len(plan)

    @staticmethod
    def _folders_for(conn, owner: str, names: list[str | None], now: datetime) -> list[str | None]:
        """The owner's folder id for each name (None stays None), making the folders the owner lacks."""
        have = dict(conn.execute(sa.select(folders.c.name, folders.c.id).where(folders.c.owner == owner)).all())
        new = sorted({n for n in names if n is not None} - have.keys())
        if len(have) + len(new) > MAX_FOLDERS:
            raise ImportRefused(
                "history.import_folders",
                f"more than {MAX_FOLDERS} folders in all",
                existing=len(have),
                n=len(new),
                limit=MAX_FOLDERS,
            )
        fresh = [{"id": secrets.token_hex(16), "owner": owner, "name": n, "created_at": now} for n in new]
        if fresh:
            conn.execute(folders.insert(), fresh)
        have |= {f["name"]: f["id"] for f in fresh}
        return [None if n is None else have[n] for n in names]
