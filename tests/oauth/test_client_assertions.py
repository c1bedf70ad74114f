"""Client assertions held to FAPI 2.0 (§5.3.2.1) and RFC 7523: the issuer alone as the
audience, a bounded ``exp``, FAPI's algorithms, an explicit type when one is given, and a
``client_id`` parameter that agrees with the assertion. Each hostile assertion is refused with
``invalid_client`` and the rule that failed, in the answer and in the log."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from tests.oauth.conftest import ISSUER, assertion_form, basic, error_of, last_entry

# What is checked here does not depend on the store (see tests/conftest.py).
pytestmark = pytest.mark.one_database


def _refused(http, app, form, rule, *, status=400, headers=None):
    response = http.post("/oauth/token", data=form, headers=headers or {})
    assert response.status_code == status, response.get_data(as_text=True)
    assert error_of(response, rule)["error"] == "invalid_client"
    entry = last_entry(app)
    assert (entry.action, entry.outcome, entry.rule) == ("token.issue", "denied", rule)
    return response


def _issued(http, form, headers=None):
    response = http.post("/oauth/token", data=form, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


@pytest.mark.parametrize(
    "aud",
    [
        ISSUER + "/oauth/token",
        ISSUER + "/oauth/introspect",
        ISSUER + "/oauth/revoke",
        ISSUER + "/",
        [ISSUER],
        ["https://attacker.example", ISSUER + "/oauth/token"],
        ["https://attacker.example", ISSUER],
    ],
    ids=[
        "token-endpoint",
        "introspection",
        "revocation",
        "trailing-slash",
        "array-of-issuer",
        "injected-token-endpoint",
        "injected-issuer",
    ],
)
def test_an_audience_other_than_the_issuer_string_is_refused(http, app, make_reseller, aud):
    reseller = make_reseller(secret=False)
    response = _refused(http, app, assertion_form(reseller, aud=aud), "client_assertion_audience")
    assert ISSUER in response.json["error_description"]


def test_the_issuer_as_a_string_is_the_audience(http, make_reseller):
    _issued(http, assertion_form(make_reseller(secret=False), aud=ISSUER))


@pytest.mark.parametrize("exp", [1e300, 10**20, float("inf"), "soon", True, None], ids=repr)
def test_an_absurd_exp_is_refused_before_anything_is_stored(http, app, make_reseller, exp):
    reseller = make_reseller(secret=False)
    _refused(http, app, assertion_form(reseller, exp=exp), "client_assertion_expiry")


def test_an_exp_more_than_an_hour_ahead_is_refused(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    _refused(http, app, assertion_form(reseller, exp_in=2 * 3600), "client_assertion_expiry")
    _issued(http, assertion_form(reseller, exp_in=3500))


def test_an_iat_in_the_future_is_refused(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    form = assertion_form(reseller, iat=int(time.time()) + 600)
    _refused(http, app, form, "client_assertion_expiry")


def _client_with_key(make_reseller, app, clock, key):
    """A private_key_jwt client whose registered key is ``key`` — written to the table as is,
    as a key registered before the registration checks refused its curve would be."""
    import json

    from gateway.oauth.models import OAuthClient
    from tests import factories
    from tests.oauth.conftest import Reseller

    make_reseller(secret=False)  # the partner
    with app.extensions["gateway"].transaction() as session:
        client_id, _ = factories.client(session, clock, "acme",
                                        key=ECKey.generate_key("P-256", private=True))  # fmt: skip
        row = session.get(OAuthClient, client_id)
        row.jwks = json.dumps({"keys": [key.as_dict(private=False) | {"kid": "k1"}]})
    return Reseller("acme", client_id, None, key)


@pytest.mark.parametrize(
    ("alg", "make_key", "allowed"),
    [
        ("ES256", lambda: ECKey.generate_key("P-256", private=True), True),
        ("PS256", lambda: RSAKey.generate_key(2048, private=True), True),
        ("EdDSA", lambda: OKPKey.generate_key("Ed25519", private=True), True),
        ("Ed25519", lambda: OKPKey.generate_key("Ed25519", private=True), True),
        ("RS256", lambda: RSAKey.generate_key(2048, private=True), False),
        ("ES384", lambda: ECKey.generate_key("P-384", private=True), False),
    ],
)
def test_only_fapi_algorithms_sign_an_assertion(
    http, app, make_reseller, clock, alg, make_key, allowed
):
    reseller = _client_with_key(make_reseller, app, clock, make_key())
    now = int(time.time())
    claims = {
        "iss": reseller.client_id,
        "sub": reseller.client_id,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": f"alg-{alg}",
    }
    token = jwt.encode(
        {"alg": alg, "kid": "k1", "typ": "client-authentication+jwt"},
        claims,
        reseller.key,
        algorithms=[alg],
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token,
    }
    if allowed:
        _issued(http, form)
    else:
        _refused(http, app, form, "client_assertion_valid")


@pytest.mark.parametrize(
    "typ", ["client-authentication+jwt", "application/client-authentication+jwt"]
)
def test_an_assertion_typed_for_client_authentication_is_accepted(http, make_reseller, typ):
    _issued(http, assertion_form(make_reseller(secret=False), header={"typ": typ}))


def test_an_assertion_without_a_typ_is_accepted(http, make_reseller):
    reseller = make_reseller(secret=False)
    now = int(time.time())
    claims = {
        "iss": reseller.client_id,
        "sub": reseller.client_id,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "jti": "untyped",
    }
    untyped = jwt.encode({"alg": "ES256", "kid": "k1"}, claims, reseller.key, default_type=None)
    assert "typ" not in jwt.decode(untyped, reseller.key).header
    _issued(http, assertion_form(reseller) | {"client_assertion": untyped})


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "dpop+jwt"])
def test_an_assertion_typed_as_something_else_is_refused(http, app, make_reseller, typ):
    reseller = make_reseller(secret=False)
    _refused(http, app, assertion_form(reseller, header={"typ": typ}), "client_assertion_valid")


def test_a_client_id_parameter_naming_another_client_is_refused(http, app, make_reseller):
    reseller = make_reseller(secret=False)
    other = make_reseller(secret=False)
    form = assertion_form(reseller) | {"client_id": other.client_id}
    _refused(http, app, form, "client_id_consistent")
    _issued(http, assertion_form(reseller) | {"client_id": reseller.client_id})


def test_a_client_id_parameter_must_agree_with_basic_credentials(http, app, make_reseller):
    reseller = make_reseller()
    other = make_reseller()
    form = {"grant_type": "client_credentials", "client_id": other.client_id}
    _refused(http, app, form, "client_id_consistent", status=401, headers=basic(reseller))
    _issued(http, form | {"client_id": reseller.client_id}, headers=basic(reseller))


@pytest.mark.parametrize("endpoint", ["/oauth/introspect", "/oauth/revoke"])
@pytest.mark.parametrize("hint", ["refresh_token", "access_token", "no_such_type"])
def test_a_token_type_hint_never_stops_the_search(http, make_reseller, endpoint, hint):
    from tests.oauth.conftest import get_token

    reseller = make_reseller()
    token = get_token(http, reseller)
    response = http.post(
        endpoint, data={"token": token, "token_type_hint": hint}, headers=basic(reseller)
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    if endpoint == "/oauth/introspect":
        assert response.json["active"] is True
    else:
        again = http.post("/oauth/introspect", data={"token": token}, headers=basic(reseller))
        assert again.json == {"active": False}
