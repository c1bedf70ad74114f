"""Designations: a customer's choice of the resellers its data may be shared with.

Paragraph 3 allows joint use only with a reseller the customer designated. A customer may
designate several resellers; one row per (customer, reseller), active from ``designated_on``
until the day it is withdrawn (a withdrawal takes effect that same day, at once). The history
of additions and withdrawals is in the access log.

``changed_at`` is the reseller's sync key: the instant this customer last changed *as the
reseller sees it* — its shared content changed, the designation was made, or use resumed.
The partner list is ordered and filtered (``updated_since``) by it through the index
``(partner_id, changed_at, customer_id)``, so an incremental sync costs what it returns.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Date, ForeignKey, Index, String, and_, or_
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base


class Designation(Base):
    __tablename__ = "designations"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    designated_on: Mapped[date] = mapped_column(Date)
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    changed_at: Mapped[str] = mapped_column(String(27))

    __table_args__ = (
        Index("ix_designations_partner_id_changed_at", "partner_id", "changed_at", "customer_id"),
    )

    def active_on(self, day: date) -> bool:
        return self.designated_on <= day and (self.withdrawn_on is None or day < self.withdrawn_on)

    @classmethod
    def active_on_clause(cls, day: date | ColumnElement[date]):  # type: ignore[no-untyped-def]
        """:meth:`active_on` as SQL."""
        return and_(
            cls.designated_on <= day, or_(cls.withdrawn_on.is_(None), cls.withdrawn_on > day)
        )
