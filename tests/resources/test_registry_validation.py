"""The registry refuses bad values when called from code too, on both backends, before writing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from resources.registry import InvalidInputError, Registry
from resources.registry.crm import check_crm

LONG = "x" * 100_000


def test_tenants_refuse_long_and_control_character_values(registry: Registry) -> None:
    for name, message in [
        (LONG, "100000 characters, at most 200"),
        ("Acme\r\nBcc: x@evil.com", "control characters"),
        ("Acme\x00", "control characters"),
        ("   ", "must not be empty"),
    ]:
        with pytest.raises(InvalidInputError, match=message) as info:
            registry.tenants.add_tenant("acme", name)
        assert len(str(info.value)) < 300
    with pytest.raises(InvalidInputError, match="at most 253"):
        registry.tenants.add_tenant("acme", "Acme", internal_domains=[LONG + ".com"])
    assert registry.tenants.list_tenants() == []
    assert registry.tenants.add_tenant("acme", "  Acme Corp ").name == "Acme Corp"


def test_crm_rows_are_checked_against_their_columns(registry: Registry) -> None:
    registry.tenants.add_tenant("acme", "Acme")
    account = {"account_id": "a1", "name": "Globex", "domains": ["globex.com"]}
    checked = check_crm([(2, {**account, "account_id": "a" * 129})], [])
    assert "invalid account id" in checked.refused[0].reason
    assert "at most 128" in checked.refused[0].reason
    contact = {"contact_id": "c1", "account_ids": "a1", "email": "ann@globex.com"}
    checked = check_crm([(2, account)], [(2, {**contact, "name": "Ann\nSmith"})])
    assert "invalid contact name" in checked.refused[0].reason
    assert "control characters" in checked.refused[0].reason
    checked = check_crm([(2, account)], [(2, {**contact, "name": "  "})])
    assert checked.refused == ()
    registry.tenants.replace_crm("acme", checked.crm)
    contacts = registry.warehouse.table("contacts")
    with registry.warehouse.engine.connect() as conn:
        assert conn.execute(sa.select(contacts.c.name)).scalars().all() == [None]


def test_connections_refuse_bad_addresses_scopes_and_future_authorizations(
    registry: Registry,
) -> None:
    registry.tenants.add_tenant("acme", "Acme")
    add = registry.connections.add_connection
    with pytest.raises(InvalidInputError, match="invalid owner email .* control characters"):
        add("acme", "bob\x00@acme.com", "google", "tok")
    with pytest.raises(InvalidInputError, match="invalid alias .* at most 254"):
        add("acme", "bob@acme.com", "google", "tok", aliases=[LONG + "@acme.com"])
    with pytest.raises(InvalidInputError, match="invalid scope .* one scope, no spaces"):
        add("acme", "bob@acme.com", "google", "tok", scopes=["mail.read calendar.read"])
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(InvalidInputError, match="is in the future"):
        add("acme", "bob@acme.com", "google", "tok", authorized_at=tomorrow)
    assert registry.connections.list_connections() == []

    bob = add("acme", "bob@acme.com", "google", "tok", authorized_at=tomorrow - timedelta(days=2))
    with pytest.raises(InvalidInputError, match="is in the future"):
        registry.connections.replace_refresh_token(bob.connection_id, "new", tomorrow)
    assert registry.connections.refresh_token(bob.connection_id) == "tok"
    with pytest.raises(InvalidInputError, match="needs a time zone"):
        registry.connections.replace_refresh_token(bob.connection_id, "new", datetime(2026, 1, 1))
