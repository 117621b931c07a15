"""`touchpoint connections reconnect-link`, `disconnect` and `serve`, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from orchestration.cli import main
from orchestration.demo import provider_environment
from resources.reconnect_links import (
    LINK_KEY_ENV,
    PUBLIC_URL_ENV,
    generate_link_key,
    make_reconnect_token,
    read_reconnect_token,
    reconnect_url,
)
from resources.registry import Registry
from vocabulary.status import ConnectionStatus

TOKEN = "1//sbx-the-old-refresh-token"


@pytest.fixture
def connection_id(registry: Registry) -> str:
    registry.tenants.add_tenant("acme", "Acme")
    conn = registry.connections.add_connection("acme", "ann@acme.example", "google", TOKEN)
    registry.connections.save_token_cache(conn.connection_id, '{"cache": "secret"}')
    registry.health.set_status(
        conn.connection_id, ConnectionStatus.INVALID_CREDENTIALS, "invalid_grant", "revoked"
    )
    return conn.connection_id


@pytest.fixture
def cli(warehouse_url, capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--warehouse-url", warehouse_url, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_reconnect_link_prints_a_fresh_signed_link(cli, connection_id, monkeypatch) -> None:
    key = generate_link_key()
    monkeypatch.setenv(LINK_KEY_ENV, key)
    monkeypatch.setenv(PUBLIC_URL_ENV, "https://touchpoint.example/")
    code, out, err = cli("connections", "reconnect-link", connection_id)
    assert code == 0, err
    url = out.strip()
    assert url.startswith("https://touchpoint.example/reconnect/")
    assert "ann@acme.example" in err and "invalid_credentials" in err
    link = read_reconnect_token(url.rsplit("/", 1)[1], key, datetime.now(UTC), timedelta(days=7))
    assert link.connection_id == connection_id
    # each call is a new link (its own nonce), so a used one does not spoil the next
    _, again, _ = cli("connections", "reconnect-link", connection_id)
    assert again.strip() != url
    # not valid under another key
    with pytest.raises(Exception, match="not valid"):
        read_reconnect_token(
            url.rsplit("/", 1)[1], generate_link_key(), datetime.now(UTC), timedelta(days=7)
        )


def test_reconnect_link_needs_its_own_key_and_a_known_connection(
    cli, connection_id, monkeypatch
) -> None:
    code, out, err = cli("connections", "reconnect-link", connection_id)
    assert code == 2 and out == "" and LINK_KEY_ENV in err
    monkeypatch.setenv(LINK_KEY_ENV, generate_link_key())
    code, out, err = cli("connections", "reconnect-link", "conn-unknown")
    assert code == 2 and out == "" and "conn-unknown" in err


def test_disconnect_stops_wipes_tokens_and_keeps_history(
    cli, connection_id, registry: Registry, monkeypatch
) -> None:
    assert registry.incidents.open_incident("acme", connection_id) is not None
    history_before = registry.health.status_history(connection_id)
    code, out, err = cli("connections", "disconnect", connection_id)
    assert code == 0, err
    assert "disconnected" in out and TOKEN not in out + err
    conn = registry.connections.get_connection(connection_id)
    assert (conn.status, conn.status_cause_code) == (ConnectionStatus.STOPPED, "disconnected")
    table = registry.warehouse.table("connections")
    with registry.warehouse.engine.connect() as db:
        row = db.execute(table.select().where(table.c.connection_id == connection_id)).one()
    assert row.refresh_token_encrypted == "" and row.token_cache_encrypted is None
    history = registry.health.status_history(connection_id)
    assert history[: len(history_before)] == history_before
    assert (history[-1].previous_status, history[-1].status) == (
        ConnectionStatus.INVALID_CREDENTIALS,
        ConnectionStatus.STOPPED,
    )
    # nobody is alerted about a mailbox disconnected on purpose
    assert registry.incidents.open_incident("acme", connection_id) is None
    # again: nothing more to do; and no link is printed for it
    code, out, _ = cli("connections", "disconnect", connection_id)
    assert code == 0 and "already stopped" in out
    assert len(registry.health.status_history(connection_id)) == len(history)
    monkeypatch.setenv(LINK_KEY_ENV, generate_link_key())
    code, out, err = cli("connections", "reconnect-link", connection_id)
    assert code == 2 and out == "" and "disconnected" in err
    # a key rotation does not trip over the wiped token
    code, out, err = cli("keys", "rotate")
    assert code == 0, err


def test_disconnect_of_an_unknown_connection_fails(cli, registry: Registry) -> None:
    code, out, err = cli("connections", "disconnect", "conn-unknown")
    assert code == 2 and out == "" and "conn-unknown" in err


def test_serve_answers_a_link_from_the_environment(
    warehouse_url, connection_id, tmp_path, secret_key
) -> None:
    """`touchpoint serve` as a process: settings from the environment, the page for a link."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = generate_link_key()
    public = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        **provider_environment("http://127.0.0.1:9"),
        TOUCHPOINT_LINK_KEY=key,
        TOUCHPOINT_PUBLIC_URL=public,
        TOUCHPOINT_SECRET_KEY=secret_key,
        TOUCHPOINT_WAREHOUSE_URL=warehouse_url,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    http = requests.Session()
    http.trust_env = False
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if http.get(public + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        token = make_reconnect_token(connection_id, key, datetime.now(UTC))
        page = http.get(reconnect_url(public, token), timeout=30)
        assert page.status_code == 200 and "ann@acme.example" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        started = http.post(reconnect_url(public, token), allow_redirects=False, timeout=30)
        assert started.status_code == 303
        assert started.headers["location"].startswith("http://127.0.0.1:9/o/oauth2/v2/auth?")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=30)[0].decode()
    # nothing in the server's output carries the link
    assert token not in output
