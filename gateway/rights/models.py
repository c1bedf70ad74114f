"""Tables of the rights register."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base

KINDS = ("disclosure", "correction", "stop-use", "deletion")
OUTCOMES = ("done", "refused")
OPEN = "open"
CLOSED = "closed"


class RightsRequest(Base):
    """One paragraph-6 request of a customer. ``customer_id`` is not a foreign key: the
    request outlives an erasure it asked for."""

    __tablename__ = "rights_requests"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    received_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8), default=OPEN)
    opened_by: Mapped[str] = mapped_column(String(128))
    opened_at: Mapped[str] = mapped_column(String(27))
    outcome: Mapped[str | None] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(128))
    closed_at: Mapped[str | None] = mapped_column(String(27))

    __table_args__ = (Index("ix_rights_requests_status_due_on", "status", "due_on"),)


class RightsAction(Base):
    """What was done for a request: a stop of use, an erasure, a designation withdrawn, a
    corrected import, the disclosure report — each also in the access log."""

    __tablename__ = "rights_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("rights_requests.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[str] = mapped_column(String(27))
    by: Mapped[str] = mapped_column(String(128))
