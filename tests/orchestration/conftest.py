"""Fixtures for the reconnect web service: the real app on a real uvicorn server on 127.0.0.1,
a clock the tests move, and a real headless Chromium driven over the DevTools protocol."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import ClientConnection, connect

from stack import serve_reconnect


@pytest.fixture
def reconnect_server() -> Callable[..., Any]:
    return serve_reconnect


# ---- headless Chromium over the DevTools protocol ------------------------------------------


class Browser:
    """One page of a headless Chromium, driven with the DevTools protocol over its websocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._next = 0
        self.call("Page.enable")

    def _recv(self) -> dict[str, Any]:
        return json.loads(self._ws.recv(timeout=120))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = self._recv()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def _wait_for_load(self) -> None:
        while self._recv().get("method") != "Page.loadEventFired":
            pass

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self._wait_for_load()

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def click_and_wait(self, selector: str) -> None:
        """Clicks like a user (the page's own form submit) and waits for the next page."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        self._wait_for_load()

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))


def _chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "Chromium is not installed; run scripts/test.sh (it installs Debian's chromium)",
        pytrace=False,
    )


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    proc = subprocess.Popen(
        [
            _chromium_binary(),
            "--headless=new",
            "--no-sandbox",  # the tests run as root in CI
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-proxy-server",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=900,820",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 120
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("headless Chromium did not start", pytrace=False)
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        session = requests.Session()
        session.trust_env = False
        targets = session.get(f"http://127.0.0.1:{port}/json/list", timeout=30).json()
        target = next(t for t in targets if t["type"] == "page")
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=60) as ws:
            yield Browser(ws)
    finally:
        # Chromium's helpers share its process group: end the whole group we started.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
