"""Verification of the access log — the live one or an export — against signed checkpoints.

Pure code over rows and lines: no database, so the gateway and an auditor holding only an
export and the published public key run the very same checks.

What is checked, in one pass:

- every entry against its own hash (``entry_hash = SHA-256(domain || prev_hash || body)``) and
  its link to the entry before it (``chain``);
- every checkpoint's Ed25519 signature, by a *published* key only;
- the log against every checkpoint at its size: the head hash and the RFC 9162 Merkle root.
  A rewrite that recomputed every hash after it is caught here;
- the end: a checkpoint covering more entries than are present is a cut-off tail, whatever
  the head row claims (the head row can be rewound too; signed checkpoints cannot).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit import merkle
from gateway.audit.chain import ENTRY_DOMAIN as _ENTRY_DOMAIN
from gateway.audit.chain import HASHED_FIELDS, ChainBreak
from gateway.audit.checkpoint import Statement, signature_problem
from gateway.audit.models import GENESIS_HASH

# The columns of an entry, in the order every reader here takes them: the hashed fields, then
# the chain's two hashes.
ENTRY_COLUMNS = (*HASHED_FIELDS, "prev_hash", "entry_hash")

_encode = json.encoder.encode_basestring  # the C encoder json.dumps uses (ensure_ascii=False)
# chain.entry_body's canonical JSON with its keys in sorted order, written out once: the same
# bytes without building a dict and sorting it per entry (tests hold the two equal).
_BODY = (
    '{"action":%s,"actor_id":%s,"actor_kind":%s,"allowlist_version":%s,"at":%s,'
    '"details":%s,"items":%s,"outcome":%s,"purpose":%s,"request_id":%s,"rule":%s,'
    '"seq":%d,"subjects":%s}'
)


def _text(value: str | None) -> str:
    return "null" if value is None else _encode(value)


def fast_entry_body(row: Sequence[Any]) -> bytes:
    """``chain.entry_body`` of a row in :data:`ENTRY_COLUMNS` order."""
    (seq, at, actor_kind, actor_id, action, outcome, rule, purpose, items, allowlist_version,
     request_id, subjects, details) = row[:13]  # fmt: skip
    return (
        _BODY
        % (
            _text(action),
            _text(actor_id),
            _text(actor_kind),
            _text(allowlist_version),
            _text(at),
            _text(details),
            _text(items),
            _text(outcome),
            _text(purpose),
            _text(request_id),
            _text(rule),
            seq,
            _text(subjects),
        )
    ).encode("utf-8")


@dataclass(frozen=True)
class Checkpoint:
    statement: Statement
    signature: str

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Checkpoint:
        return cls(Statement.from_dict(raw), str(raw["signature"]))

    def as_dict(self) -> dict[str, Any]:
        return self.statement.as_dict() | {"signature": self.signature}


@dataclass(frozen=True)
class CheckpointProblem:
    size: int
    kind: str  # bad-signature | mismatch
    detail: str


@dataclass
class LogReport:
    """What a verification found. ``intact`` only when nothing at all is wrong."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    checkpoints: int = 0
    sealed_size: int = 0  # entries covered by the newest checkpoint that holds
    first_break: ChainBreak | None = None
    checkpoint_problem: CheckpointProblem | None = None
    subtrees: int = 0  # exports only: subtrees standing in for omitted entries
    complete: bool = True  # exports only: every entry up to the anchor is present
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.first_break is None and self.checkpoint_problem is None

    def as_dict(self) -> dict[str, Any]:
        problem = self.checkpoint_problem
        found = self.first_break
        return {
            "intact": self.intact,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "checkpoints": self.checkpoints,
            "sealed_size": self.sealed_size,
            "unsealed": max(self.head_seq - self.sealed_size, 0),
            "first_break": None
            if found is None
            else {"seq": found.seq, "kind": found.kind, "detail": found.detail},
            "checkpoint_problem": None
            if problem is None
            else {"size": problem.size, "kind": problem.kind, "detail": problem.detail},
        }


class LogVerifier:
    """Feeds on entries in log order (rows in :data:`ENTRY_COLUMNS` order) from entry 1."""

    def __init__(
        self, checkpoints: Iterable[Checkpoint], trusted: Mapping[str, Ed25519PublicKey]
    ) -> None:
        self.report = LogReport()
        self._valid: list[Checkpoint] = []
        unique = {(c.statement, c.signature): c for c in checkpoints}.values()
        for checkpoint in sorted(unique, key=lambda c: c.statement.size):
            self.report.checkpoints += 1
            why = signature_problem(checkpoint.statement, checkpoint.signature, trusted)
            if why is None:
                self._valid.append(checkpoint)
            elif self.report.checkpoint_problem is None:
                size = checkpoint.statement.size
                self.report.checkpoint_problem = CheckpointProblem(
                    size, "bad-signature", f"checkpoint at {size}: {why}"
                )
        self._pending = iter(self._valid)
        self._next = next(self._pending, None)
        self._previous_size = 0
        self._frontier = merkle.Frontier()
        self._seq = 0
        self._hash = bytes.fromhex(GENESIS_HASH)
        self._recent: dict[int, str] = {}
        self.stopped = False

    @classmethod
    def resume(cls, seq: int, head_hash: str, frontier: merkle.Frontier) -> LogVerifier:
        """A verifier that continues after entry ``seq`` (a checkpoint already checked)."""
        verifier = cls((), {})
        verifier._seq, verifier._hash, verifier._frontier = seq, bytes.fromhex(head_hash), frontier
        return verifier

    @property
    def position(self) -> int:
        """The last entry checked."""
        return self._seq

    @property
    def head_hex(self) -> str:
        return self._hash.hex()

    @property
    def recent(self) -> dict[int, str]:
        return self._recent

    def checkpoint_sizes(self) -> list[int]:
        """The sizes of the checkpoints whose signatures hold, in order."""
        return [c.statement.size for c in self._valid]

    def absorb(self, chunk: Any) -> bool:
        """Take in a chunk checked by a worker (``gateway.audit.parallel``); False on a break."""
        if self.stopped:
            return False
        if chunk.first_seq is None:
            return True  # nothing in this range: missing entries show at the next one, or the end
        if chunk.first_seq > self._seq + 1:
            return self._break(
                self._seq + 1,
                "gap",
                f"entries {self._seq + 1}..{chunk.first_seq - 1} are missing: entry "
                f"{chunk.first_seq} follows entry {self._seq}",
            )
        if chunk.first_prev != self._hash.hex():
            return self._link_broken(chunk.first_seq, chunk.first_prev)
        base = self._frontier
        for size, nodes, head_hex in chunk.marks:
            local = merkle.Frontier(size - base.size, nodes)
            self._frontier = base.extended(local)
            self._seq, self._hash = size, bytes.fromhex(head_hex)
            if not self._check_checkpoint(head_hex):
                return False
        self.report.entries += chunk.count
        if chunk.first_break is not None:
            if chunk.last_seq > self._seq:
                self._seq, self._hash = chunk.last_seq, bytes.fromhex(chunk.last_hash)
            self.report.first_break = chunk.first_break
            self.stopped = True
            return False
        self._frontier = base.extended(merkle.Frontier(chunk.count, chunk.nodes))
        self._seq, self._hash = chunk.last_seq, bytes.fromhex(chunk.last_hash)
        self._recent = dict(chunk.recent)
        return True

    def feed(self, rows: Iterable[Sequence[Any]]) -> bool:
        """Check ``rows``; False once a break is found (the caller may stop reading)."""
        if self.stopped:
            return False
        sha256 = hashlib.sha256
        domain = _ENTRY_DOMAIN
        append = self._frontier.append
        body_of = fast_entry_body
        recent = self._recent
        seq, digest = self._seq, self._hash
        digest_hex = digest.hex()
        due = self._next.statement.size if self._next is not None else -1
        count = 0
        try:
            for row in rows:
                count += 1
                number = row[0]
                if number > seq + 1:
                    return self._break(
                        seq + 1,
                        "gap",
                        f"entries {seq + 1}..{number - 1} are missing: entry {number} follows "
                        f"entry {seq}",
                    )
                if number != seq + 1:
                    return self._break(number, "reordered", f"entry {number} follows entry {seq}")
                if row[13] != digest_hex:
                    return self._link_broken(number, row[13])
                digest = sha256(domain + digest + body_of(row)).digest()
                digest_hex = digest.hex()
                if digest_hex != row[14]:
                    return self._break(number, "altered", f"entry {number} does not match its hash")
                append(digest)
                seq = number
                recent[seq & 15] = digest_hex
                if seq == due:
                    self._seq, self._hash = seq, digest
                    if not self._check_checkpoint(digest_hex):
                        return False
                    due = self._next.statement.size if self._next is not None else -1
            return True
        finally:
            self.report.entries += count
            self._seq, self._hash = seq, digest

    def _link_broken(self, seq: int, prev_hash: str) -> bool:
        for back in range(2, 16):
            if seq - back >= 1 and self._recent.get((seq - back) & 15) == prev_hash:
                first = seq - back + 1
                return self._break(
                    first,
                    "inserted",
                    f"entry {seq} commits to entry {seq - back}: entries {first}..{seq - 1} "
                    "were inserted",
                )
        return self._break(seq, "link-broken", f"entry {seq} does not commit to entry {seq - 1}")

    def _break(self, seq: int, kind: str, detail: str) -> bool:
        self.report.first_break = ChainBreak(seq, kind, detail)
        self.stopped = True
        return False

    def _check_checkpoint(self, head_hex: str) -> bool:
        """Check every checkpoint at the current size (one stored, maybe one held elsewhere)."""
        root = self._frontier.root().hex()
        while self._next is not None and self._next.statement.size == self._seq:
            if not self._check_one(self._next, head_hex, root):
                return False
        return True

    def _check_one(self, checkpoint: Checkpoint, head_hex: str, root: str) -> bool:
        statement = checkpoint.statement
        if statement.head_hash != head_hex or statement.merkle_root != root:
            first = self._previous_size + 1
            self.report.checkpoint_problem = CheckpointProblem(
                statement.size,
                "mismatch",
                f"the log no longer matches the checkpoint sealed at {statement.at}",
            )
            return self._break(
                first,
                "rewritten",
                f"entries {first}..{statement.size} were changed and re-chained: they no "
                f"longer match the checkpoint at {statement.size}",
            )
        self._previous_size = statement.size
        self.report.sealed_size = statement.size
        self._next = next(self._pending, None)
        return True

    def finish(self, claimed_head: tuple[int, str] | None = None) -> LogReport:
        """Close the pass; ``claimed_head`` is the head row's (seq, hash), where there is one."""
        report = self.report
        report.head_seq, report.head_hash = self._seq, self._hash.hex()
        if self.stopped:
            return report
        last = self._seq
        covered = max((c.statement.size for c in self._valid), default=0)
        if covered > last:
            checkpoint = next(c for c in self._valid if c.statement.size == covered)
            self._break(
                last + 1,
                "tail-missing",
                f"the checkpoint sealed at {checkpoint.statement.at} covers {covered} entries, "
                f"only {last} are present",
            )
            return report
        if claimed_head is not None:
            head_seq, head_hash = claimed_head
            if head_seq > last:
                self._break(
                    last + 1,
                    "tail-missing",
                    f"the log claims {head_seq} entries, only {last} are present",
                )
            elif head_seq < last:
                self._break(
                    head_seq + 1,
                    "unexpected-entry",
                    f"entries after {head_seq}, the newest the log claims, were appended",
                )
            elif head_hash != report.head_hash:
                self._break(last, "altered", f"entry {last} is not the claimed head")
        return report


# --- exports ----------------------------------------------------------------------------------

EXPORT_FORMAT = "joint-use-gateway/audit-export/v1"


class ExportFormatError(ValueError):
    pass


def verify_export(lines: Iterable[str], trusted: Mapping[str, Ed25519PublicKey]) -> LogReport:
    """Verify a JSON-lines export (``gateway.audit.export``) with the published keys.

    Each entry is checked against its own hash and, where the entry before it is also in the
    export, its link; entries and the subtree hashes that stand in for omitted entries must
    rebuild the Merkle root of the export's anchor checkpoint, signed by a published key.
    When nothing is omitted, every checkpoint in the export is also checked at its size.
    """
    stream = iter(lines)
    header = _json_line(next(stream, ""))
    if header.get("type") != "header" or header.get("format") != EXPORT_FORMAT:
        raise ExportFormatError("not an access-log export: the first line is not its header")
    anchor = Checkpoint.from_dict(header["checkpoint"])
    checkpoints = [anchor]
    first_body: dict[str, Any] | None = None
    for line in stream:
        record = _json_line(line)
        if record.get("type") != "checkpoint":
            first_body = record
            break
        checkpoints.append(Checkpoint.from_dict(record))

    log = LogVerifier(checkpoints, trusted)
    report = log.report
    if report.checkpoint_problem is not None and report.checkpoint_problem.size == (
        anchor.statement.size
    ):
        return log.finish()
    size = anchor.statement.size
    state = {"contiguous": True, "last_seq": 0, "last_hash": None}

    def pieces() -> Iterator[tuple[int, int, bytes]]:
        records = [] if first_body is None else [first_body]
        for record in _chain_records(records, stream):
            kind = record.get("type")
            if kind == "subtree":
                start, end = int(record["start"]), int(record["end"])
                report.subtrees += 1
                state["contiguous"] = False
                state["last_hash"] = None
                yield start, end, bytes.fromhex(record["hash"])
                continue
            if kind != "entry":
                raise ExportFormatError(f"unknown line type {kind!r}")
            row = tuple(record[name] for name in ENTRY_COLUMNS)
            seq = row[0]
            if seq > size:
                raise ExportFormatError(f"entry {seq} lies beyond the export's checkpoint")
            if state["contiguous"]:
                if not log.feed((row,)):
                    raise _Stop
            else:
                report.entries += 1
                if state["last_hash"] is not None and seq != state["last_seq"] + 1:
                    log._break(
                        state["last_seq"] + 1,
                        "gap",
                        f"entry {seq} follows entry {state['last_seq']}",
                    )
                    raise _Stop
                if state["last_hash"] is not None and row[13] != state["last_hash"]:
                    log._break(
                        seq, "link-broken", f"entry {seq} does not commit to entry {seq - 1}"
                    )
                    raise _Stop
                expected = hashlib.sha256(
                    _ENTRY_DOMAIN + bytes.fromhex(row[13]) + fast_entry_body(row)
                ).hexdigest()
                if expected != row[14]:
                    log._break(seq, "altered", f"entry {seq} does not match its hash")
                    raise _Stop
            state["last_seq"], state["last_hash"] = seq, row[14]
            yield seq - 1, seq, merkle.leaf_hash(bytes.fromhex(row[14]))

    try:
        root = merkle.root_from_pieces(size, pieces())
    except _Stop:
        return log.finish()
    except merkle.ProofError as error:
        if state["contiguous"]:
            log._break(
                state["last_seq"] + 1,
                "tail-missing",
                f"the export's checkpoint covers {size} entries, only {state['last_seq']} are "
                "present",
            )
        else:
            log._break(0, "proof-broken", f"the export does not tile the signed log: {error}")
        return log.finish()
    report.complete = state["contiguous"]
    if root.hex() != anchor.statement.merkle_root:
        report.checkpoint_problem = CheckpointProblem(
            size, "mismatch", "the export's entries and subtrees do not rebuild the signed root"
        )
        log._break(
            0,
            "rewritten",
            "an entry was changed, removed, added or moved: the export does not match its "
            "checkpoint",
        )
        return log.finish()
    if report.complete:
        return log.finish()
    # Filtered: the entries present are proven in place; the checkpoints in between cannot
    # be matched without the entries they cover, only their signatures were checked.
    report.head_seq, report.head_hash = size, anchor.statement.head_hash
    report.sealed_size = size
    return report


class _Stop(Exception):
    """A break was recorded; stop reading the export."""


def _chain_records(first: list[dict[str, Any]], rest: Iterator[str]) -> Iterator[dict[str, Any]]:
    yield from first
    for line in rest:
        if line.strip():
            yield _json_line(line)


def _json_line(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        raise ExportFormatError("a line of the export is not JSON") from None
    if not isinstance(value, dict):
        raise ExportFormatError("a line of the export is not a JSON object")
    return value
