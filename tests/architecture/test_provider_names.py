"""A provider kit is the only place a provider's name is branched on.

The sync, the assets, the sensors and the orchestration look providers up in the provider table
(resources/providers.py); none of them may spell a provider's or its services' names.
"""

from __future__ import annotations

import re

from paths import ROOT
from resources.providers import PROVIDERS

PROVIDER_FREE_PACKAGES = ("assets", "sensors", "orchestration")
VENDOR_WORDS = {"gmail", "outlook", "entra", "msal", "googleapiclient", "office365"}


def provider_words() -> set[str]:
    """Every provider's name and service kinds, plus the vendors' product words."""
    words = set(VENDOR_WORDS)
    for kit in PROVIDERS.values():
        words |= {kit.name, kit.mail_kind, kit.calendar_kind}
    return {w.lower() for w in words}


def mentions(text: str, words: set[str]) -> list[str]:
    pattern = re.compile(r"(?<![a-z0-9])(" + "|".join(sorted(words)) + r")(?![a-z0-9])", re.I)
    return [m.group(0) for m in pattern.finditer(text)]


def test_the_words_come_from_the_provider_table() -> None:
    words = provider_words()
    assert {"google", "microsoft"} <= words
    assert mentions('if conn.provider == "Microsoft":', words) == ["Microsoft"]
    assert mentions("kinds={'gmail'}", words) == ["gmail"]
    assert mentions("googleish mail, workspace.yaml", words) == []


def test_provider_free_packages_never_name_a_provider() -> None:
    words = provider_words()
    found = {}
    for package in PROVIDER_FREE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            hits = mentions(path.read_text(), words)
            if hits:
                found[str(path.relative_to(ROOT))] = sorted(set(hits))
    assert found == {}
