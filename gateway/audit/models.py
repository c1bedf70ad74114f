"""Tables of the access log.

``audit_entries`` is the log itself, one row an event, chained by SHA-256. ``audit_subjects``
indexes each entry by who or what it was about, so that the privacy desk's reports read an
index, not the whole log. ``audit_head`` is a single row naming the newest entry: appenders
lock it, which keeps the chain one line across processes and nodes, and the verifier compares
it with the last entry to detect a tail cut off.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base

GENESIS_HASH = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(27), index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(8))
    rule: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(32))
    items: Mapped[str] = mapped_column(Text)  # canonical JSON list of item names, never values
    allowlist_version: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    subjects: Mapped[str] = mapped_column(Text)  # canonical JSON list of [kind, id]
    details: Mapped[str] = mapped_column(Text)  # canonical JSON object of scalars
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditSubject(Base):
    __tablename__ = "audit_subjects"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, ForeignKey("audit_entries.seq"), primary_key=True)

    __table_args__ = (Index("ix_audit_subjects_seq", "seq"),)


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement of the log's first ``size`` entries (``gateway.audit.checkpoint``).

    Keyed by ``size``, so two processes that both see a checkpoint due cannot seal the same
    state twice. ``public_key`` keeps the signer's key with the checkpoint (verification still
    trusts only published keys); ``frontier`` is the Merkle tree's right edge at ``size``
    (JSON list of hex), so the next checkpoint hashes only the entries after this one.
    """

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(27))
    head_hash: Mapped[str] = mapped_column(String(64))
    merkle_root: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    frontier: Mapped[str] = mapped_column(Text)


class AnomalyReview(Base):
    """The desk's review of an anomaly flag (``gateway.audit.anomalies``): who, when, a note.
    Kept beside the log, not in it (a note may name a person); the review itself is logged."""

    __tablename__ = "anomaly_reviews"

    flag_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32))
    reviewed_by: Mapped[str] = mapped_column(String(128))
    reviewed_at: Mapped[str] = mapped_column(String(27))
    note: Mapped[str] = mapped_column(Text)
