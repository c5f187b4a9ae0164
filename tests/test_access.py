"""Access modes: parsing, the allow-list, client addresses."""
import pytest

from glmchat import access
from glmchat.access import Access, ConfigError


def settings(**values):
    return lambda name: values.get(name)


def test_personal_is_the_default_and_unknown_modes_are_refused():
    assert Access.from_settings(settings(), {}).mode == "personal"
    # A typo must not fall back to personal: that would hand the host's key to everyone.
    for bad in ("hosted", "public", "persona1"):
        with pytest.raises(ConfigError):
            Access.from_settings(settings(GLMCHAT_ACCESS_MODE=bad), {})


def test_gate_mode_needs_a_login_or_a_password():
    with pytest.raises(ConfigError, match="gate mode needs"):
        Access.from_settings(settings(GLMCHAT_ACCESS_MODE="gate"), {})
    a = Access.from_settings(settings(GLMCHAT_ACCESS_MODE="GATE", GLMCHAT_ACCESS_PASSWORD_HASH="scrypt$x"), {})
    assert a.mode == "gate" and a.password_hash == "scrypt$x" and not a.login and not a.own_key
    b = Access.from_settings(settings(GLMCHAT_ACCESS_MODE="gate"), {"auth": {}})
    assert b.login and b.password_hash is None


def test_own_key_field_by_mode():
    assert Access.from_settings(settings(), {}).own_key
    assert Access.from_settings(settings(GLMCHAT_ACCESS_MODE="byok"), {}).own_key
    gate = settings(GLMCHAT_ACCESS_MODE="gate", GLMCHAT_ACCESS_PASSWORD_HASH="h", GLMCHAT_ALLOW_OWN_KEY="true")
    assert Access.from_settings(gate, {}).own_key
    assert not Access.from_settings(settings(GLMCHAT_ACCESS_MODE="byok"), {}).uses_host_key()


def test_allow_list_takes_addresses_and_domains_case_insensitively():
    a = Access.from_settings(settings(GLMCHAT_ACCESS_MODE="gate",
                                      GLMCHAT_ALLOWED_EMAILS="Ann@Example.com; @corp.cn  bob@x.org"), {"auth": {}})
    assert a.allowed == ("ann@example.com", "@corp.cn", "bob@x.org")
    assert a.email_allowed("ann@example.COM") and a.email_allowed("li@corp.cn") and a.email_allowed("bob@x.org")
    assert not a.email_allowed("eve@example.com") and not a.email_allowed("li@notcorp.cn")
    assert not a.email_allowed("li@corp.cn.evil.com") and not a.email_allowed(None) and not a.email_allowed("")
    anyone = Access.from_settings(settings(GLMCHAT_ACCESS_MODE="gate"), {"auth": {}})
    assert anyone.email_allowed("x@y.z") and not anyone.email_allowed("no-at-sign")


def test_client_address_trusts_x_real_ip_only_behind_a_proxy():
    headers = {"X-Real-Ip": "203.0.113.7"}
    assert access.client_address("198.51.100.1", headers, behind_proxy=False) == "198.51.100.1"
    assert access.client_address("127.0.0.1", headers, behind_proxy=True) == "203.0.113.7"
    assert access.client_address(None, {}, behind_proxy=True) == "local"
    assert access.client_address(None, {"x-real-ip": " 192.0.2.1 "}, behind_proxy=True) == "192.0.2.1"


def test_tags_are_keyed_and_do_not_contain_the_value():
    a = access.tag("s" * 32, "ip", "203.0.113.7")
    assert a.startswith("ip:") and "203.0.113.7" not in a
    assert a == access.tag("s" * 32, "ip", "203.0.113.7") != access.tag("t" * 32, "ip", "203.0.113.7")
