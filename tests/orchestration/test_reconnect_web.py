"""The reconnect flow over real HTTP, both providers, SQLite and PostgreSQL: a revoked mailbox
fails a real Dagster sync, its link's page sends the browser to the sandbox's consent endpoint
(google-auth-oauthlib's Flow / msal's auth-code flow, PKCE), the callback stores the new token
encrypted and brings the connection back, and the next sync uses the new token. Refusals
(another account, denied consent, tampered, expired and replayed links and callbacks, a failed
code exchange) change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa

from assets.emails import raw_emails
from resources.reconnect_links import make_reconnect_token, reconnect_url
from sandbox.workload.model import GOOGLE_CLIENT_ID
from stack import WORKLOAD_NOW, running_stack
from vocabulary.status import ConnectionStatus

DAY = (WORKLOAD_NOW - timedelta(days=1)).date().isoformat()


@pytest.fixture
def stack(warehouse_url):
    with running_stack(
        warehouse_url,
        tenants=1,
        mailboxes_per_tenant=4,
        days=2,
        messages_per_mailbox_per_day=4,
        providers=("google", "microsoft"),
    ) as s:
        yield s


@pytest.fixture
def served(stack, reconnect_server):
    settings = {"google": stack.google.settings(), "microsoft": stack.microsoft.settings()}
    with reconnect_server(stack.registry, settings) as s:
        yield s


def _box(stack, provider, index=0):
    return [m for m in stack.workload.mailboxes if m.provider == provider][index]


def _connection(stack, box):
    (conn,) = [c for c in stack.connections(box.tenant) if c.owner_email == box.address]
    return conn


def _revoked(stack, box):
    """The mailbox's grant revoked at the provider, and a real sync noticing it."""
    stack.sandbox.state.revoke_refresh_tokens(box.address)
    assert stack.materialize(box.tenant, DAY).success
    conn = stack.registry.connections.get_connection(_connection(stack, box).connection_id)
    assert conn.status == ConnectionStatus.INVALID_CREDENTIALS
    return conn


def _stored(stack, connection_id):
    """The connection's row as stored (encrypted columns included) and its history length."""
    table = stack.warehouse.table("connections")
    with stack.warehouse.engine.connect() as conn:
        row = conn.execute(table.select().where(table.c.connection_id == connection_id)).one()
    history = stack.registry.health.status_history(connection_id)
    return dict(row._mapping), len(history)


def _http():
    session = requests.Session()
    session.trust_env = False
    return session


def _to_consent(http, served, connection_id, now=None):
    """Link -> page -> Reconnect button: the provider's consent URL the browser is sent to."""
    token = make_reconnect_token(connection_id, served.config.link_key, now or served.clock())
    link = reconnect_url(served.base_url, token)
    page = http.get(link, timeout=60)
    assert page.status_code == 200, page.text
    started = http.post(link, allow_redirects=False, timeout=60)
    assert started.status_code == 303
    return token, link, started.headers["location"]


def _consent(http, consent_url, served):
    """The sandbox's consent screen answers at once with a redirect to our callback."""
    answer = http.get(consent_url, allow_redirects=False, timeout=60)
    assert answer.status_code == 302
    callback = answer.headers["location"]
    assert callback.startswith(served.base_url + "/oauth/callback?")
    return callback


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_the_owner_reconnects_and_the_next_sync_uses_the_new_token(stack, served, provider):
    box = _box(stack, provider)
    conn = _revoked(stack, box)
    assert [
        w.window_start.date().isoformat()
        for w in stack.registry.health.missed_windows(box.tenant, conn.connection_id)
    ] == [DAY]
    before, _ = _stored(stack, conn.connection_id)
    http = _http()

    token, link, consent_url = _to_consent(http, served, conn.connection_id)
    query = parse_qs(urlsplit(consent_url).query)
    assert query["login_hint"] == [box.address]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["redirect_uri"] == [served.base_url + "/oauth/callback"]
    assert query["response_type"] == ["code"] and query["state"][0]
    if provider == "google":
        # Google's documented parameters for a web server app's offline, consenting grant
        assert consent_url.startswith(stack.sandbox.base_url + "/o/oauth2/v2/auth?")
        assert query["client_id"] == [GOOGLE_CLIENT_ID]
        assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
        assert set(query["scope"][0].split()) == {
            "https://www.googleapis.com/auth/gmail.readonly",
            "https://www.googleapis.com/auth/calendar.readonly",
        }
    else:
        assert "/oauth2/v2.0/authorize?" in consent_url
        assert consent_url.startswith(stack.sandbox.base_url)
        assert "offline_access" in query["scope"][0].split()

    callback = _consent(http, consent_url, served)
    done = http.get(callback, timeout=60)
    assert done.status_code == 200, done.text
    assert "Mailbox reconnected" in done.text and box.address in done.text
    assert f"<li>{DAY}</li>" in done.text  # the missed day recovery starts for

    after, history = _stored(stack, conn.connection_id)
    reconnected = stack.registry.connections.get_connection(conn.connection_id)
    assert reconnected.status == ConnectionStatus.ACTIVE
    assert reconnected.status_cause_code == "reconnected"
    last = stack.registry.health.status_history(conn.connection_id)[-1]
    assert (last.previous_status, last.status) == (
        ConnectionStatus.INVALID_CREDENTIALS,
        ConnectionStatus.ACTIVE,
    )
    new_token = stack.registry.connections.refresh_token(conn.connection_id)
    assert new_token != box.refresh_token
    assert stack.sandbox.state.refresh_token_owner(new_token) == box.address
    assert after["refresh_token_encrypted"] != before["refresh_token_encrypted"]
    assert new_token not in after["refresh_token_encrypted"]
    if provider == "microsoft":
        cache = stack.registry.connections.token_cache(conn.connection_id)
        assert cache and "RefreshToken" in cache and new_token not in after["token_cache_encrypted"]
    for secret in (new_token, token, parse_qs(urlsplit(callback).query)["code"][0]):
        assert secret not in done.text

    # active again, but the incident stays open until the missed day is recovered
    incident = stack.registry.incidents.open_incident(box.tenant, conn.connection_id)
    assert incident is not None and incident.closed_at is None

    # a replayed callback, and the used link, are refused and change nothing
    replay = http.get(callback, timeout=60)
    assert replay.status_code == 400 and "Mailbox reconnected" not in replay.text
    again = http.get(link, timeout=60)
    assert again.status_code == 410 and "already used" in again.text
    assert http.post(link, allow_redirects=False, timeout=60).status_code == 410
    assert _stored(stack, conn.connection_id) == (after, history)

    # the next sync runs on the new token: the day it missed is there, the incident closes
    assert stack.materialize(box.tenant, DAY, assets=[raw_emails]).success
    synced = {i for i in stack.synced_ids(box.tenant, DAY) if i[0] == box.address}
    assert synced == {i for i in stack.truth_ids(box.tenant, DAY) if i[0] == box.address}
    assert synced
    assert stack.registry.incidents.open_incident(box.tenant, conn.connection_id) is None


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_signing_in_as_another_account_is_refused(stack, served, provider):
    box, other = _box(stack, provider, 0), _box(stack, provider, 1)
    conn = _revoked(stack, box)
    before = _stored(stack, conn.connection_id)
    http = _http()
    stack.sandbox.state.set_consent(box.address, sign_in_as=other.address)
    _, link, consent_url = _to_consent(http, served, conn.connection_id)
    refused = http.get(_consent(http, consent_url, served), timeout=60)
    assert refused.status_code == 403
    assert "Wrong account" in refused.text and box.address in refused.text
    assert other.address not in refused.text
    assert _stored(stack, conn.connection_id) == before
    # the link was not used up: the owner can still sign in as themselves
    stack.sandbox.state.set_consent(box.address)
    assert http.get(link, timeout=60).status_code == 200


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_denied_consent_is_refused(stack, served, provider):
    box = _box(stack, provider)
    conn = _revoked(stack, box)
    before = _stored(stack, conn.connection_id)
    http = _http()
    stack.sandbox.state.set_consent(box.address, deny=True)
    _, _, consent_url = _to_consent(http, served, conn.connection_id)
    callback = _consent(http, consent_url, served)
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]
    refused = http.get(callback, timeout=60)
    assert refused.status_code == 403 and "Access not granted" in refused.text
    assert _stored(stack, conn.connection_id) == before


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_failed_code_exchange_and_a_bad_state_change_nothing(stack, served, provider):
    box = _box(stack, provider)
    conn = _revoked(stack, box)
    before = _stored(stack, conn.connection_id)
    http = _http()
    _, _, consent_url = _to_consent(http, served, conn.connection_id)
    callback = _consent(http, consent_url, served)
    params = parse_qs(urlsplit(callback).query)
    state, code = params["state"][0], params["code"][0]
    cb = served.base_url + "/oauth/callback"

    unknown_state = http.get(cb, params={"state": "forged-" + state, "code": code}, timeout=60)
    assert unknown_state.status_code == 400 and "not recognised" in unknown_state.text
    no_state = http.get(cb, params={"code": code}, timeout=60)
    assert no_state.status_code == 400
    # the right state with a code the provider will not redeem: the exchange fails
    bad_code = http.get(cb, params={"state": state, "code": code + "x"}, timeout=60)
    assert bad_code.status_code == 400 and "could not be completed" in bad_code.text
    assert code not in bad_code.text
    # that flow is spent: the genuine code with its state is now a replay
    assert http.get(callback, timeout=60).status_code == 400
    assert _stored(stack, conn.connection_id) == before


def test_tampered_and_expired_links_are_refused(stack, served):
    box = _box(stack, "google")
    conn = _revoked(stack, box)
    before = _stored(stack, conn.connection_id)
    http = _http()
    key = served.config.link_key
    token = make_reconnect_token(conn.connection_id, key, served.clock())
    payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    other_key = make_reconnect_token(conn.connection_id, "k" * 40, served.clock())
    for bad in (f"{payload}.{flipped}", f"{payload[:-1]}x.{signature}", payload, other_key):
        page = http.get(reconnect_url(served.base_url, bad), timeout=60)
        assert page.status_code == 400 and "not valid" in page.text
        assert http.post(reconnect_url(served.base_url, bad), timeout=60).status_code == 400
    unknown = make_reconnect_token("conn-doesnotexist", key, served.clock())
    assert http.get(reconnect_url(served.base_url, unknown), timeout=60).status_code == 400

    # issued eight days ago: past the seven-day lifetime
    old = make_reconnect_token(conn.connection_id, key, served.clock() - timedelta(days=8))
    expired = http.get(reconnect_url(served.base_url, old), timeout=60)
    assert expired.status_code == 410 and "expired" in expired.text
    # valid when the page opened, expired by the time the button is pressed
    fresh = reconnect_url(
        served.base_url, make_reconnect_token(conn.connection_id, key, served.clock())
    )
    assert http.get(fresh, timeout=60).status_code == 200
    served.clock.offset = timedelta(days=7, seconds=1)
    assert http.post(fresh, allow_redirects=False, timeout=60).status_code == 410
    assert _stored(stack, conn.connection_id) == before
    with stack.warehouse.engine.connect() as c:
        assert (
            c.execute(
                sa.select(sa.func.count()).select_from(stack.warehouse.table("reconnect_flows"))
            ).scalar_one()
            == 0
        )


def test_a_callback_after_the_link_was_used_is_refused(stack, served):
    """Two sign-ins started from one link: the first completes it, the second is refused."""
    box = _box(stack, "google")
    conn = _revoked(stack, box)
    http = _http()
    token = make_reconnect_token(conn.connection_id, served.config.link_key, served.clock())
    link = reconnect_url(served.base_url, token)
    first = http.post(link, allow_redirects=False, timeout=60).headers["location"]
    second = http.post(link, allow_redirects=False, timeout=60).headers["location"]
    first_cb, second_cb = _consent(http, first, served), _consent(http, second, served)
    assert http.get(first_cb, timeout=60).status_code == 200
    after = _stored(stack, conn.connection_id)
    late = http.get(second_cb, timeout=60)
    assert late.status_code == 410 and "already used" in late.text
    assert _stored(stack, conn.connection_id) == after


def test_a_disconnected_mailbox_link_is_refused(stack, served):
    box = _box(stack, "microsoft")
    conn = _connection(stack, box)
    stack.registry.health.disconnect(conn.connection_id)
    http = _http()
    token = make_reconnect_token(conn.connection_id, served.config.link_key, datetime.now(UTC))
    page = http.get(reconnect_url(served.base_url, token), timeout=60)
    assert page.status_code == 410 and "disconnected" in page.text
