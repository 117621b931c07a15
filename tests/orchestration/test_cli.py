"""The `touchpoint` command line, driven through main([...]) on both backends."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.cli import build_parser, main
from orchestration.demo import provider_environment
from paths import ROOT
from resources.registry import Registry
from resources.schema.migrate import head_revision
from resources.secrets import TokenCipher, generate_key
from resources.warehouse import Warehouse
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import Workload

TOKEN = "1//0g-cli-secret-refresh-token-Xy7"
PAIR = ("google", "microsoft")


@pytest.fixture(scope="module")
def workload() -> Workload:
    """Sandbox mailboxes whose tokens `connections add` can prove (one of each provider)."""
    return generate_workload(
        seed=3, tenants=1, mailboxes_per_tenant=2, days=1, messages_per_mailbox_per_day=1,
        providers=PAIR,
    )  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keygen_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keygen")
    key = out.strip()
    assert code == 0
    assert TokenCipher(key).decrypt(TokenCipher(key).encrypt("x")) == "x"
    assert run(capsys, "keygen")[1].strip() != key


def test_migrate_then_already_current(capsys: pytest.CaptureFixture[str], warehouse_url: str):
    code, out, _ = run(capsys, "--warehouse-url", warehouse_url, "migrate")
    latest = head_revision()
    assert code == 0 and f"schema at version {latest}" in out
    code, out, _ = run(capsys, "--warehouse-url", warehouse_url, "migrate")
    assert code == 0 and f"already at version {latest}" in out


def test_tenants_and_connections_round_trip(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    warehouse_url: str,
    secret_key: str,
    server: SandboxServer,
    workload: Workload,
) -> None:
    url = ["--warehouse-url", warehouse_url]
    # `connections add` asks the provider whose token it is: real tokens of sandbox mailboxes.
    for name, value in provider_environment(server.base_url).items():
        monkeypatch.setenv(name, value)
    google, microsoft = (next(m for m in workload.mailboxes if m.provider == p) for p in PAIR)
    code, out, err = run(
        capsys,
        *url,
        "tenants",
        "add",
        "--slug",
        "acme",
        "--name",
        "Acme Inc",
        "--internal-domain",
        "acme.com",
        "--internal-domain",
        "acme.io",
        "--blocked-domain",
        "noreply.acme.com",
        "--time-zone",
        "Europe/Paris",
    )
    assert (code, err) == (0, "") and "acme" in out
    assert run(capsys, *url, "tenants", "add", "--slug", "globex", "--name", "Globex")[0] == 0

    code, out, _ = run(capsys, *url, "tenants", "list", "--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "tenant_id": "acme",
            "name": "Acme Inc",
            "internal_domains": ["acme.com", "acme.io"],
            "blocked_domains": ["noreply.acme.com"],
            "time_zone": "Europe/Paris",
        },
        {
            "tenant_id": "globex",
            "name": "Globex",
            "internal_domains": [],
            "blocked_domains": [],
            "time_zone": "UTC",
        },
    ]
    code, out, _ = run(capsys, *url, "tenants", "list")
    assert code == 0 and "Acme Inc" in out and "Europe/Paris" in out

    monkeypatch.setattr(sys, "stdin", io.StringIO(google.refresh_token + "\n"))
    code, out, err = run(
        capsys,
        *url,
        "connections",
        "add",
        "--tenant",
        "acme",
        "--owner",
        google.address,
        "--provider",
        "google",
        "--alias",
        "robert@acme.com",
        "--scope",
        "gmail.readonly",
        "--authorized-at",
        "2026-11-01T09:00:00Z",
        "--refresh-token-stdin",
    )
    assert code == 0, err
    bob = out.strip()
    assert bob.startswith("conn-") and google.refresh_token not in out + err

    monkeypatch.setenv("HANK_TOKEN", microsoft.refresh_token)
    code, out, err = run(
        capsys,
        *url,
        "connections",
        "add",
        "--tenant",
        "globex",
        "--owner",
        microsoft.address,
        "--provider",
        "microsoft",
        "--refresh-token-env",
        "HANK_TOKEN",
    )
    assert code == 0, err
    hank = out.strip()

    code, out, err = run(capsys, *url, "connections", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and google.refresh_token not in out + err
    assert [(c["connection_id"], c["tenant_id"], c["status"]) for c in listed] == [
        (bob, "acme", "active"),
        (hank, "globex", "active"),
    ]
    assert listed[0]["aliases"] == ["robert@acme.com"]
    assert listed[0]["scopes"] == ["gmail.readonly"]
    assert listed[0]["authorized_at"] == "2026-11-01T09:00:00+00:00"
    assert not any("token" in key for key in listed[0])

    code, out, _ = run(capsys, *url, "connections", "list", "--tenant", "globex")
    assert code == 0 and hank in out and bob not in out and google.refresh_token not in out

    code, out, _ = run(capsys, *url, "connections", "history", bob)
    assert code == 0 and "active" in out and "connected" in out

    warehouse = Warehouse(warehouse_url)
    try:
        registry = Registry(warehouse, TokenCipher(secret_key))
        assert registry.connections.refresh_token(bob) == google.refresh_token
        assert registry.connections.refresh_token(hank) == microsoft.refresh_token
    finally:
        warehouse.dispose()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tenants", "add", "--slug", "Bad|Slug", "--name", "x"], "invalid tenant slug"),
        (
            ["tenants", "add", "--slug", "acme", "--name", "x", "--time-zone", "Nowhere"],
            "time zone",
        ),
        (["connections", "list", "--tenant", "nope"], "unknown tenant 'nope'"),
        (["connections", "history", "conn-0000000000"], "unknown connection"),
        (
            ["connections", "add", "--tenant", "nope", "--owner", "a@b.com"]
            + ["--provider", "google", "--refresh-token-env", "SOME_TOKEN"],
            "unknown tenant 'nope'",
        ),
        (
            ["connections", "add", "--tenant", "nope", "--owner", "a@b.com"]
            + ["--provider", "google", "--refresh-token-env", "UNSET_VAR"],
            "UNSET_VAR is unset or empty",
        ),
        (
            ["connections", "add", "--tenant", "nope", "--owner", "a@b.com", "--provider"]
            + ["google", "--refresh-token-env", "SOME_TOKEN", "--authorized-at", "2026-11-01"],
            "needs a time zone",
        ),
    ],
)
def test_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    warehouse_url: str,
    secret_key: str,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("SOME_TOKEN", TOKEN)
    code, out, err = run(capsys, "--warehouse-url", warehouse_url, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("touchpoint: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err and TOKEN not in err


def add_acme_with_token(capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, str, str]:
    assert (
        run(capsys, "--warehouse-url", url, "tenants", "add", "--slug", "acme", "--name", "A")[0]
        == 0
    )
    return run(
        capsys,
        "--warehouse-url",
        url,
        "connections",
        "add",
        "--tenant",
        "acme",
        "--owner",
        "bob@acme.com",
        "--provider",
        "google",
        "--refresh-token-env",
        "SOME_TOKEN",
    )


def test_missing_key_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOME_TOKEN", TOKEN)
    code, _, err = add_acme_with_token(capsys, f"sqlite:///{tmp_path / 'w.db'}")
    assert code == 2
    assert err == (
        "touchpoint: error: TOUCHPOINT_SECRET_KEY is not set; "
        "generate one with `touchpoint keygen`\n"
    )


def test_malformed_key_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOME_TOKEN", TOKEN)
    monkeypatch.setenv("TOUCHPOINT_SECRET_KEY", "not-a-fernet-key")
    code, _, err = add_acme_with_token(capsys, f"sqlite:///{tmp_path / 'w.db'}")
    assert code == 2 and "TOUCHPOINT_SECRET_KEY is not a valid key" in err
    assert "not-a-fernet-key" not in err and TOKEN not in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense", "not a valid SQLAlchemy URL"),
        ("mysql://u@localhost/db", "unsupported warehouse backend"),
        ("postgresql://u:pw-s3cr3t@127.0.0.1:1/db", "warehouse database error"),
    ],
)
def test_bad_warehouse_urls_exit_2(
    capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    code, out, err = run(capsys, "--warehouse-url", url, "tenants", "list")
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1 and "pw-s3cr3t" not in err


def test_tokens_are_never_accepted_on_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(
            ["connections", "add", "--tenant", "acme", "--owner", "a@b.com"]
            + ["--provider", "google", "--refresh-token", TOKEN]
        )
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(
            ["connections", "add", "--tenant", "acme", "--owner", "a@b.com", "--provider"]
            + ["google", "--refresh-token-stdin", "--refresh-token", TOKEN]
        )
    out, err = capsys.readouterr()
    assert "unrecognized arguments" in err
    assert TOKEN not in out + err


def test_a_token_given_as_the_variable_name_is_not_echoed(
    capsys: pytest.CaptureFixture[str], warehouse_url: str
) -> None:
    code, out, err = run(
        capsys,
        *["--warehouse-url", warehouse_url, "connections", "add", "--tenant", "acme"],
        *["--owner", "a@b.com", "--provider", "google", "--refresh-token-env", TOKEN],
    )
    assert code == 2 and "takes the NAME of an environment variable" in err
    assert TOKEN not in out + err


def test_default_warehouse_lives_in_the_state_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = run(capsys, "tenants", "add", "--slug", "acme", "--name", "Acme")
    assert code == 0
    assert (Path(os.environ["TOUCHPOINT_HOME"]) / "warehouse.db").exists()
    assert "acme" in run(capsys, "tenants", "list")[1]


def test_demo_and_dev_commands_are_wired() -> None:
    parser, _ = build_parser()
    demo = parser.parse_args(["demo", "--port", "0", "--days", "1"])
    assert (demo.handler.__name__, demo.port, demo.days) == ("cmd_demo", 0, 1)
    dev = parser.parse_args(["dev", "--", "--port", "3001"])
    assert (dev.handler.__name__, dev.dagster_args) == ("cmd_dev", ["--", "--port", "3001"])


def test_console_entry_point_reads_the_token_from_stdin(
    tmp_path: Path, server: SandboxServer, workload: Workload
) -> None:
    """A real process: the token goes through a pipe, and an error is one line, no traceback."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "TOUCHPOINT_HOME": str(tmp_path / "home"),
        "TOUCHPOINT_SECRET_KEY": generate_key(),
        **provider_environment(server.base_url),
    }
    box = next(m for m in workload.mailboxes if m.provider == "google")
    cli = [sys.executable, "-m", "orchestration.cli"]

    def call(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *argv], input=stdin, env=env, capture_output=True, text=True, timeout=60
        )

    assert call("tenants", "add", "--slug", "acme", "--name", "Acme").returncode == 0
    added = call(
        "connections", "add", "--tenant", "acme", "--owner", box.address, "--provider",
        "google", "--refresh-token-stdin", stdin=box.refresh_token,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert box.refresh_token not in added.stdout + added.stderr
    again = call(
        "connections", "add", "--tenant", "acme", "--owner", box.address, "--provider",
        "google", "--refresh-token-stdin", stdin=box.refresh_token,
    )  # fmt: skip
    assert again.returncode == 2
    assert "already has a google connection" in again.stderr
    assert "Traceback" not in again.stderr and box.refresh_token not in again.stderr
