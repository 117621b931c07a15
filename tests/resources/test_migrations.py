"""Alembic migrations on both backends: the schema they build, upgrades in place, concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from resources.schema.migrate import (
    LEGACY_REVISIONS,
    LEGACY_VERSION_TABLE,
    alembic_config,
    head_revision,
    revisions_up_to,
    script_directory,
)
from resources.schema.streams import STREAM_TABLES, STREAMS
from resources.schema.tables import schema_metadata
from resources.warehouse import Warehouse, WarehouseError

ALL_REVISIONS = revisions_up_to(head_revision())
T0 = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)


def schema_differences(wh: Warehouse, metadata: sa.MetaData | None = None) -> list:
    """What Alembic's autogenerate would change to make the database match `metadata`:
    tables, columns, types, nullability, server defaults, keys, indexes, unique constraints."""
    with wh.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata or schema_metadata())


def table_names(wh: Warehouse) -> set[str]:
    return set(sa.inspect(wh.engine).get_table_names())


def build_runner_era_database(wh: Warehouse, version: int) -> sa.MetaData:
    """A database as the pre-Alembic runner left it at `version`: its tables and its
    schema_migrations rows. Versions 1 and 2 come from the frozen revisions' table definitions
    (the runner's own, verbatim); version 3's schema is what revision 0003 builds (the runner's
    last step did the same), and rows go in through today's tables, which 0003's match."""
    md = sa.MetaData()
    if version == 3:
        # Version 3's schema: today's minus what revisions after 0003 added.
        later = {"incidents", "incident_notifications", "missed_windows", "account_contacts"}
        for table in schema_metadata().sorted_tables:
            if table.name not in later:
                table.to_metadata(md)
        script_directory().get_revision("0003").module._missed_windows(md, "missed_windows")
    else:
        for revision in ALL_REVISIONS[:version]:
            script_directory().get_revision(revision).module.add_tables(md)
    with wh.write() as conn:
        if version == 3:
            command.upgrade(alembic_config(conn), "0003")
            conn.execute(sa.text("DROP TABLE alembic_version"))
        else:
            md.create_all(conn)
        LEGACY_VERSION_TABLE.create(conn)
        conn.execute(
            sa.insert(LEGACY_VERSION_TABLE),
            [dict(version=v, description=f"v{v}", applied_at=T0) for v in range(1, version + 1)],
        )
    return md


def add_runner_era_rows(wh: Warehouse, md: sa.MetaData) -> None:
    """A tenant, a broken connection, its missed window and a message (and a meeting from v2)."""
    tables = md.tables
    window = dict(
        tenant_id="acme",
        connection_id="conn-a",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        status="invalid_credentials",
        cause_code="invalid_grant",
        recorded_at=T0,
    )
    raw_key = dict(tenant_id="acme", connection_id="conn-a", partition_day=T0.date(), synced_at=T0)
    if "stream" in tables["missed_windows"].c:
        window["stream"] = "calendar"
    with wh.write() as conn:
        conn.execute(
            tables["tenants"].insert(),
            dict(
                tenant_id="acme",
                name="Acme",
                internal_domains=["acme.com"],
                blocked_domains=[],
                time_zone="UTC",
                created_at=T0,
            ),
        )
        conn.execute(
            tables["connections"].insert(),
            dict(
                connection_id="conn-a",
                tenant_id="acme",
                owner_email="a@acme.com",
                aliases=[],
                provider="google",
                scopes=["gmail.readonly"],
                authorized_at=T0,
                status="invalid_credentials",
                status_changed_at=T0,
                refresh_token_encrypted="x",
                created_at=T0,
            ),
        )
        conn.execute(tables["missed_windows"].insert(), window)
        conn.execute(
            tables["raw_emails"].insert(),
            dict(
                raw_key,
                provider_message_id="kept",
                received_at=T0,
                to_addresses=["bob@acme.com"],
                cc_addresses=[],
                bcc_addresses=[],
                labels=["INBOX"],
                header_defects=[],
            ),
        )
        if "raw_meetings" in tables:
            conn.execute(
                tables["raw_meetings"].insert(),
                dict(
                    raw_key,
                    provider_event_id="ev-1",
                    start_at=T0,
                    end_at=T0 + timedelta(minutes=30),
                    all_day=False,
                    status="confirmed",
                    organized_by_owner=True,
                    attendees=[{"email": "ann@customer.com"}],
                ),
            )


def test_revisions_form_one_chain_that_the_runner_versions_map_onto() -> None:
    assert ALL_REVISIONS == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009"]
    assert script_directory().get_heads() == [head_revision()]
    assert [LEGACY_REVISIONS[v] for v in sorted(LEGACY_REVISIONS)] == ALL_REVISIONS[:3]


def test_migrate_is_idempotent(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    try:
        assert wh.applied_migrations() == []
        assert wh.migrate() == ALL_REVISIONS
        assert wh.migrate() == []
        assert Warehouse(warehouse_url).migrate() == []
        assert wh.applied_migrations() == ALL_REVISIONS
        with wh.engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            assert list(versions) == [head_revision()]
    finally:
        wh.dispose()


def test_migrated_schema_matches_the_code(warehouse: Warehouse) -> None:
    """A schema change without a revision (or a revision without the schema change) fails here."""
    assert table_names(warehouse) == set(schema_metadata().tables) | {"alembic_version"}
    assert schema_differences(warehouse) == []
    # The comparison is not blind: a column the code has and the database lacks shows up.
    changed = schema_metadata()
    changed.tables["sync_log"].append_column(sa.Column("extra", sa.Integer))
    assert [d[0] for d in schema_differences(warehouse, changed)] == ["add_column"]


def test_stream_tables_come_from_one_spec_per_stream(warehouse: Warehouse) -> None:
    assert STREAMS == ("mail", "calendar")
    for spec in STREAM_TABLES:
        for name in (spec.raw, spec.quarantine, spec.sync_log, spec.deduplicated):
            assert {"tenant_id", "partition_day"} <= set(warehouse.tables[name].c.keys())
        assert warehouse.tables[spec.raw].c[spec.item_id].primary_key
        assert set(spec.counters + spec.usage) <= set(warehouse.tables[spec.sync_log].c.keys())


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_runner_era_database_upgrades_in_place(warehouse_url: str, version: int) -> None:
    """Databases built by the pre-Alembic runner are stamped, upgraded and keep their rows."""
    wh = Warehouse(warehouse_url)
    try:
        add_runner_era_rows(wh, build_runner_era_database(wh, version))
        assert wh.applied_migrations() == ALL_REVISIONS[:version]
        assert wh.migrate() == ALL_REVISIONS[version:]
        assert wh.migrate() == []
        assert wh.applied_migrations() == ALL_REVISIONS
        assert "schema_migrations" not in table_names(wh)
        assert schema_differences(wh) == []
        with wh.engine.connect() as conn:
            (window,) = conn.execute(sa.select(wh.table("missed_windows"))).mappings().all()
            meetings = conn.execute(sa.select(wh.table("raw_meetings"))).mappings().all()
        # Windows the runner recorded before version 3 were mail's.
        assert window["stream"] == ("mail" if version < 3 else "calendar")
        assert (window["cause_code"], window["window_start"]) == ("invalid_grant", T0)
        expected_meetings = [] if version == 1 else [[{"email": "ann@customer.com"}]]
        assert [m["attendees"] for m in meetings] == expected_meetings
        found = wh.existing_keys("raw_emails", "acme", "conn-a", "provider_message_id", ["kept"])
        assert found == {"kept"}
        with wh.engine.connect() as conn:
            (kept,) = conn.execute(sa.select(wh.table("raw_emails"))).mappings().all()
        # Revision 0004: rows synced before tombstones existed are live.
        assert (kept["removed_at"], kept["removed_reason"]) == (None, None)
        # The failing connection got its open incident, holding its open window.
        with wh.engine.connect() as conn:
            (incident,) = conn.execute(sa.select(wh.table("incidents"))).mappings().all()
        assert (incident["tenant_id"], incident["connection_id"]) == ("acme", "conn-a")
        assert (incident["status"], incident["opened_at"], incident["closed_at"]) == (
            "invalid_credentials",
            T0,
            None,
        )
        assert window["incident_id"] == incident["incident_id"]
    finally:
        wh.dispose()


def test_a_schema_newer_than_the_code_is_refused(warehouse_url: str) -> None:
    """Old code must not write to a warehouse a newer Touchpoint migrated: refused at migrate,
    which every CLI command and every run calls first, with one clear message."""
    wh = Warehouse(warehouse_url)
    try:
        wh.migrate()
        with wh.write() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
        with pytest.raises(WarehouseError, match=r"revision 0099, which this Touchpoint does not"):
            wh.migrate()
        with wh.engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0099"
    finally:
        wh.dispose()


def test_an_unknown_runner_version_is_refused_untouched(warehouse_url: str) -> None:
    wh = Warehouse(warehouse_url)
    try:
        build_runner_era_database(wh, 3)
        with wh.write() as conn:
            conn.execute(
                sa.insert(LEGACY_VERSION_TABLE), dict(version=4, description="v4", applied_at=T0)
            )
        with pytest.raises(WarehouseError, match=r"versions \[1, 2, 3, 4\]"):
            wh.migrate()
        assert "schema_migrations" in table_names(wh) and "alembic_version" not in table_names(wh)
    finally:
        wh.dispose()


@pytest.mark.parametrize("start", [None, 1], ids=["empty", "runner-v1"])
def test_concurrent_migrations_apply_each_step_once(warehouse_url: str, start: int | None) -> None:
    if start is not None:
        seed = Warehouse(warehouse_url)
        add_runner_era_rows(seed, build_runner_era_database(seed, start))
        seed.dispose()
    warehouses = [Warehouse(warehouse_url) for _ in range(4)]
    barrier = threading.Barrier(len(warehouses))
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run(wh: Warehouse) -> None:
        barrier.wait()
        try:
            results.append(wh.migrate())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(wh,)) for wh in warehouses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert sorted(results) == [[], [], [], ALL_REVISIONS[start or 0 :]]
        assert schema_differences(warehouses[0]) == []
        if start is not None:
            rows = warehouses[0].existing_keys(
                "raw_emails", "acme", "conn-a", "provider_message_id", ["kept"]
            )
            assert rows == {"kept"}
    finally:
        for wh in warehouses:
            wh.dispose()


def test_utc_and_json_types_work_in_revision_built_tables(warehouse: Warehouse) -> None:
    """The revisions create columns with the code's types: aware UTC out, JSON round-trips."""
    tokyo = datetime(2026, 11, 20, 21, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    row = dict(
        tenant_id="acme",
        name="Acme",
        internal_domains=["acme.com", "acmé.fr"],
        blocked_domains=[],
        time_zone="Asia/Tokyo",
        created_at=tokyo,
    )
    with warehouse.write() as conn:
        conn.execute(sa.insert(warehouse.table("tenants")), row)
    with warehouse.engine.connect() as conn:
        stored = conn.execute(sa.select(warehouse.table("tenants"))).mappings().one()
    assert stored["created_at"] == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert stored["created_at"].tzinfo == UTC
    assert stored["internal_domains"] == ["acme.com", "acmé.fr"]


def test_revision_0005_flags_no_existing_email_and_keeps_it(warehouse_url: str) -> None:
    """emails rows merged before fingerprints existed survive 0005, unflagged (their next
    rebuild splits them when their copies disagree)."""
    wh = Warehouse(warehouse_url)
    try:
        with wh.write() as conn:
            command.upgrade(alembic_config(conn), "0004")
            v4_emails = sa.Table("emails", sa.MetaData(), autoload_with=conn)
            assert "message_id_conflict" not in v4_emails.c
            # Today's table object, without the new column: the v3 table has none to fill.
            conn.execute(
                wh.table("emails").insert(),
                dict(
                    tenant_id="acme",
                    email_key="<x@acme.com>",
                    partition_day=T0.date(),
                    to_addresses=[],
                    cc_addresses=[],
                    bcc_addresses=[],
                    received_at=T0,
                    seen_in_connections=["conn-a"],
                    seen_in_mailboxes=["a@acme.com"],
                    copies=1,
                    updated_at=T0,
                ),
            )
        assert wh.migrate() == ["0005", "0006", "0007", "0008", "0009"]
        assert schema_differences(wh) == []
        with wh.engine.connect() as conn:
            (row,) = conn.execute(sa.select(wh.table("emails"))).mappings().all()
        assert (row["email_key"], row["message_id_conflict"]) == ("<x@acme.com>", False)
    finally:
        wh.dispose()


def test_revision_0008_turns_each_contacts_account_into_a_membership(warehouse_url: str) -> None:
    """Contacts loaded with one account_id keep it as their one account_contacts row; the
    column goes, every other column and contact without an account stays."""
    wh = Warehouse(warehouse_url)
    try:
        with wh.write() as conn:
            command.upgrade(alembic_config(conn), "0007")
            md = sa.MetaData()
            accounts = sa.Table("accounts", md, autoload_with=conn)
            contacts = sa.Table("contacts", md, autoload_with=conn)
            assert "account_id" in contacts.c
            conn.execute(
                accounts.insert(),
                [
                    dict(tenant_id=t, account_id="a1", name="Customer", domains=["c.com"])
                    for t in ("acme", "globex")
                ],
            )
            conn.execute(
                contacts.insert(),
                [
                    dict(tenant_id="acme", contact_id="c1", account_id="a1", name="Ann",
                         email="ann@c.com"),
                    dict(tenant_id="acme", contact_id="c2", account_id=None, name=None,
                         email="bo@c.com"),
                    dict(tenant_id="globex", contact_id="c1", account_id="a1", name="Cy",
                         email="cy@c.com"),
                ],
            )  # fmt: skip
        assert wh.migrate() == ["0008", "0009"]
        assert schema_differences(wh) == []
        with wh.engine.connect() as conn:
            kept = conn.execute(
                sa.select(wh.table("contacts")).order_by("tenant_id", "contact_id")
            ).all()
            members = conn.execute(
                sa.select(wh.table("account_contacts")).order_by("tenant_id")
            ).all()
        assert [tuple(r) for r in kept] == [
            ("acme", "c1", "Ann", "ann@c.com"),
            ("acme", "c2", None, "bo@c.com"),
            ("globex", "c1", "Cy", "cy@c.com"),
        ]
        assert [tuple(r) for r in members] == [("acme", "a1", "c1"), ("globex", "a1", "c1")]
    finally:
        wh.dispose()
