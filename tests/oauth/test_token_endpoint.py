"""The token endpoint: RFC 9068 tokens for good clients; each refusal with the RFC's error
code and the rule that failed (told as the caller may know it), and logged with the check
that failed."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from gateway.clock import today
from gateway.config import Config
from gateway.errors import ConfigurationError
from gateway.oauth import clients
from gateway.partners import service as partners
from tests import factories
from tests.oauth.conftest import ISSUER, assertion_form, basic, error_of, last_entry


def _claims(token: str, http) -> tuple[dict, dict]:
    keys = KeySet.import_key_set(http.get("/oauth/jwks.json").json)
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    return decoded.header, decoded.claims


def test_secret_client_gets_an_rfc9068_token_signed_by_a_published_key(http, make_reseller, clock):
    reseller = make_reseller(scopes="customers:contact customers:contract")
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reseller)
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 300)
    header, claims = _claims(body["access_token"], http)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256" and header["kid"]
    now = int(clock.now().timestamp())
    assert claims == {
        "iss": ISSUER,
        "aud": ISSUER + "/v1",
        "sub": reseller.client_id,
        "client_id": reseller.client_id,
        "scope": "customers:contact customers:contract",
        "jti": claims["jti"],
        "iat": now,
        "exp": now + 300,
    }


def test_private_key_jwt_client_gets_a_token_for_the_scopes_it_asks(http, make_reseller):
    reseller = make_reseller(secret=False)
    response = http.post(
        "/oauth/token", data=assertion_form(reseller) | {"scope": "customers:inquiries"}
    )
    assert response.status_code == 200, response.json
    assert _claims(response.json["access_token"], http)[1]["scope"] == "customers:inquiries"


def test_issuance_is_logged_without_the_token(http, make_reseller, app):
    reseller = make_reseller()
    token = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reseller)
    ).json["access_token"]
    entry = last_entry(app)
    assert (entry.action, entry.outcome, entry.actor_id) == (
        "token.issue",
        "allowed",
        reseller.client_id,
    )
    assert json.loads(entry.subjects) == [["client", reseller.client_id], ["partner", "acme"]]
    assert token not in json.dumps([entry.details, entry.subjects])


def _refused(http, app, response, status, error, rule, told=None):
    """Refused with ``error``, telling the caller ``told`` (``rule`` unless given); the log
    keeps ``rule``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert error_of(response, told or rule)["error"] == error
    entry = last_entry(app)
    assert (entry.action, entry.outcome, entry.rule) == ("token.issue", "denied", rule)


def test_wrong_secret_is_invalid_client(http, app, make_reseller):
    reseller = make_reseller()
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reseller, "x" * 43)
    )
    _refused(http, app, response, 401, "invalid_client", "client_secret_valid",
             "client_authenticated")  # fmt: skip


def test_unknown_client_is_invalid_client(http, app, make_reseller):
    reseller = make_reseller()
    ghost = replace(reseller, client_id="cl_doesnotexist")
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(ghost)
    )
    _refused(http, app, response, 401, "invalid_client", "client_known", "client_authenticated")
    assert last_entry(app).actor_id == "unauthenticated"


def test_disabled_client_is_invalid_client(http, app, make_reseller, clock):
    reseller = make_reseller()
    with app.extensions["gateway"].transaction() as session:
        clients.disable_client(session, clock, factories.OPERATOR, client_id=reseller.client_id)
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reseller)
    )
    _refused(http, app, response, 401, "invalid_client", "client_active", "client_authenticated")


def test_revoked_partner_is_invalid_client(http, app, make_reseller, clock):
    reseller = make_reseller(secret=False)
    with app.extensions["gateway"].transaction() as session:
        partners.revoke_partner(
            session, clock, factories.OPERATOR, partner_id="acme", reason="leak"
        )
    response = http.post("/oauth/token", data=assertion_form(reseller))
    _refused(http, app, response, 400, "invalid_client", "client_active", "client_authenticated")


@pytest.mark.parametrize("nda", ["lapsed", "missing", "not yet signed"])
def test_partner_without_an_nda_in_force_is_refused(http, app, make_reseller, clock, nda):
    day = today(clock)
    kwargs = {
        "lapsed": {"nda": (day - timedelta(days=400), day - timedelta(days=1))},
        "missing": {"with_nda": False},
        "not yet signed": {"nda": (day + timedelta(days=1), day + timedelta(days=365))},
    }[nda]
    reseller = make_reseller(**kwargs)
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reseller)
    )
    _refused(http, app, response, 400, "unauthorized_client", "nda_in_force")
    assert "NDA" in response.json["error_description"]


def test_replayed_assertion_is_refused(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    form = assertion_form(reseller, jti="once-only")
    assert http.post("/oauth/token", data=form).status_code == 200
    _refused(http, app, http.post("/oauth/token", data=form), 400, "invalid_client",
             "client_assertion_unused")  # fmt: skip


def test_expired_assertion_is_refused(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    response = http.post("/oauth/token", data=assertion_form(reseller, exp_in=-120))
    _refused(http, app, response, 400, "invalid_client", "client_assertion_expiry")


def test_assertion_for_another_audience_is_refused(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    response = http.post(
        "/oauth/token", data=assertion_form(reseller, aud="https://elsewhere.example/token")
    )
    _refused(http, app, response, 400, "invalid_client", "client_assertion_audience")


def test_assertion_issuer_must_be_the_client(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    response = http.post("/oauth/token", data=assertion_form(reseller, iss="someone-else"))
    _refused(http, app, response, 400, "invalid_client", "client_assertion_valid")


def test_assertion_signed_by_an_unregistered_key_is_refused(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    stranger = ECKey.generate_key("P-256", private=True)
    response = http.post("/oauth/token", data=assertion_form(reseller, key=stranger))
    _refused(http, app, response, 400, "invalid_client", "client_assertion_signature")


def test_unsigned_assertion_is_refused(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    form = assertion_form(reseller)
    header, payload, _ = form["client_assertion"].split(".")
    none = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    form["client_assertion"] = f"{none}.{payload}."
    _refused(http, app, http.post("/oauth/token", data=form), 400, "invalid_client",
             "client_assertion_valid")  # fmt: skip


def test_secret_client_cannot_use_an_assertion_nor_a_key_client_a_secret(http, app, make_reseller):
    key_client = make_reseller(secret=False)
    secret_client = make_reseller(secret=True)
    key_client_with_secret = replace(key_client, secret=secret_client.secret)
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(key_client_with_secret),
    )
    _refused(http, app, response, 401, "invalid_client", "client_secret_valid",
             "client_authenticated")  # fmt: skip
    # A secret client has no key an assertion could be signed with: the same answer.
    signed = replace(secret_client, key=ECKey.generate_key("P-256", private=True))
    response = http.post("/oauth/token", data=assertion_form(signed))
    _refused(http, app, response, 400, "invalid_client", "client_auth_method",
             "client_authenticated")  # fmt: skip


def test_scope_beyond_the_clients_grant_is_invalid_scope(http, app, make_reseller):
    reseller = make_reseller(scopes="customers:contact")
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "customers:contact customers:contract"},
        headers=basic(reseller),
    )
    _refused(http, app, response, 400, "invalid_scope", "scope_granted")


def test_other_grant_types_are_unsupported(http, app, make_reseller):
    reseller = make_reseller()
    response = http.post("/oauth/token", data={"grant_type": "password"}, headers=basic(reseller))
    assert response.status_code == 400
    assert error_of(response, "grant_supported")["error"] == "unsupported_grant_type"
    assert last_entry(app).rule == "grant_supported"


@pytest.mark.parametrize("lifetime", ["29", "901", "ten", "-5"])
def test_token_lifetime_over_fifteen_minutes_is_refused_at_start(lifetime):
    with pytest.raises(ConfigurationError):
        Config.from_env({"GATEWAY_TOKEN_LIFETIME": lifetime})


def test_token_lifetime_is_configurable(lifetime=900):
    assert Config.from_env({"GATEWAY_TOKEN_LIFETIME": str(lifetime)}).token_lifetime == lifetime


def test_metadata_describes_the_server(http):
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

    body = http.get("/.well-known/oauth-authorization-server").json
    # Every field as RFC 8414 §2 requires, but response_types_supported: no authorization
    # endpoint, so the list is empty (the client credentials grant has no response type).
    metadata = AuthorizationServerMetadata(body)
    for name in body:
        if name != "response_types_supported" and hasattr(metadata, f"validate_{name}"):
            getattr(metadata, f"validate_{name}")()
    assert body["response_types_supported"] == []
    assert body["issuer"] == ISSUER
    assert body["token_endpoint"] == ISSUER + "/oauth/token"
    assert body["jwks_uri"] == ISSUER + "/oauth/jwks.json"
    assert body["grant_types_supported"] == ["client_credentials"]
    assert set(body["token_endpoint_auth_methods_supported"]) == {
        "private_key_jwt",
        "client_secret_basic",
    }
    assert body["scopes_supported"] == [
        "customers:contact",
        "customers:contract",
        "customers:inquiries",
    ]
    assert "none" not in body["token_endpoint_auth_signing_alg_values_supported"]
    assert not any(
        a.startswith("HS") for a in body["token_endpoint_auth_signing_alg_values_supported"]
    )


def test_jwks_publishes_only_public_keys(http):
    keys = http.get("/oauth/jwks.json").json["keys"]
    assert keys and all("d" not in k for k in keys)
