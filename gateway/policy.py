"""The disclosure policy: the one place a disclosure is decided.

A pure function of facts gathered fresh on every request — nothing here reads the clock, the
database or a cache — returning allow, or deny with the rule that failed. The rules are
checked in the order of :data:`RULES`, so every denial names the first condition that does
not hold. DESIGN ("Every disclosure needs all of") and the terms, clause 22:

- paragraph 3: only resellers under an NDA with the company and designated by the customer,
  only for the joint-use purposes, only the listed items;
- paragraph 5: access control limiting who sees what (tokens, clients, scopes);
- paragraph 6: a customer's request to stop use withholds them from everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Paragraph 3 (within the purposes of paragraph 2): answering the customer's requests and
# inquiries quickly, and making necessary contact about the service.
JOINT_USE_PURPOSES = frozenset({"inquiry_response", "service_contact"})


@dataclass(frozen=True)
class AccessFacts:
    """Who is asking, as known on this request (never from a cache that could outlive a
    revocation)."""

    token_authentic: bool  # signature by a published key, issuer, audience, expiry
    token_revoked: bool
    client_active: bool
    partner_active: bool
    nda_in_force: bool  # an NDA signed on or before today, expiring today or later


@dataclass(frozen=True)
class DisclosureFacts:
    """What is asked for, and about whom."""

    purpose: str | None
    requested_fields: frozenset[str]
    scoped_fields: frozenset[str]  # the fields the token's scopes grant
    allowlisted_fields: frozenset[str]  # the fields of the allowlist in force
    # None for a list request: the list holds only designated, shareable customers.
    designated: bool | None = None
    withheld: bool | None = None  # stop of use (paragraph 6) or contract ended
    unknown_fields: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unknown_fields", self.requested_fields - self.allowlisted_fields)


@dataclass(frozen=True)
class Rule:
    name: str
    status: int  # the HTTP status of a denial
    error: str | None  # the RFC 6750 error code, where the denial is about the token
    detail: str
    holds: Callable[[AccessFacts, DisclosureFacts | None], bool]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: Rule | None = None

    @property
    def rule_name(self) -> str | None:
        return self.rule.name if self.rule else None


def _disclosure(check: Callable[[DisclosureFacts], bool]):  # type: ignore[no-untyped-def]
    return lambda _access, disclosure: disclosure is None or check(disclosure)


RULES: tuple[Rule, ...] = (
    Rule("token_authentic", 401, "invalid_token", "the access token is not valid",
         lambda a, _: a.token_authentic),
    Rule("token_not_revoked", 401, "invalid_token", "the access token was revoked",
         lambda a, _: not a.token_revoked),
    Rule("client_active", 401, "invalid_token", "the client is disabled",
         lambda a, _: a.client_active),
    Rule("partner_active", 401, "invalid_token", "the partner's access was revoked",
         lambda a, _: a.partner_active),
    Rule("nda_in_force", 403, None, "the partner has no NDA in force today",
         lambda a, _: a.nda_in_force),
    Rule("purpose_declared", 400, "invalid_request",
         "declare a joint-use purpose: purpose=inquiry_response or purpose=service_contact",
         _disclosure(lambda d: d.purpose in JOINT_USE_PURPOSES)),
    Rule("fields_allowlisted", 400, "invalid_request",
         "fields= names a field that is not shared under the terms",
         _disclosure(lambda d: not d.unknown_fields)),
    Rule("fields_in_scope", 403, "insufficient_scope",
         "fields= names a field outside the token's scopes",
         _disclosure(lambda d: d.requested_fields <= d.scoped_fields)),
    # A customer who did not designate the caller, or is withheld, is a 404 that reveals
    # nothing: the same answer as a customer who does not exist.
    Rule("customer_designated", 404, None, "no such customer",
         _disclosure(lambda d: d.designated is not False)),
    Rule("customer_in_use", 404, None, "no such customer",
         _disclosure(lambda d: d.withheld is not True)),
)  # fmt: skip

# Rules renamed since entries were logged under their old names (the log is never rewritten):
# old name -> the rule's name now. ``customer_not_withheld`` read as the opposite of what had
# happened; ``customer_in_use`` says what it checks (no stop of use, the contract not ended).
RENAMED_RULES = {"customer_not_withheld": "customer_in_use"}


def rule_names(name: str) -> tuple[str, ...]:
    """A rule's name and every name it was logged under (for reading the log)."""
    return (name, *(old for old, new in RENAMED_RULES.items() if new == name))


def decide(access: AccessFacts, disclosure: DisclosureFacts | None = None) -> Decision:
    """Allow only when every rule holds; otherwise deny with the first rule that fails.

    With ``disclosure`` omitted, only the caller is judged (the resource-server check of
    every protected endpoint).
    """
    for rule in RULES:
        if not rule.holds(access, disclosure):
            return Decision(False, rule)
    return Decision(True)
