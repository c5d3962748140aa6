"""Sealing of SigV4 secret access keys at rest (Fernet: AES-128-CBC + HMAC-SHA256).

SigV4 verification needs the secret itself (the server recomputes the signature), so unlike API
keys it cannot be stored as a hash. The sealing key comes from ``STRATA_KEYSTORE_KEY`` when set
(keep it in a secrets manager in production), else from ``$STRATA_HOME/keystore.key``, created
once with mode 0600. A copy of ``keys.db`` alone then reveals no secret.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from strata.errors import ConfigurationError

KEY_FILE_NAME = "keystore.key"


def _create_private_file(path: Path, content: bytes) -> None:
    """Write ``content`` to a new file that only its owner can read (no window with wider mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)


class Sealer:
    """Encrypts and decrypts short secrets with one Fernet key."""

    def __init__(self, key: bytes | str):
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "the key-store sealing key is not a valid Fernet key",
                hint="generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`",
            ) from exc

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        """Load the key at ``path``, creating it (mode 0600) on first use."""
        if not path.exists():
            # Another process may create it between the check and here: keep theirs.
            with contextlib.suppress(FileExistsError):
                _create_private_file(path, Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def unseal(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError(
                "a stored secret cannot be decrypted with the current key-store sealing key",
                hint="restore the keystore.key / STRATA_KEYSTORE_KEY the keys were created with",
            ) from exc
