"""The registry's bulk reads for the sensors (one query per many connections), on both backends:
they answer what the per-connection reads answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resources.registry import Registry
from vocabulary.status import ConnectionStatus

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def test_bulk_reads_match_the_single_reads(registry: Registry) -> None:
    registry.tenants.add_tenant("acme", "Acme")
    registry.tenants.add_tenant("globex", "Globex")
    add = registry.connections.add_connection
    a = add("acme", "bob@acme.com", "google", "t", authorized_at=DAY).connection_id
    b = add("acme", "eve@acme.com", "microsoft", "t", authorized_at=DAY - timedelta(days=3))
    g = add("globex", "hank@globex.com", "google", "t", authorized_at=DAY).connection_id
    s = add("globex", "ann@globex.com", "microsoft", "t", authorized_at=DAY).connection_id
    registry.health.set_status(g, ConnectionStatus.INVALID_CREDENTIALS, "invalid_grant", "x")
    registry.health.disconnect(s)
    for cid in (a, g):
        registry.health.record_missed_window(
            cid, DAY, DAY + timedelta(days=1), "throttled", "rate_limited", stream="mail"
        )

    found = registry.connections.get_connections([a, g, g, "conn-unknown"])
    assert found == {
        a: registry.connections.get_connection(a),
        g: registry.connections.get_connection(g),
    }
    assert registry.connections.count_by_provider(excluding=["stopped"]) == {
        "google": 2,
        "microsoft": 1,
    }
    assert registry.connections.count_by_provider() == {"google": 2, "microsoft": 2}
    assert registry.connections.first_authorized_by_tenant() == {"acme": DAY - timedelta(days=3)}
    windows = registry.health.open_windows_of(
        [("acme", a), ("globex", g), ("acme", b.connection_id)]
    )
    assert windows == {
        a: registry.health.missed_windows("acme", a),
        g: registry.health.missed_windows("globex", g),
        b.connection_id: [],
    }
    assert len(windows[a]) == 1
