"""One attempt at the shared access password: throttled per client and app-wide, never echoed (no Streamlit)."""

from __future__ import annotations

import logging

from glmchat.hosting import offered, passwords

log = logging.getLogger("glmchat.access")

OK, WRONG, WAIT = "ok", "wrong", "wait"


def attempt(store, client: str, typed: object, password_hash: str) -> tuple[str, float] | None:
    """(OK, 0), (WRONG, 0) or (WAIT, seconds) for one typed password; None when nothing was typed.

    `client` is a keyed tag of the visitor's address. The throttle check and counting the attempt are one
    step (store.begin_login_attempt), so parallel guesses cannot all pass it; a right password is forgiven.
    """
    if not isinstance(typed, str) or not typed:
        return None
    wait, at = store.begin_login_attempt(client, passwords.wait_seconds, passwords.WINDOW, down_wait=passwords.APP_WAIT)
    if at is None:
        return WAIT, wait
    try:
        # Longer than the field allows: a forged message, refused without hashing it.
        ok = len(typed) <= offered.PASSWORD_CHARS and passwords.verify(typed, password_hash)
    except ValueError:
        log.error("access: GLMCHAT_ACCESS_PASSWORD_HASH is malformed")
        ok = False
    if ok:
        store.forgive_login_attempt(client, at)
        return OK, 0.0
    return WRONG, 0.0
