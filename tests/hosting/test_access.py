"""Access modes: parsing, the allow-list, client addresses."""

import pytest

from glmchat.hosting import access
from glmchat.hosting.access import Access, ConfigError


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


def test_allow_list_takes_addresses_and_domains_case_insensitively():
    a = Access.from_settings(
        settings(GLMCHAT_ACCESS_MODE="gate", GLMCHAT_ALLOWED_EMAILS="Ann@Example.com; @corp.cn  bob@x.org"),
        {"auth": {}},
    )
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


def test_forged_x_forwarded_for_without_a_declared_proxy_is_one_client():
    # uvicorn has already put the header's address in place of a loopback peer's: every such request
    # is the same client, whatever address it names.
    for forged in ("203.0.113.1", "203.0.113.2", "10.0.0.9, 127.0.0.1"):
        assert (
            access.client_address(forged.split(",")[0], {"X-Forwarded-For": forged}, behind_proxy=False)
            == access.UNDECLARED_PROXY
        )
    # Behind a declared proxy, its X-Real-IP names the client as before.
    assert (
        access.client_address(
            "203.0.113.1", {"X-Forwarded-For": "203.0.113.1", "X-Real-IP": "198.51.100.4"}, behind_proxy=True
        )
        == "198.51.100.4"
    )


LOCAL = {"Host": "localhost:8501", "Origin": "http://localhost:8501", "User-Agent": "x"}


def test_the_machines_own_user_is_a_loopback_browser_reaching_the_app_directly():
    assert access.is_local(None, LOCAL)  # st.context.ip_address is None for 127.0.0.1 and ::1
    assert access.is_local("127.0.0.1", {"host": "127.0.0.1:8501", "origin": "http://127.0.0.1:8501"})
    assert access.is_local("::1", {"host": "[::1]:8501", "origin": "http://[::1]:8501"})
    assert access.is_local(None, {"host": "localhost:8501"})  # no Origin: not a cross-site browser request
    assert access.is_local(None, {})  # no connection at all (AppTest)


def test_visitors_from_elsewhere_and_through_proxies_are_not_the_machines_user():
    assert not access.is_local("192.0.2.7", LOCAL)  # another machine
    assert not access.is_local(None, {**LOCAL, "Host": "chat.example.com", "Origin": "https://chat.example.com"})
    # A proxy, tunnel or hosting front end on this machine connects from loopback: its headers give it away.
    for header, value in (
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Real-IP", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9"),
        ("Via", "1.1 nginx"),
        ("CF-Connecting-IP", "203.0.113.9"),
        ("X-Forwarded-Host", "chat.example.com"),
    ):
        assert not access.is_local(None, {**LOCAL, header: value}), header
    # nginx's default proxy_pass sends Host: 127.0.0.1:8501 and no forwarding header; the browser's Origin
    # still names the public address.
    assert not access.is_local(None, {"Host": "127.0.0.1:8501", "Origin": "https://chat.example.com"})
    assert not access.is_local(None, {"Host": "localhost.example.com", "Origin": "http://localhost.example.com"})
    assert not access.is_local(None, {"Origin": "http://localhost:8501"})  # no Host: not a request to trust


def test_shared_history_and_host_key_history_settings():
    assert Access.from_settings(settings(GLMCHAT_ACCESS_MODE="shared"), {}).mode == "shared"
    gate = {"GLMCHAT_ACCESS_MODE": "gate", "GLMCHAT_ACCESS_PASSWORD_HASH": "h"}
    for value, meaning in (
        ("", "off"),
        ("false", "off"),
        ("true", "per-visitor"),
        ("per-visitor", "per-visitor"),
        ("SHARED", "shared"),
    ):
        assert Access.from_settings(settings(**gate, GLMCHAT_HOST_KEY_HISTORY=value), {}).host_key_history == meaning
    with pytest.raises(ConfigError, match="GLMCHAT_HOST_KEY_HISTORY"):
        Access.from_settings(settings(**gate, GLMCHAT_HOST_KEY_HISTORY="everyone"), {})


def test_admins_are_named_explicitly():
    a = Access.from_settings(settings(GLMCHAT_ADMIN_EMAILS="boss@example.com, @ops.example.com"), {})
    assert a.is_admin("Boss@example.com") and a.is_admin("li@ops.example.com")
    assert not a.is_admin("eve@example.com") and not a.is_admin(None)
    assert not Access.from_settings(settings(), {}).is_admin("boss@example.com")  # nobody unless named


def test_tags_are_keyed_and_do_not_contain_the_value():
    a = access.tag("s" * 32, "ip", "203.0.113.7")
    assert a.startswith("ip:") and "203.0.113.7" not in a
    assert a == access.tag("s" * 32, "ip", "203.0.113.7") != access.tag("t" * 32, "ip", "203.0.113.7")


def test_share_links_are_off_unless_the_host_names_who_may_open_them():
    assert Access.from_settings(settings(), {}).share_links == "off"
    for value, meaning in (("off", "off"), (" Admitted ", "admitted"), ("ANYONE", "anyone")):
        assert Access.from_settings(settings(GLMCHAT_SHARE_LINKS=value), {}).share_links == meaning
    for wrong in ("yes", "true", "public"):  # fail closed: a guess at the setting's meaning serves nothing
        with pytest.raises(ConfigError, match="GLMCHAT_SHARE_LINKS"):
            Access.from_settings(settings(GLMCHAT_SHARE_LINKS=wrong), {})
