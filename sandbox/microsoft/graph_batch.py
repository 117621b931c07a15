"""Graph's JSON `$batch` (`POST /v1.0/$batch`): up to 20 requests, answered in request order.

Parts run in waves of four (a part with dependsOn on its own), each wave taking the mailbox's
concurrency slots, so a part can answer 429 inside a 200 batch; a part whose dependency failed
answers 424. The batch is one HTTP request for the stats; each part is its own API call, metered
by the handler it is dispatched to.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from sandbox.http import Request, Response, Router
from sandbox.microsoft.graph_responses import graph_error, graph_json, throttled
from sandbox.state import SandboxState

MAX_BATCH_REQUESTS = 20
BATCH_PARALLELISM = 4
"""Graph hands at most four parts of a batch to Outlook at once (parts with dependsOn: one)."""


class GraphBatch:
    """Answers a batch by dispatching its parts to the Graph API router `api`."""

    def __init__(
        self,
        state: SandboxState,
        api: Router,
        authenticate: Callable[[Request], str | Response],
    ) -> None:
        self.state = state
        self.api = api
        self._authenticate = authenticate

    def handle(self, request: Request, _: re.Match[str]) -> Response:
        owner = self._authenticate(request)
        if isinstance(owner, Response):
            return owner
        try:
            payload = request.json()
            parts = payload["requests"]
            if not isinstance(parts, list) or not parts:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return graph_error(request, 400, "BadRequest", "Invalid batch payload format.")
        if len(parts) > MAX_BATCH_REQUESTS:
            return graph_error(
                request,
                400,
                "BadRequest",
                f"The number of requests in the batch exceeds the maximum of {MAX_BATCH_REQUESTS}.",
            )
        problem = _check_parts(parts)
        if problem:
            return graph_error(request, 400, "BadRequest", problem)
        self.state.count_http(owner, batch_size=len(parts))
        self.state.pause_if_slow(owner)
        answers: dict[str, dict[str, Any]] = {}
        for wave in _waves(parts):
            granted = self.state.enter_request(owner, len(wave))
            try:
                for number, part in enumerate(wave):
                    answers[str(part["id"])] = self._run_part(
                        request, part, answers, number < granted
                    )
            finally:
                self.state.leave_request(owner, granted)
        return graph_json(200, {"responses": [answers[str(p["id"])] for p in parts]})

    def _run_part(
        self, outer: Request, part: dict[str, Any], answers: dict[str, dict[str, Any]], slot: bool
    ) -> dict[str, Any]:
        part_id = str(part["id"])
        failed = [d for d in part.get("dependsOn") or [] if answers[str(d)]["status"] >= 400]
        if failed:
            response = graph_error(outer, 424, "FailedDependency", "Failed dependency.")
        elif not slot:
            response = throttled(outer, "Application is over its MailboxConcurrency limit.", 1)
        else:
            url = str(part["url"])
            url = re.sub(r"^https?://[^/]+", "", url)
            url = url if url.startswith("/") else "/" + url
            url = url if url.startswith("/v1.0/") else "/v1.0" + url
            headers = {str(k): str(v) for k, v in (part.get("headers") or {}).items()}
            for name in ("authorization", "host"):
                if name in outer.headers:
                    headers.setdefault(name, outer.headers[name])
            inner = Request.build(str(part["method"]), url, headers, b"", in_batch=True)
            found = self.api.match(inner)
            if isinstance(found, int):
                response = graph_error(outer, 400, "BadRequest", f"Invalid request URL: {url}")
            else:
                handler, matched = found
                response = handler(inner, matched)
        part_headers = {"Content-Type": response.content_type}
        part_headers.update({k: v for k, v in response.headers if k.lower() == "retry-after"})
        try:
            body = json.loads(response.body) if response.body else None
        except ValueError:
            body = base64.b64encode(response.body).decode("ascii")
        return {"id": part_id, "status": response.status, "headers": part_headers, "body": body}


def _check_parts(parts: list[Any]) -> str | None:
    seen: set[str] = set()
    for part in parts:
        if not isinstance(part, dict):
            return "Invalid batch payload format."
        for name in ("id", "method", "url"):
            if not part.get(name):
                return f"Invalid request: the '{name}' property is required."
        part_id = str(part["id"])
        if part_id in seen:
            return "Batch request contains duplicated ids."
        for dependency in part.get("dependsOn") or []:
            if str(dependency) not in seen:
                return f"Request '{part_id}' depends on '{dependency}', which is not before it."
        seen.add(part_id)
    return None


def _waves(parts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Parts as Graph dispatches them: up to four at once, a part with dependsOn on its own."""
    waves: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for part in parts:
        if part.get("dependsOn"):
            if current:
                waves.append(current)
                current = []
            waves.append([part])
            continue
        current.append(part)
        if len(current) == BATCH_PARALLELISM:
            waves.append(current)
            current = []
    if current:
        waves.append(current)
    return waves
