"""The resource-server check every partner endpoint wears: the token, then the live state,
on every request; each denial an RFC 6750 challenge with a problem+json body, logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

import pytest
from joserfc import jws, jwt

from gateway.clock import COMPANY_ZONE, today
from gateway.oauth import clients
from gateway.oauth.keys import SigningKeys, rotate_keys
from gateway.partners import service as partners
from tests import factories
from tests.oauth.conftest import ISSUER, PROTECTED, basic, get_token, last_entry


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _denied(app, response, status, rule, error=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["detail"]
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith('Bearer realm="joint-use-gateway"')
    if error:
        assert f'error="{error}"' in challenge
    entry = last_entry(app)
    assert (entry.action, entry.outcome, entry.rule) == ("customers.read", "denied", rule)
    return body


def _forged(app, claims_override=None, header_override=None) -> str:
    """A token signed with the gateway's own key, with claims of the test's choosing."""
    config = app.extensions["gateway"].config
    kid, key = SigningKeys(config.keys_dir).current()
    now = int(app.extensions["gateway"].clock.now().timestamp())
    claims = {
        "iss": ISSUER, "aud": ISSUER + "/v1", "sub": "cl_x", "client_id": "cl_x",
        "scope": "customers:contact", "jti": "j" * 20, "iat": now, "exp": now + 300,
    } | (claims_override or {})  # fmt: skip
    header = {"alg": "ES256", "typ": "at+jwt", "kid": kid} | (header_override or {})
    return jwt.encode(header, claims, key)


def test_a_valid_token_of_a_live_partner_passes(http, make_reseller):
    reseller = make_reseller()
    response = http.get(PROTECTED, headers=_bearer(get_token(http, reseller)))
    assert response.status_code == 200
    assert response.json["partner"] == "acme"


def test_no_token_is_a_bare_challenge(http, app):
    response = http.get(PROTECTED)
    _denied(app, response, 401, "token_present")
    assert "error=" not in response.headers["WWW-Authenticate"]  # RFC 6750 §3.1


def test_token_in_the_query_string_is_not_accepted(http, app, make_reseller):
    token = get_token(http, make_reseller())
    _denied(app, http.get(f"{PROTECTED}?access_token={token}"), 401, "token_present")


def test_garbage_token_is_invalid(http, app):
    _denied(app, http.get(PROTECTED, headers=_bearer("not.a.jwt")), 401, "token_authentic",
            "invalid_token")  # fmt: skip


def test_alg_none_token_is_invalid(http, app, make_reseller):
    token = get_token(http, make_reseller())
    _, payload, _ = token.split(".")
    none = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
    _denied(app, http.get(PROTECTED, headers=_bearer(f"{none}.{payload}.")), 401,
            "token_authentic", "invalid_token")  # fmt: skip


def test_hs256_token_keyed_with_the_public_key_is_invalid(http, app, make_reseller):
    """The classic algorithm-confusion attack (RFC 8725 §2.1)."""
    token = get_token(http, make_reseller())
    _, payload, _ = token.split(".")
    public = json.dumps(http.get("/oauth/jwks.json").json["keys"][0]).encode()
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"at+jwt"}').rstrip(b"=").decode()
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(public, signing_input, hashlib.sha256).digest()
    forged = f"{header}.{payload}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    _denied(app, http.get(PROTECTED, headers=_bearer(forged)), 401, "token_authentic",
            "invalid_token")  # fmt: skip


@pytest.mark.parametrize(
    "override",
    [
        {"iss": "https://evil.example"},
        {"aud": "https://gateway.test/other"},
        {"exp": 1},
        {"iat": 4_000_000_000},
    ],
    ids=["issuer", "audience", "expired", "issued in the future"],
)
def test_tokens_with_wrong_claims_are_invalid(http, app, make_reseller, override):
    make_reseller()
    _denied(app, http.get(PROTECTED, headers=_bearer(_forged(app, override))), 401,
            "token_authentic", "invalid_token")  # fmt: skip


def test_a_token_of_the_wrong_type_is_invalid(http, app, make_reseller):
    make_reseller()
    forged = _forged(app, header_override={"typ": "JWT"})
    _denied(app, http.get(PROTECTED, headers=_bearer(forged)), 401, "token_authentic")


def test_a_well_signed_token_the_gateway_never_issued_is_invalid(http, app, make_reseller):
    make_reseller()
    _denied(app, http.get(PROTECTED, headers=_bearer(_forged(app))), 401, "token_authentic")


def test_an_expired_token_is_invalid(http, app, make_reseller, clock):
    token = get_token(http, make_reseller())
    assert http.get(PROTECTED, headers=_bearer(token)).status_code == 200
    clock.advance(timedelta(seconds=301))
    _denied(app, http.get(PROTECTED, headers=_bearer(token)), 401, "token_authentic",
            "invalid_token")  # fmt: skip


def test_a_revoked_token_is_refused_at_once(http, app, make_reseller):
    reseller = make_reseller()
    token = get_token(http, reseller)
    assert http.get(PROTECTED, headers=_bearer(token)).status_code == 200
    assert (
        http.post("/oauth/revoke", data={"token": token}, headers=basic(reseller)).status_code
        == 200
    )
    _denied(app, http.get(PROTECTED, headers=_bearer(token)), 401, "token_not_revoked",
            "invalid_token")  # fmt: skip


def test_a_disabled_clients_token_is_refused_at_once(http, app, make_reseller, clock):
    reseller = make_reseller()
    token = get_token(http, reseller)
    assert http.get(PROTECTED, headers=_bearer(token)).status_code == 200
    with app.extensions["gateway"].transaction() as session:
        clients.disable_client(session, clock, factories.OPERATOR, client_id=reseller.client_id)
    _denied(app, http.get(PROTECTED, headers=_bearer(token)), 401, "token_not_revoked")


def test_a_revoked_partners_token_is_refused_at_once(http, app, make_reseller, clock):
    reseller = make_reseller()
    token = get_token(http, reseller)
    assert http.get(PROTECTED, headers=_bearer(token)).status_code == 200
    with app.extensions["gateway"].transaction() as session:
        partners.revoke_partner(
            session, clock, factories.OPERATOR, partner_id="acme", reason="leak"
        )
    _denied(app, http.get(PROTECTED, headers=_bearer(token)), 401, "token_not_revoked")


def test_a_token_is_refused_once_the_nda_lapses_midway(http, app, make_reseller, clock):
    day = today(clock)  # the company's day: the NDA ends at its midnight, in Tokyo
    clock.advance(datetime.combine(day, datetime.max.time(), COMPANY_ZONE) - clock.now()
                  - timedelta(seconds=60))  # fmt: skip
    reseller = make_reseller(nda=(day - timedelta(days=30), day))
    token = get_token(http, reseller)
    assert http.get(PROTECTED, headers=_bearer(token)).status_code == 200
    clock.advance(timedelta(seconds=120))  # past midnight: the NDA's last day is over
    body = _denied(app, http.get(PROTECTED, headers=_bearer(token)), 403, "nda_in_force")
    assert "NDA" in body["detail"]


def test_a_token_without_the_endpoints_scope_is_insufficient(http, app, make_reseller):
    reseller = make_reseller(scopes="customers:contract")
    response = http.get(PROTECTED, headers=_bearer(get_token(http, reseller)))
    _denied(app, response, 403, "token_scope", "insufficient_scope")
    assert 'scope="customers:contact"' in response.headers["WWW-Authenticate"]


def test_tokens_signed_before_a_rotation_stay_valid_new_ones_use_the_new_key(
    http, app, make_reseller
):
    reseller = make_reseller()
    before = get_token(http, reseller)
    keys_dir = app.extensions["gateway"].config.keys_dir
    _, new_kid = rotate_keys(keys_dir, int(app.extensions["gateway"].clock.now().timestamp()))
    after = get_token(http, reseller)
    assert jws.extract_compact(after.encode()).headers()["kid"] == new_kid
    assert jws.extract_compact(before.encode()).headers()["kid"] != new_kid
    assert len(http.get("/oauth/jwks.json").json["keys"]) == 2
    for token in (before, after):
        assert http.get(PROTECTED, headers=_bearer(token)).status_code == 200


def test_introspection_tells_a_client_only_about_its_own_live_tokens(
    http, app, make_reseller, clock
):
    mine, other = make_reseller(), make_reseller("bolt")
    token = get_token(http, mine)
    own = http.post("/oauth/introspect", data={"token": token}, headers=basic(mine)).json
    assert own["active"] is True and own["client_id"] == mine.client_id
    assert own["scope"] == "customers:contact customers:contract customers:inquiries"
    theirs = http.post("/oauth/introspect", data={"token": token}, headers=basic(other)).json
    assert theirs == {"active": False}
    with app.extensions["gateway"].transaction() as session:
        partners.revoke_partner(
            session, clock, factories.OPERATOR, partner_id="bolt", reason="ended"
        )
    assert http.post("/oauth/introspect", data={"token": token},
                     headers=basic(mine)).json["active"] is True  # fmt: skip


def test_a_client_cannot_revoke_another_clients_token(http, app, make_reseller):
    mine, other = make_reseller(), make_reseller("bolt")
    token = get_token(http, mine)
    response = http.post("/oauth/revoke", data={"token": token}, headers=basic(other))
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    unknown = http.post("/oauth/revoke", data={"token": "no-such-token"}, headers=basic(other))
    assert unknown.status_code == 200  # RFC 7009 §2.2
    assert http.get(PROTECTED, headers=_bearer(token)).status_code == 200


def test_when_the_log_cannot_be_written_the_request_fails_with_503(http, app, make_reseller):
    from sqlalchemy import delete

    from gateway.audit.models import AuditHead

    token = get_token(http, make_reseller())
    with app.extensions["gateway"].transaction() as session:
        session.execute(delete(AuditHead))
    response = http.get(PROTECTED, headers=_bearer(token))
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "partner" not in response.get_data(as_text=True)
