"""Google's OAuth 2.0 token endpoint (`POST /token`): the refresh_token grant only.

The client authenticates with form fields or HTTP Basic; answers and errors (`invalid_client`,
`invalid_grant`, ...) have Google's shapes. Access tokens come from the shared state, so a grant
fault set there refuses the refresh here.
"""

from __future__ import annotations

import re
from base64 import b64decode
from urllib.parse import parse_qs

from sandbox.http import Request, Response, Router
from sandbox.state import SandboxState
from sandbox.tokens import TokenError
from sandbox.workload.model import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET


class GoogleOAuth:
    """The token endpoint over a shared SandboxState."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.router = Router()
        self.router.add("POST", r"/token", self._token)

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
            [
                ("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
                ("Pragma", "no-cache"),
            ],
        )


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json(status, {"error": error, "error_description": description})
