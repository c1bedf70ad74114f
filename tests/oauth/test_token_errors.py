"""Every refusal of the token, introspection and revocation endpoints keeps RFC 6749 §5.2's
shape and names the rule that failed — ``{"error", "error_description", "rule",
"error_uri"}`` — from one list of rules, each in the error catalogue. A client assertion's
failed check is named (form, key, signature, audience, expiry, replay), its claims only once
its signature holds; a caller that has not authenticated learns nothing of which client ids
exist. The log keeps the finer name."""

from __future__ import annotations

import ast
import base64
import json
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from gateway import create_app, problems, shutdown
from gateway.errors import AuditUnavailable
from gateway.oauth import clients, server, views
from gateway.oauth.server import TOKEN_RULES, told
from gateway.partners import service as partners
from tests import factories
from tests.oauth.conftest import (
    ASSERTION_TYP,
    ISSUER,
    Reseller,
    assertion_form,
    basic,
    error_of,
    get_token,
    last_entry,
    public_jwk,
)

# What is checked here does not depend on the store (see tests/conftest.py).
pytestmark = pytest.mark.one_database

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_every_rule_the_endpoints_name_is_in_the_catalogue():
    assert len(set(TOKEN_RULES)) == len(TOKEN_RULES)
    missing = [rule for rule in TOKEN_RULES if told(rule) not in problems.CATALOGUE]
    assert missing == []


def _rules_named_in(module) -> set[str]:
    """The rule names written out in a module: the first argument of ``refuse``,
    ``_refusal`` and ``refused``, the last of ``_oauth_error``."""
    named = set()
    for node in ast.walk(ast.parse(Path(module.__file__).read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        argument = None
        if name in ("refuse", "_refusal", "refused") and node.args:
            argument = node.args[0]
        elif name == "_oauth_error" and len(node.args) == 4:
            argument = node.args[3]
        if isinstance(argument, ast.Constant):
            named.add(argument.value)
    return named


def test_no_refusal_names_a_rule_outside_the_list():
    named = _rules_named_in(server) | _rules_named_in(views) | set(server._AUTHLIB_RULES.values())
    assert len(named) > 15
    assert named - set(TOKEN_RULES) == set()


# --- client assertions: each failed check, by name ---------------------------------------


def _signed(reseller, key, *, kid: str | None = "k1", **claims) -> dict[str, str]:
    """The token request of an assertion signed by ``key`` with header ``kid`` (none if
    ``None``); claims as a careful client sets them unless overridden."""
    now = int(time.time())
    body = {"iss": reseller.client_id, "sub": reseller.client_id, "aud": ISSUER, "iat": now,
            "exp": now + 120, "jti": uuid.uuid4().hex} | claims  # fmt: skip
    header = {"alg": "ES256", "typ": ASSERTION_TYP} | ({"kid": kid} if kid else {})
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode(header, body, key)}  # fmt: skip


def _with_header(form: dict[str, str], **members) -> dict[str, str]:
    """The assertion with its header changed (and its signature no longer over it)."""
    header, payload, signature = form["client_assertion"].split(".")
    changed = json.loads(base64.urlsafe_b64decode(header + "==")) | members
    encoded = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
    return form | {"client_assertion": f"{encoded}.{payload}.{signature}"}


def _refused(http, app, form, rule, *, status=400, error="invalid_client"):
    response = http.post("/oauth/token", data=form)
    assert response.status_code == status, response.get_data(as_text=True)
    body = error_of(response, rule)
    assert body["error"] == error and body["error_description"]
    entry = last_entry(app)
    assert (entry.action, entry.outcome, entry.rule) == ("token.issue", "denied", rule)
    return body


def _issued(http, form):
    response = http.post("/oauth/token", data=form)
    assert response.status_code == 200, response.get_data(as_text=True)


STRANGER = ECKey.generate_key("P-256", private=True)


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        ("wrong key", "client_assertion_signature"),
        ("unknown kid", "client_assertion_key"),
        ("kid not a string", "client_assertion_key"),
        ("wrong aud", "client_assertion_audience"),
        ("expired", "client_assertion_expiry"),
        ("not a JWS", "client_assertion_valid"),
        ("no jti", "client_assertion_valid"),
    ],
)
def test_a_failed_assertion_check_is_named(http, app, make_reseller, case, rule):
    reseller = make_reseller(secret=False)
    form = {
        "wrong key": lambda: _signed(reseller, STRANGER),
        "unknown kid": lambda: _signed(reseller, reseller.key, kid="k9"),
        "kid not a string": lambda: _with_header(_signed(reseller, reseller.key), kid=7),
        "wrong aud": lambda: _signed(reseller, reseller.key, aud=ISSUER + "/oauth/token"),
        "expired": lambda: _signed(reseller, reseller.key, exp=int(time.time()) - 120),
        "not a JWS": lambda: assertion_form(reseller) | {"client_assertion": "a.b.c"},
        "no jti": lambda: _signed(reseller, reseller.key, jti=""),
    }[case]()
    _refused(http, app, form, rule)
    _issued(http, _signed(reseller, reseller.key))  # the twin that passes every check


def test_a_replayed_assertion_is_named(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    form = _signed(reseller, reseller.key, jti="only-once")
    _issued(http, form)
    body = _refused(http, app, form, "client_assertion_unused")
    assert "new jti" in body["error_description"]


@pytest.fixture
def two_keys(app, make_reseller, clock):
    """A client with two registered keys, k1 and k2."""
    first, second = (ECKey.generate_key("P-256", private=True) for _ in range(2))
    jwks = {"keys": [public_jwk(first, "k1"), public_jwk(second, "k2")]}
    make_reseller(secret=False)  # the partner
    with app.extensions["gateway"].transaction() as session:
        client, _ = clients.add_client(
            session, clock, factories.OPERATOR, partner_id="acme", scopes="customers:contact",
            jwks_text=json.dumps(jwks), sender_constraint="none",
        )  # fmt: skip
    return Reseller("acme", client.client_id, None, first), second


def test_with_two_keys_an_assertion_must_name_one(http, app, two_keys):
    reseller, second = two_keys
    body = _refused(http, app, _signed(reseller, reseller.key, kid=None), "client_assertion_key")
    assert "kid" in body["error_description"]
    _issued(http, _signed(reseller, reseller.key, kid="k1"))
    _issued(http, _signed(reseller, second, kid="k2"))
    _refused(http, app, _signed(reseller, second, kid="k1"), "client_assertion_signature")


def test_with_one_key_the_kid_may_be_left_out(http, make_reseller):
    reseller = make_reseller(secret=False)
    _issued(http, _signed(reseller, reseller.key, kid=None))


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "https://attacker.example"},
        {"exp": 1},
        {"iat": 2**40},
        {"iss": "someone-else"},
        {"jti": ""},
    ],
    ids=["aud", "exp", "iat", "iss", "jti"],
)
def test_claims_are_judged_only_once_the_signature_holds(http, app, make_reseller, claims):
    """A caller who cannot sign for the client learns nothing about the claims it sent."""
    reseller = make_reseller(secret=False)
    _refused(http, app, _signed(reseller, STRANGER, **claims), "client_assertion_signature")
    _refused(http, app, _signed(reseller, STRANGER, kid="k9", **claims), "client_assertion_key")


def test_a_replayed_jti_is_judged_only_once_the_signature_holds(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    _issued(http, _signed(reseller, reseller.key, jti="used"))
    _refused(http, app, _signed(reseller, STRANGER, jti="used"), "client_assertion_signature")


# --- a caller that has not authenticated ---------------------------------------------------


def test_unknown_disabled_revoked_and_wrong_secret_are_one_answer(http, app, make_reseller,
                                                                  clock):  # fmt: skip
    good = make_reseller()
    disabled = make_reseller()
    revoked = make_reseller("gone")
    with app.extensions["gateway"].transaction() as session:
        clients.disable_client(session, clock, factories.OPERATOR, client_id=disabled.client_id)
        partners.revoke_partner(session, clock, factories.OPERATOR, partner_id="gone",
                                reason="ended")  # fmt: skip
    ghost = replace(good, client_id="cl_" + "A" * 16)
    callers = {
        "client_secret_valid": basic(good, "x" * 43),
        "client_known": basic(ghost),
        "client_active": basic(disabled),
    }
    answers = []
    for logged, headers in callers.items():
        response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                             headers=headers)  # fmt: skip
        assert last_entry(app).rule == logged
        answers.append((response.status_code, response.json, response.headers["WWW-Authenticate"]))
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers=basic(revoked))  # fmt: skip
    answers.append((response.status_code, response.json, response.headers["WWW-Authenticate"]))
    assert all(answer == answers[0] for answer in answers), answers
    status, body, _ = answers[0]
    assert status == 401
    assert body == {"error": "invalid_client", "error_description": "client authentication failed",
                    "rule": "client_authenticated",
                    "error_uri": ISSUER + "/problems/client_authenticated"}  # fmt: skip


def test_unknown_disabled_and_revoked_assertion_clients_are_one_answer(http, app, make_reseller,
                                                                       clock):  # fmt: skip
    disabled = make_reseller(secret=False)
    revoked = make_reseller("gone", secret=False)
    with app.extensions["gateway"].transaction() as session:
        clients.disable_client(session, clock, factories.OPERATOR, client_id=disabled.client_id)
        partners.revoke_partner(session, clock, factories.OPERATOR, partner_id="gone",
                                reason="ended")  # fmt: skip
    ghost = replace(disabled, client_id="cl_" + "A" * 16)
    answers = [http.post("/oauth/token", data=_signed(caller, caller.key)) for caller in
               (disabled, revoked, ghost)]  # fmt: skip
    assert {(a.status_code, json.dumps(a.json)) for a in answers} == {
        (400, json.dumps(answers[0].json))
    }
    assert answers[0].json["rule"] == "client_authenticated"


# --- Authlib's own refusals, and the gateway's state ----------------------------------------


def test_an_unsupported_grant_type_is_named_and_not_echoed(http, app, make_reseller):
    grant = "<script>" + "x" * 5000
    response = http.post("/oauth/token", data={"grant_type": grant}, headers=basic(make_reseller()))
    body = error_of(response, "grant_supported")
    assert response.status_code == 400 and body["error"] == "unsupported_grant_type"
    assert body["error_description"] == "grant_type must be client_credentials"
    assert last_entry(app).rule == "grant_supported"


@pytest.mark.parametrize("endpoint", ["/oauth/introspect", "/oauth/revoke"])
def test_a_request_without_its_token_is_named(http, app, make_reseller, endpoint):
    response = http.post(endpoint, data={}, headers=basic(make_reseller()))
    assert response.status_code == 400
    assert error_of(response, "request_valid")["error"] == "invalid_request"
    assert last_entry(app).rule == "request_valid"


def test_revoking_another_clients_token_is_named_and_leaves_it_valid(http, app, make_reseller):
    owner, other = make_reseller(), make_reseller()
    token = get_token(http, owner)
    response = http.post("/oauth/revoke", data={"token": token}, headers=basic(other))
    assert response.status_code == 400
    assert error_of(response, "token_owned")["error"] == "invalid_grant"
    assert (last_entry(app).action, last_entry(app).rule) == ("token.revoke", "token_owned")
    active = http.post("/oauth/introspect", data={"token": token}, headers=basic(owner))
    assert active.json["active"] is True


def test_an_unwritable_log_is_named_in_the_oauth_shape(http, app, make_reseller, monkeypatch):
    reseller = make_reseller()

    def unavailable(*args, **kwargs):
        raise AuditUnavailable("the access log cannot be written")

    monkeypatch.setattr(app.extensions["group_commit"], "write", unavailable)
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers=basic(reseller))  # fmt: skip
    assert response.status_code == 503
    assert error_of(response, "log_available")["error"] == "temporarily_unavailable"


def test_missing_signing_keys_are_named(http, app, make_reseller, clock):
    reseller = make_reseller()
    keys_dir = app.extensions["gateway"].config.keys_dir
    (keys_dir / "token-keys.json").rename(keys_dir / "elsewhere.json")
    clock.advance(timedelta(seconds=1))
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers=basic(reseller))  # fmt: skip
    assert response.status_code == 503
    assert error_of(response, "service_ready")["error"] == "temporarily_unavailable"
    assert last_entry(app).rule == "service_ready"


def test_too_many_failures_are_named(oauth_config, clock):
    application = create_app(replace(oauth_config, rate_limit_failures_per_minute=1), clock=clock)
    try:
        http = application.test_client()
        wrong = {"Authorization": "Basic " + base64.b64encode(b"cl_" + b"A" * 16 + b":x").decode()}
        http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=wrong)
        response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                             headers=wrong)  # fmt: skip
        assert response.status_code == 429
        assert error_of(response, "rate_limited")["error"] == "rate_limited"
    finally:
        shutdown(application)
