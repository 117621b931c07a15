"""`touchpoint serve`: the reconnect pages a mailbox owner reaches from a link (Starlette).

GET /reconnect/{token} shows the mailbox, its status and the cause in plain words and a
Reconnect button; POST /reconnect/{token} sends the browser to the provider's consent screen;
GET /oauth/callback finishes and shows what recovery is starting. The flow itself is
resources/reconnect.py; this module only renders it.

Links, codes and states travel in URLs, so nothing here logs a request line (uvicorn's access
log is off in `serve`) and every page carries `Referrer-Policy: no-referrer`, so the link is
not handed to the provider's pages in a Referer header.
"""

from __future__ import annotations

import html
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from resources.reconnect import (
    CALLBACK_PATH,
    Reconnected,
    ReconnectPage,
    ReconnectRefused,
    ReconnectService,
)
from vocabulary.status import ConnectionStatus

HEADLINES: dict[ConnectionStatus, str] = {
    ConnectionStatus.ACTIVE: "This mailbox is connected and syncing.",
    ConnectionStatus.INVALID_CREDENTIALS: "Touchpoint can no longer sign in to this mailbox.",
    ConnectionStatus.INSUFFICIENT_PERMISSIONS: (
        "Touchpoint no longer has permission to read this mailbox."
    ),
    ConnectionStatus.ACCOUNT_SUSPENDED: (
        "The account is suspended or has no mail service at the moment."
    ),
    ConnectionStatus.THROTTLED: "The provider is limiting how fast Touchpoint may read it.",
    ConnectionStatus.NO_SERVICE_CONNECTION: "Touchpoint could not reach the provider.",
    ConnectionStatus.REQUEST_INVALID: "Touchpoint could not sync this mailbox.",
    ConnectionStatus.SYNC_ERROR: "Touchpoint could not sync this mailbox.",
}
"""What each status means to the owner, in one sentence (the cause follows it)."""

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action *",
}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1d2433;
margin:0;padding:48px 16px}
main{max-width:560px;margin:0 auto;background:#fff;border-radius:12px;padding:32px 36px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 20px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:8px 16px;margin:0 0 20px}
dt{color:#5b6474}dd{margin:0;font-weight:500}
.cause{background:#fff6e5;border-left:4px solid #f0a000;padding:12px 16px;margin:0 0 24px}
.ok{background:#e8f6ee;border-left-color:#1f9d55}
button{background:#1a73e8;color:#fff;border:0;border-radius:6px;font-size:1rem;
padding:12px 28px;cursor:pointer}
.small{color:#5b6474;font-size:.85rem;margin-top:20px}
ul{margin:8px 0 0;padding-left:20px}
"""


def _html(status: int, title: str, body: str) -> HTMLResponse:
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)} · Touchpoint</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=_SECURITY_HEADERS)


def _when(moment: datetime) -> str:
    return moment.strftime("%d %B %Y, %H:%M UTC")


def render_page(view: ReconnectPage, action: str) -> HTMLResponse:
    c = view.connection
    e = html.escape
    cause = c.status_explanation or "No further detail was recorded."
    body = (
        "<dl>"
        f"<dt>Mailbox</dt><dd id='mailbox'>{e(c.owner_email)}</dd>"
        f"<dt>Provider</dt><dd>{e(view.provider_label)}</dd>"
        f"<dt>Status</dt><dd id='status'>{e(HEADLINES.get(c.status, c.status.value))}</dd>"
        f"<dt>Since</dt><dd>{e(_when(c.status_changed_at))}</dd>"
        "</dl>"
        f"<p class='cause' id='cause'>{e(cause)}</p>"
        f"<p>Reconnecting takes you to {e(view.provider_label)} to sign in as "
        f"<strong>{e(c.owner_email)}</strong> and allow Touchpoint to read mail and calendar "
        "again. The days it missed are synced afterwards.</p>"
        f"<form method='post' action='{e(action)}'>"
        "<button type='submit' id='reconnect'>Reconnect</button></form>"
        f"<p class='small'>This link works until {e(_when(view.expires_at))}.</p>"
    )
    return _html(200, "Reconnect your mailbox", body)


def render_done(done: Reconnected) -> HTMLResponse:
    e = html.escape
    c = done.connection
    if done.missed_days:
        days = "".join(f"<li>{d.isoformat()}</li>" for d in done.missed_days)
        recovery = (
            f"<p>Recovery is starting for the {len(done.missed_days)} day(s) it missed; "
            f"they fill in over the next hours:</p><ul id='missed-days'>{days}</ul>"
        )
    else:
        recovery = "<p id='missed-days'>No days were missed: nothing needs recovering.</p>"
    body = (
        f"<p class='cause ok'>Touchpoint can read <strong id='mailbox'>{e(c.owner_email)}"
        f"</strong> ({e(done.provider_label)}) again. Syncing has resumed.</p>{recovery}"
        "<p class='small'>You can close this page.</p>"
    )
    return _html(200, "Mailbox reconnected", body)


def render_refused(refused: ReconnectRefused) -> HTMLResponse:
    body = f"<p class='cause' id='problem'>{html.escape(refused.message)}</p>"
    return _html(refused.status, refused.title, body)


def build_app(service: ReconnectService) -> Starlette:
    """The reconnect web app over one service (its warehouse and provider settings)."""

    def show(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            view = service.page(token)
        except ReconnectRefused as refused:
            return render_refused(refused)
        return render_page(view, request.url.path)

    def start(request: Request) -> Response:
        try:
            url = service.start(request.path_params["token"])
        except ReconnectRefused as refused:
            return render_refused(refused)
        # 303: the browser follows with a GET to the provider's consent screen.
        return RedirectResponse(url, status_code=303, headers=_SECURITY_HEADERS)

    def callback(request: Request) -> Response:
        try:
            done = service.finish(dict(request.query_params))
        except ReconnectRefused as refused:
            return render_refused(refused)
        return render_done(done)

    def health(_: Request) -> Response:
        return Response("ok", media_type="text/plain")

    return Starlette(
        routes=[
            Route("/reconnect/{token}", show, methods=["GET"]),
            Route("/reconnect/{token}", start, methods=["POST"]),
            Route(CALLBACK_PATH, callback, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def serve(app: Any, host: str, port: int) -> None:
    """Runs the app with uvicorn until interrupted; no access log (URLs carry secrets)."""
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


@contextmanager
def serving(build: Callable[[str], Any], host: str = "127.0.0.1") -> Iterator[str]:
    """Serves the app `build(base_url)` makes on a free port, in a thread, until the block ends;
    yields the base URL. The socket is bound first because the app needs its own address (the
    OAuth redirect URI names the port). For the demo and the tests; `serve` is for production."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    base_url = f"http://{host}:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(build(base_url), access_log=False, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
