"""The sandbox's consent endpoints, as Google and Entra document them: a code for the
login_hint's mailbox bound to its PKCE challenge and redirect URI, redeemed once."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox.workload.generate import generate_workload
from sandbox.workload.model import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GOOGLE_SCOPES,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    Workload,
)

pytestmark = pytest.mark.usefixtures("clean_sandbox")
REDIRECT = "http://127.0.0.1:9/oauth/callback"


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(
        seed=31,
        now=datetime(2026, 11, 20, 15, tzinfo=UTC),
        tenants=1,
        mailboxes_per_tenant=4,
        days=1,
        messages_per_mailbox_per_day=1,
        providers=("google", "microsoft"),
    )


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _box(workload: Workload, provider: str, index: int = 0):
    return [m for m in workload.mailboxes if m.provider == provider][index]


def _google_authorize(http, server, hint, challenge, **extra):
    params = {
        "client_id": GOOGLE_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": " ".join(GOOGLE_SCOPES),
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
        "login_hint": hint,
        **extra,
    }
    answer = http.get(server.base_url + "/o/oauth2/v2/auth", params=params, allow_redirects=False)
    return answer


def _google_token(http, server, code, verifier, redirect=REDIRECT):
    return http.post(
        server.base_url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect,
            "client_id": GOOGLE_CLIENT_ID,
            "client_secret": GOOGLE_CLIENT_SECRET,
        },
    )


def test_google_consent_redirects_with_a_code_that_needs_its_verifier(
    http, server, workload
) -> None:
    box = _box(workload, "google")
    verifier, challenge = _pkce()
    answer = _google_authorize(http, server, box.address, challenge)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st-1"] and query["code"][0]
    # a wrong verifier spends the code
    wrong = _google_token(http, server, query["code"][0], verifier + "x")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert _google_token(http, server, query["code"][0], verifier).status_code == 400

    code = parse_qs(
        urlsplit(_google_authorize(http, server, box.address, challenge).headers["location"]).query
    )["code"][0]
    mismatch = _google_token(http, server, code, verifier, redirect=REDIRECT + "x")
    assert mismatch.json()["error"] == "redirect_uri_mismatch"

    code = parse_qs(
        urlsplit(_google_authorize(http, server, box.address, challenge).headers["location"]).query
    )["code"][0]
    granted = _google_token(http, server, code, verifier)
    assert granted.status_code == 200
    body = granted.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] != box.refresh_token
    assert server.state.refresh_token_owner(body["refresh_token"]) == box.address
    # redeemed once
    assert _google_token(http, server, code, verifier).json()["error"] == "invalid_grant"


def test_google_consent_without_offline_access_gives_no_refresh_token(
    http, server, workload
) -> None:
    box = _box(workload, "google")
    verifier, challenge = _pkce()
    answer = _google_authorize(http, server, box.address, challenge, access_type="online")
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    body = _google_token(http, server, code, verifier).json()
    assert "access_token" in body and "refresh_token" not in body


def test_google_consent_hooks_deny_or_sign_in_as_another_account(http, server, workload) -> None:
    box, other = _box(workload, "google", 0), _box(workload, "google", 1)
    _, challenge = _pkce()
    server.state.set_consent(box.address, deny=True)
    denied = parse_qs(
        urlsplit(_google_authorize(http, server, box.address, challenge).headers["location"]).query
    )
    assert denied == {"error": ["access_denied"], "state": ["st-1"]}
    server.state.set_consent(box.address, sign_in_as=other.address)
    verifier, challenge = _pkce()
    code = parse_qs(
        urlsplit(_google_authorize(http, server, box.address, challenge).headers["location"]).query
    )["code"][0]
    token = _google_token(http, server, code, verifier).json()["refresh_token"]
    assert server.state.refresh_token_owner(token) == other.address
    unknown = _google_authorize(http, server, "nobody@nowhere.example", challenge)
    assert unknown.status_code == 400


def test_entra_codes_are_bound_to_their_pkce_challenge(http, server, workload) -> None:
    box = _box(workload, "microsoft")
    verifier, challenge = _pkce()
    authorize = http.get(
        server.base_url + "/organizations/oauth2/v2.0/authorize",
        params={
            "client_id": MICROSOFT_CLIENT_ID,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "offline_access https://graph.microsoft.com/Mail.Read",
            "state": "st-2",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "login_hint": box.address,
        },
        allow_redirects=False,
    )
    code = parse_qs(urlsplit(authorize.headers["location"]).query)["code"][0]

    def redeem(v: str):
        return http.post(
            server.base_url + "/organizations/oauth2/v2.0/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": v,
                "redirect_uri": REDIRECT,
                "scope": "offline_access https://graph.microsoft.com/Mail.Read",
                "client_id": MICROSOFT_CLIENT_ID,
                "client_secret": MICROSOFT_CLIENT_SECRET,
            },
        ).json()

    wrong = redeem(verifier + "x")
    assert wrong["error"] == "invalid_grant" and wrong["error_codes"] == [501481]
    assert redeem(verifier)["error_codes"] == [70000]  # spent by the failed attempt
