"""Staff accounts of the web console.

Failed sign-ins and the lock-out live in the database, so a lock-out holds on every worker of
every node. ``session_generation`` is copied into each signed session cookie; raising it
(sign-out, disable) ends every session of the account at once, though the cookies themselves
are held by browsers the gateway cannot reach.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base

ACTIVE = "active"
DISABLED = "disabled"

PRIVACY_DESK = "privacy_desk"
OPERATOR = "operator"
ROLES = (PRIVACY_DESK, OPERATOR)


class StaffAccount(Base):
    __tablename__ = "staff_accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))  # scrypt, never the password
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    created_at: Mapped[str] = mapped_column(String(27))
    disabled_at: Mapped[str | None] = mapped_column(String(27))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[str | None] = mapped_column(String(27))
    last_login_at: Mapped[str | None] = mapped_column(String(27))
    session_generation: Mapped[int] = mapped_column(Integer, default=0)


class NoticeRevision(Base):
    """Each form the public joint-use notice has taken, by a fingerprint of what it says (the
    items, purposes, scope and the responsible party), with the day it was first published:
    the notice shows since when it reads as it does."""

    __tablename__ = "notice_revisions"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    published_on: Mapped[date] = mapped_column(Date)
