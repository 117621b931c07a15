"""The one table of providers Touchpoint syncs. Adding a provider = a folder under resources/
that builds a `ProviderKit`, plus one entry here; nothing else branches on a provider's name."""

from __future__ import annotations

from resources.google.kit import GOOGLE
from resources.kit import ProviderKit
from resources.microsoft.kit import MICROSOFT

PROVIDERS: dict[str, ProviderKit] = {kit.name: kit for kit in (GOOGLE, MICROSOFT)}


class UnknownProviderError(KeyError):
    """A connection names a provider this deployment does not know."""


def provider_kit(name: str) -> ProviderKit:
    """The kit of `name`, or a clear error naming the providers there are."""
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise UnknownProviderError(f"unknown provider {name!r} (known: {known})") from None
