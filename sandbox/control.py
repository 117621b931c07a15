"""The /_sandbox/ control API: workload, truth, injection (mail and events), faults, quota and
stats as JSON.

It is the HTTP face of `SandboxState`'s Python API, for callers that run the sandbox as a
subprocess (the demo, the benchmarks) through `sandbox.client.SandboxClient`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sandbox.faults import FaultError
from sandbox.http import Request, Response, Router
from sandbox.state import SandboxState, UnknownEvent, UnknownMailbox, UnknownMessage
from sandbox.workload.calendar_model import EventSpecError

_BOX = r"/_sandbox/mailboxes/(?P<box>[^/]+)"


def _error(status: int, message: str) -> Response:
    return Response.json(status, {"error": message})


def _iso(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ControlApi:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.router = Router()
        add = self.router.add
        add("GET", r"/_sandbox/health", lambda r, m: Response.json(200, {"ok": True}))
        add("GET", r"/_sandbox/workload", self._workload)
        add("GET", r"/_sandbox/truth", self._truth)
        add("GET", r"/_sandbox/truth/events", self._truth_events)
        add("POST", _BOX + r"/events", self._inject_event)
        add("PATCH", _BOX + r"/events/(?P<uid>[^/]+)", self._update_event)
        add("POST", _BOX + r"/authorization-code", self._authorization_code)
        add("POST", _BOX + r"/messages", self._inject)
        add("PUT", _BOX + r"/messages/(?P<id>[^/]+)/labels", self._labels)
        add("DELETE", _BOX + r"/messages/(?P<id>[^/]+)", self._delete)
        add("POST", _BOX + r"/history/expire", self._expire_history)
        add("GET", r"/_sandbox/stats", lambda r, m: Response.json(200, self.state.stats()))
        add("POST", r"/_sandbox/stats/reset", self._reset_stats)
        add("GET", r"/_sandbox/quota", self._get_quota)
        add("POST", r"/_sandbox/quota", self._quota)
        add("GET", r"/_sandbox/faults", lambda r, m: Response.json(200, self.state.faults()))
        add("POST", r"/_sandbox/faults", self._set_fault)
        add("DELETE", r"/_sandbox/faults", self._clear_faults)
        add("POST", r"/_sandbox/tokens/expire", self._expire_tokens)

    def dispatch(self, request: Request) -> Response:
        try:
            return self.router.dispatch(request)
        except UnknownMailbox as exc:
            return _error(404, f"unknown mailbox {exc.args[0]}")
        except UnknownMessage as exc:
            return _error(404, f"unknown message {exc.args[0]}")
        except UnknownEvent as exc:
            return _error(404, f"unknown event {exc.args[0]}")
        except (ValueError, TypeError, KeyError, FaultError, EventSpecError) as exc:
            return _error(400, str(exc))

    def _workload(self, request: Request, _: re.Match[str]) -> Response:
        return Response.json(200, self.state.workload.to_dict())

    def _truth(self, request: Request, _: re.Match[str]) -> Response:
        mailbox = request.param("mailbox")
        if not mailbox:
            raise ValueError("mailbox is required")
        rows = self.state.truth(
            mailbox,
            _iso(request.param("start"), "start"),
            _iso(request.param("end"), "end"),
            include_skipped=request.param("include_skipped", "0").lower() in ("1", "true", "yes"),
        )
        return Response.json(200, {"mailbox": mailbox.lower(), "messages": rows})

    def _truth_events(self, request: Request, _: re.Match[str]) -> Response:
        mailbox = request.param("mailbox")
        if not mailbox:
            raise ValueError("mailbox is required")
        rows = self.state.truth_events(
            mailbox, _iso(request.param("start"), "start"), _iso(request.param("end"), "end")
        )
        return Response.json(200, {"mailbox": mailbox.lower(), "events": rows})

    def _inject_event(self, request: Request, match: re.Match[str]) -> Response:
        return Response.json(200, self.state.inject_event(unquote(match["box"]), request.json()))

    def _update_event(self, request: Request, match: re.Match[str]) -> Response:
        changes: dict[str, Any] = request.json()
        updated = self.state.update_event(unquote(match["box"]), unquote(match["uid"]), **changes)
        return Response.json(200, updated)

    def _authorization_code(self, request: Request, match: re.Match[str]) -> Response:
        return Response.json(
            200, {"code": self.state.issue_authorization_code(unquote(match["box"]))}
        )

    def _inject(self, request: Request, match: re.Match[str]) -> Response:
        labels_param = request.param("labels")
        labels = [x for x in labels_param.split(",") if x] if labels_param else ["INBOX", "UNREAD"]
        internal = request.param("internal_date")
        created = self.state.inject_raw(
            unquote(match["box"]),
            request.body,
            labels=labels,
            internal_date_ms=int(internal) if internal else None,
        )
        return Response.json(200, created)

    def _labels(self, request: Request, match: re.Match[str]) -> Response:
        payload: dict[str, Any] = request.json()
        labels = self.state.set_labels(
            unquote(match["box"]), unquote(match["id"]), list(payload.get("labels", []))
        )
        return Response.json(200, {"id": unquote(match["id"]), "labelIds": labels})

    def _delete(self, request: Request, match: re.Match[str]) -> Response:
        self.state.delete_message(unquote(match["box"]), unquote(match["id"]))
        return Response(204)

    def _expire_history(self, request: Request, match: re.Match[str]) -> Response:
        return Response.json(200, {"floor": self.state.expire_history(unquote(match["box"]))})

    def _reset_stats(self, request: Request, _: re.Match[str]) -> Response:
        self.state.reset_stats()
        return Response.json(200, self.state.stats())

    def _get_quota(self, request: Request, _: re.Match[str]) -> Response:
        if (request.param("provider") or "google") == "microsoft":
            return Response.json(200, self.state.graph_limits())
        return Response.json(200, self.state.quota())

    def _quota(self, request: Request, _: re.Match[str]) -> Response:
        payload: dict[str, Any] = dict(request.json())
        provider = payload.pop("provider", "google")
        enabled = payload.pop("enabled", True)
        if provider == "microsoft":
            return Response.json(200, self.state.set_graph_limits(enabled, **payload))
        if provider != "google":
            raise ValueError("provider must be google or microsoft")
        return Response.json(200, self.state.set_quota(enabled, **payload))

    def _set_fault(self, request: Request, _: re.Match[str]) -> Response:
        payload: dict[str, Any] = dict(request.json())
        mailbox = payload.pop("mailbox", None)
        kind = payload.pop("kind", None)
        if not mailbox or not kind:
            raise ValueError("mailbox and kind are required")
        params = payload.pop("params", None) or {}
        params.update(payload)
        return Response.json(200, self.state.set_fault(mailbox, kind, **params))

    def _clear_faults(self, request: Request, _: re.Match[str]) -> Response:
        self.state.clear_faults(request.param("mailbox"))
        return Response.json(200, self.state.faults())

    def _expire_tokens(self, request: Request, _: re.Match[str]) -> Response:
        return Response.json(
            200, {"expired": self.state.expire_access_tokens(request.param("mailbox"))}
        )
