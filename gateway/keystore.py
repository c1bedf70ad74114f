"""Key material on disk, owner-only.

Every private key the gateway makes — the token-signing keys and the checkpoint-signing key —
goes through here: the directory is created ``0700`` and each file ``0600`` from its first
byte (``O_EXCL`` with the mode given at ``open``), never loosened after the fact. Private keys
never leave ``keys/``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gateway.errors import ConfigurationError

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


class KeystoreError(ConfigurationError):
    title = "The key directory cannot be used"


def ensure_directory(directory: Path) -> Path:
    """Create ``directory`` owner-only, or check that an existing one is usable."""
    try:
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    except OSError as error:
        raise KeystoreError(f"cannot create key directory {directory}: {error.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise KeystoreError(f"key directory {directory} is not writable")
    if stat.S_IMODE(directory.stat().st_mode) & 0o077:
        os.chmod(directory, DIRECTORY_MODE)
    return directory


def write_private(path: Path, content: bytes) -> None:
    """Write a new owner-only file; refuses to overwrite (keys are never replaced in place)."""
    ensure_directory(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        raise KeystoreError(f"{path} already exists") from None
    except OSError as error:
        raise KeystoreError(f"cannot write {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def write_replacing(path: Path, content: bytes) -> None:
    """Replace a file atomically (write a temporary file, then rename), owner-only like
    everything in the key directory, even when what it holds is public."""
    ensure_directory(path.parent)
    temporary = path.with_name(path.name + ".tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise KeystoreError(f"cannot write {path}: {error.strerror}") from None


def open_lock(path: Path) -> int:
    """An owner-only lock file's descriptor, for ``fcntl.flock``."""
    ensure_directory(path.parent)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as error:
        raise KeystoreError(f"cannot open {path}: {error.strerror}") from None


def read_private(path: Path) -> bytes:
    """Read a private key, refusing one that others can read."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise KeystoreError(f"{path} is missing: run 'gateway keys init'") from None
    if mode & 0o077:
        raise KeystoreError(f"{path} is readable by others (mode {mode:o}): chmod 600 it")
    return path.read_bytes()
