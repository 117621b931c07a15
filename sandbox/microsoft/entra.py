"""The Microsoft identity platform (Entra ID v2.0 endpoints), answering the way Entra does.

Routes (relative to the sandbox base URL, standing in for https://login.microsoftonline.com):
GET /{tenant}/v2.0/.well-known/openid-configuration, GET /common/discovery/instance,
GET /{tenant}/oauth2/v2.0/authorize (redirects with a code for `login_hint`'s mailbox, bound to
its PKCE challenge; `SandboxState.set_consent` makes it sign in as another mailbox or deny) and
POST /{tenant}/oauth2/v2.0/token (refresh_token and authorization_code grants). Every URL in the
OpenID configuration is https://login.microsoftonline.com/..., because msal insists on https: a
client rewrites that prefix to the sandbox (see sandbox/README.md).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from sandbox.http import Request, Response, Router
from sandbox.state import DENY, SandboxState
from sandbox.tokens import TokenError
from sandbox.workload.model import MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET, Mailbox

LOGIN_HOST = "https://login.microsoftonline.com"
GRAPH_RESOURCE = "https://graph.microsoft.com/"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
APP_NAME = "Touchpoint Sandbox"
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
_MULTI_TENANT = ("common", "organizations")
_TENANT = r"/(?P<tenant>[A-Za-z0-9.\-]+)"

_GRANT_ERRORS: dict[str, tuple[int, str, str | None]] = {
    "invalid_grant": (
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. "
        "The user might have changed or reset their password. The grant was issued on "
        "'{issued}' and the TokensValidFrom date (before which tokens are not valid) for this "
        "user is '{now}'.",
        None,
    ),
    "token_expired": (
        700082,
        "The refresh token has expired due to inactivity. The token was issued on {issued} and "
        "was inactive for 90.00:00:00.",
        None,
    ),
    "consent_required": (
        65001,
        "The user or administrator has not consented to use the application with ID "
        f"'{MICROSOFT_CLIENT_ID}' named '{APP_NAME}'. Send an interactive authorization request "
        "for this user and resource.",
        "consent_required",
    ),
    "mfa_required": (
        50076,
        "Due to a configuration change made by your administrator, or because you moved to a new "
        "location, you must use multi-factor authentication to access "
        f"'{GRAPH_APP_ID}'.",
        "basic_action",
    ),
    "account_disabled": (
        50057,
        "The user account is disabled. The user object in Active Directory backing this account "
        "has been disabled. An admin can re-enable this account through PowerShell.",
        None,
    ),
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unsigned_jwt(claims: dict[str, Any]) -> str:
    header = {"typ": "JWT", "alg": "none"}
    return f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}."


def openid_configuration(tenant: str) -> dict[str, Any]:
    base = f"{LOGIN_HOST}/{tenant}"
    issuer_tenant = "{tenantid}" if tenant in _MULTI_TENANT else tenant
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{LOGIN_HOST}/{issuer_tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],  # fmt: skip
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


class EntraProvider:
    """Handlers for the identity platform over a shared SandboxState."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.router = Router()
        self.router.add("GET", r"/common/discovery/instance", self._instance_discovery)
        self.router.add("GET", _TENANT + r"/v2\.0/\.well-known/openid-configuration", self._oidc)
        self.router.add("GET", _TENANT + r"/oauth2/v2\.0/authorize", self._authorize)
        self.router.add("POST", _TENANT + r"/oauth2/v2\.0/token", self._token)

    def _tenants(self) -> set[str]:
        return {m.entra_tenant_id for m in self.state.mailboxes if m.entra_tenant_id}

    def _known_tenant(self, tenant: str) -> bool:
        return tenant.lower() in _MULTI_TENANT or tenant.lower() in self._tenants()

    def _instance_discovery(self, request: Request, _: re.Match[str]) -> Response:
        endpoint = request.param("authorization_endpoint") or f"{LOGIN_HOST}/common/oauth2/v2.0"
        tenant = endpoint.removeprefix(LOGIN_HOST + "/").split("/")[0] or "common"
        return Response.json(
            200,
            {
                "tenant_discovery_endpoint": (
                    f"{LOGIN_HOST}/{tenant}/v2.0/.well-known/openid-configuration"
                ),
                "api-version": "1.1",
                "metadata": [
                    {
                        "preferred_network": "login.microsoftonline.com",
                        "preferred_cache": "login.windows.net",
                        "aliases": ["login.microsoftonline.com", "login.windows.net"],
                    }
                ],
            },
        )

    def _oidc(self, request: Request, match: re.Match[str]) -> Response:
        tenant = match["tenant"]
        if not self._known_tenant(tenant):
            return self._error(
                request, 400, "invalid_tenant", 90002, _tenant_not_found(tenant), tenant=tenant
            )
        return Response.json(200, openid_configuration(tenant))

    def _authorize(self, request: Request, match: re.Match[str]) -> Response:
        """The end of a consent flow, without the UI: a code for `login_hint`'s mailbox."""
        redirect = request.param("redirect_uri")
        hint = (request.param("login_hint") or "").lower()
        if request.param("client_id") != MICROSOFT_CLIENT_ID or not redirect:
            return self._error(
                request,
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{request.param('client_id')}' was not found in "
                "the directory.",
                tenant=match["tenant"],
            )
        challenge = request.param("code_challenge")
        method = request.param("code_challenge_method") or ("plain" if challenge else None)
        signed_in = self.state.consent_for(hint) if hint else None
        box = self.state.mailbox(signed_in) if signed_in not in (None, DENY) else None
        params: dict[str, str] = {}
        if challenge is not None and method != "S256":
            # Entra also takes `plain`; the sandbox holds clients to S256, as msal sends.
            params["error"] = "invalid_request"
            params["error_description"] = (
                "AADSTS501491: Invalid size of Code_Challenge parameter or unsupported method."
            )
        elif signed_in == DENY:
            params["error"] = "access_denied"
            params["error_description"] = "AADSTS65004: User declined to consent to access the app."
        elif box is None or box.provider != "microsoft":
            params["error"] = "login_required"
            params["error_description"] = (
                "AADSTS50058: A silent sign-in request was sent but no user is signed in."
            )
        else:
            params["code"] = self.state.issue_authorization_code(
                box.address, challenge, redirect, request.param("nonce")
            )
            params["session_state"] = str(uuid.uuid4())
        if request.param("state"):
            params["state"] = request.param("state") or ""
        separator = "&" if "?" in redirect else "?"
        return Response(302, b"", headers=[("Location", redirect + separator + urlencode(params))])

    # ---- token endpoint -----------------------------------------------------------------------

    def _token(self, request: Request, match: re.Match[str]) -> Response:
        tenant = match["tenant"]
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        err = functools.partial(self._error, request, tenant=tenant)
        if not self._known_tenant(tenant):
            return err(400, "invalid_request", 90002, _tenant_not_found(tenant))
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = secret = None
        if not client_id:
            return err(400, "invalid_request", 900144, _missing("client_id"))
        if client_id != MICROSOFT_CLIENT_ID:
            return err(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant.",
            )
        if not secret:
            return err(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        if secret != MICROSOFT_CLIENT_SECRET:
            return err(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{MICROSOFT_CLIENT_ID}'.",
            )
        grant = form.get("grant_type", "")
        if grant not in ("refresh_token", "authorization_code"):
            return err(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        scope = form.get("scope")
        if not scope:
            return err(400, "invalid_request", 90014, "The required field 'scope' is missing.")
        field = "refresh_token" if grant == "refresh_token" else "code"
        value = form.get(field)
        if not value:
            return err(400, "invalid_request", 900144, _missing(field))
        owner = (
            self.state.refresh_token_owner(value)
            if grant == "refresh_token"
            else self.state.authorization_code_owner(value)
        )
        box = self.state.mailbox(owner) if owner else None
        if box is None or box.provider != "microsoft" or not _tenant_matches(tenant, box):
            if grant == "authorization_code":
                return err(400, "invalid_grant", 70000, _BAD_CODE)
            return err(400, "invalid_grant", 9002313, _MALFORMED)
        granted = _granted_scopes(scope, box)
        if granted is None:
            return self._grant_fault(request, tenant, "consent_required")
        nonce = self.state.authorization_code_nonce(value) if grant != "refresh_token" else None
        try:
            if grant == "refresh_token":
                token, expires_in, box = self.state.exchange_refresh_token(value)
            else:
                token, expires_in, box = self.state.redeem_authorization_code(
                    value, form.get("code_verifier"), form.get("redirect_uri")
                )
        except TokenError as exc:
            if exc.kind == "pkce":
                return err(400, "invalid_grant", 501481, _BAD_VERIFIER)
            if exc.kind in ("unknown", "redirect_uri"):
                return err(400, "invalid_grant", 70000, _BAD_CODE)
            return self._grant_fault(request, tenant, exc.kind)
        return Response.json(
            200, self._token_body(box, granted, scope, form, token, expires_in, nonce), _NO_STORE
        )

    def _grant_fault(self, request: Request, tenant: str, kind: str) -> Response:
        code, text, suberror = _GRANT_ERRORS[kind]
        claims = None
        if kind == "mfa_required":
            claims = json.dumps(
                {"access_token": {"capolids": {"essential": True, "values": [str(uuid.uuid4())]}}}
            )
        return self._error(
            request,
            400,
            "invalid_grant",
            code,
            text,
            tenant=tenant,
            suberror=suberror,
            claims=claims,
        )

    def _token_body(
        self,
        box: Mailbox,
        granted: list[str],
        scope: str,
        form: dict[str, str],
        token: str,
        expires_in: int,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        requested = {s.lower() for s in scope.split()}
        tid = box.entra_tenant_id or ""
        oid = box.user_id or ""
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join([*granted, *sorted(requested & {"openid", "profile", "email"})]),
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": token,
        }
        if "offline_access" in requested or "offline_access" in box.scopes:
            body["refresh_token"] = self.state.issue_refresh_token(box.address)
        now = int(time.time())
        body["id_token"] = unsigned_jwt(
            {
                "aud": MICROSOFT_CLIENT_ID,
                "iss": f"{LOGIN_HOST}/{tid}/v2.0",
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": box.display_name,
                "oid": oid,
                "preferred_username": box.address,
                "sub": _b64url(uuid.uuid5(uuid.NAMESPACE_URL, oid).bytes),
                "tid": tid,
                "ver": "2.0",
                # Entra repeats the authorization request's nonce; msal checks it.
                **({"nonce": nonce} if nonce else {}),
            }
        )
        if form.get("client_info") == "1":
            body["client_info"] = _b64url(json.dumps({"uid": oid, "utid": tid}).encode())
        return body

    @staticmethod
    def _error(
        request: Request,
        status: int,
        error: str,
        code: int,
        text: str,
        *,
        tenant: str,
        suberror: str | None = None,
        claims: str | None = None,
    ) -> Response:
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        trace = str(uuid.uuid4())
        correlation = request.headers.get("client-request-id") or str(uuid.uuid4())
        issued = (now - timedelta(days=91)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        text = text.format(issued=issued, now=now.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"))
        body: dict[str, Any] = {
            "error": error,
            "error_description": (
                f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} "
                f"Timestamp: {stamp}"
            ),
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{LOGIN_HOST}/error?code={code}",
        }
        if suberror:
            body["suberror"] = suberror
        if claims:
            body["claims"] = claims
        return Response.json(status, body, _NO_STORE)


_NO_STORE = [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")]
_MALFORMED = "Invalid request. Request is malformed or invalid."
_BAD_CODE = "The provided value for the 'code' parameter is not valid."
_BAD_VERIFIER = (
    "The Code_Verifier does not match the code_challenge supplied in the authorization request."
)


def _tenant_matches(tenant: str, box: Mailbox) -> bool:
    return tenant.lower() in _MULTI_TENANT or tenant.lower() == (box.entra_tenant_id or "")


def _granted_scopes(scope: str, box: Mailbox) -> list[str] | None:
    """The Graph scopes a request gets (`.default`: all consented), or None if it asks for one
    the user never consented to (AADSTS65001)."""
    consented = [s for s in box.scopes if s not in RESERVED_SCOPES]
    known = {c.lower() for c in consented}
    granted: list[str] = []
    for item in scope.split():
        if item.lower() in RESERVED_SCOPES:
            continue
        full = item if "://" in item else GRAPH_RESOURCE + item
        if full.lower() == GRAPH_RESOURCE + ".default":
            granted.extend(consented)
        elif full.lower() in known:
            granted.append(full)
        else:
            return None
    return list(dict.fromkeys(granted))


def _missing(name: str) -> str:
    return f"The request body must contain the following parameter: '{name}'."


def _tenant_not_found(tenant: str) -> str:
    return (
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud. Check with your subscription administrator, this may "
        "happen if there are no active subscriptions for the tenant."
    )
