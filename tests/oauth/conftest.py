"""Fixtures for the OAuth door: keys, a reseller with an NDA, its clients, the app with one
protected endpoint to knock on, and a reseller's key server on loopback."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import g, jsonify
from joserfc import jwt
from joserfc.jwk import ECKey

from gateway import create_app, shutdown
from gateway.audit.spine import Event
from gateway.clock import FixedClock
from gateway.oauth import clients, dpop
from gateway.oauth.clients import partner_scopes
from gateway.oauth.keys import init_keys
from gateway.oauth.resource import require_token
from tests import factories

ISSUER = "https://gateway.test"
PROTECTED = "/test/protected"
# The explicit type of a client assertion (draft-ietf-oauth-rfc7523bis), as a careful client sends.
ASSERTION_TYP = "client-authentication+jwt"


@pytest.fixture
def clock() -> FixedClock:
    """Real time, held still: client libraries and JOSE checks of assertions read the
    system clock, so the gateway's clock starts there and moves only when a test says."""
    return FixedClock(datetime.fromtimestamp(int(time.time()), UTC))


@pytest.fixture
def oauth_config(config):
    keys_dir = config.keys_dir
    init_keys(keys_dir, int(time.time()) - 5)
    return replace(config, issuer=ISSUER)


@pytest.fixture
def app(oauth_config, clock):
    application = create_app(oauth_config, clock=clock)

    @require_token("customers.read", scopes_any=("customers:contact",))
    def protected():
        # As every partner endpoint does: the disclosure's entry, in the request's transaction.
        access = g.access
        access.log(Event(action="customers.read", actor=access.actor, subjects=access.subjects))
        return jsonify(partner=g.access.partner_id, scopes=sorted(g.access.token.scopes))

    application.add_url_rule(PROTECTED, "protected", protected)
    yield application
    shutdown(application)


@pytest.fixture
def http(app):
    return app.test_client()


@dataclass
class Reseller:
    partner_id: str
    client_id: str
    secret: str | None = None
    key: ECKey | None = None


def _add_client(runtime, clock, partner_id, scopes, *, secret: bool, dpop: bool) -> Reseller:
    key = None if secret else ECKey.generate_key("P-256", private=True)
    jwks = None
    if key is not None:
        jwks = json.dumps({"keys": [key.as_dict(private=False) | {"kid": "k1"}]})
    with runtime.transaction() as session:
        client, client_secret = clients.add_client(
            session, clock, factories.OPERATOR, partner_id=partner_id, scopes=scopes,
            jwks_text=jwks, with_secret=secret, sender_constraint="dpop" if dpop else "none",
        )  # fmt: skip
    return Reseller(partner_id, client.client_id, client_secret, key)


@pytest.fixture
def make_reseller(app, clock):
    runtime = app.extensions["gateway"]

    def make(partner_id="acme", *, scopes=" ".join(partner_scopes()), secret=True, dpop=False,
             **partner_kw):  # fmt: skip
        """A reseller's client: secret or key, bearer tokens unless ``dpop``."""
        with runtime.transaction() as session:
            if session.get(factories.Partner, partner_id) is None:
                factories.partner(session, clock, partner_id, **partner_kw)
        return _add_client(runtime, clock, partner_id, scopes, secret=secret, dpop=dpop)

    return make


def basic(reseller: Reseller, secret: str | None = None) -> dict[str, str]:
    raw = f"{reseller.client_id}:{secret if secret is not None else reseller.secret}"
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def assertion(reseller: Reseller, *, aud: object = ISSUER, key=None, exp_in: int = 120,
              jti: str | None = None, header: dict | None = None, **claims) -> str:  # fmt: skip
    """A client assertion as FAPI 2.0 wants it (aud: the issuer, as a string); any claim or
    header member can be overridden."""
    now = int(time.time())
    body = {
        "iss": reseller.client_id,
        "sub": reseller.client_id,
        "aud": aud,
        "iat": now,
        "exp": now + exp_in,
        "jti": jti or uuid.uuid4().hex,
    } | claims
    return jwt.encode(
        {"alg": "ES256", "kid": "k1", "typ": ASSERTION_TYP} | (header or {}),
        body,
        key or reseller.key,
    )


def assertion_form(reseller: Reseller, **kw) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(reseller, **kw),
    }


def get_token(http, reseller: Reseller, **form) -> str:
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"} | form, headers=basic(reseller)
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["access_token"]


def error_of(response, rule: str) -> dict:
    """An RFC 6749 §5.2 error that names ``rule`` and links its page; returns the body."""
    body = response.json
    assert body["rule"] == rule, body
    assert body["error_uri"] == f"{ISSUER}/problems/{rule}", body
    assert set(body) == {"error", "error_description", "rule", "error_uri"}, body
    return body


@dataclass
class KeyServer:
    """A reseller's web server publishing its key set on loopback, as the test sets it."""

    url: str
    body: bytes = b'{"keys": []}'
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    send_length: bool = True  # a Content-Length header, or the body until the connection ends
    hits: int = 0

    def publish(self, *keys, **headers: str) -> None:
        self.body = json.dumps({"keys": list(keys)}).encode()
        self.status, self.headers = 200, headers


def public_jwk(key, kid: str | None) -> dict:
    return key.as_dict(private=False) | ({"kid": kid} if kid else {})


@pytest.fixture
def key_server():
    state = KeyServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            state.hits += 1
            time.sleep(state.delay)
            self.send_response(state.status)
            self.send_header("Content-Type", "application/jwk-set+json")
            if state.send_length:
                self.send_header("Content-Length", str(len(state.body)))
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/jwks.json"


def last_entry(app):
    from sqlalchemy import select

    from gateway.audit.models import AuditEntry

    with app.extensions["gateway"].transaction() as session:
        return session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()


def dpop_proof(key, method: str, url: str, *, token: str | None = None,
               header: dict | None = None, **claims) -> str:  # fmt: skip
    """A DPoP proof (RFC 9449 §4.2) as a reseller's client makes one for each request; any
    header member or claim can be overridden (``None`` drops a claim)."""
    body = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        body["ath"] = dpop.token_hash(token)
    body = {k: v for k, v in (body | claims).items() if v is not None}
    fixed = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(
        fixed | (header or {}), body, key, algorithms=[(fixed | (header or {}))["alg"]]
    )


def get_dpop_token(http, reseller: Reseller, key, **form) -> str:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"} | form,
        headers=basic(reseller) | {"DPoP": dpop_proof(key, "POST", ISSUER + "/oauth/token")},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["token_type"] == "DPoP"
    return response.json["access_token"]
