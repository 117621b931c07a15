"""The local state is private from the moment it exists: the folder, the SQLite warehouse (and
its WAL files), the demo's key and .env."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.demo import _load_or_create_key, write_env_file
from resources import settings
from resources.warehouse import Warehouse


@pytest.fixture
def common_umask() -> Iterator[None]:
    """The usual 022: files would be world-readable unless created private on purpose."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_folder_and_warehouse_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, common_umask: None
) -> None:
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path / "state"))
    monkeypatch.delenv(settings.WAREHOUSE_URL_ENV, raising=False)
    folder = settings.state_dir()
    assert mode(folder) == 0o700
    warehouse = Warehouse(settings.default_warehouse_url())
    try:
        warehouse.migrate()
    finally:
        warehouse.dispose()
    files = sorted(folder.glob("warehouse.db*"))
    assert files and all(mode(f) == 0o600 for f in files), {f.name: oct(mode(f)) for f in files}


def test_demo_key_and_env_file_are_private(tmp_path: Path, common_umask: None) -> None:
    key = _load_or_create_key(tmp_path / "secret.key")
    assert mode(tmp_path / "secret.key") == 0o600
    assert _load_or_create_key(tmp_path / "secret.key") == key
    write_env_file({"TOUCHPOINT_SECRET_KEY": key}, tmp_path / ".env")
    assert mode(tmp_path / ".env") == 0o600
    assert f"TOUCHPOINT_SECRET_KEY={key}" in (tmp_path / ".env").read_text()


def test_an_existing_warehouse_file_keeps_its_owners_mode(
    tmp_path: Path, common_umask: None
) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    Warehouse(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o640
