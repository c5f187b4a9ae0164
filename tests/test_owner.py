from glmchat import owner
from glmchat.config import KeySource

SECRET = "s" * 64


def test_personal_mode_has_one_owner_whatever_the_key():
    assert owner.owner_id(mode="personal", secret=None) == "local"
    assert owner.owner_id(mode="personal", secret=None, key=KeySource("k", "visitor")) == "local"


def test_signed_in_user_owns_by_email_case_insensitively():
    a = owner.owner_id(mode="gate", secret=SECRET, login_email="Ann@Example.com")
    assert a == owner.owner_id(mode="personal", secret=SECRET, login_email=" ann@example.com ")
    assert a.startswith("user:") and "ann" not in a


def test_visitor_keys_give_distinct_keyed_hashes_without_the_key():
    a = owner.owner_id(mode="gate", secret=SECRET, key=KeySource("key-A", "visitor"))
    b = owner.owner_id(mode="gate", secret=SECRET, key=KeySource("key-B", "visitor"))
    assert a != b and a.startswith("key:") and "key-A" not in a
    assert a == owner.owner_id(mode="gate", secret=SECRET, key=KeySource("key-A", "visitor"))
    # Another server secret gives another id: the hash cannot be precomputed from the key alone.
    assert a != owner.owner_id(mode="gate", secret="t" * 64, key=KeySource("key-A", "visitor"))


def test_host_key_without_login_saves_nothing_unless_allowed():
    host = KeySource("host-key", "env")
    assert owner.owner_id(mode="gate", secret=SECRET, key=host) is None
    assert owner.owner_id(mode="gate", secret=SECRET, key=host, host_key_history=True) == "host"
    assert owner.owner_id(mode="gate", secret=SECRET, key=None) is None


def test_no_secret_means_no_hosted_identity():
    assert owner.owner_id(mode="gate", secret=None, key=KeySource("k", "visitor")) is None
    assert owner.owner_id(mode="gate", secret=None, login_email="a@b.c") is None


def test_settings_are_read_from_secrets_or_environment():
    assert owner.host_key_history({"GLMCHAT_HOST_KEY_HISTORY": "true"})
    assert not owner.host_key_history({})
