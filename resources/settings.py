"""Where Touchpoint keeps its local state, and the environment variables that move it.

The demo needs no server: by default the warehouse is a SQLite file in a state folder under the
current directory. Production and CI point TOUCHPOINT_WAREHOUSE_URL at PostgreSQL instead.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

HOME_ENV = "TOUCHPOINT_HOME"
"""Overrides the local state folder (default: `<cwd>/.touchpoint`)."""

WAREHOUSE_URL_ENV = "TOUCHPOINT_WAREHOUSE_URL"
"""SQLAlchemy URL of the warehouse (default: a SQLite file in the state folder)."""

SECRET_KEY_ENV = "TOUCHPOINT_SECRET_KEY"
"""Fernet key (or comma-separated keys, newest first) that encrypts refresh tokens at rest."""

STATE_DIR_NAME = ".touchpoint"


class StateDirError(Exception):
    """The local state folder cannot be used; the text names it and says why, in one line."""


def state_dir() -> Path:
    """The local state folder, created on first use so callers can write into it directly.

    Checked by writing into it (as root, permission bits say nothing), so an unusable folder is
    one clear `StateDirError` here rather than a database error deep inside a command.
    """
    configured = os.environ.get(HOME_ENV)
    path = Path(configured).expanduser() if configured else Path.cwd() / STATE_DIR_NAME
    try:
        # Mail metadata and encrypted tokens live here: private to its owner from the start.
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        raise _unusable(path, "it is a file, not a folder") from None
    except NotADirectoryError:
        raise _unusable(path, "a part of its path is a file, not a folder") from None
    except OSError as exc:
        raise _unusable(path, f"it cannot be created ({exc.strerror or exc})") from None
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _unusable(path, f"no file can be created in it ({exc.strerror or exc})") from None
    return path.resolve()


def _unusable(path: Path, reason: str) -> StateDirError:
    where = f"{HOME_ENV}={path}" if os.environ.get(HOME_ENV) else f"the state folder {path}"
    return StateDirError(
        f"{where} cannot be used as Touchpoint's local state folder: {reason}; "
        f"point {HOME_ENV} at a folder you can write to"
    )


def create_private(path: Path) -> None:
    """Creates `path` empty and readable by its owner only, unless it exists already (then it is
    left as its owner set it). Created private, never chmod-ed after the fact: there is no moment
    at which another local user could open it."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def write_private(path: Path, text: str) -> None:
    """Writes `text` to `path`, created readable by its owner only (a key, a .env)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def default_warehouse_url() -> str:
    """TOUCHPOINT_WAREHOUSE_URL, or the embedded SQLite warehouse in the state folder."""
    configured = os.environ.get(WAREHOUSE_URL_ENV)
    if configured:
        return configured
    return f"sqlite:///{state_dir() / 'warehouse.db'}"
