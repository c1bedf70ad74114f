"""One caller can never fail another's request: hostile tokens, client assertions and DPoP
proofs — absurd numbers, malformed claims, replays — sent concurrently with good readers on
several gunicorn workers. No good request fails, each has its log entry, and the chain
verifies, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey

from gateway.audit.service import verify_stored_chain
from gateway.oauth import dpop
from gateway.oauth.keys import init_keys
from tests import factories
from tests.server import GunicornServer

pytestmark = pytest.mark.slow

READERS = 4
SECONDS = 4


def _assertion(client_id: str, key: ECKey, issuer: str, **claims) -> str:
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": issuer, "iat": now, "exp": now + 60,
            "jti": uuid.uuid4().hex} | claims  # fmt: skip
    return jwt.encode({"alg": "ES256", "kid": "k1", "typ": "client-authentication+jwt"}, body, key)


def _proof(key: ECKey, method: str, url: str, token: str | None = None, **claims) -> str:
    body = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        body["ath"] = dpop.token_hash(token)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, body | claims, key)


def _hostile_requests(base: str, issuer: str, client_id: str, key: ECKey, token: str,
                      replayed: str):  # fmt: skip
    """Endless hostile requests: (method, url, headers, form); ``replayed``: a proof used
    already."""
    token_url = base + "/oauth/token"
    read_url = base + "/v1/customers/C-1"
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    makers = [
        lambda: ("POST", token_url, {}, form | {"client_assertion": _assertion(
            client_id, key, issuer, exp=1e300)}),
        lambda: ("POST", token_url, {}, form | {"client_assertion": _assertion(
            client_id, key, issuer, exp=10**20)}),
        lambda: ("POST", token_url, {}, form | {"client_assertion": _assertion(
            client_id, key, issuer, exp=float("inf"))}),
        lambda: ("POST", token_url, {}, form | {"client_assertion": _assertion(
            client_id, key, issuer, aud=["https://attacker.example", issuer])}),
        lambda: ("POST", token_url, {}, form | {"client_assertion": _assertion(
            client_id, key, issuer, jti={"nested": [1, 2]})}),
        lambda: ("POST", token_url, {}, form | {"client_assertion": "a.b.c"}),
        lambda: ("POST", token_url, {"Authorization": "Basic Y2xfAAAAOng="}, {
            "grant_type": "client_credentials"}),
        lambda: ("POST", token_url, {"DPoP": _proof(key, "POST", issuer + "/oauth/token",
                                                    iat=1e300)},
                 form | {"client_assertion": _assertion(client_id, key, issuer)}),
        lambda: ("GET", read_url + "?purpose=inquiry_response", {
            "Authorization": f"DPoP {token}", "DPoP": replayed}, None),
        lambda: ("GET", read_url + "?purpose=inquiry_response", {
            "Authorization": f"DPoP {token}",
            "DPoP": _proof(key, "GET", issuer + "/v1/customers/C-1", token, iat=10**20)}, None),
        lambda: ("GET", read_url + "?purpose=inquiry_response&updated_since=9999-99-99", {
            "Authorization": f"Bearer {'x' * 5000}"}, None),
        lambda: ("POST", base + "/oauth/introspect", {}, form | {
            "client_assertion": _assertion(client_id, key, issuer, exp=1e300), "token": token}),
    ]  # fmt: skip
    for maker in itertools.cycle(makers):
        yield maker()


def test_hostile_callers_never_fail_a_good_readers_request(runtime, clock, gateway_env, tmp_path):
    init_keys(runtime.config.keys_dir, int(time.time()))
    key = ECKey.generate_key("P-256", private=True)
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        factories.customer(session, clock, "C-1")
        factories.designation(session, clock, "C-1", "acme")
        client_id, _ = factories.client(session, clock, "acme", key=key, sender_constraint="dpop")
    # The readers' pace is not what is tested here: their client's limit is out of the way.
    env = gateway_env | {"GATEWAY_RATE_LIMIT_PER_MINUTE": "1000000"}
    server = GunicornServer.start(env, tmp_path / "gunicorn.log", workers=2, threads=4)
    issuer = server.base_url
    good: list[tuple[str, int]] = []
    hostile: list[int] = []
    stop = threading.Event()
    try:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        }
        token_url = issuer + "/oauth/token"
        token = requests.post(token_url, data=form | {
            "client_assertion": _assertion(client_id, key, issuer)},
            headers={"DPoP": _proof(key, "POST", token_url)}, timeout=30,
        ).json()["access_token"]  # fmt: skip
        url = issuer + "/v1/customers/C-1"
        replayed = _proof(key, "GET", url, token)
        first = requests.get(
            url,
            params={"purpose": "inquiry_response"},
            timeout=30,
            headers={"Authorization": f"DPoP {token}", "DPoP": replayed},
        )
        assert first.status_code == 200

        def read() -> None:
            with requests.Session() as http:
                while not stop.is_set():
                    request_id = uuid.uuid4().hex
                    response = http.get(url, params={"purpose": "inquiry_response"}, headers={
                        "Authorization": f"DPoP {token}", "X-Request-Id": request_id,
                        "DPoP": _proof(key, "GET", url, token)}, timeout=30)  # fmt: skip
                    good.append((request_id, response.status_code))

        def attack() -> None:
            attacks = _hostile_requests(issuer, issuer, client_id, key, token, replayed)
            with requests.Session() as http:
                while not stop.is_set():
                    method, target, headers, body = next(attacks)
                    hostile.append(
                        http.request(
                            method, target, headers=headers, data=body, timeout=30
                        ).status_code  # fmt: skip
                    )

        threads = [threading.Thread(target=read) for _ in range(READERS)]
        threads += [threading.Thread(target=attack) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(SECONDS)
        stop.set()
        for thread in threads:
            thread.join(60)
    finally:
        server.stop()

    assert good and hostile
    failed = [status for _, status in good if status != 200]
    assert failed == [], f"{len(failed)} of {len(good)} good reads failed: {set(failed)}"
    assert 503 not in hostile and 500 not in hostile, sorted(set(hostile))
    assert all(400 <= status < 500 for status in hostile), sorted(set(hostile))

    from sqlalchemy import select

    from gateway.audit.models import AuditEntry

    with runtime.transaction() as session:
        logged = dict(
            session.execute(
                select(AuditEntry.request_id, AuditEntry.outcome).where(
                    AuditEntry.action == "customers.read", AuditEntry.actor_id == client_id
                )
            ).all()
        )
        every = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    assert all(logged.get(request_id) == "allowed" for request_id, _ in good)
    # The hostile attempts were logged too — but those over the failures' rate limit (429),
    # which are counted and logged once a minute.
    assert every >= len(good) + len([s for s in hostile if s != 429])
    assert verify_stored_chain(runtime.sessions).intact
