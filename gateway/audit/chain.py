"""The hash chain of the access log: canonical encoding and hashing.

Pure functions of entries, with no database: the spine hashes with them when it appends, and
the verifier (``gateway.audit.verifier``) recomputes with them, on the live log and on an
exported copy alike, so an auditor needs only the export.

Entry *n* is encoded canonically (JSON, keys sorted, no insignificant white space, UTF-8)
and its hash is ``SHA-256(DOMAIN || prev_hash || body)``, with ``prev_hash`` the hash of entry
*n − 1* (all zeros before the first). Changing, removing, inserting or reordering any entry
changes every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENTRY_DOMAIN = b"joint-use-gateway/audit-entry/v1\x00"
_DOMAIN = ENTRY_DOMAIN

# The fields an entry's hash covers, in the order they are documented.
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "action",
    "outcome",
    "rule",
    "purpose",
    "items",
    "allowlist_version",
    "request_id",
    "subjects",
    "details",
)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_body(entry: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one entry. ``items``, ``subjects`` and ``details`` are the
    canonical JSON strings as stored, so the encoding never depends on a JSON round trip."""
    return canonical_json({name: entry[name] for name in HASHED_FIELDS}).encode("utf-8")


def chain_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(_DOMAIN + bytes.fromhex(prev_hash) + body).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain does not hold."""

    seq: int
    kind: str  # altered | link-broken | gap | tail-missing | unexpected-entry
    detail: str
