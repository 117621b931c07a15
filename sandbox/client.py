"""`SandboxClient`: the /_sandbox/ control API over HTTP, for callers running the sandbox as a
subprocess (the demo, the benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests


class SandboxClient:
    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = requests.Session()
        self._http.trust_env = False  # loopback only: never route through an environment proxy

    def __repr__(self) -> str:
        return f"SandboxClient({self.base_url!r})"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(
            method, self.base_url + path, timeout=self.timeout_s, **kwargs
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def health(self) -> bool:
        try:
            return bool(self._call("GET", "/_sandbox/health").get("ok"))
        except requests.RequestException:
            return False

    def workload(self) -> dict[str, Any]:
        """Tenants with CRM accounts and contacts, mailboxes with refresh tokens, OAuth clients."""
        return self._call("GET", "/_sandbox/workload")

    def truth(
        self,
        mailbox: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        include_skipped: bool = False,
    ) -> list[dict[str, Any]]:
        params: dict[str, str] = {"mailbox": mailbox}
        if start is not None:
            params["start"] = start.isoformat() if isinstance(start, datetime) else start
        if end is not None:
            params["end"] = end.isoformat() if isinstance(end, datetime) else end
        if include_skipped:
            params["include_skipped"] = "1"
        return self._call("GET", "/_sandbox/truth", params=params)["messages"]

    def inject_raw(
        self,
        mailbox: str,
        raw: bytes,
        labels: Iterable[str] = ("INBOX", "UNREAD"),
        internal_date_ms: int | None = None,
    ) -> dict[str, str]:
        params = {"labels": ",".join(labels)}
        if internal_date_ms is not None:
            params["internal_date"] = str(internal_date_ms)
        return self._call(
            "POST",
            f"/_sandbox/mailboxes/{quote(mailbox)}/messages",
            params=params,
            data=raw,
            headers={"Content-Type": "message/rfc822"},
        )

    def set_labels(self, mailbox: str, message_id: str, labels: Iterable[str]) -> list[str]:
        path = f"/_sandbox/mailboxes/{quote(mailbox)}/messages/{quote(message_id)}/labels"
        return self._call("PUT", path, json={"labels": list(labels)})["labelIds"]

    def delete_message(self, mailbox: str, message_id: str) -> None:
        self._call("DELETE", f"/_sandbox/mailboxes/{quote(mailbox)}/messages/{quote(message_id)}")

    def expire_history(self, mailbox: str) -> int:
        """Forgets the mailbox's change history: stored historyIds and delta links go stale."""
        return self._call("POST", f"/_sandbox/mailboxes/{quote(mailbox)}/history/expire")["floor"]

    def set_fault(self, mailbox: str, kind: str, **params: Any) -> dict[str, Any]:
        return self._call(
            "POST", "/_sandbox/faults", json={"mailbox": mailbox, "kind": kind, **params}
        )

    def clear_faults(self, mailbox: str | None = None) -> None:
        self._call("DELETE", "/_sandbox/faults", params={"mailbox": mailbox} if mailbox else None)

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_sandbox/faults")

    def set_quota(
        self,
        enabled: bool,
        units_per_second: int | None = None,
        calendar_requests_per_minute: int | None = None,
    ) -> dict[str, Any]:
        """Google's limits (Gmail units per second, Calendar requests per minute)."""
        body: dict[str, Any] = {"enabled": enabled}
        if units_per_second is not None:
            body["units_per_second"] = units_per_second
        if calendar_requests_per_minute is not None:
            body["calendar_requests_per_minute"] = calendar_requests_per_minute
        return self._call("POST", "/_sandbox/quota", json=body)

    def set_graph_limits(self, enabled: bool, **limits: float) -> dict[str, Any]:
        """Graph's per-mailbox throttling: max_concurrent, requests_per_window, window_seconds."""
        body = {"provider": "microsoft", "enabled": enabled, **limits}
        return self._call("POST", "/_sandbox/quota", json=body)

    def truth_events(
        self,
        mailbox: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> list[dict[str, Any]]:
        """Event occurrences starting in [start, end), cancelled ones included."""
        params: dict[str, str] = {"mailbox": mailbox}
        if start is not None:
            params["start"] = start.isoformat() if isinstance(start, datetime) else start
        if end is not None:
            params["end"] = end.isoformat() if isinstance(end, datetime) else end
        return self._call("GET", "/_sandbox/truth/events", params=params)["events"]

    def inject_event(self, mailbox: str, spec: dict[str, Any]) -> dict[str, str]:
        """Adds a master event (see sandbox/README.md) -> {"uid", "event_id"}."""
        return self._call("POST", f"/_sandbox/mailboxes/{quote(mailbox)}/events", json=spec)

    def update_event(self, mailbox: str, uid: str, **changes: Any) -> dict[str, str]:
        path = f"/_sandbox/mailboxes/{quote(mailbox)}/events/{quote(uid, safe='')}"
        return self._call("PATCH", path, json=changes)

    def issue_authorization_code(self, mailbox: str) -> str:
        """A one-time code for Entra's authorization_code grant (Microsoft mailboxes)."""
        return self._call("POST", f"/_sandbox/mailboxes/{quote(mailbox)}/authorization-code")[
            "code"
        ]

    def stats(self) -> dict[str, Any]:
        """{"mailboxes": {address: {...}}, "total": {...}}."""
        return self._call("GET", "/_sandbox/stats")

    def reset_stats(self) -> None:
        self._call("POST", "/_sandbox/stats/reset")

    def expire_access_tokens(self, mailbox: str | None = None) -> int:
        params = {"mailbox": mailbox} if mailbox else None
        return self._call("POST", "/_sandbox/tokens/expire", params=params)["expired"]
