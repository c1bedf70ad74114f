"""Keys a reseller publishes at its own ``jwks_uri``: fetched by the token endpoint on demand,
kept a bounded time, fetched again when an assertion names a new ``kid`` — at most once a
minute — and, when the set cannot be had, the assertion is refused (a set kept from before
still serves). The reseller's server is a real HTTP server on loopback."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from gateway.errors import InvalidInput
from gateway.oauth import clients
from gateway.oauth.models import OAuthClient
from gateway.oauth.reseller_keys import check_jwks_uri, lifetime
from tests import factories
from tests.oauth.conftest import (
    ASSERTION_TYP,
    ISSUER,
    PROTECTED,
    error_of,
    last_entry,
    public_jwk,
)

# What is checked here does not depend on the store (see tests/conftest.py).
pytestmark = pytest.mark.one_database

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _form(reseller, key, kid: str | None, now: int) -> dict[str, str]:
    """An assertion dated by the gateway's clock (which the tests move)."""
    claims = {"iss": reseller.client_id, "sub": reseller.client_id, "aud": ISSUER, "iat": now,
              "exp": now + 120, "jti": uuid.uuid4().hex}  # fmt: skip
    header = {"alg": "ES256", "typ": ASSERTION_TYP} | ({"kid": kid} if kid else {})
    assertion = jwt.encode(header, claims, key)
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion}  # fmt: skip


@pytest.fixture
def ask(http, clock):
    """Ask for a token with an assertion signed by ``key``, naming ``kid``."""

    def ask(reseller, key, kid: str | None = "k1"):
        return http.post(
            "/oauth/token", data=_form(reseller, key, kid, int(clock.now().timestamp()))
        )

    return ask


@pytest.fixture
def published(app, make_reseller, clock, key_server):
    """A client whose keys are at ``key_server`` (k1, kept ten minutes); no fetch counted yet
    but the one that checked the set at registration."""
    reseller = make_reseller(secret=False)
    key_server.publish(public_jwk(reseller.key, "k1"), **{"Cache-Control": "max-age=600"})
    with app.extensions["gateway"].transaction() as session:
        clients.replace_keys(session, clock, factories.OPERATOR, client_id=reseller.client_id,
                             jwks_uri=key_server.url)  # fmt: skip
    key_server.hits = 0
    return reseller


def _refused(app, response, rule, status=400):
    assert response.status_code == status, response.get_data(as_text=True)
    assert error_of(response, rule)["error"] == "invalid_client"
    entry = last_entry(app)
    assert (entry.action, entry.outcome, entry.rule) == ("token.issue", "denied", rule)
    return entry


def test_a_published_key_set_is_fetched_once_and_kept(ask, published, key_server):
    assert ask(published, published.key).status_code == 200
    assert ask(published, published.key).status_code == 200
    assert key_server.hits == 1


def test_the_kept_set_is_fetched_again_once_its_max_age_is_over(ask, published, key_server,
                                                                clock):  # fmt: skip
    assert ask(published, published.key).status_code == 200
    clock.advance(timedelta(seconds=599))
    assert ask(published, published.key).status_code == 200
    assert key_server.hits == 1
    clock.advance(timedelta(seconds=2))
    assert ask(published, published.key).status_code == 200
    assert key_server.hits == 2


def test_a_rotation_is_picked_up_when_an_assertion_names_the_new_kid(ask, app, published,
                                                                    key_server, clock):  # fmt: skip
    assert ask(published, published.key).status_code == 200
    new = ECKey.generate_key("P-256", private=True)
    key_server.publish(public_jwk(new, "k2"), **{"Cache-Control": "max-age=600"})
    # Fetched less than a minute ago: not fetched again, so the new kid is not known yet.
    _refused(app, ask(published, new, "k2"), "client_assertion_key")
    assert key_server.hits == 1
    clock.advance(timedelta(seconds=61))
    assert ask(published, new, "k2").status_code == 200
    assert key_server.hits == 2
    _refused(app, ask(published, published.key, "k1"), "client_assertion_key")
    assert key_server.hits == 2  # the old kid refetches nothing within the minute


def test_unknown_kids_fetch_the_set_at_most_once_a_minute(ask, app, published, key_server,
                                                          clock):  # fmt: skip
    assert ask(published, published.key).status_code == 200
    clock.advance(timedelta(seconds=61))
    for _ in range(5):
        _refused(app, ask(published, published.key, "k9"), "client_assertion_key")
    assert key_server.hits == 2
    clock.advance(timedelta(seconds=30))
    _refused(app, ask(published, published.key, "k8"), "client_assertion_key")
    assert key_server.hits == 2
    clock.advance(timedelta(seconds=31))
    _refused(app, ask(published, published.key, "k7"), "client_assertion_key")
    assert key_server.hits == 3


def _break(key_server, case: str) -> str:
    """Make the reseller's server answer badly; returns the reason the log should name."""
    if case == "oversized":
        key_server.body = b'{"keys": [' + b" " * (64 * 1024) + b"]}"
        return "too_large"
    if case == "oversized, no length":
        key_server.body, key_server.send_length = b" " * (70 * 1024), False
        return "too_large"
    if case == "not json":
        key_server.body = b"<html>maintenance</html>"
        return "invalid"
    if case == "private key":
        key_server.publish(ECKey.generate_key("P-256", private=True).as_dict(private=True))
        return "invalid"
    if case == "server error":
        key_server.status = 500
        return "status"
    if case == "redirect":
        key_server.status, key_server.headers = 302, {"Location": key_server.url + "?next"}
        return "redirect"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["oversized", "oversized, no length", "not json", "private key", "server error", "redirect"],
)
def test_a_set_that_cannot_be_had_refuses_the_assertion(ask, app, published, key_server, case):
    reason = _break(key_server, case)
    entry = _refused(app, ask(published, published.key), "client_jwks_available")
    assert json.loads(entry.details) == {"jwks_uri": reason}
    assert key_server.hits == 1


def test_an_unreachable_server_refuses_the_assertion(ask, app, published, closed_port_url):
    with app.extensions["gateway"].transaction() as session:
        session.get(OAuthClient, published.client_id).jwks_uri = closed_port_url
    entry = _refused(app, ask(published, published.key), "client_jwks_available")
    assert json.loads(entry.details) == {"jwks_uri": "unreachable"}


def test_a_slow_server_is_cut_off(ask, app, published, key_server):
    app.extensions["oauth"].reseller_keys.timeout = 0.2
    key_server.delay = 0.6
    started = time.monotonic()
    entry = _refused(app, ask(published, published.key), "client_jwks_available")
    assert time.monotonic() - started < 0.6
    assert json.loads(entry.details) == {"jwks_uri": "timeout"}


def test_a_kept_set_serves_while_the_server_fails(ask, app, published, key_server, clock):
    assert ask(published, published.key).status_code == 200
    key_server.status = 500
    clock.advance(timedelta(seconds=61))
    _refused(app, ask(published, published.key, "k9"), "client_assertion_key")
    assert key_server.hits == 2  # the failed refetch
    assert ask(published, published.key).status_code == 200  # still kept
    clock.advance(timedelta(seconds=600))
    _refused(app, ask(published, published.key), "client_jwks_available")


def test_after_a_failure_the_server_is_not_asked_again_within_a_minute(
    ask, app, published, key_server, clock
):
    key_server.status = 500
    for _ in range(3):
        _refused(app, ask(published, published.key), "client_jwks_available")
    assert key_server.hits == 1
    key_server.status = 200
    clock.advance(timedelta(seconds=61))
    assert ask(published, published.key).status_code == 200
    assert key_server.hits == 2


def test_a_published_set_of_two_keys_needs_a_kid(ask, app, published, key_server, clock):
    other = ECKey.generate_key("P-256", private=True)
    key_server.publish(public_jwk(published.key, "k1"), public_jwk(other, "k2"))
    clock.advance(timedelta(seconds=601))
    assert ask(published, other, "k2").status_code == 200
    _refused(app, ask(published, other, None), "client_assertion_key")


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [(None, 900), ("max-age=1200", 1200), ("public, max-age=10", 300),
     ('max-age="99999999"', 3600), ("no-store", 300), ("max-age=600, no-cache", 300),
     ("s-maxage=5000", 900), ("max-age=abc", 900)],
)  # fmt: skip
def test_a_set_is_kept_as_its_cache_control_says_within_bounds(cache_control, seconds):
    assert lifetime(cache_control) == seconds


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://keys.reseller.example/jwks.json", True),
        ("https://keys.reseller.example:8443/jwks?client=gateway", True),
        ("http://127.0.0.1:8080/jwks.json", True),
        ("http://127.8.9.10/jwks.json", True),
        ("http://[::1]:8080/jwks.json", True),
        ("http://localhost/jwks.json", True),
        ("http://keys.reseller.example/jwks.json", False),
        ("http://10.0.0.1/jwks.json", False),
        ("ftp://keys.reseller.example/jwks.json", False),
        ("file:///etc/passwd", False),
        ("https://user:pass@keys.reseller.example/jwks.json", False),
        ("https://keys.reseller.example/jwks.json#frag", False),
        ("https://keys reseller.example/jwks.json", False),
        ("https://keys.reseller.example:99999/", False),
        ("https://keys.reseller.example/" + "a" * 500, False),
        ("jwks.json", False),
    ],
)
def test_only_https_or_loopback_urls_are_fetched(url, allowed):
    if allowed:
        assert check_jwks_uri(url) == url
    else:
        with pytest.raises(InvalidInput):
            check_jwks_uri(url)


def test_a_key_change_leaves_issued_tokens_valid_and_refuses_the_old_key(
    ask, http, app, make_reseller, clock
):
    reseller = make_reseller(secret=False)
    token = ask(reseller, reseller.key).json["access_token"]
    new = ECKey.generate_key("P-256", private=True)
    with app.extensions["gateway"].transaction() as session:
        clients.replace_keys(session, clock, factories.OPERATOR, client_id=reseller.client_id,
                             jwks_text=json.dumps({"keys": [public_jwk(new, "k2")]}))  # fmt: skip
    _refused(app, ask(reseller, reseller.key, "k1"), "client_assertion_key")
    assert ask(reseller, new, "k2").status_code == 200
    assert http.get(PROTECTED, headers={"Authorization": f"Bearer {token}"}).status_code == 200
