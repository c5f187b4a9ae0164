from glmchat.hosting import owner
from glmchat.hosting.config import KeySource

SECRET = "s" * 64
VISITOR = KeySource("key-A", "visitor")
HOST = KeySource("host-key", "env")


def test_personal_mode_shares_one_history_only_with_the_machines_own_user():
    assert owner.owner_id(mode="personal", secret=None, local=True) == "local"
    assert owner.owner_id(mode="personal", secret=SECRET, key=VISITOR, local=True) == "local"
    # Anyone else is as in byok: their own key's history, or none.
    elsewhere = owner.owner_id(mode="personal", secret=SECRET, key=VISITOR)
    assert elsewhere.startswith("key:") and elsewhere == owner.owner_id(mode="byok", secret=SECRET, key=VISITOR)
    assert owner.owner_id(mode="personal", secret=SECRET, key=None) is None
    assert owner.owner_id(mode="personal", secret=SECRET, key=HOST) is None


def test_shared_mode_is_one_history_for_everyone():
    for key in (None, VISITOR, HOST):
        assert owner.owner_id(mode="shared", secret=SECRET, key=key) == "local"


def test_the_host_key_is_used_where_the_mode_allows_it():
    assert owner.uses_host_key("personal", local=True) and not owner.uses_host_key("personal", local=False)
    assert owner.uses_host_key("shared", local=False) and owner.uses_host_key("gate", local=False)
    assert not owner.uses_host_key("byok", local=True)


def test_signed_in_user_owns_by_email_case_insensitively():
    a = owner.owner_id(mode="gate", secret=SECRET, login_email="Ann@Example.com")
    assert a == owner.owner_id(mode="personal", secret=SECRET, login_email=" ann@example.com ", local=True)
    assert a.startswith("user:") and "ann" not in a


def test_visitor_keys_give_distinct_keyed_hashes_without_the_key():
    a = owner.owner_id(mode="gate", secret=SECRET, key=VISITOR)
    b = owner.owner_id(mode="gate", secret=SECRET, key=KeySource("key-B", "visitor"))
    assert a != b and a.startswith("key:") and "key-A" not in a
    assert a == owner.owner_id(mode="gate", secret=SECRET, key=VISITOR)
    # Another server secret gives another id: the hash cannot be precomputed from the key alone.
    assert a != owner.owner_id(mode="gate", secret="t" * 64, key=VISITOR)


def test_host_key_history_is_off_per_visitor_or_named_shared():
    assert owner.owner_id(mode="gate", secret=SECRET, key=HOST) is None
    assert owner.owner_id(mode="gate", secret=SECRET, key=HOST, host_key_history="shared") == "host"
    one = owner.owner_id(mode="gate", secret=SECRET, key=HOST, host_key_history="per-visitor", session="a" * 32)
    other = owner.owner_id(mode="gate", secret=SECRET, key=HOST, host_key_history="per-visitor", session="b" * 32)
    assert one != other and one.startswith("session:")
    assert owner.owner_id(mode="gate", secret=SECRET, key=HOST, host_key_history="per-visitor") is None
    assert owner.owner_id(mode="gate", secret=SECRET, key=None, host_key_history="shared") is None


def test_no_secret_means_no_hosted_identity():
    assert owner.owner_id(mode="gate", secret=None, key=VISITOR) is None
    assert owner.owner_id(mode="gate", secret=None, login_email="a@b.c") is None
