"""Tenants, connections, status history, missed windows, CRM and token encryption at rest."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from resources import settings
from resources.registry import (
    ConnectionHealth,
    ConnectionStore,
    DuplicateConnectionError,
    DuplicateTenantError,
    InvalidInputError,
    Registry,
    TenantStore,
    UnknownConnectionError,
    UnknownTenantError,
    validate_tenant_id,
)
from resources.registry.crm import check_crm
from resources.secrets import (
    MalformedSecretKeyError,
    MissingSecretKeyError,
    SecretKeyError,
    TokenCipher,
    UndecryptableTokenError,
    generate_key,
)
from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus

TOKEN = "1//0g-very-secret-refresh-token-Zq9"
DAY = datetime(2026, 11, 20, tzinfo=UTC)


def add_acme(registry: Registry) -> str:
    registry.tenants.add_tenant(
        "acme", "Acme Inc", internal_domains=["Acme.com"], time_zone="Europe/Paris"
    )
    return registry.connections.add_connection(
        "acme",
        "Bob@Acme.com",
        "google",
        TOKEN,
        aliases=["robert@acme.com", "bob@acme.com"],
        scopes=["https://www.googleapis.com/auth/gmail.readonly"],
        authorized_at=datetime(2026, 11, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))),
    ).connection_id


# Tenants


def test_tenant_round_trip(registry: Registry) -> None:
    tenant = registry.tenants.add_tenant(
        "acme-2",
        "Acme Two",
        internal_domains=["Acme.com", "@acme.io", "acme.com"],
        blocked_domains=["noreply.example.com"],
        time_zone="America/New_York",
    )
    assert tenant.internal_domains == ("acme.com", "acme.io")
    assert registry.tenants.get_tenant("acme-2") == tenant
    registry.tenants.add_tenant("ab", "Shortest")
    assert [t.tenant_id for t in registry.tenants.list_tenants()] == ["ab", "acme-2"]
    assert registry.tenants.get_tenant("ab").time_zone == "UTC"


@pytest.mark.parametrize(
    "slug",
    ["a", "Acme", "has space", "a|b", "a,b", "[ab]", "-ab", "ab-", "a_b", "x" * 64, "", "é-x"],
)
def test_bad_slugs_are_refused(slug: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid tenant slug"):
        validate_tenant_id(slug)


@pytest.mark.parametrize("slug", ["ab", "acme", "acme-2", "x" * 63, "0-9"])
def test_good_slugs_are_accepted(slug: str) -> None:
    assert validate_tenant_id(slug) == slug


def test_add_tenant_validates_the_slug(registry: Registry) -> None:
    with pytest.raises(InvalidInputError, match="invalid tenant slug"):
        registry.tenants.add_tenant("a|b", "Name")
    assert registry.tenants.list_tenants() == []


def test_tenant_errors_are_clear(registry: Registry) -> None:
    registry.tenants.add_tenant("acme", "Acme")
    with pytest.raises(DuplicateTenantError, match="'acme' already exists"):
        registry.tenants.add_tenant("acme", "Acme again")
    with pytest.raises(InvalidInputError, match="unknown time zone 'Mars/Olympus'"):
        registry.tenants.add_tenant("globex", "Globex", time_zone="Mars/Olympus")
    with pytest.raises(InvalidInputError, match="invalid internal domain"):
        registry.tenants.add_tenant("globex", "Globex", internal_domains=["not a domain"])
    with pytest.raises(UnknownTenantError, match="unknown tenant 'nope'"):
        registry.tenants.get_tenant("nope")
    with pytest.raises(UnknownTenantError):
        registry.connections.add_connection("nope", "a@b.com", "google", TOKEN)
    with pytest.raises(UnknownTenantError):
        registry.connections.list_connections("nope")


# Connections


def test_add_connection(registry: Registry) -> None:
    connection_id = add_acme(registry)
    assert re.fullmatch(r"conn-[0-9a-f]{10}", connection_id)
    conn = registry.connections.get_connection(connection_id)
    assert conn.tenant_id == "acme"
    assert conn.owner_email == "bob@acme.com"
    assert conn.aliases == ("robert@acme.com",)
    assert conn.addresses == ("bob@acme.com", "robert@acme.com")
    assert conn.provider == "google"
    assert conn.authorized_at == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert conn.authorized_at.tzinfo is UTC
    assert conn.status is ConnectionStatus.ACTIVE
    assert TOKEN not in repr(conn)
    assert registry.connections.refresh_token(connection_id) == TOKEN

    history = registry.health.status_history(connection_id)
    assert [(h.previous_status, h.status) for h in history] == [(None, ConnectionStatus.ACTIVE)]

    with pytest.raises(DuplicateConnectionError, match="already has a google connection"):
        registry.connections.add_connection("acme", "bob@acme.com", "google", "another")
    other = registry.connections.add_connection("acme", "bob@acme.com", "microsoft", "another")
    assert other.connection_id != connection_id
    with pytest.raises(InvalidInputError, match="invalid provider"):
        registry.connections.add_connection("acme", "c@acme.com", "yahoo", TOKEN)
    with pytest.raises(InvalidInputError, match="owner email"):
        registry.connections.add_connection("acme", "not-an-address", "google", TOKEN)
    with pytest.raises(InvalidInputError, match="empty"):
        registry.connections.add_connection("acme", "c@acme.com", "google", "  ")
    with pytest.raises(UnknownConnectionError, match="conn-0000000000"):
        registry.connections.get_connection("conn-0000000000")


def test_replace_refresh_token_and_token_cache(registry: Registry) -> None:
    connection_id = add_acme(registry)
    registry.connections.replace_refresh_token(connection_id, "new-token", authorized_at=DAY)
    assert registry.connections.refresh_token(connection_id) == "new-token"
    assert registry.connections.get_connection(connection_id).authorized_at == DAY
    assert registry.connections.token_cache(connection_id) is None
    registry.connections.save_token_cache(connection_id, '{"RefreshToken": {}}')
    assert registry.connections.token_cache(connection_id) == '{"RefreshToken": {}}'
    with pytest.raises(UnknownConnectionError):
        registry.connections.replace_refresh_token("conn-0000000000", "x")


def test_list_connections_filters_and_isolates_tenants(registry: Registry) -> None:
    a = add_acme(registry)
    registry.tenants.add_tenant("globex", "Globex")
    g = registry.connections.add_connection(
        "globex", "hank@globex.com", "microsoft", "g-token"
    ).connection_id
    registry.health.set_status(g, ConnectionStatus.INVALID_CREDENTIALS, "invalid_grant", "Expired.")

    assert [c.connection_id for c in registry.connections.list_connections()] == [a, g]
    assert [c.connection_id for c in registry.connections.list_connections("acme")] == [a]
    assert [c.connection_id for c in registry.connections.list_connections("globex")] == [g]
    broken = registry.connections.list_connections(statuses=[ConnectionStatus.INVALID_CREDENTIALS])
    assert [c.connection_id for c in broken] == [g]
    assert registry.connections.list_connections("acme", statuses=["invalid_credentials"]) == []
    with pytest.raises(InvalidInputError, match="invalid status"):
        registry.connections.list_connections(statuses=["broken"])


# Status


def test_status_history_records_changes_only(registry: Registry) -> None:
    connection_id = add_acme(registry)
    added = registry.connections.get_connection(connection_id).status_changed_at
    t1, t2, t3 = (added + timedelta(hours=h) for h in (1, 2, 3))

    assert registry.health.set_status(connection_id, "active", "ok", "still fine", at=t1) is False
    assert registry.health.set_status(
        connection_id, ConnectionStatus.THROTTLED, "rate_limit", "Slow down.", at=t1
    )
    assert not registry.health.set_status(
        connection_id, ConnectionStatus.THROTTLED, "again", "x", at=t2
    )
    conn = registry.connections.get_connection(connection_id)
    assert conn.status is ConnectionStatus.THROTTLED
    assert conn.status_changed_at == t1
    assert conn.status_cause_code == "rate_limit"
    assert conn.status_explanation == "Slow down."

    assert registry.health.set_status(
        connection_id, ConnectionStatus.ACTIVE, "recovered", "Back.", at=t3
    )
    history = registry.health.status_history(connection_id)
    assert [(h.previous_status, h.status, h.cause_code) for h in history] == [
        (None, ConnectionStatus.ACTIVE, "connected"),
        (ConnectionStatus.ACTIVE, ConnectionStatus.THROTTLED, "rate_limit"),
        (ConnectionStatus.THROTTLED, ConnectionStatus.ACTIVE, "recovered"),
    ]
    assert history[1].changed_at == t1 and history[2].changed_at == t3
    with pytest.raises(InvalidInputError, match="invalid status"):
        registry.health.set_status(connection_id, "on_fire", "x", "y")
    with pytest.raises(UnknownConnectionError):
        registry.health.set_status("conn-0000000000", ConnectionStatus.STOPPED, "x", "y")


# Missed windows


def test_missed_windows_are_idempotent_and_per_tenant_and_stream(registry: Registry) -> None:
    connection_id = add_acme(registry)
    registry.tenants.add_tenant("globex", "Globex")
    other = registry.connections.add_connection(
        "globex", "hank@globex.com", "google", "t"
    ).connection_id
    start, end = DAY, DAY + timedelta(days=1)
    paris = timezone(timedelta(hours=1))

    status = ConnectionStatus.INVALID_CREDENTIALS
    mail = {"stream": "mail"}
    assert registry.health.record_missed_window(
        connection_id, start, end, status, "invalid_grant", **mail
    )
    assert not registry.health.record_missed_window(
        connection_id, start.astimezone(paris), end, status, "invalid_grant", **mail
    )
    assert registry.health.record_missed_window(
        other, start, end, ConnectionStatus.THROTTLED, "429", **mail
    )
    later = (end, end + timedelta(days=1))
    assert registry.health.record_missed_window(
        connection_id, *later, status, "invalid_grant", **mail
    )
    insufficient = ConnectionStatus.INSUFFICIENT_PERMISSIONS
    assert registry.health.record_missed_window(
        connection_id, start, end, insufficient, "403", stream="calendar"
    )

    windows = registry.health.missed_windows("acme")
    assert [(w.connection_id, w.stream, w.window_start, w.window_end) for w in windows] == [
        (connection_id, "calendar", start, end),
        (connection_id, "mail", start, end),
        (connection_id, "mail", *later),
    ]
    assert windows[1].window_start.tzinfo is UTC and windows[1].status is status
    assert [w.connection_id for w in registry.health.missed_windows("globex")] == [other]
    assert registry.health.missed_windows("acme", connection_id=other) == []

    # mail syncing again closes mail's window only; the calendar's stays open
    assert registry.health.mark_windows_recovered(connection_id, start, end, at=end, **mail) == 1
    still_open = registry.health.missed_windows("acme")
    assert [(w.stream, w.window_start) for w in still_open] == [("calendar", start), ("mail", end)]
    closed = [
        w for w in registry.health.missed_windows("acme", open_only=False) if w.stream == "mail"
    ]
    assert [w.recovered_at for w in closed] == [end, None]
    with pytest.raises(InvalidInputError, match="end after"):
        registry.health.record_missed_window(connection_id, end, start, status, "x", **mail)
    with pytest.raises(InvalidInputError, match="unknown stream"):
        registry.health.record_missed_window(connection_id, start, end, status, "x", stream="fax")


def test_a_window_missed_again_after_recovery_is_open_again(registry: Registry) -> None:
    """The bug this guards: a recovered window missed again recorded nothing, so its second
    failure left no open window and would never be recovered."""
    connection_id = add_acme(registry)
    start, end = DAY, DAY + timedelta(days=1)
    health, mail = registry.health, {"stream": "mail"}
    first, second, third = (DAY + timedelta(days=2, hours=h) for h in (1, 2, 3))
    assert health.record_missed_window(
        connection_id, start, end, ConnectionStatus.THROTTLED, "429", at=first, **mail
    )
    # missed again while open: not newly open, latest status and cause, first time kept
    assert not health.record_missed_window(
        connection_id, start, end, ConnectionStatus.NO_SERVICE_CONNECTION, "http_503", **mail
    )
    (window,) = health.missed_windows("acme")
    assert (window.status, window.cause_code, window.recorded_at) == (
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "http_503",
        first,
    )
    assert health.mark_windows_recovered(connection_id, start, end, at=second, **mail) == 1
    assert health.missed_windows("acme") == []

    assert health.record_missed_window(
        connection_id,
        start,
        end,
        ConnectionStatus.INVALID_CREDENTIALS,
        "invalid_grant",
        at=third,
        **mail,
    )
    (window,) = health.missed_windows("acme")
    assert (window.status, window.cause_code, window.recorded_at, window.recovered_at) == (
        ConnectionStatus.INVALID_CREDENTIALS,
        "invalid_grant",
        third,
        None,
    )
    assert len(health.missed_windows("acme", open_only=False)) == 1  # one row per window
    # and it is recovered again by the next successful sync of it
    assert health.mark_windows_recovered(connection_id, start, end, **mail) == 1
    assert health.missed_windows("acme") == []


# CRM


def test_replace_crm_is_per_tenant_and_whole(registry: Registry, warehouse: Warehouse) -> None:
    registry.tenants.add_tenant("acme", "Acme")
    registry.tenants.add_tenant("globex", "Globex")
    accounts = [(2, {"account_id": "a1", "name": "Customer", "domains": "Customer.com"})]
    contacts = [
        (2, {"contact_id": "c1", "account_ids": "a1", "name": "Ann", "email": "Ann@Customer.com"})
    ]
    crm = check_crm(accounts, contacts).crm
    registry.tenants.replace_crm("acme", crm)
    registry.tenants.replace_crm("globex", check_crm(accounts, []).crm)
    renamed = [(2, {**accounts[0][1], "name": "Customer Ltd"})]
    registry.tenants.replace_crm("acme", check_crm(renamed, contacts).crm)

    tbl = warehouse.tables["accounts"]
    with warehouse.engine.connect() as conn:
        rows = conn.execute(sa.select(tbl).order_by(tbl.c.tenant_id)).all()
        email = conn.scalar(sa.select(warehouse.tables["contacts"].c.email))
    assert [(r.tenant_id, r.name, r.domains) for r in rows] == [
        ("acme", "Customer Ltd", ["customer.com"]),
        ("globex", "Customer", ["customer.com"]),
    ]
    assert email == "ann@customer.com"
    assert registry.tenants.read_crm("acme").memberships == [("a1", "c1")]
    assert registry.tenants.read_crm("globex").contacts == ()
    with pytest.raises(UnknownTenantError):
        registry.tenants.replace_crm("nope", crm)


# Encryption at rest and key errors


def test_tokens_are_encrypted_at_rest(registry: Registry, warehouse: Warehouse) -> None:
    connection_id = add_acme(registry)
    registry.connections.save_token_cache(connection_id, "cache-" + TOKEN)
    tbl = warehouse.tables["connections"]
    with warehouse.engine.connect() as conn:
        row = conn.execute(sa.select(tbl)).one()
        everything = conn.execute(
            sa.text("SELECT * FROM connections"),
        ).all()
    assert row.refresh_token_encrypted and row.refresh_token_encrypted.startswith("gAAAAA")
    assert TOKEN not in repr(everything)
    if warehouse.dialect == "sqlite":
        warehouse.dispose()
        db_file = Path(warehouse.url.database)
        for path in db_file.parent.glob(db_file.name + "*"):
            assert TOKEN.encode() not in path.read_bytes(), path


def test_wrong_key_gives_a_clear_error_without_the_token(
    registry: Registry, warehouse: Warehouse
) -> None:
    connection_id = add_acme(registry)
    stranger = Registry(warehouse, TokenCipher(generate_key()))
    with pytest.raises(UndecryptableTokenError) as info:
        stranger.connections.refresh_token(connection_id)
    text = str(info.value)
    assert "cannot be decrypted with the configured TOUCHPOINT_SECRET_KEY" in text
    assert "was the key changed?" in text
    assert TOKEN not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_key_gives_a_clear_error(warehouse: Warehouse) -> None:
    registry = Registry(warehouse)
    registry.tenants.add_tenant("acme", "Acme")
    with pytest.raises(MissingSecretKeyError) as info:
        registry.connections.add_connection("acme", "bob@acme.com", "google", TOKEN)
    assert str(info.value) == (
        "TOUCHPOINT_SECRET_KEY is not set; generate one with `touchpoint keygen`"
    )
    assert TOKEN not in str(info.value)
    assert registry.connections.list_connections() == []


def test_key_is_read_from_the_environment(warehouse: Warehouse, secret_key: str) -> None:
    registry = Registry(warehouse)
    registry.tenants.add_tenant("acme", "Acme")
    connection_id = registry.connections.add_connection(
        "acme", "bob@acme.com", "google", TOKEN
    ).connection_id
    assert ConnectionStore(warehouse, TokenCipher(secret_key)).refresh_token(connection_id) == TOKEN


def test_each_part_works_alone_and_only_tokens_need_the_key(
    registry: Registry, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection_id = add_acme(registry)
    monkeypatch.delenv(settings.SECRET_KEY_ENV)
    assert [t.tenant_id for t in TenantStore(warehouse).list_tenants()] == ["acme"]
    connections = ConnectionStore(warehouse)
    assert connections.get_connection(connection_id).owner_email == "bob@acme.com"
    health = ConnectionHealth(warehouse)
    assert health.set_status(connection_id, ConnectionStatus.THROTTLED, "rate_limited", "Slow.")
    assert [c.status for c in health.status_history(connection_id)] == [
        ConnectionStatus.ACTIVE,
        ConnectionStatus.THROTTLED,
    ]
    assert connections.get_connection(connection_id).status == ConnectionStatus.THROTTLED
    with pytest.raises(MissingSecretKeyError):
        connections.refresh_token(connection_id)


def test_cipher_round_trip_rotation_and_errors() -> None:
    old, new = generate_key(), generate_key()
    sealed = TokenCipher(old).encrypt(TOKEN)
    assert TOKEN not in sealed
    assert TokenCipher(old).decrypt(sealed) == TOKEN
    rotated = TokenCipher(f"{new},{old}")
    assert rotated.decrypt(sealed) == TOKEN
    assert TokenCipher(new).decrypt(rotated.encrypt(TOKEN)) == TOKEN
    assert old not in repr(TokenCipher(old))

    with pytest.raises(MalformedSecretKeyError, match="not a valid key") as info:
        TokenCipher("too-short-" + TOKEN)
    assert TOKEN not in str(info.value) and info.value.__cause__ is None
    with pytest.raises(MissingSecretKeyError):
        TokenCipher("")
    with pytest.raises(UndecryptableTokenError):
        TokenCipher(old).decrypt("not-a-ciphertext")
    assert issubclass(UndecryptableTokenError, SecretKeyError)
    assert issubclass(MalformedSecretKeyError, SecretKeyError)
