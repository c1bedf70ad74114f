"""Removal events, one for each (reseller, customer) removal, kept until the reseller
acknowledges it — and after, as the record that it did."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base

# Why a customer left a reseller's view (the event's ``reason``).
STOP_USE = "stop_use"
DESIGNATION_WITHDRAWN = "designation_withdrawn"
CONTRACT_ENDED = "contract_ended"
ERASED = "erased"
REASONS = (STOP_USE, DESIGNATION_WITHDRAWN, CONTRACT_ENDED, ERASED)


class RemovalEvent(Base):
    __tablename__ = "removal_events"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    customer_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    effective_at: Mapped[str] = mapped_column(String(27))  # the removal's commit, UTC
    acked_at: Mapped[str | None] = mapped_column(String(27))
    acked_by: Mapped[str | None] = mapped_column(String(64))  # the client that acknowledged
    error: Mapped[str | None] = mapped_column(Text)  # the reseller's last setErr, if any

    __table_args__ = (
        Index("ix_removal_events_partner_id_acked_at", "partner_id", "acked_at", "effective_at"),
        Index("ix_removal_events_customer_id", "customer_id"),
    )
