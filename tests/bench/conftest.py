"""What the benchmark smoke tests share: running one benchmark as its command line does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from bench.database import POSTGRES_URL_ENV
from paths import ROOT


@pytest.fixture
def run_bench(postgres_url: str) -> Callable[..., str]:
    """Runs `python -m <module> <args>` on the session's PostgreSQL server (no cluster of its
    own); fails the test on a non-zero exit, and returns the standard output."""

    def run(module: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env={**os.environ, POSTGRES_URL_ENV: postgres_url},
            capture_output=True,
            text=True,
            timeout=280,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    return run
