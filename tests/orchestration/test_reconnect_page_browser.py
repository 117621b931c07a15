"""The reconnect page in a real headless Chromium (Debian's package, driven over the DevTools
protocol): the rendered DOM names the mailbox and the cause in plain words and has a Reconnect
button, and pressing it walks the browser through the sandbox's consent back to the
"reconnected" page."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from resources.reconnect_links import make_reconnect_token, reconnect_url
from stack import WORKLOAD_NOW, running_stack
from vocabulary.status import ConnectionStatus

DAY = (WORKLOAD_NOW - timedelta(days=1)).date().isoformat()
SCREENSHOT_COPY_ENV = "TOUCHPOINT_TEST_SCREENSHOT"
"""Where to copy the page's screenshot for a person to look at (unset: left in tmp_path)."""


@pytest.fixture
def stack(tmp_path: Path):
    with running_stack(
        f"sqlite:///{tmp_path / 'warehouse.db'}",
        tenants=1,
        mailboxes_per_tenant=2,
        days=2,
        messages_per_mailbox_per_day=3,
        providers=("google", "microsoft"),
    ) as s:
        yield s


def test_the_page_renders_and_its_button_reconnects(stack, reconnect_server, browser, tmp_path):
    box = next(m for m in stack.workload.mailboxes if m.provider == "google")
    stack.sandbox.state.revoke_refresh_tokens(box.address)
    assert stack.materialize(box.tenant, DAY).success
    (conn,) = [c for c in stack.connections(box.tenant) if c.owner_email == box.address]
    assert conn.status == ConnectionStatus.INVALID_CREDENTIALS
    settings = {"google": stack.google.settings(), "microsoft": stack.microsoft.settings()}

    with reconnect_server(stack.registry, settings) as served:
        token = make_reconnect_token(conn.connection_id, served.config.link_key, served.clock())
        browser.goto(reconnect_url(served.base_url, token))

        assert browser.evaluate("document.querySelector('h1').innerText") == (
            "Reconnect your mailbox"
        )
        assert browser.evaluate("document.getElementById('mailbox').innerText") == box.address
        status = browser.evaluate("document.getElementById('status').innerText")
        assert status == "Touchpoint can no longer sign in to this mailbox."
        cause = browser.evaluate("document.getElementById('cause').innerText")
        assert "the password was changed or access was revoked" in cause
        button = browser.evaluate(
            "(() => { const b = document.querySelector('form button');"
            " const r = b.getBoundingClientRect();"
            " return {text: b.innerText, type: b.type, w: r.width, h: r.height,"
            " method: b.form.method}; })()"
        )
        assert button["text"] == "Reconnect" and button["type"] == "submit"
        assert button["method"] == "post" and button["w"] > 40 and button["h"] > 20
        assert token not in browser.evaluate("document.body.innerText")
        shot = tmp_path / "reconnect-page.png"
        browser.screenshot(shot)
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get(SCREENSHOT_COPY_ENV):
            shutil.copy(shot, os.environ[SCREENSHOT_COPY_ENV])

        # the button: our POST, 303 to the sandbox's consent, 302 back to the callback
        browser.click_and_wait("#reconnect")
        assert browser.evaluate("location.pathname") == "/oauth/callback"
        assert browser.evaluate("document.querySelector('h1').innerText") == "Mailbox reconnected"
        assert browser.evaluate("document.getElementById('missed-days').innerText") == DAY
        if os.environ.get(SCREENSHOT_COPY_ENV):
            browser.screenshot(Path(os.environ[SCREENSHOT_COPY_ENV] + ".done.png"))

    reconnected = stack.registry.connections.get_connection(conn.connection_id)
    assert reconnected.status == ConnectionStatus.ACTIVE
