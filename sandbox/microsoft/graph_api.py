"""Microsoft Graph v1.0 mail and calendar for the sandbox's Microsoft mailboxes, with real shapes.

Routes (relative to the sandbox base URL, standing in for https://graph.microsoft.com):
/v1.0/me and /v1.0/users/{address or object id} with /messages, /messages/{id}, /mailFolders,
/mailFolders/{id or well-known name}, /mailFolders/{...}/childFolders (nested user folders),
/mailFolders/{...}/messages, /calendarView (also /calendar/calendarView), and POST /v1.0/$batch.
Errors are `{"error": {"code", "message",
"innerError": {"date", "request-id", "client-request-id"}}}`. Throttling follows Outlook's
per-mailbox limits when enabled (`SandboxState.set_graph_limits`): concurrent requests and
requests per window, both answered 429 `ApplicationThrottled` with Retry-After.

This module authenticates, meters and routes; the handlers are `graph_mail`, `graph_calendar`
and `graph_batch`, the response shapes `graph_responses`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

from sandbox.http import Request, Response, Router
from sandbox.microsoft.graph_batch import GraphBatch
from sandbox.microsoft.graph_calendar import GraphCalendar
from sandbox.microsoft.graph_delta import GraphDelta
from sandbox.microsoft.graph_mail import GraphMail
from sandbox.microsoft.graph_query import QueryError
from sandbox.microsoft.graph_responses import (
    base_url,
    graph_error,
    graph_json,
    rejection_response,
    throttled,
    unauthenticated,
)
from sandbox.state import SandboxState
from sandbox.workload.model import GRAPH_CALENDARS_SCOPE, GRAPH_MAIL_SCOPE, Mailbox

_USER = r"/v1\.0/(?:me|users/(?P<user>[^/]+))"


class GraphProvider:
    """Routes Graph requests over a shared SandboxState: authenticates the bearer token, checks
    the user segment and scope, applies faults, throttling and metering, then hands the call to
    the mail or calendar handlers (or the $batch endpoint)."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.mail = GraphMail(state)
        self.calendar = GraphCalendar(state)
        self.api = Router()
        add = self.api.add
        add("GET", _USER, self._wrap("graph.users.get", None, self._user))
        add(
            "GET",
            _USER + r"/messages",
            self._wrap("graph.messages.list", GRAPH_MAIL_SCOPE, self.mail.list_messages),
        )
        add(
            "GET",
            _USER + r"/messages/(?P<id>[^/]+)",
            self._wrap("graph.messages.get", GRAPH_MAIL_SCOPE, self.mail.get_message),
        )
        add(
            "GET",
            _USER + r"/mailFolders",
            self._wrap("graph.mailFolders.list", GRAPH_MAIL_SCOPE, self.mail.folders),
        )
        add(
            "GET",
            _USER + r"/mailFolders/(?P<folder>[^/]+)",
            self._wrap("graph.mailFolders.get", GRAPH_MAIL_SCOPE, self.mail.folder),
        )
        delta = GraphDelta(state, self.mail)
        add(
            "GET",
            _USER + r"/mailFolders/(?P<folder>[^/]+)/messages/delta",
            self._wrap("graph.mailFolders.messages.delta", GRAPH_MAIL_SCOPE, delta.messages_delta),
        )
        add(
            "GET",
            _USER + r"/mailFolders/(?P<folder>[^/]+)/childFolders",
            self._wrap(
                "graph.mailFolders.childFolders.list", GRAPH_MAIL_SCOPE, self.mail.child_folders
            ),
        )
        add(
            "GET",
            _USER + r"/mailFolders/(?P<folder>[^/]+)/messages",
            self._wrap(
                "graph.mailFolders.messages.list", GRAPH_MAIL_SCOPE, self.mail.list_messages
            ),
        )
        add(
            "GET",
            _USER + r"/(?:calendar/)?calendarView",
            self._wrap(
                "graph.calendarView.list", GRAPH_CALENDARS_SCOPE, self.calendar.calendar_view
            ),
        )
        self.batch = GraphBatch(state, self.api, self._authenticate)
        self.router = Router()
        self.router.add("POST", r"/v1\.0/\$batch", self.batch.handle)
        self.router.extend(self.api)

    # ---- pipeline -----------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> str | Response:
        token = request.bearer_token()
        if token is None:
            return unauthenticated(request, "Access token is empty.")
        mailbox = self.state.mailbox_for_access_token(token)
        if mailbox is None or self.state.mailbox(mailbox).provider != "microsoft":
            if token.count(".") == 2:
                return unauthenticated(request, "Lifetime validation failed, the token is expired.")
            return unauthenticated(
                request,
                "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be "
                "in JWS or JWE Compact Serialization Format. (JWS): "
                "'EncodedHeader.EndcodedPayload.EncodedSignature'. (JWE): "
                "'EncodedProtectedHeader.EncodedEncryptedKey.EncodedInitializationVector."
                "EncodedCiphertext.EncodedAuthenticationTag'.",
            )
        return mailbox

    def _resolve_user(
        self, request: Request, match: re.Match[str], box: Mailbox
    ) -> Response | None:
        user = match["user"]
        if user is None:
            return None
        wanted = unquote(user).strip("'").lower()
        if wanted in (box.address, (box.user_id or "").lower()):
            return None
        for other in self.state.mailboxes:
            if wanted in (other.address, (other.user_id or "").lower()):
                return graph_error(
                    request,
                    403,
                    "ErrorAccessDenied",
                    "Access is denied. Check credentials and try again.",
                )
        return graph_error(
            request, 404, "ErrorInvalidUser", f"The requested user '{user}' is invalid."
        )

    def _wrap(
        self,
        method: str,
        scope: str | None,
        run: Callable[[Request, re.Match[str], Mailbox], Response],
    ) -> Callable[[Request, re.Match[str]], Response]:
        def handle(request: Request, match: re.Match[str]) -> Response:
            mailbox = self._authenticate(request)
            if isinstance(mailbox, Response):
                return mailbox
            box = self.state.mailbox(mailbox)
            if request.in_batch:
                return self._call(request, match, box, method, scope, run)
            self.state.count_http(mailbox)
            if self.state.enter_request(mailbox) == 0:
                return throttled(request, "Application is over its MailboxConcurrency limit.", 1)
            try:
                self.state.pause_if_slow(mailbox)
                return self._call(request, match, box, method, scope, run)
            finally:
                self.state.leave_request(mailbox)

        return handle

    def _call(
        self,
        request: Request,
        match: re.Match[str],
        box: Mailbox,
        method: str,
        scope: str | None,
        run: Callable[[Request, re.Match[str], Mailbox], Response],
    ) -> Response:
        denied = self._resolve_user(request, match, box)
        if denied is not None:
            return denied
        rejection = self.state.admit_call(box.address, method, 1, meter="graph")
        if rejection is not None:
            return rejection_response(request, rejection)
        if scope is not None and scope not in box.scopes:
            return graph_error(
                request,
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            )
        try:
            return run(request, match, box)
        except QueryError as exc:
            return graph_error(request, 400, exc.code, str(exc))

    # ---- /me ----------------------------------------------------------------------------------

    def _user(self, request: Request, _: re.Match[str], box: Mailbox) -> Response:
        given, _sep, family = box.display_name.partition(" ")
        user = {
            "businessPhones": [],
            "displayName": box.display_name,
            "givenName": given,
            "jobTitle": None,
            "mail": box.address,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": family or None,
            "userPrincipalName": box.address,
            "id": box.user_id,
        }
        chosen = request.param("$select")
        if chosen:
            # Graph returns only the selected properties (the probe asks for id and mail).
            wanted = {name.strip() for name in chosen.split(",")}
            user = {k: v for k, v in user.items() if k in wanted}
        return graph_json(
            200, {"@odata.context": f"{base_url(request)}/v1.0/$metadata#users/$entity", **user}
        )
