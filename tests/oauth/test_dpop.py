"""DPoP (RFC 9449): a client bound to DPoP gets tokens bound to its key, and the partner API
reads nothing with such a token unless a fresh proof by that key, for that very request,
comes with it. Every hostile case is refused with the check that failed, in the challenge and
in the log."""

from __future__ import annotations

import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from gateway.oauth import clients
from tests import factories
from tests.oauth.conftest import (
    ISSUER,
    PROTECTED,
    basic,
    dpop_proof,
    get_dpop_token,
    get_token,
    last_entry,
)

TOKEN_URL = ISSUER + "/oauth/token"
API_URL = ISSUER + PROTECTED


@pytest.fixture
def key():
    return ECKey.generate_key("P-256", private=True)


@pytest.fixture
def bound(http, make_reseller, key):
    """A DPoP client's reseller and a token bound to ``key``."""
    reseller = make_reseller(dpop=True)
    return reseller, get_dpop_token(http, reseller, key)


def _read(http, token, proof=None, scheme="DPoP", **headers):
    sent = {"Authorization": f"{scheme} {token}"} | headers
    if proof is not None:
        sent["DPoP"] = proof
    return http.get(PROTECTED, headers=sent)


def _refused(app, response, rule, status=401, error="invalid_dpop_proof"):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["rule"] == rule
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP realm="joint-use-gateway"'), challenge
    assert f'error="{error}"' in challenge
    entry = last_entry(app)
    assert (entry.outcome, entry.rule) == ("denied", rule)


def _claims(http, token):
    keys = KeySet.import_key_set(http.get("/oauth/jwks.json").json)
    return jwt.decode(token, keys, algorithms=["ES256"]).claims


# --- the token endpoint ---------------------------------------------------------------------


def test_a_dpop_client_gets_a_token_bound_to_its_key(http, app, bound, key):
    reseller, token = bound
    assert _claims(http, token)["cnf"] == {"jkt": key.thumbprint()}
    introspected = http.post("/oauth/introspect", data={"token": token}, headers=basic(reseller))
    assert introspected.json["token_type"] == "DPoP"
    assert introspected.json["cnf"] == {"jkt": key.thumbprint()}
    assert last_entry(app).action == "token.introspect"


def test_a_dpop_client_without_a_proof_gets_no_token(http, app, make_reseller):
    reseller = make_reseller(dpop=True)
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reseller)
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_dpop_proof"
    entry = last_entry(app)
    assert (entry.action, entry.outcome, entry.rule) == (
        "token.issue",
        "denied",
        "dpop_proof_present",
    )


def test_a_bearer_client_that_sends_a_proof_is_bound_all_the_same(http, make_reseller, key):
    reseller = make_reseller(dpop=False)
    token = get_dpop_token(http, reseller, key)
    assert _claims(http, token)["cnf"] == {"jkt": key.thumbprint()}


def test_a_bearer_client_without_a_proof_gets_a_bearer_token(http, make_reseller):
    token = get_token(http, make_reseller(dpop=False))
    assert "cnf" not in _claims(http, token)


@pytest.mark.one_database  # a proof's checks: the store plays no part
@pytest.mark.parametrize(
    ("proof", "rule"),
    [
        (lambda k: dpop_proof(k, "GET", TOKEN_URL), "dpop_proof_method"),
        (lambda k: dpop_proof(k, "POST", ISSUER + "/v1/customers"), "dpop_proof_url"),
        (
            lambda k: dpop_proof(k, "POST", TOKEN_URL, iat=int(time.time()) - 300),
            "dpop_proof_fresh",
        ),
        (lambda k: dpop_proof(k, "POST", TOKEN_URL, header={"typ": "JWT"}), "dpop_proof_valid"),
        (lambda k: "not-a-jwt", "dpop_proof_valid"),
    ],
    ids=["method", "url", "stale", "typ", "garbage"],
)
def test_a_bad_proof_at_the_token_endpoint_is_refused(http, app, make_reseller, key, proof, rule):
    reseller = make_reseller(dpop=True)
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(reseller) | {"DPoP": proof(key)},
    )
    assert (response.status_code, response.json["error"]) == (400, "invalid_dpop_proof")
    assert last_entry(app).rule == rule


def test_a_proof_is_used_once_at_the_token_endpoint(http, app, make_reseller, key):
    reseller = make_reseller(dpop=True)
    proof = dpop_proof(key, "POST", TOKEN_URL)
    headers = basic(reseller) | {"DPoP": proof}
    first = http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=headers)
    assert first.status_code == 200
    again = http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=headers)
    assert (again.status_code, again.json["error"]) == (400, "invalid_dpop_proof")
    assert last_entry(app).rule == "dpop_proof_unused"


def test_metadata_lists_the_proof_algorithms(http):
    body = http.get("/.well-known/oauth-authorization-server").json
    assert body["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA", "Ed25519"]


# --- the partner API --------------------------------------------------------------------


def test_a_bound_token_with_a_fresh_proof_reads(http, app, bound, key):
    _, token = bound
    response = _read(http, token, dpop_proof(key, "GET", API_URL, token=token))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert last_entry(app).outcome == "allowed"


def test_a_copied_bound_token_sent_as_bearer_reads_nothing(http, app, bound):
    _, token = bound
    response = _read(http, token, scheme="Bearer")
    _refused(app, response, "token_dpop_scheme", error="invalid_token")


def test_a_bound_token_without_a_proof_reads_nothing(http, app, bound):
    _, token = bound
    _refused(app, _read(http, token), "dpop_proof_present")


def test_a_proof_by_another_key_reads_nothing(http, app, bound):
    _, token = bound
    thief = ECKey.generate_key("P-256", private=True)
    response = _read(http, token, dpop_proof(thief, "GET", API_URL, token=token))
    _refused(app, response, "dpop_key_bound", error="invalid_token")


@pytest.mark.one_database  # a proof's checks: the store plays no part
@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda k, t: dpop_proof(k, "POST", API_URL, token=t), "dpop_proof_method"),
        (lambda k, t: dpop_proof(k, "GET", ISSUER + "/v1/customers", token=t), "dpop_proof_url"),
        (
            lambda k, t: dpop_proof(k, "GET", "https://elsewhere.example" + PROTECTED, token=t),
            "dpop_proof_url",
        ),
        (
            lambda k, t: dpop_proof(k, "GET", API_URL, token=t, iat=int(time.time()) - 120),
            "dpop_proof_fresh",
        ),
        (
            lambda k, t: dpop_proof(k, "GET", API_URL, token=t, iat=int(time.time()) + 120),
            "dpop_proof_fresh",
        ),
        (lambda k, t: dpop_proof(k, "GET", API_URL, token=t, iat=1e300), "dpop_proof_fresh"),
        (lambda k, t: dpop_proof(k, "GET", API_URL), "dpop_proof_token"),
        (lambda k, t: dpop_proof(k, "GET", API_URL, token=t + "x"), "dpop_proof_token"),
        (lambda k, t: dpop_proof(k, "GET", API_URL, token=t, jti=None), "dpop_proof_valid"),
        (
            lambda k, t: dpop_proof(k, "GET", API_URL, token=t, header={"typ": "JWT"}),
            "dpop_proof_valid",
        ),
        (
            lambda k, t: dpop_proof(
                k, "GET", API_URL, token=t, header={"jwk": k.as_dict(private=True)}
            ),
            "dpop_proof_valid",
        ),
        (lambda k, t: _unsigned(dpop_proof(k, "GET", API_URL, token=t)), "dpop_proof_valid"),
        (lambda k, t: _hmac(t), "dpop_proof_valid"),
        (lambda k, t: _rs256(t), "dpop_proof_valid"),
    ],
    ids=[
        "method",
        "other-path",
        "other-host",
        "stale",
        "future",
        "absurd-iat",
        "no-ath",
        "wrong-ath",
        "no-jti",
        "typ",
        "private-jwk",
        "alg-none",
        "hs256",
        "rs256",
    ],
)
def test_a_proof_that_does_not_fit_the_request_reads_nothing(http, app, bound, key, make, rule):
    _, token = bound
    _refused(app, _read(http, token, make(key, token)), rule)


def test_a_proof_with_the_query_string_still_fits(http, bound, key):
    _, token = bound
    proof = dpop_proof(key, "GET", API_URL + "?purpose=x#frag", token=token)
    assert _read(http, token, proof).status_code == 200


def test_a_replayed_proof_reads_nothing(http, app, bound, key):
    _, token = bound
    proof = dpop_proof(key, "GET", API_URL, token=token)
    assert _read(http, token, proof).status_code == 200
    _refused(app, _read(http, token, proof), "dpop_proof_unused")


def test_two_dpop_headers_are_refused(http, app, bound, key):
    _, token = bound
    response = http.get(
        PROTECTED,
        headers=[
            ("Authorization", f"DPoP {token}"),
            ("DPoP", dpop_proof(key, "GET", API_URL, token=token)),
            ("DPoP", dpop_proof(key, "GET", API_URL, token=token)),
        ],
    )
    _refused(app, response, "dpop_proof_valid")


def test_an_unbound_token_sent_as_dpop_is_refused(http, app, make_reseller, key):
    token = get_token(http, make_reseller(dpop=False))
    response = _read(http, token, dpop_proof(key, "GET", API_URL, token=token))
    _refused(app, response, "token_bearer_scheme", error="invalid_token")


def test_a_missing_token_is_challenged_in_both_schemes(http):
    challenge = http.get(PROTECTED).headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="joint-use-gateway"')
    assert 'DPoP realm="joint-use-gateway", algs="ES256 PS256 EdDSA Ed25519"' in challenge


def test_a_revoked_bound_token_is_refused_even_with_a_good_proof(http, app, bound, key, clock):
    reseller, token = bound
    with app.extensions["gateway"].transaction() as session:
        clients.disable_client(session, clock, factories.OPERATOR, client_id=reseller.client_id)
    response = _read(http, token, dpop_proof(key, "GET", API_URL, token=token))
    assert response.status_code == 401 and response.json["rule"] == "token_not_revoked"
    assert response.headers["WWW-Authenticate"].startswith("DPoP ")


# --- the operator's side ------------------------------------------------------------------


def test_new_clients_are_dpop_unless_the_operator_opts_out(cli, tmp_path):
    factories_cli = [
        ("partners", "add", "acme", "--name", "Acme"),
        (
            "partners",
            "nda",
            "acme",
            "--reference",
            "N-1",
            "--signed-on",
            "2020-01-01",
            "--expires-on",
            "2099-12-31",
        ),
    ]
    for args in factories_cli:
        assert cli(*args).exit_code == 0
    default = json.loads(
        cli("clients", "add", "acme", "--scopes", "customers:contact", "--secret", "--json").output
    )
    assert default["sender_constraint"] == "dpop"
    opted_out = json.loads(
        cli(
            "clients",
            "add",
            "acme",
            "--scopes",
            "customers:contact",
            "--secret",
            "--sender-constraint",
            "none",
            "--json",
        ).output
    )
    assert opted_out["sender_constraint"] == "none"
    listed = cli("clients", "list").output
    assert "SENDER" in listed and "dpop" in listed and "none" in listed
    bad = cli(
        "clients",
        "add",
        "acme",
        "--scopes",
        "customers:contact",
        "--secret",
        "--sender-constraint",
        "mtls",
    )
    assert bad.exit_code == 2


def test_binding_a_client_to_dpop_revokes_its_bearer_tokens(http, app, make_reseller, cli):
    reseller = make_reseller(dpop=False)
    token = get_token(http, reseller)
    result = cli(
        "clients", "constrain", reseller.client_id, "--sender-constraint", "dpop", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["tokens_revoked"] == 1
    entry = last_entry(app)
    assert (entry.action, json.loads(entry.details)) == (
        "client.constrain",
        {"sender_constraint": "dpop", "tokens_revoked": 1},
    )
    response = http.get(PROTECTED, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json["rule"] == "token_not_revoked"
    no_proof = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reseller)
    )
    assert no_proof.json["error"] == "invalid_dpop_proof"


def _unsigned(proof: str) -> str:
    import base64

    header, payload, _ = proof.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(header + "=="))
    none = base64.urlsafe_b64encode(json.dumps(decoded | {"alg": "none"}).encode())
    return f"{none.rstrip(b'=').decode()}.{payload}."


def _hmac(token: str) -> str:
    secret = OctKey.generate_key(256)
    body = {"jti": "h", "htm": "GET", "htu": API_URL, "iat": int(time.time())}
    return jwt.encode({"typ": "dpop+jwt", "alg": "HS256", "jwk": secret.as_dict()}, body, secret)


def _rs256(token: str) -> str:
    from gateway.oauth.dpop import token_hash

    rsa = RSAKey.generate_key(2048, private=True)
    body = {
        "jti": "r",
        "htm": "GET",
        "htu": API_URL,
        "iat": int(time.time()),
        "ath": token_hash(token),
    }
    return jwt.encode(
        {"typ": "dpop+jwt", "alg": "RS256", "jwk": rsa.as_dict(private=False)}, body, rsa
    )
