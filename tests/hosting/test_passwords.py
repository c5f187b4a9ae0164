import base64
import traceback
import unicodedata

import pytest

from glmchat.hosting import passwords

GOOD = passwords.hash_password("correct horse")
SALT = base64.b64encode(b"s" * 16).decode()
DIGEST = base64.b64encode(b"d" * 32).decode()


def test_round_trip_and_format():
    parts = GOOD.split("$")
    assert parts[:4] == ["scrypt", "32768", "8", "1"]
    assert len(base64.b64decode(parts[4])) == 16 and len(base64.b64decode(parts[5])) == 32
    assert passwords.verify("correct horse", GOOD)


def test_wrong_password():
    assert not passwords.verify("correct horsf", GOOD)
    assert not passwords.verify("", GOOD)
    assert not passwords.verify("correct horse ", GOOD)


def test_two_hashes_of_one_password_differ():
    other = passwords.hash_password("correct horse")
    assert other != GOOD and other.split("$")[4] != GOOD.split("$")[4]
    assert passwords.verify("correct horse", other)


def test_chinese_and_normalisation():
    stored = passwords.hash_password("我的密码很安全")
    assert passwords.verify("我的密码很安全", stored)
    assert not passwords.verify("我的密码很安", stored)
    composed, decomposed = "caf\u00e9-p\u00e2te", "cafe\u0301-pa\u0302te"
    assert composed != decomposed and unicodedata.normalize("NFC", decomposed) == composed
    assert passwords.verify(decomposed, passwords.hash_password(composed))
    assert passwords.verify(composed, passwords.hash_password(decomposed))


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "scrypt",
        "not a hash at all",
        GOOD.replace("scrypt", "bcrypt"),
        GOOD + "$extra",
        GOOD.rsplit("$", 1)[0],  # no digest
        f"scrypt$32768$8$1$!!notbase64!!${DIGEST}",
        f"scrypt$32768$8$1${SALT}${DIGEST[:-4]}",  # digest too short
        f"scrypt$32768$8$1${base64.b64encode(b's' * 8).decode()}${DIGEST}",  # salt too short
        f"scrypt$abc$8$1${SALT}${DIGEST}",
        f"scrypt$-32768$8$1${SALT}${DIGEST}",
        f"scrypt$3_2768$8$1${SALT}${DIGEST}",
        f"scrypt$ 32768$8$1${SALT}${DIGEST}",
        f"scrypt$３２７６８$8$1${SALT}${DIGEST}",  # full-width digits
        f"scrypt${'9' * 5000}$8$1${SALT}${DIGEST}",
    ],
)
def test_malformed_hash_raises_without_echoing_it(stored):
    with pytest.raises(ValueError) as err:
        passwords.verify("correct horse", stored)
    assert "GLMCHAT_ACCESS_PASSWORD_HASH" in str(err.value)
    # The whole traceback, as a log would show it (chained errors included), never quotes the value.
    logged = "".join(traceback.format_exception(err.value))
    for part in {stored, *stored.split("$")} - {"", "scrypt", "8", "1"}:
        assert part not in logged


def test_non_string_hash_is_malformed():
    with pytest.raises(ValueError):
        passwords.verify("correct horse", None)


@pytest.mark.parametrize(
    "n, r, p, word",
    [
        (2**21, 8, 1, "n"),
        (2**13, 8, 1, "n"),
        (2**15 + 1, 8, 1, "n"),
        (0, 8, 1, "n"),
        (2**15, 17, 1, "r"),
        (2**15, 0, 1, "r"),
        (2**14, 8, 5, "p"),
        (2**14, 8, 64, "p"),
        (2**14, 8, 0, "p"),
    ],
)
def test_hostile_parameters_rejected(n, r, p, word):
    with pytest.raises(ValueError, match=f"scrypt {word} must"):
        passwords.verify("x", f"scrypt${n}${r}${p}${SALT}${DIGEST}")


class _Hashing:
    """Counts the scrypt computations and digest comparisons passwords.verify does (the whole cost of a check)."""

    def __init__(self, monkeypatch):
        self.scrypts: list[tuple[int, int, int]] = []  # (n, r, p) of each computation
        self.compares: list[tuple[int, int]] = []  # the lengths of the two digests compared
        real_scrypt, real_compare = passwords.hashlib.scrypt, passwords.hmac.compare_digest

        def scrypt(password, *, salt, n, r, p, **kwargs):
            self.scrypts.append((n, r, p))
            return real_scrypt(password, salt=salt, n=n, r=r, p=p, **kwargs)

        def compare(a, b):
            self.compares.append((len(a), len(b)))
            return real_compare(a, b)

        monkeypatch.setattr(passwords.hashlib, "scrypt", scrypt)
        monkeypatch.setattr(passwords.hmac, "compare_digest", compare)

    def clear(self) -> None:
        self.scrypts.clear()
        self.compares.clear()


def test_hostile_parameters_rejected_before_any_hashing(monkeypatch):
    # p=64 with n and r in bounds would cost 64 hashes; refusing must cost none (counted, not timed).
    hashing = _Hashing(monkeypatch)
    with pytest.raises(ValueError):
        passwords.verify("x", f"scrypt${2**14}$8$64${SALT}${DIGEST}")
    assert hashing.scrypts == [] and hashing.compares == []
    assert passwords.verify("x", GOOD) is False  # the spies do see a real check
    assert hashing.scrypts == [(2**15, 8, 1)] and hashing.compares == [(32, 32)]


def test_wrong_passwords_cost_as_much_as_the_right_one(monkeypatch):
    # No shortcut for an empty, short or oddly long guess: every check runs the full hash (the stored
    # parameters, once) and the full compare, exactly what the right password costs (counted, not timed).
    hashing = _Hashing(monkeypatch)
    assert passwords.verify("correct horse", GOOD)
    right = (list(hashing.scrypts), list(hashing.compares))
    assert right == ([(2**15, 8, 1)], [(32, 32)])
    for guess in ("", "c", "correct hors", "x" * 10_000):
        hashing.clear()
        assert not passwords.verify(guess, GOOD)
        assert (hashing.scrypts, hashing.compares) == right, guess


@pytest.mark.parametrize(
    "client, app, wait",
    [
        (0, 0, 0),
        (1, 0, 0),
        (2, 0, 0),
        (3, 0, 2),
        (4, 0, 4),
        (5, 0, 8),
        (9, 0, 128),
        (10, 0, 256),
        (11, 0, 300),
        (12, 0, 300),
        (10**9, 0, 300),
        (0, 49, 0),
        (0, 50, 30),
        (2, 500, 30),
        (4, 50, 30),
        (6, 50, 30),
        (7, 50, 32),
        (11, 50, 300),
    ],
)
def test_wait_seconds(client, app, wait):
    assert passwords.wait_seconds(client, app) == wait
    assert isinstance(passwords.wait_seconds(client, app), float)


def test_window_is_fifteen_minutes():
    assert passwords.WINDOW == 900


def _run(*answers, argv=()):
    printed = []
    prompts = []
    feed = iter(answers)

    def read(prompt):
        prompts.append(prompt)
        return next(feed)

    code = passwords.main(list(argv), read=read, out=printed.append)
    return code, printed, prompts


def test_cli_prints_the_secrets_line_and_never_the_password():
    code, printed, prompts = _run("s3cret-密码-long", "s3cret-密码-long")
    assert code == 0 and len(prompts) == 2 and len(printed) == 1
    line = printed[0]
    assert line.startswith('GLMCHAT_ACCESS_PASSWORD_HASH = "scrypt$') and line.endswith('"')
    assert "s3cret" not in line and "密码" not in line
    assert passwords.verify("s3cret-密码-long", line.split('"')[1])


@pytest.mark.parametrize(
    "answers, says",
    [
        (("long enough 1", "long enough 2"), "differ"),
        (("short", "short"), "at least 8"),
        (("密码密码密码", "密码密码密码"), "at least 8"),
        (("", ""), "at least 8"),
    ],
)
def test_cli_refuses_mismatch_and_short_passwords(answers, says):
    code, printed, _ = _run(*answers)
    assert code == 1 and len(printed) == 1 and says in printed[0] and "scrypt" not in printed[0]
    assert all(answer not in printed[0] for answer in answers if answer)


def test_cli_accepts_the_same_password_typed_composed_and_decomposed():
    code, printed, _ = _run("caf\u00e9 au lait", "cafe\u0301 au lait")
    assert code == 0 and passwords.verify("caf\u00e9 au lait", printed[0].split('"')[1])


def test_cli_end_of_input_prints_nothing_useful():
    def read(prompt):
        raise EOFError

    printed = []
    assert passwords.main([], read=read, out=printed.append) == 1
    assert not any("scrypt" in line for line in printed)


def test_cli_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as done:
        passwords.main(["--help"], read=lambda p: pytest.fail("asked for a password"), out=print)
    assert done.value.code == 0 and "GLMCHAT_ACCESS_PASSWORD_HASH" in capsys.readouterr().out
