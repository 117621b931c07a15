"""`touchpoint keys`: generate a key, put it first, rotate, retire the old one, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration.cli import main
from orchestration.demo import _load_or_create_key
from resources import settings
from resources.registry import Registry
from resources.secrets import TokenCipher, UndecryptableTokenError, generate_key
from resources.warehouse import Warehouse

TOKENS = {
    "ana@acme.com": "1//0g-ana-refresh-token-Qz1",
    "bob@acme.com": "1//0g-bob-refresh-token-Rt2",
}
CACHE = '{"RefreshToken": {"x": {"secret": "msal-cache-secret-Zz9"}}}'


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stored(warehouse: Warehouse) -> dict[str, tuple[str, str | None]]:
    """Each connection's ciphertexts, as they are in the database."""
    table = warehouse.table("connections")
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                table.c.connection_id,
                table.c.refresh_token_encrypted,
                table.c.token_cache_encrypted,
            )
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.fixture
def acme(warehouse: Warehouse, capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, str]]:
    """The old key (set as TOUCHPOINT_SECRET_KEY) and acme's connections stored under it."""
    code, out, _ = run(capsys, "keys", "generate")
    assert code == 0
    old = out.strip()
    registry = Registry(warehouse, TokenCipher(old))
    registry.tenants.add_tenant("acme", "Acme")
    ids = {
        owner: registry.connections.add_connection("acme", owner, provider, token).connection_id
        for (owner, token), provider in zip(TOKENS.items(), ("google", "microsoft"), strict=True)
    }
    registry.connections.save_token_cache(ids["bob@acme.com"], CACHE)
    return old, ids


def test_generate_put_first_rotate_then_retire_the_old_key(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Warehouse,
    warehouse_url: str,
    acme: tuple[str, dict[str, str]],
) -> None:
    old, ids = acme
    new = run(capsys, "keys", "generate")[1].strip()
    assert new != old
    monkeypatch.setenv(settings.SECRET_KEY_ENV, f"{new},{old}")
    url = ["--warehouse-url", warehouse_url]
    before = stored(warehouse)

    code, out, err = run(capsys, *url, "keys", "rotate", "--dry-run")
    assert (code, err) == (0, "")
    assert (
        out == "would re-encrypt 2 of 2 connection(s) under the newest key; 0 already were; "
        "0 left as they are\n"
    )
    assert stored(warehouse) == before

    code, out, err = run(capsys, *url, "keys", "rotate")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "re-encrypted 2 of 2 connection(s) under the newest key; 0 already were; "
        "0 left as they are",
        "every stored token is under the newest key: once every process runs with it, the older "
        "key(s) can be removed from TOUCHPOINT_SECRET_KEY",
    ]
    for secret in [old, new, CACHE, *TOKENS.values()]:
        assert secret not in out

    # The old key is retired: the new one alone opens every token and the token cache.
    retired = Registry(warehouse, TokenCipher(new)).connections
    for owner, token in TOKENS.items():
        assert retired.refresh_token(ids[owner]) == token
    assert retired.token_cache(ids["bob@acme.com"]) == CACHE
    with pytest.raises(UndecryptableTokenError):
        Registry(warehouse, TokenCipher(old)).connections.refresh_token(ids["ana@acme.com"])

    # Idempotent: a second run rewrites nothing.
    after = stored(warehouse)
    monkeypatch.setenv(settings.SECRET_KEY_ENV, new)
    code, out, _ = run(capsys, *url, "keys", "rotate")
    assert code == 0
    assert out.startswith("re-encrypted 0 of 2 connection(s) under the newest key; 2 already were")
    assert stored(warehouse) == after


def test_a_token_no_key_opens_is_named_left_as_is_and_the_rest_rotates(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Warehouse,
    warehouse_url: str,
    acme: tuple[str, dict[str, str]],
) -> None:
    old, ids = acme
    new, lost = (run(capsys, "keys", "generate")[1].strip() for _ in range(2))
    registry = Registry(warehouse, TokenCipher(lost))
    registry.tenants.add_tenant("globex", "Globex")
    stray = registry.connections.add_connection("globex", "eve@globex.com", "google", "1//lost")
    # bob's refresh token opens under the old key but his token cache under none: the whole
    # connection stays as it is.
    Registry(warehouse, TokenCipher(lost)).connections.save_token_cache(ids["bob@acme.com"], CACHE)
    # ana's was rotated already by an interrupted earlier run: the rotation resumes.
    Registry(warehouse, TokenCipher(new)).connections.replace_refresh_token(
        ids["ana@acme.com"], TOKENS["ana@acme.com"]
    )
    before = stored(warehouse)
    monkeypatch.setenv(settings.SECRET_KEY_ENV, f"{new},{old}")

    code, out, err = run(capsys, "--warehouse-url", warehouse_url, "keys", "rotate")
    assert code == 1
    assert (
        out == "re-encrypted 0 of 3 connection(s) under the newest key; 1 already were; "
        "2 left as they are\n"
    )
    lines = err.splitlines()
    assert len(lines) == 2 and all(
        line.startswith("touchpoint: error: connection ") for line in lines
    )
    assert f"connection {ids['bob@acme.com']} (tenant acme, bob@acme.com)" in lines[0]
    assert f"connection {stray.connection_id} (tenant globex, eve@globex.com)" in lines[1]
    assert "decrypts under none of the keys; left as it is" in lines[1]
    assert stored(warehouse) == before
    for secret in [old, new, lost, CACHE, "1//lost", *TOKENS.values()]:
        assert secret not in out + err


def test_rotate_without_a_key_is_one_line(
    capsys: pytest.CaptureFixture[str], warehouse_url: str
) -> None:
    code, out, err = run(capsys, "--warehouse-url", warehouse_url, "keys", "rotate")
    assert (code, out) == (2, "")
    assert err == (
        "touchpoint: error: TOUCHPOINT_SECRET_KEY is not set; "
        "generate one with `touchpoint keygen`\n"
    )


def test_the_demo_key_file_may_list_keys_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    old = _load_or_create_key(path)
    new = generate_key()
    path.write_text(f"{new}\n{old}\n")
    assert _load_or_create_key(path) == f"{new},{old}"
    assert TokenCipher(_load_or_create_key(path)).key_count == 2
