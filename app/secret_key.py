"""The Flask secret key: ``SECRET_KEY`` from the environment, else a random key kept in the instance
folder. Never derived from a password or a token (that would hand out an offline guessing oracle)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

KEY_FILE = "secret_key"


def instance_secret_key(instance_path: str | os.PathLike[str]) -> str:
    """Read the instance key, creating it once: written to a private temporary file (mode 0600) and
    hard-linked into place, so concurrent gunicorn workers agree on the first one written."""
    folder = Path(instance_path)
    target = folder / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read(target)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return _read(target)


def _read(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it to have a new one generated")
    return key
