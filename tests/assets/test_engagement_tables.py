"""rebuild_engagements (assets/engagement_tables.py) against the warehouse on SQLite and
PostgreSQL: it replaces exactly one tenant-day of both tables, is repeatable, and follows the
CRM when contacts leave or join; and the Dagster step (assets/engagements.py) over a range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from assets.engagement_tables import rebuild_engagements
from assets.engagements import engagements
from assets.partitions import tenant_day_key, tenant_partitions
from orchestration.schedules import RANGE_END_TAG, RANGE_START_TAG
from resources.dagster_resources import WarehouseResource
from resources.registry import Registry, UnknownTenantError
from resources.registry.crm import CrmAccount, CrmContact, CrmSnapshot
from resources.registry.engagement_context import load_engagement_context
from resources.warehouse import Warehouse

DAY1, DAY2 = date(2026, 11, 18), date(2026, 11, 19)
AUTHORIZED = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
TABLES = ("email_engagements", "meeting_engagements")
ACCOUNTS = (
    CrmAccount("globex", "Globex", ("globex.example",)),
    CrmAccount("initech", "Initech", ("initech.example",)),
)
ANN = CrmContact("con-ann", "Ann", "ann@globex.example", ("globex",))
BOB = CrmContact("con-bob", "Bob", "bob@initech.example", ("initech",))
EVE = CrmContact("con-eve", "Eve", "eve@both.example", ("globex", "initech"))
NEW = CrmContact("con-new", "Nia", "nia@globex.example", ("globex",))


def crm(*contacts: CrmContact) -> CrmSnapshot:
    return CrmSnapshot(ACCOUNTS, tuple(sorted(contacts, key=lambda c: c.contact_id)))


@pytest.fixture
def tenants(registry: Registry) -> dict[str, str]:
    """Tenants acme and beta, one connection each: tenant -> connection id."""
    out = {}
    for slug in ("acme", "beta"):
        registry.tenants.add_tenant(slug, slug.title(), [f"{slug}.example"], [], "Asia/Tokyo")
        connection = registry.connections.add_connection(
            slug, f"owner@{slug}.example", "google", "token", authorized_at=AUTHORIZED
        )
        out[slug] = connection.connection_id
        registry.tenants.replace_crm(slug, crm(ANN, BOB, EVE))
    return out


def email(
    tenant: str, connection: str, n: int, sender: str, received: datetime, *to: str
) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "email_key": f"<{n}@{tenant}>",
        "partition_day": received.date(),
        "internet_message_id": f"<{n}@{tenant}>",
        "thread_id": f"t{n}",
        "subject": f"Message {n}",
        "from_address": sender,
        "from_name": None,
        "to_addresses": list(to) or [f"owner@{tenant}.example"],
        "cc_addresses": [],
        "bcc_addresses": [],
        "sent_at": received - timedelta(seconds=20),
        "received_at": received,
        "seen_in_connections": [connection],
        "seen_in_mailboxes": [f"owner@{tenant}.example"],
        "copies": 1,
        "message_id_conflict": False,
        "updated_at": NOW,
    }


def meeting(
    tenant: str, connection: str, n: int, start: datetime, attendees: dict[str, str]
) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "meeting_key": f"uid-{n}|{start.isoformat()}",
        "partition_day": start.date(),
        "ical_uid": f"uid-{n}",
        "start_at": start,
        "end_at": start + timedelta(minutes=30),
        "all_day": False,
        "subject": f"Meeting {n}",
        "status": "confirmed",
        "organizer_email": f"owner@{tenant}.example",
        "attendees": [{"email": a, "response": r} for a, r in attendees.items()],
        "series_id": None,
        "seen_in_connections": [connection],
        "seen_in_calendars": [f"owner@{tenant}.example"],
        "copies": 1,
        "updated_at": NOW,
    }


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hour)


@pytest.fixture
def synced(warehouse: Warehouse, tenants: dict[str, str]) -> dict[str, str]:
    """Mail and meetings of both tenants on both days, as the sync would have left them."""
    emails, meetings = [], []
    for tenant, connection in tenants.items():
        for day in (DAY1, DAY2):
            base = 10 * day.day
            emails += [
                email(tenant, connection, base + 1, "ann@globex.example", at(day, 9)),
                email(tenant, connection, base + 2, "eve@both.example", at(day, 10)),
                email(
                    tenant,
                    connection,
                    base + 3,
                    f"owner@{tenant}.example",
                    at(day, 11),
                    "bob@initech.example",
                    "ann@globex.example",
                ),
                email(tenant, connection, base + 4, f"pat@{tenant}.example", at(day, 12)),
                email(tenant, connection, base + 5, "nia@globex.example", at(day, 13)),
            ]
            meetings += [
                meeting(
                    tenant, connection, base + 1, at(day, 14), {"ann@globex.example": "accepted"}
                ),
                meeting(
                    tenant, connection, base + 2, at(day, 15), {"bob@initech.example": "declined"}
                ),
            ]
    # one message of acme on DAY1 from before the connection's authorization
    emails.append(email("acme", tenants["acme"], 99, "nia@globex.example", at(DAY1, 3)))
    warehouse.upsert("emails", emails, ("tenant_id", "email_key"))
    warehouse.upsert("meetings", meetings, ("tenant_id", "meeting_key"))
    return tenants


def rows(warehouse: Warehouse, table: str, tenant: str | None = None) -> list[dict[str, Any]]:
    target = warehouse.table(table)
    query = target.select()
    if tenant is not None:
        query = query.where(target.c.tenant_id == tenant)
    with warehouse.engine.connect() as db:
        found = [dict(r) for r in db.execute(query).mappings()]
    return ordered(found)


def ordered(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(found, key=lambda r: sorted((k, repr(v)) for k, v in r.items()))


def snapshot(warehouse: Warehouse) -> dict[str, list[dict[str, Any]]]:
    return {table: rows(warehouse, table) for table in TABLES}


def rebuild_all(warehouse: Warehouse) -> None:
    for tenant in ("acme", "beta"):
        for day in (DAY1, DAY2):
            rebuild_engagements(warehouse, tenant, day, NOW)


def keys(found: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (r["tenant_id"], r.get("email_key") or r["meeting_key"], r["account_id"]) for r in found
    }


def test_a_rebuild_writes_the_engaged_pairs_and_counts(warehouse: Warehouse, synced) -> None:
    result = rebuild_engagements(warehouse, "acme", DAY1, NOW)
    assert (result.emails_read, result.meetings_read) == (6, 2)  # the early message included
    assert (result.email_rows, result.meeting_rows) == (5, 1)
    assert keys(rows(warehouse, "email_engagements")) == {
        ("acme", "<181@acme>", "globex"),
        ("acme", "<182@acme>", "globex"),
        ("acme", "<182@acme>", "initech"),
        ("acme", "<183@acme>", "globex"),
        ("acme", "<183@acme>", "initech"),
    }
    assert keys(rows(warehouse, "meeting_engagements")) == {
        ("acme", f"uid-181|{at(DAY1, 14).isoformat()}", "globex")
    }
    assert dict(result.emails_not_engaged) == {
        "internal_only": 1,
        "no_contact_of_account": 1,
        "before_authorization": 1,
    }
    assert dict(result.meetings_not_engaged) == {"no_contact_accepted": 1}
    assert result.email_accounts == result.meeting_accounts | {"initech"} == {"globex", "initech"}
    (row,) = [
        r
        for r in rows(warehouse, "email_engagements")
        if r["email_key"] == "<183@acme>" and r["account_id"] == "globex"
    ]
    assert (row["direction"], row["contact_ids"], row["internal_participants"]) == (
        "outbound",
        ["con-ann"],
        ["owner@acme.example"],
    )
    # Tokyo: 11:00 UTC is 20:00 the same day
    assert (row["partition_day"], row["local_day"], row["sent_at"]) == (
        DAY1,
        DAY1,
        at(DAY1, 11) - timedelta(seconds=20),
    )


def test_a_rebuild_replaces_exactly_its_tenant_day(warehouse: Warehouse, synced) -> None:
    rebuild_all(warehouse)
    before = snapshot(warehouse)
    target = warehouse.table("emails")
    with warehouse.write() as db:
        db.execute(
            target.delete().where(
                target.c.email_key.in_(["<181@acme>", "<191@acme>", "<181@beta>"])
            )
        )
    # a leftover row of the day that no message explains any more goes too
    stale = dict(next(r for r in before["email_engagements"] if r["email_key"] == "<182@acme>"))
    stale.update(email_key="<gone@acme>", account_id="globex")
    warehouse.upsert("email_engagements", [stale], ("tenant_id", "email_key", "account_id"))

    rebuild_engagements(warehouse, "acme", DAY1, NOW)

    after = snapshot(warehouse)
    removed = [r for r in before["email_engagements"] if r["email_key"] == "<181@acme>"]
    assert len(removed) == 1
    assert after["email_engagements"] == [
        r for r in before["email_engagements"] if r not in removed
    ]
    assert after["meeting_engagements"] == before["meeting_engagements"]
    # beta's day and acme's other day still hold the rows of the messages deleted from emails
    assert {"<191@acme>", "<181@beta>"} <= {r["email_key"] for r in after["email_engagements"]}


def test_rebuilding_twice_gives_the_same_rows(warehouse: Warehouse, synced) -> None:
    rebuild_all(warehouse)
    first = snapshot(warehouse)
    results = [rebuild_engagements(warehouse, "beta", day, NOW) for day in (DAY1, DAY2)]
    rebuild_all(warehouse)
    assert snapshot(warehouse) == first
    assert results == [rebuild_engagements(warehouse, "beta", day, NOW) for day in (DAY1, DAY2)]
    assert len(first["email_engagements"]) == 4 * 5  # 2 tenants x 2 days x 5 pairs


def test_a_context_loaded_once_gives_the_same_rows(warehouse: Warehouse, synced) -> None:
    rebuild_all(warehouse)
    first = snapshot(warehouse)
    ctx = load_engagement_context(warehouse, "acme")
    for day in (DAY1, DAY2):
        rebuild_engagements(warehouse, "acme", day, NOW, ctx)
    assert snapshot(warehouse) == first


def test_a_contact_removed_from_the_crm_loses_exactly_its_engagements(
    warehouse: Warehouse, registry: Registry, synced
) -> None:
    rebuild_all(warehouse)
    before = snapshot(warehouse)
    registry.tenants.replace_crm("acme", crm(BOB, EVE))
    rebuild_all(warehouse)
    after = snapshot(warehouse)

    def without_ann(found: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
        out = []
        for r in found:
            if r["tenant_id"] == "acme":
                r = {**r, column: [c for c in r[column] if c != ANN.contact_id]}
                if column == "contact_ids":
                    r["contact_emails"] = [e for e in r["contact_emails"] if e != ANN.email]
                if not r[column]:
                    continue
            out.append(r)
        return ordered(out)

    assert after["email_engagements"] == without_ann(before["email_engagements"], "contact_ids")
    assert after["meeting_engagements"] == without_ann(
        before["meeting_engagements"], "accepted_contact_ids"
    )
    assert any(ANN.contact_id in r["contact_ids"] for r in before["email_engagements"])
    assert rows(warehouse, "meeting_engagements", "acme") == []
    # the other tenant's CRM still has Ann
    assert rows(warehouse, "email_engagements", "beta") == [
        r for r in before["email_engagements"] if r["tenant_id"] == "beta"
    ]


def test_a_contact_added_engages_the_mail_already_synced_since_authorization(
    warehouse: Warehouse, registry: Registry, synced
) -> None:
    rebuild_all(warehouse)
    before = keys(rows(warehouse, "email_engagements", "acme"))
    registry.tenants.replace_crm("acme", crm(ANN, BOB, EVE, NEW))
    rebuild_all(warehouse)
    added = keys(rows(warehouse, "email_engagements", "acme")) - before
    # Nia's two messages since the authorization, not the one from before it (<99@acme>)
    assert added == {("acme", "<185@acme>", "globex"), ("acme", "<195@acme>", "globex")}
    assert keys(rows(warehouse, "email_engagements", "acme")) >= before


def test_a_meeting_appears_once_it_has_started(warehouse: Warehouse, synced) -> None:
    started = at(DAY2, 14)
    early = rebuild_engagements(warehouse, "beta", DAY2, started - timedelta(minutes=1))
    assert (early.meeting_rows, dict(early.meetings_not_engaged)) == (
        0,
        {"not_started": 2},
    )
    assert rebuild_engagements(warehouse, "beta", DAY2, started).meeting_rows == 1
    (row,) = rows(warehouse, "meeting_engagements")
    assert (row["start_at"], row["duration_minutes"], row["accepted_contact_ids"]) == (
        started,
        30,
        ["con-ann"],
    )
    # Tokyo: 14:00 UTC is 23:00 the same day
    assert row["local_day"] == DAY2


def test_an_unknown_tenant_writes_nothing(warehouse: Warehouse, synced) -> None:
    with pytest.raises(UnknownTenantError):
        rebuild_engagements(warehouse, "ghost", DAY1, NOW)
    with warehouse.engine.connect() as db:
        assert (
            db.scalar(sa.select(sa.func.count()).select_from(warehouse.table("email_engagements")))
            == 0
        )


# ---- the Dagster step ------------------------------------------------------------------------


def run_engagements(warehouse_url: str, tenants: list[str], days: list[date]):
    """One run of the engagements step over tenants x days (a ranged run, as a backfill's)."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(tenant_partitions.name, tenants)
        return dg.materialize(
            [engagements],
            resources={"warehouse": WarehouseResource(url=warehouse_url)},
            instance=instance,
            tags={
                RANGE_START_TAG: str(tenant_day_key(tenants[0], days[0].isoformat())),
                RANGE_END_TAG: str(tenant_day_key(tenants[-1], days[-1].isoformat())),
            },
            raise_on_error=False,
        )


def test_one_run_rebuilds_every_tenant_day_of_its_range(
    warehouse: Warehouse, warehouse_url: str, synced
) -> None:
    result = run_engagements(warehouse_url, ["acme", "beta"], [DAY1, DAY2])
    assert result.success
    written = snapshot(warehouse)
    rebuild_all(warehouse)
    assert snapshot(warehouse) == written
    mats = {
        (m.asset_key.to_user_string(), m.partition): m.metadata
        for m in result.asset_materializations_for_node("engagements")
    }
    assert {p for _, p in mats} == {
        str(tenant_day_key(t, d.isoformat())) for t in ("acme", "beta") for d in (DAY1, DAY2)
    }
    mail = next(m for (a, _), m in mats.items() if a == "email_engagements")
    assert (mail["dagster/row_count"].value, mail["messages_read"].value) == (20, 21)
    assert (mail["tenant_days"].value, mail["engaged_accounts"].value) == (4, 4)
    assert {k: v.value for k, v in mail.items() if k.startswith("excluded_")} == {
        "excluded_before_authorization": 1,
        "excluded_internal_only": 4,
        "excluded_blocked_only": 0,
        "excluded_no_contact_of_account": 4,
        "excluded_contact_on_blocked_domain": 0,
    }
    meet = next(m for (a, _), m in mats.items() if a == "meeting_engagements")
    assert (meet["dagster/row_count"].value, meet["meetings_read"].value) == (4, 8)
    assert meet["excluded_no_contact_accepted"].value == 4


def test_an_unknown_tenant_fails_the_step_after_the_others_are_rebuilt(
    warehouse: Warehouse, warehouse_url: str, synced
) -> None:
    result = run_engagements(warehouse_url, ["acme", "ghost"], [DAY1, DAY1])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "ghost" in failure.step_failure_data.error.message
    assert {r["tenant_id"] for r in rows(warehouse, "email_engagements")} == {"acme"}
