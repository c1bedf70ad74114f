"""The hash chain of the access log: canonical encoding, hashing and verification.

Pure functions of entries, with no database: the same code verifies the live log and an
exported copy, so an auditor needs only the export.

Entry *n* is encoded canonically (JSON, keys sorted, no insignificant white space, UTF-8)
and its hash is ``SHA-256(DOMAIN || prev_hash || body)``, with ``prev_hash`` the hash of entry
*n − 1* (all zeros before the first). Changing, removing, inserting or reordering any entry
changes every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.audit.models import GENESIS_HASH

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


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_seq: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify_chain(
    entries: Iterable[Mapping[str, Any]],
    *,
    expected_head: tuple[int, str] | None = None,
) -> ChainReport:
    """Recompute the chain from the first entry and report the first break.

    ``expected_head`` is the (seq, hash) the log claims as its newest entry (the head row,
    or later a signed checkpoint); entries missing after the last one read are a break.
    """
    count = 0
    prev_seq = 0
    prev_hash = GENESIS_HASH
    for entry in entries:
        count += 1
        seq = entry["seq"]
        if seq != prev_seq + 1:
            kind = "gap" if seq > prev_seq + 1 else "link-broken"
            return ChainReport(
                count,
                prev_seq,
                prev_hash,
                ChainBreak(seq, kind, f"entry {seq} follows entry {prev_seq}"),
            )
        if entry["prev_hash"] != prev_hash:
            return ChainReport(
                count,
                prev_seq,
                prev_hash,
                ChainBreak(seq, "link-broken", f"entry {seq} does not commit to entry {prev_seq}"),
            )
        recomputed = chain_hash(prev_hash, entry_body(entry))
        if recomputed != entry["entry_hash"]:
            return ChainReport(
                count,
                prev_seq,
                prev_hash,
                ChainBreak(seq, "altered", f"entry {seq} does not match its hash"),
            )
        prev_seq, prev_hash = seq, recomputed
    if expected_head is not None:
        head_seq, head_hash = expected_head
        if head_seq > prev_seq:
            return ChainReport(
                count,
                prev_seq,
                prev_hash,
                ChainBreak(
                    prev_seq + 1,
                    "tail-missing",
                    f"the log claims {head_seq} entries, only {prev_seq} are present",
                ),
            )
        if head_seq < prev_seq:
            return ChainReport(
                count,
                prev_seq,
                prev_hash,
                ChainBreak(
                    head_seq + 1,
                    "unexpected-entry",
                    f"entries after {head_seq}, the newest the log claims, were appended",
                ),
            )
        if head_seq == prev_seq and head_hash != prev_hash:
            return ChainReport(
                count,
                prev_seq,
                prev_hash,
                ChainBreak(prev_seq, "altered", f"entry {prev_seq} is not the claimed head"),
            )
    return ChainReport(count, prev_seq, prev_hash, None)
