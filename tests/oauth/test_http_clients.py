"""Off-the-shelf OAuth client libraries against the real gateway under gunicorn: Authlib's
OAuth2Session with private_key_jwt and DPoP proofs made with joserfc,
requests-oauthlib's BackendApplicationClient with a secret (a client opted out of DPoP)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey
from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session as OAuthlibSession

from gateway.oauth import clients
from gateway.oauth.keys import init_keys
from tests import factories
from tests.server import GunicornServer

pytestmark = pytest.mark.slow


@pytest.fixture
def server(runtime, gateway_env, tmp_path, monkeypatch):
    # Plain HTTP on loopback only; both libraries refuse it otherwise.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    init_keys(runtime.config.keys_dir, int(time.time()))
    started = GunicornServer.start(gateway_env, tmp_path / "gunicorn.log")
    yield started
    started.stop()


def _partner_with_clients(runtime, clock):
    key = ECKey.generate_key("P-256", private=True, parameters={"kid": "reseller-1"})
    jwks = json.dumps({"keys": [key.as_dict(private=False)]})
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        key_client, _ = clients.add_client(
            session,
            clock,
            factories.OPERATOR,
            partner_id="acme",
            scopes="customers:contact customers:contract",
            jwks_text=jwks,
        )
        secret_client, secret = clients.add_client(
            session,
            clock,
            factories.OPERATOR,
            partner_id="acme",
            scopes="customers:contact",
            with_secret=True,
            sender_constraint="none",
        )
    return (key_client.client_id, key), (secret_client.client_id, secret)


def _proof(key: ECKey, method: str, url: str, token: str | None = None) -> str:
    """A DPoP proof, as the resellers' guide makes one."""
    claims = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        digest = hashlib.sha256(token.encode("ascii")).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key)


def test_authlib_private_key_jwt_with_dpop_reads_and_a_copied_token_reads_nothing(
    server, runtime, clock
):
    (client_id, key), _ = _partner_with_clients(runtime, clock)
    metadata = requests.get(server.base_url + "/.well-known/oauth-authorization-server").json()
    token_url = metadata["token_endpoint"]
    assert "ES256" in metadata["dpop_signing_alg_values_supported"]

    session = OAuth2Session(
        client_id,
        key,
        token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt",
        scope="customers:contact",
    )
    # FAPI 2.0: the assertion's audience is the issuer; rfc7523bis: its explicit type.
    session.register_client_auth_method(
        PrivateKeyJWT(metadata["issuer"], headers={"typ": "client-authentication+jwt"}, alg="ES256")
    )
    dpop_key = ECKey.generate_key("P-256", private=True)
    token = session.fetch_token(
        token_url,
        grant_type="client_credentials",
        headers={"DPoP": _proof(dpop_key, "POST", token_url)},
    )
    assert token["token_type"] == "DPoP" and token["scope"] == "customers:contact"

    api = server.base_url + "/v1/customers"
    access = token["access_token"]
    read = requests.get(
        api,
        params={"purpose": "inquiry_response"},
        headers={"Authorization": f"DPoP {access}", "DPoP": _proof(dpop_key, "GET", api, access)},
    )
    assert read.status_code == 200, read.text
    page = read.json()
    assert (page["customers"], page["next_cursor"]) == ([], None) and page["next_updated_since"]

    copied = requests.get(
        api, params={"purpose": "inquiry_response"}, headers={"Authorization": f"Bearer {access}"}
    )
    assert copied.status_code == 401 and copied.json()["rule"] == "token_dpop_scheme"
    thief = ECKey.generate_key("P-256", private=True)
    stolen = requests.get(
        api,
        params={"purpose": "inquiry_response"},
        headers={"Authorization": f"DPoP {access}", "DPoP": _proof(thief, "GET", api, access)},
    )
    assert stolen.status_code == 401 and stolen.json()["rule"] == "dpop_key_bound"

    introspected = session.introspect_token(metadata["introspection_endpoint"], token=access).json()
    assert introspected["active"] is True and introspected["client_id"] == client_id
    assert introspected["cnf"] == {"jkt": dpop_key.thumbprint()}

    assert session.revoke_token(metadata["revocation_endpoint"], token=access).status_code == 200
    again = session.introspect_token(metadata["introspection_endpoint"], token=access).json()
    assert again == {"active": False}


def test_requests_oauthlib_backend_client_gets_a_token_with_a_secret(server, runtime, clock):
    _, (client_id, secret) = _partner_with_clients(runtime, clock)
    token_url = server.base_url + "/oauth/token"
    oauth = OAuthlibSession(client=BackendApplicationClient(client_id=client_id))
    token = oauth.fetch_token(token_url=token_url, auth=HTTPBasicAuth(client_id, secret))
    assert token["scope"] == ["customers:contact"]
    assert token["expires_in"] == 300

    with pytest.raises(Exception, match="invalid_client"):
        OAuthlibSession(client=BackendApplicationClient(client_id=client_id)).fetch_token(
            token_url=token_url, auth=HTTPBasicAuth(client_id, secret[:-1] + "x")
        )
    assert secret not in server.log_path.read_text()
