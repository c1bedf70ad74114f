"""Signed checkpoints: the log's size, head hash and Merkle root, sealed with Ed25519.

A checkpoint is the statement

    {"log": "joint-use-gateway/audit-log/v1", "size": n, "head_hash": <entry n's hash>,
     "merkle_root": <RFC 9162 tree hash of entries 1..n>, "at": <UTC time>, "key_id": <key>}

encoded as canonical JSON (keys sorted, no white space, UTF-8) after the domain prefix
``joint-use-gateway/audit-checkpoint/v1\\0``, and signed with Ed25519 (RFC 8032). The head hash
lets a verifier check the chain; the Merkle root lets it check a filtered export.

The checkpoint key is the log's own, apart from the token-signing keys: ``checkpoint-<id>.pem``
(owner-only, PKCS #8) in the keys directory, with every public key ever used published in
``checkpoint-keys.json`` beside it. Rotating makes a new current key and retires the old one;
retired keys stay published (and each checkpoint row keeps its public key) so old checkpoints
stay verifiable. Verification trusts only the published list (or a key file an auditor
was given), never the copy stored next to a signature.

Nothing here touches the database: this module is all an offline verifier needs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.audit.chain import canonical_json
from gateway.keystore import (
    KeystoreError,
    ensure_directory,
    open_lock,
    read_private,
    write_private,
    write_replacing,
)

LOG_ID = "joint-use-gateway/audit-log/v1"
_DOMAIN = b"joint-use-gateway/audit-checkpoint/v1\x00"
ALGORITHM = "Ed25519"
PUBLISHED = "checkpoint-keys.json"
_LOCK = ".checkpoint-keys.lock"


@dataclass(frozen=True)
class Statement:
    """What a checkpoint asserts about the log."""

    size: int
    head_hash: str
    merkle_root: str
    at: str
    key_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "log": LOG_ID,
            "size": self.size,
            "head_hash": self.head_hash,
            "merkle_root": self.merkle_root,
            "at": self.at,
            "key_id": self.key_id,
        }

    def signed_bytes(self) -> bytes:
        return _DOMAIN + canonical_json(self.as_dict()).encode("utf-8")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Statement:
        if raw.get("log", LOG_ID) != LOG_ID:
            raise ValueError(f"not a checkpoint of this log format: {raw.get('log')!r}")
        return cls(
            size=int(raw["size"]),
            head_hash=str(raw["head_hash"]),
            merkle_root=str(raw["merkle_root"]),
            at=str(raw["at"]),
            key_id=str(raw["key_id"]),
        )


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """A key's id: the first 16 hex digits of SHA-256 over its raw 32 bytes."""
    return hashlib.sha256(raw_public(public_key)).hexdigest()[:16]


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def encode_public(public_key: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public(public_key)).decode("ascii")


def decode_public(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not an Ed25519 public key: {error}") from None


def sign(private_key: Ed25519PrivateKey, statement: Statement) -> str:
    return base64.b64encode(private_key.sign(statement.signed_bytes())).decode("ascii")


def signature_problem(
    statement: Statement, signature: str, trusted: Mapping[str, Ed25519PublicKey]
) -> str | None:
    """Why the signature does not hold against the trusted keys, or None when it does."""
    public_key = trusted.get(statement.key_id)
    if public_key is None:
        return f"signed by key {statement.key_id}, which is not a published checkpoint key"
    try:
        public_key.verify(base64.b64decode(signature, validate=True), statement.signed_bytes())
    except (InvalidSignature, binascii.Error, ValueError):
        return f"the signature does not verify with key {statement.key_id}"
    return None


# --- trusted keys, as published ---------------------------------------------------------------


@dataclass(frozen=True)
class PublishedKey:
    key_id: str
    public_key: Ed25519PublicKey
    created_at: str
    retired_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key": encode_public(self.public_key),
            "created_at": self.created_at,
            "retired_at": self.retired_at,
        }


def parse_published(content: bytes) -> list[PublishedKey]:
    """The published key list (``checkpoint-keys.json``), or one PEM public key."""
    text = content.decode("utf-8", errors="replace").strip()
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        key = serialization.load_pem_public_key(content)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 key")
        return [PublishedKey(key_id_of(key), key, "", None)]
    raw = json.loads(text)
    keys = []
    for item in raw["keys"]:
        public_key = decode_public(item["public_key"])
        if key_id_of(public_key) != item["key_id"]:
            raise ValueError(f"key {item['key_id']} does not match its public key")
        keys.append(
            PublishedKey(item["key_id"], public_key, item["created_at"], item.get("retired_at"))
        )
    return keys


def trusted_keys(published: list[PublishedKey]) -> dict[str, Ed25519PublicKey]:
    return {key.key_id: key.public_key for key in published}


def load_trusted(path: Path) -> dict[str, Ed25519PublicKey]:
    try:
        return trusted_keys(parse_published(path.read_bytes()))
    except (ValueError, KeyError, TypeError) as error:
        raise KeystoreError(f"{path} is not a checkpoint public key file: {error}") from None


# --- the keys directory -----------------------------------------------------------------------


class CheckpointKeys:
    """The checkpoint keys in a keys directory; every change is serialised by a lock file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._private: dict[str, Ed25519PrivateKey] = {}

    @property
    def published_path(self) -> Path:
        return self.directory / PUBLISHED

    def _private_path(self, key_id: str) -> Path:
        return self.directory / f"checkpoint-{key_id}.pem"

    def published(self) -> list[PublishedKey]:
        try:
            content = self.published_path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            return parse_published(content)
        except (ValueError, KeyError, TypeError) as error:
            raise KeystoreError(f"{self.published_path} is unreadable: {error}") from None

    def trusted(self) -> dict[str, Ed25519PublicKey]:
        return trusted_keys(self.published())

    def current(self) -> tuple[str, Ed25519PrivateKey] | None:
        """The key that signs new checkpoints, or None before the first one exists."""
        current = next((k for k in reversed(self.published()) if k.retired_at is None), None)
        if current is None:
            return None
        if current.key_id not in self._private:
            key = serialization.load_pem_private_key(
                read_private(self._private_path(current.key_id)), password=None
            )
            if not isinstance(key, Ed25519PrivateKey) or key_id_of(key.public_key()) != (
                current.key_id
            ):
                raise KeystoreError(f"checkpoint key {current.key_id} does not match its file")
            self._private[current.key_id] = key
        return current.key_id, self._private[current.key_id]

    def init(self, now: str) -> tuple[bool, str]:
        """Create the first checkpoint key; returns (created, current key id). Idempotent."""
        with self._exclusive():
            published = self.published()
            current = [k for k in published if k.retired_at is None]
            if current:
                return False, current[-1].key_id
            key = self._new_key(now)
            self._publish([*published, key])
            return True, key.key_id

    def rotate(self, now: str) -> tuple[str | None, str]:
        """Retire the current key and make a new one; returns (retired id, new id)."""
        with self._exclusive():
            published = self.published()
            previous = next((k.key_id for k in reversed(published) if k.retired_at is None), None)
            kept = [
                k
                if k.retired_at is not None
                else PublishedKey(k.key_id, k.public_key, k.created_at, now)
                for k in published
            ]
            key = self._new_key(now)
            self._publish([*kept, key])
            return previous, key.key_id

    def _new_key(self, now: str) -> PublishedKey:
        private_key = Ed25519PrivateKey.generate()
        key_id = key_id_of(private_key.public_key())
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(self._private_path(key_id), pem)
        return PublishedKey(key_id, private_key.public_key(), now, None)

    def _publish(self, keys: list[PublishedKey]) -> None:
        body = {"algorithm": ALGORITHM, "keys": [k.as_dict() for k in keys]}
        write_replacing(self.published_path, json.dumps(body, indent=2).encode("utf-8") + b"\n")

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        ensure_directory(self.directory)
        descriptor = open_lock(self.directory / _LOCK)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)
