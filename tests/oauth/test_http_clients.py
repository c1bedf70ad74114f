"""Off-the-shelf OAuth client libraries against the real gateway under gunicorn: Authlib's
OAuth2Session with private_key_jwt, requests-oauthlib's BackendApplicationClient with a
secret."""

from __future__ import annotations

import json
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
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
            session, clock, factories.OPERATOR, partner_id="acme",
            scopes="customers:contact customers:contract", jwks_text=jwks,
        )  # fmt: skip
        secret_client, secret = clients.add_client(
            session, clock, factories.OPERATOR, partner_id="acme",
            scopes="customers:contact", with_secret=True,
        )  # fmt: skip
    return (key_client.client_id, key), (secret_client.client_id, secret)


def test_authlib_private_key_jwt_gets_introspects_and_revokes_a_token(server, runtime, clock):
    (client_id, key), _ = _partner_with_clients(runtime, clock)
    metadata = requests.get(server.base_url + "/.well-known/oauth-authorization-server").json()
    token_url = metadata["token_endpoint"]

    session = OAuth2Session(
        client_id, key, token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt",
        scope="customers:contact",
    )  # fmt: skip
    # FAPI 2.0: the assertion's audience is the issuer; rfc7523bis: its explicit type.
    session.register_client_auth_method(
        PrivateKeyJWT(metadata["issuer"], headers={"typ": "client-authentication+jwt"}, alg="ES256")
    )
    token = session.fetch_token(token_url, grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["scope"] == "customers:contact"

    introspected = session.introspect_token(
        metadata["introspection_endpoint"], token=token["access_token"]
    ).json()
    assert introspected["active"] is True and introspected["client_id"] == client_id

    assert (
        session.revoke_token(
            metadata["revocation_endpoint"], token=token["access_token"]
        ).status_code
        == 200
    )
    again = session.introspect_token(
        metadata["introspection_endpoint"], token=token["access_token"]
    ).json()
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
