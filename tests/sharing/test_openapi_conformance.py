"""The API answers as ``/openapi.json`` says: status, content type, headers and body.

schemathesis reads the document from the real application (its WSGI app: no server between)
and generates requests for every operation, valid and invalid, sent with a real token of a
reseller with real customers; each answer is checked against the document by schemathesis's
own conformance checks. Explicit requests reach what generated ones rarely do (a missing token,
a field outside the scopes, an unavailable customer, a second page, a removal event, the rate
limit, each OAuth endpoint's success and refusal) and are checked the same way.

A mismatch fails the test. Generation is derandomized and bounded (``EXAMPLES`` requests an
operation, valid and invalid ones together), so the build is reproducible and quick.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from http import HTTPStatus

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import delete

from gateway import allowlist
from gateway.audit.models import AuditHead
from gateway.customers import service as customers
from gateway.partners import service as partners
from tests import factories
from tests.oauth.conftest import ISSUER, basic, get_token

# What is checked here does not depend on the store (see tests/conftest.py).
pytestmark = pytest.mark.one_database

CHECKS = [status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]  # fmt: skip
EXAMPLES = 12
GENERATED = settings(
    max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)  # fmt: skip
# Generated requests run on both stores; the explicit ones, about shapes alone, on SQLite.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FULL = {
    "account_id": "A-1001", "company_name": "Kita Trading", "department": "Sales",
    "title": "Manager", "address": "1-2-3 Marunouchi, Tokyo", "phone": "03-0000-0001",
    "fax": "03-0000-0002",
    "contract": {"application_date": "2025-01-10", "contract_date": "2025-02-01",
                 "services": ["sync", "backup"], "usage_status": "active",
                 "payment_method": "invoice"},
    "fees": {"plan": "standard", "monthly_amount": 5500, "currency": "JPY"},
    "inquiries": [{"inquiry_id": "Q-1", "received_at": "2026-03-01T10:00:00+09:00",
                   "content": "Sync stops at night.", "investigation": "A proxy timeout.",
                   "answer": "Raise the timeout.", "answered_at": "2026-03-02T09:30:00+09:00"}],
}  # fmt: skip


@pytest.fixture
def oauth_config(oauth_config):
    # Generated requests fail authentication and get tokens far more often than a reseller:
    # limits that would turn every later answer into a 429 are raised (429 is asked for below).
    return replace(oauth_config, rate_limit_failures_per_minute=100_000,
                   rate_limit_tokens_per_minute=100_000)  # fmt: skip


@pytest.fixture
def world(app, make_reseller, clock):
    """acme (every scope, Bearer tokens) designated by C-1 (every item), C-2, C-3 and C-4,
    which it read before the customer stopped use (a removal event waits); C-9 exists but
    designated no one."""
    acme = make_reseller("acme")
    runtime = app.extensions["gateway"]
    with runtime.transaction() as session:
        factories.customer(session, clock, "C-1", **FULL)
        for customer_id in ("C-2", "C-3", "C-4", "C-9"):
            factories.customer(session, clock, customer_id, fees={"monthly_amount": "-300.50"})
        for customer_id in ("C-1", "C-2", "C-3", "C-4"):
            factories.designation(session, clock, customer_id, "acme")
    http = app.test_client()
    token = get_token(http, acme)
    read = http.get("/v1/customers/C-4?purpose=service_contact", headers=_bearer(token))
    assert read.status_code == 200, read.get_data(as_text=True)
    with runtime.transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-4")
    return {"acme": acme, "token": token}


@pytest.fixture
def schema(app):
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _conforms(case, headers: dict[str, str] | None = None, **call):
    """Send ``case`` to the app and hold the answer to the document; returns the answer."""
    response = case.call(headers=headers, **call)
    case.validate_response(response, checks=CHECKS)
    _type_names_rule(response)
    return response


def _type_names_rule(response) -> None:
    """What JSON Schema cannot tie together: a problem's ``type`` is its rule's page, its
    ``title`` its status's reason phrase."""
    if response.status_code < 400:
        return
    body = response.json()
    if "title" in body:
        assert body["title"] == HTTPStatus(response.status_code).phrase, body
    if "type" in body or "error_uri" in body:
        page = body.get("type", body.get("error_uri"))
        assert page == f"{ISSUER}/problems/{body['rule']}", body


# --- every operation, generated requests ------------------------------------------------------


def _authorization(world, path: str) -> dict[str, str]:
    if path.startswith("/oauth/"):
        return basic(world["acme"])
    if path.startswith("/v1/"):
        return _bearer(world["token"])
    return {}


def _generated(operation, headers: dict[str, str]) -> set[int]:
    """Send ``operation`` generated requests, valid and invalid; returns the statuses seen."""
    seen: set[int] = set()
    strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                  operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)]  # fmt: skip
    if "{customer_id}" in operation.path:
        # Generated ids are almost never a customer's: ask for the real ones too.
        strategies += [operation.as_strategy(path_parameters={"customer_id": customer_id})
                       for customer_id in ("C-1", "C-2")]  # fmt: skip
    strategy = st.one_of(strategies)

    @GENERATED
    @given(case=strategy)
    def answers_as_documented(case):
        seen.add(_conforms(case, headers).status_code)

    answers_as_documented()
    return seen


def test_every_operation_answers_generated_requests_as_documented(app, world, schema):
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(o.method.upper(), o.path) for o in operations} == {
        ("GET", "/v1/customers"), ("GET", "/v1/customers/{customer_id}"),
        ("POST", "/v1/events"), ("POST", "/oauth/token"), ("POST", "/oauth/introspect"),
        ("POST", "/oauth/revoke"), ("GET", "/.well-known/oauth-authorization-server"),
        ("GET", "/oauth/jwks.json"),
    }  # fmt: skip
    seen: dict[str, set[int]] = {}
    mismatches: dict[str, str] = {}
    for operation in operations:
        try:
            seen[operation.label] = _generated(operation, _authorization(world, operation.path))
        except (AssertionError, FailureGroup) as mismatch:  # every operation's, not the first's
            mismatches[operation.label] = str(mismatch)
    assert not mismatches, "\n\n".join(f"{op}:\n{why}" for op, why in mismatches.items())
    # The generated requests reached success and refusal on the partner API.
    assert 200 in seen["GET /v1/customers"] and 400 in seen["GET /v1/customers"], seen
    assert {200, 404} <= seen["GET /v1/customers/{customer_id}"], seen
    assert {200, 400} <= seen["POST /v1/events"], seen


@SQLITE
def test_the_check_fails_on_a_document_that_says_number_where_the_api_sends_text(app, world):
    # The hostile twin: issue #17's own mismatch, put back into a copy of the document.
    document = copy.deepcopy(app.test_client().get("/openapi.json").json)
    fees = document["components"]["schemas"]["FeesOutput"]["properties"]
    fees["monthly_amount"] = {"type": ["number", "null"]}
    operation = schemathesis.openapi.from_dict(document)["/v1/customers/{customer_id}"]["GET"]
    case = operation.Case(path_parameters={"customer_id": "C-1"},
                          query={"purpose": "inquiry_response"})  # fmt: skip
    with pytest.raises(FailureGroup, match="Response violates schema") as mismatch:
        _conforms(case, _bearer(world["token"]), app=app)
    assert '"monthly_amount": "5500"' in str(mismatch.value)


# --- what generated requests rarely reach -----------------------------------------------------


@SQLITE
def test_a_read_with_every_scope_carries_every_item_as_documented(schema, world):
    operation = schema["/v1/customers/{customer_id}"]["GET"]
    case = operation.Case(path_parameters={"customer_id": "C-1"},
                          query={"purpose": "inquiry_response"})  # fmt: skip
    body = _conforms(case, _bearer(world["token"])).json()
    assert set(body) == allowlist.current().field_names
    assert body["fees"]["monthly_amount"] == "5500"
    assert body["inquiries"][0]["answered_at"] == "2026-03-02T09:30:00+09:00"


@SQLITE
def test_a_list_page_with_a_cursor_and_the_next_page_answer_as_documented(schema, world):
    operation = schema["/v1/customers"]["GET"]
    first = _conforms(operation.Case(query={"purpose": "service_contact", "limit": 1}),
                      _bearer(world["token"])).json()  # fmt: skip
    assert first["next_cursor"] is not None and len(first["customers"]) == 1
    second = _conforms(
        operation.Case(query={"purpose": "service_contact", "limit": 1,
                              "cursor": first["next_cursor"]}),
        _bearer(world["token"]),
    ).json()  # fmt: skip
    assert second["customers"][0]["customer_id"] != first["customers"][0]["customer_id"]
    assert second["next_updated_since"] == first["next_updated_since"]  # one paging run


@SQLITE
def test_an_incremental_sync_from_next_updated_since_answers_as_documented(schema, world):
    operation = schema["/v1/customers"]["GET"]
    page = _conforms(operation.Case(query={"purpose": "service_contact"}),
                     _bearer(world["token"])).json()  # fmt: skip
    for since in (page["next_updated_since"], "2026-01-01T09:00:00+09:00"):
        # The '+' of an offset goes percent-encoded, as the document asks.
        query = {"purpose": "service_contact", "updated_since": since}
        assert _conforms(operation.Case(query=query), _bearer(world["token"])).status_code == 200


@SQLITE
def test_bad_list_requests_are_documented_problems(schema, world):
    operation = schema["/v1/customers"]["GET"]
    for query, rule in (
        ({"purpose": "marketing"}, "purpose_declared"),
        ({"purpose": "service_contact", "limit": 0}, "request_valid"),
        ({"purpose": "service_contact", "fields": "credit_check"}, "fields_allowlisted"),
        ({"purpose": "service_contact", "cursor": "not-a-cursor"}, "request_valid"),
    ):
        response = _conforms(operation.Case(query=query), _bearer(world["token"]))
        assert (response.status_code, response.json()["rule"]) == (400, rule)


@SQLITE
def test_no_token_is_a_documented_401_with_a_challenge(schema):
    response = _conforms(schema["/v1/customers"]["GET"].Case(query={"purpose": "service_contact"}))
    assert (response.status_code, response.json()["rule"]) == (401, "token_present")
    assert "Bearer" in response.headers["www-authenticate"][0]


@SQLITE
def test_a_field_outside_the_scopes_is_a_documented_403(app, schema, world, make_reseller, clock):
    bolt = make_reseller("bolt", scopes="customers:contact")
    with app.extensions["gateway"].transaction() as session:
        factories.designation(session, clock, "C-1", "bolt")
    case = schema["/v1/customers/{customer_id}"]["GET"].Case(
        path_parameters={"customer_id": "C-1"}, query={"purpose": "service_contact",
                                                       "fields": "fees"})  # fmt: skip
    response = _conforms(case, _bearer(get_token(app.test_client(), bolt)))
    assert (response.status_code, response.json()["rule"]) == (403, "fields_in_scope")


@SQLITE
def test_unavailable_customers_are_alike_documented_404s(schema, world):
    operation = schema["/v1/customers/{customer_id}"]["GET"]
    # Designated no one; stopped use; absent; not even an id.
    for customer_id in ("C-9", "C-4", "C-404", "-not-an-id"):
        case = operation.Case(path_parameters={"customer_id": customer_id},
                              query={"purpose": "inquiry_response"})  # fmt: skip
        response = _conforms(case, _bearer(world["token"]))
        assert (response.status_code, response.json()["rule"]) == (404, "customer_available")


@SQLITE
def test_the_rate_limit_is_a_documented_429_with_retry_after(app, schema, make_reseller, clock):
    slow = make_reseller("slow")
    with app.extensions["gateway"].transaction() as session:
        partners.set_limits(session, clock, factories.OPERATOR, partner_id="slow", per_minute=1)
    token = get_token(app.test_client(), slow)
    case = schema["/v1/customers"]["GET"].Case(query={"purpose": "service_contact"})
    assert _conforms(case, _bearer(token)).status_code == 200
    response = _conforms(case, _bearer(token))
    assert (response.status_code, response.json()["rule"]) == (429, "rate_limited")
    assert int(response.headers["retry-after"][0]) >= 1


@SQLITE
def test_a_log_that_cannot_be_written_is_a_documented_503(app, schema, world):
    with app.extensions["gateway"].transaction() as session:
        session.execute(delete(AuditHead))
    read = schema["/v1/customers/{customer_id}"]["GET"].Case(
        path_parameters={"customer_id": "C-1"}, query={"purpose": "inquiry_response"}
    )
    response = _conforms(read, _bearer(world["token"]))
    assert (response.status_code, response.json()["rule"]) == (503, "log_available")
    issue = _form(schema, "/oauth/token", grant_type="client_credentials")
    refused = _conforms(issue, basic(world["acme"]))
    assert (refused.status_code, refused.json()["rule"]) == (503, "log_available")


@SQLITE
def test_a_removal_event_poll_and_a_refused_poll_answer_as_documented(schema, world):
    operation = schema["/v1/events"]["POST"]
    polled = _conforms(operation.Case(body={"maxEvents": 10}), _bearer(world["token"])).json()
    assert len(polled["sets"]) == 1
    acked = _conforms(operation.Case(body={"ack": list(polled["sets"])}), _bearer(world["token"]))
    assert acked.json() == {"sets": {}, "moreAvailable": False}
    refused = _conforms(operation.Case(body={"maxEvents": "all"}), _bearer(world["token"]))
    body = refused.json()
    assert (refused.status_code, body["rule"], body["err"]) == (400, "request_valid",
                                                                "invalid_request")  # fmt: skip


@SQLITE
def test_the_oauth_endpoints_answer_success_and_refusal_as_documented(schema, world):
    acme = world["acme"]
    issued = _conforms(_form(schema, "/oauth/token", grant_type="client_credentials"), basic(acme))
    access_token = issued.json()["access_token"]
    for body, headers, error, rule in (
        ({"grant_type": "password"}, basic(acme), "unsupported_grant_type", "grant_supported"),
        ({"grant_type": "client_credentials", "scope": "customers:all"}, basic(acme),
         "invalid_scope", "scope_granted"),
        ({"grant_type": "client_credentials"}, basic(acme, "wrong"), "invalid_client",
         "client_authenticated"),
    ):  # fmt: skip
        refused = _conforms(_form(schema, "/oauth/token", **body), headers).json()
        assert (refused["error"], refused["rule"]) == (error, rule)
    introspect = _form(schema, "/oauth/introspect", token=access_token)
    assert _conforms(introspect, basic(acme)).json()["active"] is True
    revoke = _form(schema, "/oauth/revoke", token=access_token)
    assert _conforms(revoke, basic(acme)).status_code == 200
    assert _conforms(introspect, basic(acme)).json() == {"active": False}


def _form(schema, path: str, **body: str):
    return schema[path]["POST"].Case(body=body, media_type="application/x-www-form-urlencoded")
