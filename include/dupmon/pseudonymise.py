"""Keyed hashes (HMAC-SHA256) that replace the pupils' personal data.

The secret never lives in the data root, so the snapshots alone cannot be
turned back into people (152-ФЗ: depersonalised data is not stored with the
key that reverses it).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from dupmon.errors import ConfigError

log = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 32


def load_secret(secret: str | None, secret_file: Path, data_dir: Path) -> bytes:
    """Return the pair-key secret: the given one, else the one kept in ``secret_file``.

    Creates ``secret_file`` (mode 0600) with a new random secret the first
    time, and logs where. Raises ConfigError for a secret that is too short
    or a secret file inside the data root.
    """
    if secret:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"the pair-key secret is {len(secret)} characters long; "
                f"use at least {MIN_SECRET_LENGTH}, for example the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        return secret.encode("utf-8")

    secret_file = secret_file.expanduser().resolve()
    if secret_file.is_relative_to(data_dir.resolve()):
        raise ConfigError(
            f"the secret file {secret_file} is inside the data root {data_dir}; "
            "keep the key apart from the data it depersonalises (set DUPMON_SECRET_FILE)"
        )
    if secret_file.exists():
        value = secret_file.read_text(encoding="utf-8").strip()
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"the secret file {secret_file} contains a secret that is too short")
        return value.encode("utf-8")

    secret_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(32)
    descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    log.warning(
        "Created a new pair-key secret in %s (readable by its owner only). Back it up: "
        "pairs of later monitoring dates match earlier ones only under the same secret.",
        secret_file,
    )
    return value.encode("utf-8")


def keyed_hash(secret: bytes, *parts: str) -> str:
    """Return the hex HMAC-SHA256 of the parts joined by a unit separator."""
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.digest(secret, message, "sha256").hex()
