"""Transport-free request/response values and a tiny regex router.

Handlers take a `Request` and return a `Response` without touching sockets, so a Gmail batch can
replay its inner requests through the very same handlers the server uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    in_batch: bool = False

    @classmethod
    def build(
        cls,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes = b"",
        in_batch: bool = False,
    ) -> Request:
        parts = urlsplit(target)
        return cls(
            method.upper(),
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in headers.items()},
            body,
            in_batch,
        )

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def params(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def bearer_token(self) -> str | None:
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: list[tuple[str, str]] | None = None
    ) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, JSON_TYPE, list(headers or []))


Handler = Callable[[Request, re.Match[str]], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    """First matching (method, path regex) wins; unknown paths 404, wrong methods 405."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append(Route(method.upper(), re.compile(pattern + r"\Z"), handler))

    def extend(self, other: Router) -> None:
        self.routes.extend(other.routes)

    def match(self, request: Request) -> tuple[Handler, re.Match[str]] | int:
        path_matched = False
        for route in self.routes:
            found = route.pattern.match(request.path)
            if found is None:
                continue
            path_matched = True
            if route.method == request.method:
                return route.handler, found
        return 405 if path_matched else 404

    def dispatch(self, request: Request) -> Response:
        found = self.match(request)
        if isinstance(found, int):
            return Response.json(
                found, {"error": {"code": found, "message": f"No route for {request.path}"}}
            )
        handler, match = found
        return handler(request, match)
