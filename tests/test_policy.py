"""The disclosure policy as a table: everything holds → allow; each condition flipped on its
own → deny, naming that condition, with its HTTP status."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.policy import RULES, AccessFacts, DisclosureFacts, decide

ALL_FIELDS = frozenset({"customer_id", "updated_at", "name", "email", "fees"})
CALLER = AccessFacts(
    token_authentic=True, token_revoked=False, client_active=True, partner_active=True,
    nda_in_force=True,
)  # fmt: skip
REQUEST = DisclosureFacts(
    purpose="inquiry_response",
    requested_fields=frozenset({"customer_id", "updated_at", "name"}),
    scoped_fields=frozenset({"customer_id", "updated_at", "name", "email"}),
    allowlisted_fields=ALL_FIELDS,
    designated=True,
    withheld=False,
)

FLIPS = [
    ("token_authentic", 401, replace(CALLER, token_authentic=False), REQUEST),
    ("token_not_revoked", 401, replace(CALLER, token_revoked=True), REQUEST),
    ("client_active", 401, replace(CALLER, client_active=False), REQUEST),
    ("partner_active", 401, replace(CALLER, partner_active=False), REQUEST),
    ("nda_in_force", 403, replace(CALLER, nda_in_force=False), REQUEST),
    ("purpose_declared", 400, CALLER, replace(REQUEST, purpose=None)),
    ("purpose_declared", 400, CALLER, replace(REQUEST, purpose="marketing")),
    ("fields_allowlisted", 400, CALLER,
     replace(REQUEST, requested_fields=REQUEST.requested_fields | {"credit_check"})),
    ("fields_in_scope", 403, CALLER,
     replace(REQUEST, requested_fields=REQUEST.requested_fields | {"fees"})),
    ("customer_designated", 404, CALLER, replace(REQUEST, designated=False)),
    ("customer_in_use", 404, CALLER, replace(REQUEST, withheld=True)),
]  # fmt: skip


def test_everything_in_order_is_allowed():
    assert decide(CALLER, REQUEST).allowed
    assert decide(CALLER).allowed
    assert decide(CALLER, replace(REQUEST, purpose="service_contact")).allowed


@pytest.mark.parametrize(("rule", "status", "caller", "request_"), FLIPS,
                         ids=[f"{f[0]}-{i}" for i, f in enumerate(FLIPS)])  # fmt: skip
def test_each_condition_flipped_alone_denies_with_its_rule(rule, status, caller, request_):
    decision = decide(caller, request_)
    assert not decision.allowed
    assert (decision.rule_name, decision.rule.status) == (rule, status)


def test_every_rule_is_in_the_table():
    assert {f[0] for f in FLIPS} == {rule.name for rule in RULES}


def test_a_list_request_is_not_judged_on_one_customer():
    assert decide(CALLER, replace(REQUEST, designated=None, withheld=None)).allowed


def test_the_first_failing_rule_is_named_when_several_fail():
    caller = replace(CALLER, partner_active=False, nda_in_force=False)
    assert decide(caller, replace(REQUEST, purpose=None)).rule_name == "partner_active"
