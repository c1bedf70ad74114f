"""The customer store: only allowlisted content, ever.

``content`` holds exactly the validated allowlist content of a customer (canonical JSON: keys
sorted, every shared field present, null when absent); a source field outside the allowlist
is dropped at the import door and never reaches this table. ``content_hash`` is the SHA-256
of that text, so a re-import moves ``updated_at`` only when the shared content changed.
"""

from __future__ import annotations

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base


class Customer(Base):
    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[str] = mapped_column(String(27))
    # Derived from contract.usage_status at import; see gateway.customers.service.
    contract_ended: Mapped[bool] = mapped_column(Boolean, default=False)
    # Paragraph 6: the customer asked the company to stop using their data.
    stop_use: Mapped[bool] = mapped_column(Boolean, default=False)
    stop_use_at: Mapped[str | None] = mapped_column(String(27))

    @property
    def withheld(self) -> bool:
        return self.stop_use or self.contract_ended


class ErasedCustomer(Base):
    """A tombstone: the customer whose data was erased (paragraph 6, 消去), when, and for which
    request — nothing else. An import of the id is refused until an operator readmits it."""

    __tablename__ = "erased_customers"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[str] = mapped_column(String(27))
    request_id: Mapped[str | None] = mapped_column(String(64))
