"""Reconnect links: signed with their own key, bound to one connection, expiring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resources.reconnect_links import (
    LINK_KEY_ENV,
    LINK_TTL_DAYS_ENV,
    LinkError,
    LinkKeyError,
    generate_link_key,
    link_key_from_env,
    link_ttl_from_env,
    make_reconnect_token,
    read_reconnect_token,
    reconnect_url,
)

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
WEEK = timedelta(days=7)


def test_a_token_names_its_connection_and_expires_after_its_lifetime() -> None:
    key = generate_link_key()
    token = make_reconnect_token("conn-0123456789", key, NOW)
    link = read_reconnect_token(token, key, NOW + WEEK - timedelta(seconds=1), WEEK)
    assert (link.connection_id, link.issued_at) == ("conn-0123456789", NOW)
    assert link.expires_at(WEEK) == NOW + WEEK
    with pytest.raises(LinkError) as expired:
        read_reconnect_token(token, key, NOW + WEEK, WEEK)
    assert expired.value.reason == "expired"
    # URL-safe as it is: nothing to escape in a path segment
    assert reconnect_url("http://x.example/", token) == f"http://x.example/reconnect/{token}"
    assert all(c.isalnum() or c in "-_." for c in token)


def test_every_token_is_new_and_each_change_breaks_its_signature() -> None:
    key = generate_link_key()
    token = make_reconnect_token("conn-0123456789", key, NOW)
    assert token != make_reconnect_token("conn-0123456789", key, NOW)
    payload, signature = token.split(".")
    other_payload = make_reconnect_token("conn-9999999999", key, NOW).split(".")[0]
    for bad in (
        f"{other_payload}.{signature}",  # another connection under this signature
        f"{payload}.{signature[::-1]}",
        f"{payload}x.{signature}",
        payload,
        "",
        ".",
        "%%%.%%%",
    ):
        with pytest.raises(LinkError) as refused:
            read_reconnect_token(bad, key, NOW, WEEK)
        assert refused.value.reason == "tampered"
    with pytest.raises(LinkError):
        read_reconnect_token(token, generate_link_key(), NOW, WEEK)


def test_keys_and_lifetime_come_from_the_environment(monkeypatch) -> None:
    with pytest.raises(LinkKeyError, match=LINK_KEY_ENV):
        link_key_from_env()
    monkeypatch.setenv(LINK_KEY_ENV, "short")
    with pytest.raises(LinkKeyError, match="shorter"):
        link_key_from_env()
    key = generate_link_key()
    monkeypatch.setenv(LINK_KEY_ENV, key)
    assert link_key_from_env() == key
    assert link_ttl_from_env() == WEEK
    monkeypatch.setenv(LINK_TTL_DAYS_ENV, "2")
    assert link_ttl_from_env() == timedelta(days=2)
    monkeypatch.setenv(LINK_TTL_DAYS_ENV, "0")
    with pytest.raises(LinkKeyError):
        link_ttl_from_env()


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        make_reconnect_token("conn-1", generate_link_key(), datetime(2026, 11, 20))
