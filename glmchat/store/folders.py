"""Pins and folders: a conversation may be pinned to the top of its owner's list and kept in one of the
owner's folders. Per owner like everything else: another owner's folder or conversation behaves as missing.
Deleting a folder keeps its conversations (they leave the folder)."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from glmchat.store.codec import CID, clean, owner_key, valid_cid
from glmchat.store.engine import Engine, insert_for
from glmchat.store.schema import conversations, folders

MAX_FOLDERS = 100  # per owner: each is a row anyone with a chat can make
MAX_FOLDER_NAME = 60


def folder_name(name: object) -> str:
    """A folder's name: one line of 1-60 characters (ValueError otherwise)."""
    if not isinstance(name, str):
        raise ValueError("a folder name must be text")
    name = " ".join(clean(name).split())[:MAX_FOLDER_NAME]
    if not name:
        raise ValueError("a folder name cannot be empty")
    return name


class Folders(Engine):
    """The pin and folder methods of Store."""

    def folders(self, owner: str) -> list[dict]:
        """The owner's folders by name, each with how many conversations it holds."""
        owner = owner_key(owner)
        held = (
            sa.select(sa.func.count())
            .select_from(conversations)
            .where(conversations.c.folder_id == folders.c.id, conversations.c.owner == owner)
            .scalar_subquery()
        )
        q = sa.select(folders.c.id, folders.c.name, held.label("n")).where(folders.c.owner == owner)
        with self._tx() as conn:
            rows = conn.execute(q.order_by(folders.c.name, folders.c.id)).all()
        return [{"id": r.id, "name": r.name, "count": int(r.n)} for r in rows]

    def create_folder(self, owner: str, name: str, *, fid: str | None = None) -> str | None:
        """The new folder's id; the existing one's for a name the owner uses already; None past MAX_FOLDERS.

        With `fid` (32 hex digits): insert if absent, so a replay is harmless."""
        owner, name = owner_key(owner), folder_name(name)
        if fid is None:
            fid = secrets.token_hex(16)
        elif not isinstance(fid, str) or not CID.fullmatch(fid):
            raise ValueError("folder id must be 32 hex digits")
        with self._tx(write=True) as conn:
            mine = sa.select(folders.c.id).where(folders.c.owner == owner)
            same = conn.execute(mine.where(sa.or_(folders.c.name == name, folders.c.id == fid))).scalar()
            if same is not None:
                return same
            if conn.execute(sa.select(sa.func.count()).select_from(mine.subquery())).scalar() >= MAX_FOLDERS:
                return None
            insert = insert_for(self.dialect)
            conn.execute(
                insert(folders)
                .values(id=fid, owner=owner, name=name, created_at=self._now())
                .on_conflict_do_nothing(index_elements=["id"])
            )
            if conn.execute(sa.select(folders.c.owner).where(folders.c.id == fid)).scalar() != owner:
                return None  # the id is another owner's
        return fid

    def rename_folder(self, owner: str, fid: str, name: str) -> bool:
        owner, name = owner_key(owner), folder_name(name)
        if not valid_cid(fid):
            return False
        with self._tx(write=True) as conn:
            return (
                conn.execute(
                    folders.update().where(folders.c.id == fid, folders.c.owner == owner).values(name=name)
                ).rowcount
                > 0
            )

    def delete_folder(self, owner: str, fid: str) -> bool:
        """The folder goes; its conversations stay, in no folder."""
        owner = owner_key(owner)
        if not valid_cid(fid):
            return False
        with self._tx(write=True) as conn:
            conn.execute(
                conversations.update()
                .where(conversations.c.owner == owner, conversations.c.folder_id == fid)
                .values(folder_id=None)
            )
            return conn.execute(folders.delete().where(folders.c.id == fid, folders.c.owner == owner)).rowcount > 0

    def move(self, owner: str, cid: str, fid: str | None) -> bool:
        """Put the conversation in the owner's folder `fid` (None: in no folder)."""
        owner = owner_key(owner)
        if not valid_cid(cid) or not (fid is None or valid_cid(fid)):
            return False
        with self._tx(write=True) as conn:
            if (
                fid is not None
                and conn.execute(sa.select(folders.c.id).where(folders.c.id == fid, folders.c.owner == owner)).first()
                is None
            ):
                return False
            return (
                conn.execute(
                    conversations.update()
                    .where(conversations.c.id == cid, conversations.c.owner == owner)
                    .values(folder_id=fid)
                ).rowcount
                > 0
            )

    def pin(self, owner: str, cid: str, pinned: bool) -> bool:
        """Pin to the top of the list (the newest pin first), or unpin. Neither moves updated_at."""
        owner = owner_key(owner)
        if not valid_cid(cid) or not isinstance(pinned, bool):
            return False
        with self._tx(write=True) as conn:
            return (
                conn.execute(
                    conversations.update()
                    .where(conversations.c.id == cid, conversations.c.owner == owner)
                    .values(pinned_at=self._now() if pinned else None)
                ).rowcount
                > 0
            )
