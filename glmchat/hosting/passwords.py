"""The shared access password: a slow salted hash kept in secrets, and how long a guesser must wait.

Make the hash with `python -m glmchat.hosting.passwords` and paste the printed line into secrets.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import hmac
import os
import sys
import unicodedata
from collections.abc import Callable, Sequence

SETTING = "GLMCHAT_ACCESS_PASSWORD_HASH"
MIN_LENGTH = 8

# Parameters for new hashes (about 32 MiB and a tenth of a second per attempt).
N, R, P = 2**15, 8, 1
SALT_BYTES = 16
DKLEN = 32
# Bounds on a stored hash's parameters, so a hostile config cannot make one check hang the server.
N_MIN, N_MAX = 2**14, 2**20
R_MAX = 16
P_MAX = 4

# Throttling: failures counted over the last WINDOW seconds.
WINDOW = 900
FREE_ATTEMPTS = 3  # a client's first three attempts never wait
FIRST_WAIT = 2.0  # then 2, 4, 8 ... seconds
MAX_WAIT = 300.0
APP_FAILURES = 50  # this many failures app-wide looks like a distributed guess ...
APP_WAIT = 30.0  # ... so every client waits at least this long


def _normalise(password: str) -> bytes:
    # Input methods may send a composed or a decomposed accent; both must be the same password.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL needs 128*r*(n+p+2) bytes; the default maxmem (32 MiB) is just too small for n=2**15.
    return hashlib.scrypt(_normalise(password), salt=salt, n=n, r=r, p=p, dklen=DKLEN, maxmem=128 * r * (n + p + 2))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """The line to store: "scrypt$n$r$p$<salt b64>$<hash b64>" with a fresh random salt."""
    salt = os.urandom(SALT_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_scrypt(password, salt, N, R, P))}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    # Error messages never quote the stored value: it would land in logs next to the hash.
    malformed = ValueError(f"{SETTING} is not a hash made by `python -m glmchat.hosting.passwords`")
    parts = stored.strip().split("$") if isinstance(stored, str) else []
    if len(parts) != 6 or parts[0] != "scrypt":
        raise malformed
    numbers = parts[1:4]
    if not all(x.isascii() and x.isdigit() and len(x) <= 8 for x in numbers):
        raise malformed
    n, r, p = (int(x) for x in numbers)
    try:
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (binascii.Error, ValueError):
        raise malformed from None
    if len(salt) != SALT_BYTES or len(digest) != DKLEN:
        raise malformed
    if not (N_MIN <= n <= N_MAX and n & (n - 1) == 0):
        raise ValueError(f"{SETTING}: scrypt n must be a power of two from 2**14 to 2**20")
    if not 1 <= r <= R_MAX:
        raise ValueError(f"{SETTING}: scrypt r must be from 1 to {R_MAX}")
    if not 1 <= p <= P_MAX:
        raise ValueError(f"{SETTING}: scrypt p must be from 1 to {P_MAX}")
    return n, r, p, salt, digest


def verify(password: str, stored: str) -> bool:
    """True if the password matches the stored hash; ValueError if the stored hash is unusable."""
    n, r, p, salt, digest = _parse(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


def wait_seconds(client_failures: int, app_failures: int) -> float:
    """Seconds a client must wait before its next attempt, given failures in the last WINDOW seconds."""
    wait = 0.0
    if client_failures >= FREE_ATTEMPTS:
        # Cap the exponent first: a huge count must not build a huge number.
        doublings = min(client_failures - FREE_ATTEMPTS, 16)
        wait = min(FIRST_WAIT * 2**doublings, MAX_WAIT)
    if app_failures >= APP_FAILURES:
        wait = max(wait, APP_WAIT)
    return wait


def main(
    argv: Sequence[str] | None = None,
    read: Callable[[str], str] = getpass.getpass,
    out: Callable[[str], object] = print,
) -> int:
    """Ask for the password twice and print the secrets line; never prints the password."""
    argparse.ArgumentParser(
        prog="python -m glmchat.hosting.passwords", description=f"Print the {SETTING} line for .streamlit/secrets.toml."
    ).parse_args(argv)
    try:
        password = read("Access password: ")
        again = read("Repeat it: ")
    except (EOFError, KeyboardInterrupt):
        out("No password given; nothing printed.")
        return 1
    if _normalise(password) != _normalise(again):
        out("The two passwords differ; nothing printed.")
        return 1
    if len(unicodedata.normalize("NFC", password)) < MIN_LENGTH:
        out(f"The password needs at least {MIN_LENGTH} characters; nothing printed.")
        return 1
    out(f'{SETTING} = "{hash_password(password)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
