"""The token-signing keys (ES256), kept in the keys directory.

Each key is a P-256 private key in its own owner-only PEM file, named by its ``kid`` (the
RFC 7638 thumbprint of its public key). ``token-keys.json`` beside them lists every key with
its public JWK, when it was made and when it was retired: the newest unretired key signs; a
retired key stays published at the ``jwks_uri`` until every token it signed has expired
(the longest lifetime a token can have, plus leeway), then drops out of the published set.

Every node of a deployment must share the directory's contents. Each process re-reads the
list when the file changes, so a rotation on one node is picked up by the others as soon as
the directory is synchronised.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, KeySet

from gateway.config import MAX_TOKEN_LIFETIME
from gateway.keystore import (
    KeystoreError,
    open_lock,
    read_private,
    write_private,
    write_replacing,
)

ALGORITHM = "ES256"
CURVE = "P-256"
MANIFEST = "token-keys.json"
# A retired key stays published this long: any token it signed has expired by then.
PUBLISHED_AFTER_RETIREMENT = MAX_TOKEN_LIFETIME + 60


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    created_at: int
    retired_at: int | None
    public_jwk: dict[str, Any]

    def published_at(self, now: int) -> bool:
        return self.retired_at is None or now < self.retired_at + PUBLISHED_AFTER_RETIREMENT


def _private_path(directory: Path, kid: str) -> Path:
    return directory / f"token-{kid}.pem"


def _read_manifest(directory: Path) -> list[KeyRecord]:
    path = directory / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [
            KeyRecord(k["kid"], int(k["created_at"]), k.get("retired_at"), k["jwk"])
            for k in raw["keys"]
        ]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise KeystoreError(f"{path} is unreadable: {error}") from None


def _write_manifest(directory: Path, records: list[KeyRecord]) -> None:
    body = {
        "algorithm": ALGORITHM,
        "keys": [
            {
                "kid": r.kid,
                "created_at": r.created_at,
                "retired_at": r.retired_at,
                "jwk": r.public_jwk,
            }
            for r in records
        ],
    }
    write_replacing(directory / MANIFEST, json.dumps(body, indent=2).encode("utf-8"))


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Serialise key changes between processes on this machine."""
    descriptor = open_lock(directory / ".token-keys.lock")
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _new_key(directory: Path, now: int) -> KeyRecord:
    key = ECKey.generate_key(CURVE, private=True)
    kid = key.thumbprint()
    write_private(_private_path(directory, kid), key.as_pem(private=True))
    public = key.as_dict(private=False) | {"kid": kid, "use": "sig", "alg": ALGORITHM}
    return KeyRecord(kid, now, None, public)


def init_keys(directory: Path, now: int) -> tuple[bool, str]:
    """Create the first signing key; returns (created, current kid). Idempotent."""
    with _exclusive(directory):
        records = _read_manifest(directory)
        current = [r for r in records if r.retired_at is None]
        if current:
            return False, current[-1].kid
        record = _new_key(directory, now)
        _write_manifest(directory, [*records, record])
        return True, record.kid


def rotate_keys(directory: Path, now: int) -> tuple[str | None, str]:
    """Make a new current key and retire the previous one; returns (retired, new kid)."""
    with _exclusive(directory):
        records = _read_manifest(directory)
        previous = next((r.kid for r in reversed(records) if r.retired_at is None), None)
        retired = [
            r if r.retired_at is not None else KeyRecord(r.kid, r.created_at, now, r.public_jwk)
            for r in records
        ]
        record = _new_key(directory, now)
        _write_manifest(directory, [*retired, record])
        return previous, record.kid


class SigningKeys:
    """A process's view of the keys directory, re-read whenever the key list changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stamp: tuple[int, int] | None = None
        self._records: list[KeyRecord] = []
        self._private: dict[str, ECKey] = {}
        self._keyset: tuple[tuple[str, ...], KeySet] | None = None
        # gthread workers share this object: a refresh replaces the list and its stamp together.
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            stat = os.stat(self.directory / MANIFEST)
        except FileNotFoundError:
            raise KeystoreError(
                f"no token-signing key in {self.directory}: run 'gateway keys init'"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._records = _read_manifest(self.directory)
                    self._stamp = stamp

    def records(self) -> list[KeyRecord]:
        self._refresh()
        return list(self._records)

    def current(self) -> tuple[str, ECKey]:
        """The key that signs new tokens."""
        self._refresh()
        record = next((r for r in reversed(self._records) if r.retired_at is None), None)
        if record is None:
            raise KeystoreError(f"no current token-signing key in {self.directory}")
        key = self._private.get(record.kid)
        if key is None:
            pem = read_private(_private_path(self.directory, record.kid))
            key = ECKey.import_key(pem, parameters={"kid": record.kid})
            self._private[record.kid] = key
        return record.kid, key

    def published(self, now: int) -> list[dict[str, Any]]:
        """The public JWKs served at the ``jwks_uri`` and trusted for verification."""
        self._refresh()
        return [r.public_jwk for r in self._records if r.published_at(now)]

    def verification_keys(self, now: int) -> KeySet:
        published = self.published(now)
        kids = tuple(k["kid"] for k in published)
        cached = self._keyset
        if cached is None or cached[0] != kids:
            cached = (kids, KeySet.import_key_set({"keys": published}))
            self._keyset = cached
        return cached[1]

    def require_ready(self) -> None:
        """Fail at start, not at the first token request, when keys are missing."""
        self.current()
