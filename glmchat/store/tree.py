"""A conversation as a tree: the branch shown is a path of messages, every other message hangs off it.

Each message names its `parent` (None for a first question) and carries `at`, when it was made (epoch
seconds). The path is what is drawn and sent to GLM; `off` holds every message not on it. Editing a
question or asking again for an answer moves the old one and what followed it off the path; choosing a
sibling brings its branch back. Pure functions over plain dicts: the session (no saved history) and the
store (conversations.py) use the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Siblings:
    """A path message's place among the messages that answer or replace the same one."""

    position: int  # 1-based, oldest first
    ids: tuple[str, ...]

    @property
    def previous(self) -> str | None:
        return self.ids[self.position - 2] if self.position > 1 else None

    @property
    def next(self) -> str | None:
        return self.ids[self.position] if self.position < len(self.ids) else None


@dataclass(frozen=True)
class Switch:
    """A new path: the first `keep` messages of the old one, then `chain`."""

    keep: int
    chain: tuple[dict, ...]


def made(message: dict) -> tuple[float, str]:
    """Oldest first; a message without a time counts as made at 0."""
    at = message.get("at")
    return (at if isinstance(at, (int, float)) and not isinstance(at, bool) else 0.0, message["id"])


def parent_of(path: Sequence[dict]) -> str | None:
    """The parent of a message added at the end of `path`."""
    return path[-1]["id"] if path else None


def siblings(path: Sequence[dict], off: Sequence[dict]) -> dict[str, Siblings]:
    """For each path message that has siblings: its place among them."""
    by_parent: dict[str | None, list[dict]] = {}
    for m in off:
        by_parent.setdefault(m.get("parent"), []).append(m)
    out = {}
    for m in path:
        others = by_parent.get(m.get("parent"))
        if not others:
            continue
        ids = tuple(x["id"] for x in sorted([m, *others], key=made))
        out[m["id"]] = Siblings(ids.index(m["id"]) + 1, ids)
    return out


def switch(path: Sequence[dict], off: Sequence[dict], target: str) -> Switch:
    """The path that goes through the off-path message `target`, then on down its newest replies.

    `path` is the whole branch shown, from the conversation's first message (KeyError: `target` is not off
    it; ValueError: the parents do not lead to the path)."""
    by_id = {m["id"]: m for m in off}
    if target not in by_id:
        raise KeyError(target)
    on = {m["id"]: i for i, m in enumerate(path)}
    chain, node, seen = [], by_id[target], {target}
    while True:
        chain.append(node)
        parent = node.get("parent")
        if parent is None or parent in on:
            break
        if parent not in by_id:
            raise ValueError("a message's parent is in no branch")
        if parent in seen:
            raise ValueError("the branches loop")
        seen.add(parent)
        node = by_id[parent]
    chain.reverse()
    top = chain[0].get("parent")
    keep = 0 if top is None else on[top] + 1
    children: dict[str, list[dict]] = {}
    for m in off:
        if m["id"] not in seen and isinstance(m.get("parent"), str):
            children.setdefault(m["parent"], []).append(m)
    node = chain[-1]
    while kids := children.get(node["id"]):
        node = max(kids, key=made)
        if node["id"] in seen:
            raise ValueError("the branches loop")
        seen.add(node["id"])
        chain.append(node)
    return Switch(keep, tuple(chain))


def apply(path: list[dict], off: list[dict], change: Switch) -> tuple[list[dict], list[dict]]:
    """(new path, new off) after `change`."""
    moved = {m["id"] for m in change.chain}
    new_off = sorted([m for m in off if m["id"] not in moved] + path[change.keep :], key=made)
    return path[: change.keep] + list(change.chain), new_off


def branch_off(path: list[dict], off: list[dict], index: int) -> tuple[list[dict], list[dict]]:
    """Move path[index:] off the path (an edit or a new answer takes its place)."""
    return path[:index], sorted(off + path[index:], key=made)
