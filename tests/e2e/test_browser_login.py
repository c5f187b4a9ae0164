"""Browser: Streamlit's own sign-in (st.login, OIDC) end to end, against a real OpenID Connect provider.

The provider is oidc-provider-mock (Authlib on Flask, served by uvicorn) in a process of its own on
loopback, run with client registration and nonces required: the app's client is registered through
the provider's registration endpoint for exactly the app's redirect_uri, and every ID token is signed
with the provider's RS256 key and checked by Streamlit's Authlib client against the provider's JWKS.

Claims: the provider's login page asks for a subject ("sub") and signs that subject in. Before each
sign-in the test sets that subject's claims (email, email_verified) with the provider's
PUT /users/<sub>, so the ID token carries exactly the claims the test chose; `user_cookie` reads
back what Streamlit stored for st.user, to show that they arrived.

The app runs `streamlit run` in gate mode with the canary host key and the simulator, no access
password, and an [auth] section in a secrets file of its own (`--secrets.files`), never in
.streamlit/secrets.toml. One provider and one app serve the whole module (the settings are the same);
each test uses browser contexts of its own, so every visitor starts without cookies.
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from browser import (
    ARTIFACTS,
    CANARY_KEY,
    Recorder,
    bubbles,
    conversation_param,
    free_port,
    has_line,
    history_env,
    idle,
    python_server,
    send,
    sidebar,
    sim,  # noqa: F401 - fixtures and helpers shared by the browser tests
    sim_proc,
    start_streamlit,
    tokens,
)
from itsdangerous import URLSafeTimedSerializer
from playwright.sync_api import Browser, BrowserContext, Page, expect

from glmchat.chat.i18n import t

__all__ = ["sim_proc"]  # a fixture used via pytest, imported on purpose

EN = "en"
WAIT = 30_000  # ms: generous, for page loads and the redirects through the provider on 2 shared cores
CID = re.compile(r"[?&]c=([0-9a-f]{32})(?:&|$)")
# An exact address and a whole domain.
ALLOWED = "ann@example.com, @example.org"
COOKIE_SECRET = secrets.token_hex(32)  # signs Streamlit's auth cookies; known here to read them back
USER_COOKIE = "_streamlit_user"  # Streamlit's cookie with the signed-in user's claims


# -- the provider -------------------------------------------------------------------------------------------


@dataclass
class Provider:
    root: str  # http://127.0.0.1:PORT

    @property
    def metadata_url(self) -> str:
        return f"{self.root}/.well-known/openid-configuration"

    def _call(self, method: str, path: str, body: dict) -> tuple[int, bytes]:
        req = urllib.request.Request(
            f"{self.root}{path}",
            data=json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()

    def register_client(self, redirect_uri: str) -> tuple[str, str]:
        """Dynamic client registration (RFC 7591): (client_id, client_secret) for this redirect_uri only."""
        status, body = self._call("POST", "/oauth2/clients", {"redirect_uris": [redirect_uri]})
        assert status == 201, body
        client = json.loads(body)
        assert client["redirect_uris"] == [redirect_uri]
        return client["client_id"], client["client_secret"]

    def set_user(self, sub: str, **claims: object) -> None:
        """The claims the next sign-in of `sub` gets in its ID token (and userinfo)."""
        status, body = self._call("PUT", f"/users/{quote(sub, safe='@')}", claims)
        assert status == 204, body


@pytest.fixture(scope="module")
def provider():
    """oidc-provider-mock in its own process on a free loopback port, registration and nonce required."""
    args = [
        "oidc_provider_mock",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--require-registration",
        "--require-nonce",
    ]
    with python_server("oidc-provider", args, "/.well-known/openid-configuration", {"NO_COLOR": "1"}) as root:
        yield Provider(root=root)


@pytest.fixture(scope="module")
def login_app(provider, sim_proc, tmp_path_factory):
    """The app in gate mode with st.login configured for the provider; its port is chosen first for redirect_uri."""
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/oauth2callback"
    client_id, client_secret = provider.register_client(redirect_uri)
    scratch = tmp_path_factory.mktemp("login")
    secrets_file = scratch / "secrets.toml"
    auth = {
        "redirect_uri": redirect_uri,
        "cookie_secret": COOKIE_SECRET,
        "client_id": client_id,
        "client_secret": client_secret,
        "server_metadata_url": provider.metadata_url,
    }
    # json.dumps of these ASCII strings is a valid TOML basic string.
    secrets_file.write_text("[auth]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in auth.items()), encoding="utf-8")
    env = {
        **history_env(sim_proc, f"sqlite:///{scratch / 'glmchat.db'}", mode="gate"),
        "GLMCHAT_ALLOWED_EMAILS": ALLOWED,
        "GLMCHAT_ACCESS_PASSWORD_HASH": "",
        "GLMCHAT_ALLOW_OWN_KEY": "",
        "GLMCHAT_BEHIND_PROXY": "",
        "GLMCHAT_ADMIN_EMAILS": "",
    }
    yield from start_streamlit("login", env, port=port, args=("--secrets.files", str(secrets_file)))


# -- the browser side ---------------------------------------------------------------------------------------


def new_context(browser: Browser, browser_context_args) -> BrowserContext:
    return browser.new_context(**{**browser_context_args, "locale": "en-US"})


def gate_login(page: Page):
    return page.locator(".st-key-gate-login").get_by_role("button", name=t("side.login", EN))


def gate_logout(page: Page):
    return page.locator(".st-key-gate-logout").get_by_role("button", name=t("side.logout", EN))


def chat_input(page: Page):
    return page.get_by_test_id("stChatInputTextArea")


def expect_gate_only(page: Page) -> None:
    """The gate and nothing else: the sign-in button; no chat, no sidebar, no page navigation."""
    expect(gate_login(page)).to_be_visible(timeout=WAIT)
    idle(page, WAIT)
    expect(page.get_by_test_id("stChatInput")).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_label(t("gate.password", EN))).to_have_count(0)  # no password is configured


def sign_in(page: Page, app_url: str, provider: Provider, sub: str) -> None:
    """From the gate: st.login -> the provider's login page -> sign `sub` in -> back in the app."""
    gate_login(page).click()
    page.wait_for_url(re.compile(re.escape(f"{provider.root}/oauth2/authorize") + r"\?"), timeout=WAIT)
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize", exact=True).click()
    # /oauth2callback exchanges the code for the tokens, sets the cookie and sends the browser to the app.
    page.wait_for_url(f"{app_url}/", timeout=WAIT)


def sign_in_verified(page: Page, app_url: str, provider: Provider, email: str) -> None:
    """Load the app, see only the gate, sign in as `email` (a verified address) and be let in."""
    provider.set_user(email, email=email, email_verified=True)
    page.goto(app_url)
    expect_gate_only(page)
    sign_in(page, app_url, provider, email)
    expect_admitted(page, email)


def expect_admitted(page: Page, email: str) -> None:
    expect(chat_input(page)).to_be_visible(timeout=WAIT)
    expect(sidebar(page).get_by_text(t("side.signed_in", EN, who=email))).to_be_visible(timeout=WAIT)
    expect(gate_login(page)).to_have_count(0)


def expect_not_allowed(page: Page, email: str, why: str = "gate.not_allowed") -> None:
    """Signed in, but turned away: the message saying why and a sign-out button, and nothing else."""
    # Whichever the app draws, the gate's sign-out or the chat; then check that it was not the chat.
    expect(gate_logout(page).or_(chat_input(page))).to_be_visible(timeout=WAIT)
    idle(page, WAIT)
    expect(page.get_by_test_id("stChatInput")).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(gate_login(page)).to_have_count(0)
    expect(gate_logout(page)).to_be_visible()
    expect(page.get_by_text(t(why, EN, who=email))).to_be_visible()


def sign_out(page: Page, button, provider: Provider, app_url: str) -> None:
    """st.logout -> the provider's end-session page -> confirm -> back at the app, signed out."""
    button.click()
    page.wait_for_url(re.compile(re.escape(f"{provider.root}/oauth2/end_session") + r"\?"), timeout=WAIT)
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{app_url}/", timeout=WAIT)


def user_cookie(context: BrowserContext) -> dict | None:
    """What Streamlit stored for st.user (the ID token's claims), read from its signed cookie."""
    for cookie in context.cookies():
        if cookie["name"] == USER_COOKIE:
            return json.loads(URLSafeTimedSerializer(COOKIE_SECRET, salt=USER_COOKIE).loads(cookie["value"]))
    return None


def last_reply(page: Page):
    return bubbles(page, "assistant").last


# -- the tests ----------------------------------------------------------------------------------------------


def test_before_sign_in_only_the_gate_shows(browser: Browser, browser_context_args, login_app):
    context = new_context(browser, browser_context_args)
    try:
        page = context.new_page()
        for path in ("/history", "/usage", "/?c=" + "0" * 32, "/"):
            page.goto(login_app.url + path)
            expect_gate_only(page)
        page.screenshot(path=str(ARTIFACTS / "login-gate.png"), full_page=True)
        assert user_cookie(context) is None
    finally:
        context.close()


def test_an_address_on_the_list_signs_in_and_chats(browser: Browser, browser_context_args, login_app, provider, sim):
    context = new_context(browser, browser_context_args)
    try:
        page = context.new_page()
        sign_in_verified(page, login_app.url, provider, "ann@example.com")
        claims = user_cookie(context)
        assert claims is not None and claims["email"] == "ann@example.com" and claims["email_verified"] is True
        assert claims["sub"] == "ann@example.com" and claims["iss"] == provider.root, claims
        since = len(login_app.log_text())
        send(page, "hello sim:tokens=3")
        expect(last_reply(page)).to_contain_text(tokens(3), timeout=WAIT)
        assert sim.stats()["attempts"] == 1
        idle(page, WAIT)
        page.screenshot(path=str(ARTIFACTS / "login-signed-in.png"), full_page=True)
        assert CANARY_KEY not in page.content()
        # The app's own line for this request is in the log, so the log checked next is real app output.
        lines = login_app.request_lines(since, until=lambda ls: has_line(ls, status="ok", completion_tokens=3))
        assert has_line(lines, status="ok", completion_tokens=3), f"no request line for the reply: {lines}"
        assert CANARY_KEY not in login_app.log_text()
    finally:
        context.close()


def test_the_allow_list_admits_a_domain_and_turns_others_away(
    browser: Browser, browser_context_args, login_app, provider, sim
):
    # Any address of a listed domain.
    provider.set_user("someone@example.org", email="someone@example.org", email_verified=True)
    context = new_context(browser, browser_context_args)
    try:
        page = context.new_page()
        page.goto(login_app.url)
        expect_gate_only(page)
        sign_in(page, login_app.url, provider, "someone@example.org")
        expect_admitted(page, "someone@example.org")
    finally:
        context.close()
    # Not on the list: another domain, and another address of the domain whose one address is listed.
    for email in ("eve@example.net", "anne@example.com"):
        provider.set_user(email, email=email, email_verified=True)
        context = new_context(browser, browser_context_args)
        try:
            page = context.new_page()
            page.goto(login_app.url)
            expect_gate_only(page)
            sign_in(page, login_app.url, provider, email)
            expect_not_allowed(page, email)
            claims = user_cookie(context)
            assert claims is not None and claims["email"] == email, claims  # signed in, yet not admitted
            for path in ("/history", "/usage"):  # no page URL gets past it either
                page.goto(login_app.url + path)
                expect_not_allowed(page, email)
            if email == "eve@example.net":
                page.screenshot(path=str(ARTIFACTS / "login-not-allowed.png"), full_page=True)
            # The gate's sign-out button signs out: the plain gate again.
            sign_out(page, gate_logout(page), provider, login_app.url)
            expect_gate_only(page)
            assert user_cookie(context) is None
        finally:
            context.close()
    assert sim.stats()["attempts"] == 0


def test_an_unverified_address_is_not_admitted(browser: Browser, browser_context_args, login_app, provider, sim):
    """A login counts only when st.user's email_verified claim is True: false or missing names nobody."""
    cases = (
        ("ann-unverified", {"email": "ann@example.com", "email_verified": False}),  # the exact listed address
        ("org-unverified", {"email": "carol@example.org", "email_verified": False}),  # a listed domain
        ("org-unstated", {"email": "dave@example.org"}),
    )  # no email_verified claim at all
    for sub, claims in cases:
        provider.set_user(sub, **claims)
        context = new_context(browser, browser_context_args)
        try:
            page = context.new_page()
            page.goto(login_app.url)
            expect_gate_only(page)
            sign_in(page, login_app.url, provider, sub)
            stored = user_cookie(context)  # the provider's claims did reach st.user
            assert stored is not None and stored["sub"] == sub and stored["email"] == claims["email"], stored
            assert stored.get("email_verified") == claims.get("email_verified"), stored
            # Turned away, with the reason: the provider has not verified the address.
            expect_not_allowed(page, claims["email"], "gate.unverified")
            expect(page.get_by_text(t("gate.not_allowed", EN, who=claims["email"]))).to_have_count(0)
            page.goto(login_app.url + "/history")
            expect_not_allowed(page, claims["email"], "gate.unverified")
        finally:
            context.close()
    assert sim.stats()["attempts"] == 0


def test_sign_out_returns_to_the_gate(browser: Browser, browser_context_args, login_app, provider):
    context = new_context(browser, browser_context_args)
    try:
        page = context.new_page()
        sign_in_verified(page, login_app.url, provider, "ann@example.com")
        assert user_cookie(context) is not None
        sign_out(page, sidebar(page).get_by_role("button", name=t("side.logout", EN)), provider, login_app.url)
        expect_gate_only(page)
        assert user_cookie(context) is None
        # The cookie is gone, not just this session's view: a reload and another page's URL show the gate.
        page.reload()
        expect_gate_only(page)
        page.goto(login_app.url + "/history")
        expect_gate_only(page)
    finally:
        context.close()


def test_two_users_never_see_each_others_conversations(
    browser: Browser, browser_context_args, login_app, provider, sim
):
    tag = secrets.token_hex(3)
    a_word, b_word = f"Apricot{tag}", f"Blueberry{tag}"
    ctx_a = new_context(browser, browser_context_args)
    ctx_b = new_context(browser, browser_context_args)
    rec_b = Recorder()
    try:
        page_a = ctx_a.new_page()
        sign_in_verified(page_a, login_app.url, provider, "ann@example.com")
        send(page_a, f"{a_word} from user one sim:tokens=3")
        expect(last_reply(page_a)).to_contain_text(tokens(3), timeout=WAIT)
        expect(page_a).to_have_url(CID, timeout=WAIT)
        cid_a = conversation_param(page_a)
        expect(sidebar(page_a).locator(f".st-key-conv-{cid_a}")).to_contain_text(a_word, timeout=WAIT)

        page_b = ctx_b.new_page()
        rec_b.attach(page_b)
        sign_in_verified(page_b, login_app.url, provider, "bob@example.org")
        idle(page_b, WAIT)
        expect(sidebar(page_b).locator("[class*='st-key-conv-']")).to_have_count(0)
        # User 2's own history works: one conversation, theirs.
        send(page_b, f"{b_word} from user two sim:tokens=2")
        expect(last_reply(page_b)).to_contain_text(tokens(2), timeout=WAIT)
        expect(page_b).to_have_url(CID, timeout=WAIT)
        cid_b = conversation_param(page_b)
        assert cid_b != cid_a
        expect(sidebar(page_b).locator(f".st-key-conv-{cid_b}")).to_contain_text(b_word, timeout=WAIT)
        expect(sidebar(page_b).locator(f".st-key-conv-{cid_a}")).to_have_count(0)
        expect(sidebar(page_b).locator("[class*='st-key-conv-']")).to_have_count(1)

        # User 1's conversation by its URL: not found, nothing of it shown.
        page_b.goto(f"{login_app.url}/?c={cid_a}")
        expect(page_b.get_by_test_id("stAlert").filter(has_text=t("history.not_found", EN))).to_be_visible(timeout=WAIT)
        idle(page_b, WAIT)
        expect(bubbles(page_b)).to_have_count(0)
        expect(sidebar(page_b).locator(f".st-key-conv-{cid_a}")).to_have_count(0)
        assert conversation_param(page_b) != cid_a, page_b.url
        page_b.screenshot(path=str(ARTIFACTS / "login-two-users.png"), full_page=True)
        # Nor on the History page.
        page_b.goto(f"{login_app.url}/history")
        expect(page_b.locator(f".st-key-open-{cid_b}")).to_have_count(1, timeout=WAIT)
        idle(page_b, WAIT)
        expect(page_b.locator(f".st-key-open-{cid_a}")).to_have_count(0)
        assert a_word not in page_b.locator("body").inner_text()
        assert rec_b.frames and not [f for f in rec_b.frames if a_word in f], "user 2 received user 1's data"

        # User 1 still has it, by the same URL (the not-found above is about the owner, not the id).
        page_a.goto(f"{login_app.url}/?c={cid_a}")
        expect(bubbles(page_a, "user").first).to_contain_text(a_word, timeout=WAIT)
        expect(sidebar(page_a).locator(f".st-key-conv-{cid_b}")).to_have_count(0)
        assert b_word not in page_a.locator("body").inner_text()
    finally:
        ctx_a.close()
        ctx_b.close()
