"""Encryption of refresh tokens at rest (Fernet: AES-128-CBC + HMAC-SHA256, with a timestamp).

Errors say what is wrong and what to do, and never carry a token or the key: every re-raise
uses `from None` so no chained exception drags the original value along.
TOUCHPOINT_SECRET_KEY may hold several comma-separated keys, newest first: new tokens are
encrypted with the first, and any of them decrypts, which lets an operator rotate the key.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from resources.settings import SECRET_KEY_ENV


class SecretKeyError(Exception):
    """Anything wrong with the token encryption key or a stored ciphertext."""


class MissingSecretKeyError(SecretKeyError):
    def __init__(self) -> None:
        super().__init__(f"{SECRET_KEY_ENV} is not set; generate one with `touchpoint keygen`")


class MalformedSecretKeyError(SecretKeyError):
    def __init__(self) -> None:
        super().__init__(
            f"{SECRET_KEY_ENV} is not a valid key (expected 32 url-safe base64-encoded bytes, "
            "as printed by `touchpoint keygen`)"
        )


class UndecryptableTokenError(SecretKeyError):
    def __init__(self) -> None:
        super().__init__(
            f"a stored token cannot be decrypted with the configured {SECRET_KEY_ENV} "
            "(was the key changed?)"
        )


def generate_key() -> str:
    """A fresh random key, in the text form TOUCHPOINT_SECRET_KEY expects."""
    return Fernet.generate_key().decode("ascii")


def _opens(fernet: Fernet, ciphertext: str) -> bool:
    """Whether `fernet` decrypts `ciphertext` (whatever is wrong with it otherwise)."""
    try:
        fernet.decrypt(ciphertext.encode("ascii"))
    except (InvalidToken, ValueError, TypeError, AttributeError):
        return False
    return True


class TokenCipher:
    """Encrypts and decrypts tokens with one key (or a rotation list of keys)."""

    __slots__ = ("_fernet", "_newest", "key_count")

    def __init__(self, key: str) -> None:
        keys = [part.strip() for part in (key or "").split(",") if part.strip()]
        if not keys:
            raise MissingSecretKeyError()
        try:
            fernets = [Fernet(part.encode("ascii")) for part in keys]
        except (ValueError, TypeError, UnicodeEncodeError):
            raise MalformedSecretKeyError() from None
        self._fernet = MultiFernet(fernets)
        self._newest = fernets[0]
        self.key_count = len(fernets)

    @classmethod
    def from_env(cls) -> TokenCipher:
        """The cipher for TOUCHPOINT_SECRET_KEY; a clear error when it is unset or malformed."""
        return cls(os.environ.get(SECRET_KEY_ENV, ""))

    def encrypt(self, plaintext: str) -> str:
        if not isinstance(plaintext, str) or not plaintext:
            raise ValueError("only a non-empty string can be encrypted")
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError, TypeError, AttributeError):
            raise UndecryptableTokenError() from None

    def rotate(self, ciphertext: str) -> str | None:
        """`ciphertext` re-encrypted under the newest key, or None when it already is under it
        (so a rotation run twice rewrites nothing the second time)."""
        if _opens(self._newest, ciphertext):
            return None
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError, TypeError, AttributeError):
            raise UndecryptableTokenError() from None

    def __repr__(self) -> str:
        return "TokenCipher(<key hidden>)"
