"""`touchpoint connections add` proves whose token it is before storing anything: the real
google-api-python-client and msal ask the sandbox over HTTP (Gmail getProfile, Graph /me), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestration.cli import main
from orchestration.demo import provider_environment
from resources.registry import Registry
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import Mailbox, Workload

pytestmark = pytest.mark.usefixtures("clean_sandbox")


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(
        seed=23,
        now=datetime(2026, 11, 20, 15, tzinfo=UTC),
        tenants=2,
        mailboxes_per_tenant=2,
        days=1,
        messages_per_mailbox_per_day=2,
        providers=("google", "microsoft"),
    )


@pytest.fixture
def cli(
    server: SandboxServer,
    registry: Registry,
    warehouse_url: str,
    workload: Workload,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    for name, value in provider_environment(server.base_url).items():
        monkeypatch.setenv(name, value)
    for tenant in workload.tenants:
        registry.tenants.add_tenant(tenant.slug, tenant.name)

    def add(tenant: str, owner: str, provider: str, token: str, *aliases: str):
        monkeypatch.setenv("NEW_TOKEN", token)
        argv = ["--warehouse-url", warehouse_url, "connections", "add", "--tenant", tenant]
        argv += ["--owner", owner, "--provider", provider, "--refresh-token-env", "NEW_TOKEN"]
        for alias in aliases:
            argv += ["--alias", alias]
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return add


def _boxes(workload: Workload, provider: str) -> list[Mailbox]:
    return [m for m in workload.mailboxes if m.provider == provider]


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_the_owners_own_token_is_added(
    cli, registry: Registry, workload: Workload, provider: str
) -> None:
    box = _boxes(workload, provider)[0]
    code, out, err = cli(box.tenant, box.address, provider, box.refresh_token)
    assert code == 0, err
    (connection,) = registry.connections.list_connections(box.tenant)
    assert (connection.connection_id, connection.owner_email) == (out.strip(), box.address)
    assert box.refresh_token not in out + err


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_another_tenants_token_is_refused_and_nothing_stored(
    cli, registry: Registry, server: SandboxServer, workload: Workload, provider: str
) -> None:
    """The reported attack: tenant A's token registered under tenant B as a spy address."""
    victim = _boxes(workload, provider)[0]
    spy_tenant = next(t.slug for t in workload.tenants if t.slug != victim.tenant)
    spy = f"spy@{spy_tenant}.example"
    code, out, err = cli(spy_tenant, spy, provider, victim.refresh_token)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "granted by another" in err and spy in err
    assert "nothing was stored" in err
    assert victim.refresh_token not in err and victim.address not in err
    # an alias that is not the token's account does not help either
    code, _, err = cli(spy_tenant, spy, provider, victim.refresh_token, f"x@{spy_tenant}.example")
    assert code == 2
    for tenant in workload.tenants:
        assert registry.connections.list_connections(tenant.slug) == []
    assert registry.incidents.open_incidents() == []


def test_the_token_may_belong_to_an_alias_of_the_owner(
    cli, registry: Registry, workload: Workload
) -> None:
    """An owner registered under another address keeps working when the token's account is one
    of the aliases given."""
    box = _boxes(workload, "google")[0]
    other = f"sales@{box.address.split('@')[1]}"
    code, _, err = cli(box.tenant, other, "google", box.refresh_token, box.address)
    assert code == 0, err
    (connection,) = registry.connections.list_connections(box.tenant)
    assert connection.aliases == (box.address,)


def test_a_revoked_token_is_refused_with_the_providers_status(
    cli, registry: Registry, server: SandboxServer, workload: Workload
) -> None:
    box = _boxes(workload, "google")[0]
    server.state.set_fault(box.address, "invalid_grant")
    code, out, err = cli(box.tenant, box.address, "google", box.refresh_token)
    assert code == 2 and out == ""
    assert "refused the token (invalid_credentials, invalid_grant)" in err
    assert registry.connections.list_connections(box.tenant) == []


def test_an_unconfigured_provider_cannot_vouch_for_a_token(
    cli, registry: Registry, workload: Workload, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = _boxes(workload, "google")[0]
    monkeypatch.delenv("TOUCHPOINT_GOOGLE_BASE_URL")
    code, _, err = cli(box.tenant, box.address, "google", box.refresh_token)
    assert code == 2 and "google provider is not configured" in err
    assert registry.connections.list_connections(box.tenant) == []
