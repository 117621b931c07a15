"""Google's OAuth 2.0 for web server apps: the consent endpoint (`GET /o/oauth2/v2/auth`) and
the token endpoint (`POST /token`: the authorization_code and refresh_token grants).

The consent endpoint has no UI: for a `login_hint` naming a Google mailbox of the sandbox it
redirects straight back with a code, bound to the request's PKCE challenge (S256 or plain) and
redirect URI, or with `error=access_denied` when a test made that mailbox deny consent
(`SandboxState.set_consent`, which can also sign in as another mailbox). A refresh token comes
with the code's exchange only for `access_type=offline`, as at Google.

The client authenticates with form fields or HTTP Basic; answers and errors (`invalid_client`,
`invalid_grant`, ...) have Google's shapes. Access tokens come from the shared state, so a grant
fault set there refuses the refresh here.
"""

from __future__ import annotations

import re
from base64 import b64decode
from urllib.parse import parse_qs, urlencode

from sandbox.http import Request, Response, Router
from sandbox.state import DENY, SandboxState, s256_challenge
from sandbox.tokens import TokenError
from sandbox.workload.model import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET


class GoogleOAuth:
    """The token endpoint over a shared SandboxState."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.router = Router()
        self.router.add("GET", r"/o/oauth2/v2/auth", self._authorize)
        self.router.add("POST", r"/token", self._token)
        self._offline: set[str] = set()
        """Codes whose authorization asked for offline access (a refresh token)."""

    def _authorize(self, request: Request, _: re.Match[str]) -> Response:
        """The consent screen, answered at once for `login_hint` (see the module docstring)."""
        if request.param("client_id") != GOOGLE_CLIENT_ID:
            return _page(401, "Error 401: invalid_client", "The OAuth client was not found.")
        redirect = request.param("redirect_uri")
        if not redirect:
            return _page(
                400, "Error 400: invalid_request", "Missing required parameter: redirect_uri"
            )
        scope = (request.param("scope") or "").split()
        if not scope:
            return _page(400, "Error 400: invalid_request", "Missing required parameter: scope")
        params: dict[str, str] = {}
        challenge = request.param("code_challenge")
        method = request.param("code_challenge_method") or "plain"
        hint = (request.param("login_hint") or "").strip().lower()
        signed_in = self.state.consent_for(hint) if hint else None
        if request.param("response_type") != "code":
            params["error"] = "unsupported_response_type"
        elif challenge is not None and method not in ("S256", "plain"):
            params["error"] = "invalid_request"
        elif signed_in == DENY:
            params["error"] = "access_denied"
        elif signed_in is None or self.state.mailbox(signed_in).provider != "google":
            # A real consent screen would ask who signs in; the sandbox has none to show.
            return _page(
                400,
                "Error 400: invalid_request",
                "The sandbox signs in without a UI: login_hint must name a Google mailbox.",
            )
        else:
            # Stored as S256 either way: under `plain` the verifier equals the challenge.
            stored = None
            if challenge is not None:
                stored = challenge if method == "S256" else s256_challenge(challenge)
            code = self.state.issue_authorization_code(signed_in, stored, redirect)
            if request.param("access_type") == "offline":
                self._offline.add(code)
            params.update(code=code, scope=" ".join(scope), authuser="0", prompt="consent")
        if request.param("state") is not None:
            params["state"] = request.param("state") or ""
        separator = "&" if "?" in redirect else "?"
        return Response(302, b"", headers=[("Location", redirect + separator + urlencode(params))])

    def _authorization_code(self, form: dict[str, str]) -> Response:
        """The code's exchange: PKCE verifier and redirect URI checked, once per code."""
        code = form.get("code")
        if not code:
            return _oauth_error(400, "invalid_request", "Missing required parameter: code")
        offline = code in self._offline
        self._offline.discard(code)
        try:
            token, expires_in, mailbox = self.state.redeem_authorization_code(
                code, form.get("code_verifier"), form.get("redirect_uri")
            )
        except TokenError as exc:
            if exc.kind == "pkce":
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
            if exc.kind == "redirect_uri":
                return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
            return _oauth_error(400, "invalid_grant", "Bad Request")
        body = {
            "access_token": token,
            "expires_in": expires_in,
            "scope": " ".join(mailbox.scopes),
            "token_type": "Bearer",
        }
        if offline:
            body["refresh_token"] = self.state.issue_refresh_token(mailbox.address)
        return Response.json(200, body, _NO_STORE)

    def _token(self, request: Request, _: re.Match[str]) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                decoded = b64decode(basic[6:].strip()).decode("utf-8")
                client_id, _, client_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = client_secret = None
        if client_id != GOOGLE_CLIENT_ID or client_secret != GOOGLE_CLIENT_SECRET:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._authorization_code(form)
        if grant != "refresh_token":
            return _oauth_error(
                400, "unsupported_grant_type", f"Invalid grant_type: {grant or ''}".strip()
            )
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            return _oauth_error(400, "invalid_request", "Missing required parameter: refresh_token")
        owner = self.state.refresh_token_owner(refresh_token)
        if owner is None or self.state.mailbox(owner).provider != "google":
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        try:
            token, expires_in, mailbox = self.state.exchange_refresh_token(refresh_token)
        except TokenError:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        return Response.json(
            200,
            {
                "access_token": token,
                "expires_in": expires_in,
                "scope": " ".join(mailbox.scopes),
                "token_type": "Bearer",
            },
            _NO_STORE,
        )


_NO_STORE = [
    ("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
    ("Pragma", "no-cache"),
]


def _page(status: int, title: str, detail: str) -> Response:
    """Google's error page for a request it will not redirect back (no trusted redirect URI)."""
    body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{detail}</p>"
    return Response(status, body.encode(), "text/html; charset=utf-8")


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json(status, {"error": error, "error_description": description})
