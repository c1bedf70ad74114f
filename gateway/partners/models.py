"""Tables of resellers and their NDA records."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import false

from gateway.db import Base

ACTIVE = "active"
REVOKED = "revoked"


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    created_at: Mapped[str] = mapped_column(String(27))
    revoked_at: Mapped[str | None] = mapped_column(String(27))
    revoke_reason: Mapped[str | None] = mapped_column(String(500))
    # The reseller's own limit on partner-API requests a client a minute; None: the default.
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    # A sandbox reseller sees only generated customers; its traffic is test traffic.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    ndas: Mapped[list[Nda]] = relationship(
        back_populates="partner", order_by="Nda.signed_on", lazy="selectin"
    )

    def nda_in_force(self, day: date) -> Nda | None:
        """The NDA covering ``day`` (signed on or before it, expiring on or after it), the
        one that runs longest if several do. Paragraph 3: joint use needs an NDA."""
        in_force = [nda for nda in self.ndas if nda.in_force(day)]
        return max(in_force, key=lambda nda: nda.expires_on, default=None)


class Nda(Base):
    __tablename__ = "ndas"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    reference: Mapped[str] = mapped_column(String(100))
    signed_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[str] = mapped_column(String(27))

    partner: Mapped[Partner] = relationship(back_populates="ndas")

    __table_args__ = (UniqueConstraint("partner_id", "reference"),)

    def in_force(self, day: date) -> bool:
        return self.signed_on <= day <= self.expires_on


class DestructionRecord(Base):
    """A reseller's certificate of destruction: once its access ended (revoked, NDA lapsed) it
    can no longer poll removal events, and the NDA's return-or-destroy duty takes over."""

    __tablename__ = "destruction_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    confirmed_on: Mapped[date] = mapped_column(Date)
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[str] = mapped_column(String(27))
