"""The sandbox: a reseller whose traffic is test traffic, and the generated customers it sees.

A **sandbox reseller** (``partners.sandbox``; ``gateway partners add ID --name N --sandbox``)
lets a reseller's developers run their integration against a gateway that behaves like
production — the same tokens, policy, paging, sync keys, log and removal events — without a
real customer's data. Two rules keep the two worlds apart:

- **A generated customer is known by its id**: every id starting ``SANDBOX-`` (in any case) is
  reserved for customers the sandbox generator makes (``gateway demo``, ``gateway sandbox
  tick``). The customer import door refuses such an id from any other source, and refuses the
  generator any other id.
- **A sandbox reseller is designated by generated customers only**, and a generated customer
  designates sandbox resellers only: a designation mixing the two is refused, and nothing
  changes.

Its accesses are logged like any other and counted truthfully by the customer and leak
reports; only the privacy desk's anomaly rules leave them out, counting them apart as sandbox
traffic (:mod:`gateway.audit.anomalies`).
"""

from __future__ import annotations

# Reserved for generated customers: see the module docstring.
CUSTOMER_PREFIX = "SANDBOX-"


def is_generated(customer_id: str) -> bool:
    """Whether ``customer_id`` is a generated sandbox customer's (the prefix, in any case)."""
    return customer_id[: len(CUSTOMER_PREFIX)].upper() == CUSTOMER_PREFIX


def designation_refusal(customer_id: str, partner_id: str, sandbox_partner: bool) -> str | None:
    """Why ``customer_id`` may not designate ``partner_id`` (a sandbox reseller or not), or
    None. Names ids only."""
    generated = is_generated(customer_id)
    if sandbox_partner and not generated:
        return (
            f"partner {partner_id!r} is a sandbox reseller: only generated customers "
            f"(ids {CUSTOMER_PREFIX}…) may designate it, and {customer_id!r} is not one"
        )
    if generated and not sandbox_partner:
        return (
            f"customer {customer_id!r} is a generated sandbox customer: it may designate "
            f"sandbox resellers only, and {partner_id!r} is not one"
        )
    return None
