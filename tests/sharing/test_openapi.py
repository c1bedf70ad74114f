"""``GET /openapi.json`` is a valid OpenAPI 3.1 document generated from the schemas in use."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from gateway import allowlist
from gateway.problems import CATALOGUE
from gateway.sharing.openapi import build
from tests.oauth.conftest import ISSUER


def test_openapi_is_valid_31_and_covers_the_partner_api_and_oauth(http):
    document = http.get("/openapi.json").json
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert {
        "/v1/customers", "/v1/customers/{customer_id}", "/oauth/token", "/oauth/introspect",
        "/oauth/revoke", "/.well-known/oauth-authorization-server", "/oauth/jwks.json",
    } <= set(document["paths"])  # fmt: skip


def test_openapi_customer_is_exactly_the_allowlist(http):
    document = http.get("/openapi.json").json
    customer = document["components"]["schemas"]["Customer"]
    assert set(customer["properties"]) == set(allowlist.current().field_names)
    assert customer["additionalProperties"] is False


def test_openapi_declares_the_security_scheme_and_problem_shape(http):
    document = http.get("/openapi.json").json
    flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"].endswith("/oauth/token")
    assert set(flow["scopes"]) == {"customers:contact", "customers:contract",
                                   "customers:inquiries"}  # fmt: skip
    operation = document["paths"]["/v1/customers"]["get"]
    names = {(p["in"], p["name"]) for p in operation["parameters"]}
    assert names == {("query", n) for n in ("purpose", "fields", "updated_since", "limit",
                                            "cursor")} | {("header", "DPoP")}  # fmt: skip
    assert "DPoP" in document["components"]["securitySchemes"]["oauth2"]["description"]
    token_types = document["components"]["schemas"]["TokenResponse"]["properties"]["token_type"]
    assert token_types["enum"] == ["DPoP", "Bearer"]
    assert "application/problem+json" in operation["responses"]["403"]["content"]
    assert set(document["components"]["schemas"]["Problem"]["properties"]) >= {
        "type", "title", "status", "detail",
    }  # fmt: skip


def test_openapi_describes_the_removal_events_poll(http):
    document = http.get("/openapi.json").json
    poll = document["paths"]["/v1/events"]["post"]
    body = poll["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/PollRequest")
    request = document["components"]["schemas"]["PollRequest"]["properties"]
    assert set(request) == {"maxEvents", "returnImmediately", "ack", "setErrs"}
    response = document["components"]["schemas"]["PollResponse"]
    assert set(response["required"]) == {"sets", "moreAvailable"}
    assert (
        "urn:joint-use-gateway:event:customer-removed"
        in response["properties"]["sets"]["description"]
    )


def test_openapi_rules_are_the_error_catalogue():
    schemas = build(ISSUER)["components"]["schemas"]
    assert schemas["Rule"]["enum"] == sorted(CATALOGUE)
    for problem in ("Problem", "PollProblem", "OAuthError"):
        assert schemas[problem]["properties"]["rule"] == {"$ref": "#/components/schemas/Rule"}
        assert "rule" in schemas[problem]["required"]


def test_openapi_sends_fees_as_exact_decimal_text():
    amount = build(ISSUER)["components"]["schemas"]["FeesOutput"]["properties"]["monthly_amount"]
    assert amount["type"] == ["string", "null"]
    pattern = re.compile(amount["pattern"])
    assert all(pattern.match(text) for text in ("5500", "-300", "1980.50", "0"))
    assert not any(pattern.match(text) for text in ("5500.", "1e3", "5,500", " 5500", "+1"))
