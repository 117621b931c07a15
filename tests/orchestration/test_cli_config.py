"""Operator mistakes in configuration and input: one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.cli import main
from paths import ROOT
from resources import settings

STATE_COMMANDS = [
    ["tenants", "list"],
    ["tenants", "add", "--slug", "acme", "--name", "Acme"],
    ["connections", "list"],
    ["migrate"],
    ["keys", "rotate"],
    ["demo", "--port", "0", "--days", "1"],
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _regular_file(tmp_path: Path) -> Path:
    path = tmp_path / "home-is-a-file"
    path.write_text("not a folder\n")
    return path


def _under_a_regular_file(tmp_path: Path) -> Path:
    return _regular_file(tmp_path) / "home"


def _chmod(tmp_path: Path, mode: int, child: str | None) -> Path:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(mode)
    return folder / child if child else folder


UNUSABLE_HOMES = {
    # (home, what the line says); the /proc ones refuse even root, as CI runs the tests.
    "regular file": (_regular_file, "it is a file, not a folder"),
    "under a regular file": (_under_a_regular_file, "a part of its path is a file"),
    "folder nobody can write into": (lambda _: Path("/proc/1/fdinfo"), "no file can be created"),
    "parent nobody can create in": (lambda _: Path("/proc/self/home"), "it cannot be created"),
    "non-writable folder": (lambda tmp: _chmod(tmp, 0o500, None), "no file can be created"),
    "parent without permission": (lambda tmp: _chmod(tmp, 0o000, "home"), "cannot be created"),
}
AS_ROOT_ONLY_PROC = {"non-writable folder", "parent without permission"}


@pytest.mark.parametrize("case", list(UNUSABLE_HOMES))
@pytest.mark.parametrize("argv", STATE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_an_unusable_state_folder_is_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    secret_key: str,
    case: str,
    argv: list[str],
) -> None:
    if case in AS_ROOT_ONLY_PROC and os.geteuid() == 0:
        pytest.skip("root writes through permission bits; the /proc cases cover it")
    make, reason = UNUSABLE_HOMES[case]
    home = make(tmp_path)
    monkeypatch.setenv(settings.HOME_ENV, str(home))
    try:
        code, out, err = run(capsys, *argv)
    finally:
        if (tmp_path / "locked").exists():
            (tmp_path / "locked").chmod(0o700)
    assert (code, out) == (2, "")
    assert err.startswith(f"touchpoint: error: TOUCHPOINT_HOME={home} cannot be used as ")
    assert reason in err and err.count("\n") == 1


def test_an_unusable_state_folder_is_one_line_from_the_real_process(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "TOUCHPOINT_HOME": str(_regular_file(tmp_path)),
    }
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "tenants", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "it is a file, not a folder" in done.stderr


def test_a_warehouse_url_needs_no_state_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(settings.HOME_ENV, str(_regular_file(tmp_path)))
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert run(capsys, "--warehouse-url", url, "tenants", "list") == (0, "(none)\n", "")


TOKEN = "1//0g-config-secret-refresh-token-Kp4"
LONG = "a" * 100_000


def _add_connection(*extra: str) -> list[str]:
    return [
        *["connections", "add", "--tenant", "acme", "--owner", "bob@acme.com"],
        *["--provider", "google", "--refresh-token-env", "CONFIG_TOKEN", *extra],
    ]


REFUSED_INPUT = {
    "long tenant name": (
        ["tenants", "add", "--slug", "globex", "--name", LONG],
        "invalid tenant name 'aaaa",
        "100000 characters, at most 200",
    ),
    "tenant name with a newline": (
        ["tenants", "add", "--slug", "globex", "--name", "Globex\nInjected: yes"],
        "invalid tenant name 'Globex",
        "control characters",
    ),
    "tenant name with an escape sequence": (
        ["tenants", "add", "--slug", "globex", "--name", "Globex\x1b[2J"],
        "invalid tenant name",
        "control characters",
    ),
    "long slug": (["tenants", "add", "--slug", LONG, "--name", "G"], "invalid tenant slug", ""),
    "slug with a NUL": (
        ["tenants", "add", "--slug", "glo\x00bex", "--name", "G"],
        "invalid tenant slug",
        "",
    ),
    "long time zone": (
        ["tenants", "add", "--slug", "globex", "--name", "G", "--time-zone", LONG],
        "invalid time zone",
        "at most 64",
    ),
    "long domain": (
        ["tenants", "add", "--slug", "globex", "--name", "G", "--internal-domain", LONG + ".com"],
        "invalid internal domain",
        "at most 253",
    ),
    "long domain label": (
        ["tenants", "add", "--slug", "globex", "--name", "G", "--blocked-domain", "a" * 64 + ".io"],
        "invalid blocked domain",
        "a domain label has at most 63",
    ),
    "domain with a NUL": (
        ["tenants", "add", "--slug", "globex", "--name", "G", "--internal-domain", "g\x00.com"],
        "invalid internal domain",
        "control characters",
    ),
    "long owner": (
        _add_connection()[:5] + ["a" * 250 + "@acme.com"] + _add_connection()[6:],
        "invalid owner email",
        "at most 254",
    ),
    "long local part": (
        _add_connection()[:5] + ["a" * 65 + "@acme.com"] + _add_connection()[6:],
        "invalid owner email",
        "local part of at most 64",
    ),
    "owner with a control character": (
        _add_connection()[:5] + ["bob\x07@acme.com"] + _add_connection()[6:],
        "invalid owner email",
        "control characters",
    ),
    "long alias": (_add_connection("--alias", LONG + "@acme.com"), "invalid alias", "at most 254"),
    "alias with a line separator": (
        _add_connection("--alias", "bo\u2028b@acme.com"),
        "invalid alias",
        "control characters",
    ),
    "long scope": (_add_connection("--scope", LONG), "invalid scope", "at most 256"),
    "future authorization": (
        _add_connection("--authorized-at", "2999-01-01T00:00:00Z"),
        "the authorization time 2999-01-01T00:00:00+00:00 is in the future",
        "access cannot have been granted yet",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_INPUT))
def test_bad_input_is_refused_with_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    secret_key: str,
    case: str,
) -> None:
    argv, start, reason = REFUSED_INPUT[case]
    monkeypatch.setenv("CONFIG_TOKEN", TOKEN)
    url = ["--warehouse-url", f"sqlite:///{tmp_path / 'w.db'}"]
    assert run(capsys, *url, "tenants", "add", "--slug", "acme", "--name", "Acme")[0] == 0
    code, out, err = run(capsys, *url, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"touchpoint: error: {start}") and reason in err
    # One short line: never the 100k characters back, never a raw control character.
    assert err.count("\n") == 1 and len(err) < 400
    assert not any(ch in err[:-1] for ch in "\x00\x07\x1b\r\u2028")
    assert TOKEN not in err
    # Nothing was registered.
    assert [t["tenant_id"] for t in _json(capsys, *url, "tenants", "list")] == ["acme"]
    assert _json(capsys, *url, "connections", "list") == []


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    return json.loads(out)
