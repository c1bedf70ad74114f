"""The error catalogue holds every rule a caller can be told, and each rule's page is served;
problem bodies take their type, title and rule from it."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from markupsafe import escape

from gateway import errors
from gateway.audit.subjects import UnknownSubject
from gateway.health.views import NotReady
from gateway.oauth import dpop, resource
from gateway.policy import RULES
from gateway.problems import CATALOGUE, PUBLIC_NAMES, public_name
from gateway.sharing.views import REQUEST_VALID
from tests.oauth.conftest import ISSUER

# The storage is not the point here: one database will do.
one_database = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _api_rules() -> set[str]:
    rules = {*RULES, *dpop.RULES, REQUEST_VALID, resource.MISSING, resource.INSUFFICIENT,
             resource.RATE_LIMITED, resource.INTERNAL, resource.CHANGED}  # fmt: skip
    domain = {errors.ConfigurationError, errors.InvalidInput, errors.NotFound, errors.Conflict,
              errors.AuditUnavailable, NotReady, UnknownSubject}  # fmt: skip
    return ({public_name(rule.name) for rule in rules} | {error.rule for error in domain}
            | set(errors._HTTP_RULES.values()))  # fmt: skip


def test_every_rule_the_api_can_answer_with_is_in_the_catalogue():
    missing = _api_rules() - set(CATALOGUE)
    assert not missing, f"refusals without a catalogue entry: {sorted(missing)}"


def test_fine_log_names_are_never_told_and_map_to_catalogue_rules():
    assert set(PUBLIC_NAMES.values()) <= set(CATALOGUE)
    assert not set(PUBLIC_NAMES) & set(CATALOGUE)


@one_database
def test_each_rules_page_explains_it(http):
    for rule, problem in CATALOGUE.items():
        page = http.get(f"/problems/{rule}")
        assert page.status_code == 200 and page.mimetype == "text/html", rule
        text = page.get_data(as_text=True)
        assert rule in text and str(escape(problem.remedy)) in text


@one_database
def test_the_index_links_every_rules_page(http):
    index = http.get("/problems/")
    assert index.status_code == 200 and index.mimetype == "text/html"
    text = index.get_data(as_text=True)
    assert all(f'<a href="{rule}">' in text for rule in CATALOGUE)


@one_database
def test_an_unknown_rule_has_no_page(http):
    response = http.get("/problems/%3Cscript%3E")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.json["rule"] == "resource_exists"
    assert "<script>" not in response.get_data(as_text=True)


@one_database
@pytest.mark.parametrize(
    ("method", "path", "status", "rule"),
    [
        ("GET", "/v1/customers?purpose=service_contact", 401, "token_present"),
        ("GET", "/v1/customers/C-1?purpose=service_contact", 401, "token_present"),
        ("GET", "/no/such/place", 404, "resource_exists"),
        ("DELETE", "/v1/customers", 405, "method_allowed"),
    ],
)  # fmt: skip
def test_a_refusal_names_its_rule_its_page_and_the_statuss_title(http, method, path, status, rule):
    response = http.open(path, method=method)
    body = response.json
    assert response.status_code == status and response.mimetype == "application/problem+json"
    assert body["rule"] == rule
    assert body["type"] == f"{ISSUER}/problems/{rule}"
    assert body["title"] == HTTPStatus(status).phrase
    assert body["status"] == status
