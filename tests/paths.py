"""Where the project lies, for tests that run commands or read files in it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
