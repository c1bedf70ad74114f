"""``gateway keys …`` and ``gateway clients …`` through the CLI."""

from __future__ import annotations

import json
import stat

import pytest
from joserfc.jwk import ECKey, OctKey
from sqlalchemy import inspect, select, text

from gateway.audit.models import AuditEntry
from gateway.oauth.models import AccessToken, OAuthClient
from gateway.oauth.secrets import verify_secret

# What is checked here does not depend on the store (see tests/conftest.py).
pytestmark = pytest.mark.one_database


def _one_line_error(result) -> str:
    assert result.exit_code != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_keys_init_creates_an_owner_only_key_once(cli, gateway_env, tmp_path):
    first = cli("keys", "init", "--json")
    assert first.exit_code == 0, first.stderr
    created = json.loads(first.stdout)
    assert created["created"] is True
    keys_dir = tmp_path / "keys"
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    files = list(keys_dir.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    pem = keys_dir / f"token-{created['kid']}.pem"
    assert b"PRIVATE KEY" in pem.read_bytes()

    again = json.loads(cli("keys", "init", "--json").stdout)
    assert again == {**created, "created": False}


def test_keys_rotate_keeps_the_previous_key_published(cli):
    first = json.loads(cli("keys", "init", "--json").stdout)["kid"]
    rotated = json.loads(cli("keys", "rotate", "--json").stdout)
    assert rotated["retired"] == first and rotated["kid"] != first
    states = {k["kid"]: k["state"] for k in json.loads(cli("keys", "list", "--json").stdout)}
    assert states == {first: "published", rotated["kid"]: "current"}


def test_published_keys_drop_out_once_every_token_they_signed_has_expired(tmp_path):
    from gateway.oauth.keys import PUBLISHED_AFTER_RETIREMENT, SigningKeys, init_keys, rotate_keys

    _, old = init_keys(tmp_path / "k", 1_000)
    _, new = rotate_keys(tmp_path / "k", 2_000)
    keys = SigningKeys(tmp_path / "k")
    assert [k["kid"] for k in keys.published(2_000 + PUBLISHED_AFTER_RETIREMENT - 1)] == [old, new]
    assert [k["kid"] for k in keys.published(2_000 + PUBLISHED_AFTER_RETIREMENT)] == [new]
    assert PUBLISHED_AFTER_RETIREMENT > 900  # longer than any token can live


def test_keys_init_in_an_unwritable_place_is_one_clear_line(cli, gateway_env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    gateway_env["GATEWAY_KEYS_DIR"] = str(blocker / "keys")
    line = _one_line_error(cli("keys", "init"))
    assert "key directory" in line


def _partner(cli):
    cli("partners", "add", "acme", "--name", "Acme")
    cli("partners", "nda", "acme", "--reference", "N", "--signed-on", "2026-01-01",
        "--expires-on", "2099-12-31")  # fmt: skip


def _database_text(runtime) -> str:
    """Every value of every row of every table, as text."""
    chunks = []
    with runtime.transaction() as session:
        for table in inspect(session.get_bind()).get_table_names():
            for row in session.execute(text(f'SELECT * FROM "{table}"')):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def test_a_secret_is_shown_once_and_stored_only_as_a_slow_hash(cli, runtime, database_url):
    _partner(cli)
    added = cli("clients", "add", "acme", "--scopes", "customers:contact", "--secret", "--json")
    assert added.exit_code == 0, added.stderr
    view = json.loads(added.stdout)
    secret = view["client_secret"]
    assert len(secret) >= 43

    listed = cli("clients", "list", "--json").stdout + cli("clients", "list").stdout
    assert secret not in listed and '"client_secret":' not in listed
    assert secret not in _database_text(runtime)
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        for suffix in ("", "-wal"):
            try:
                with open(path + suffix, "rb") as handle:
                    raw = handle.read()
            except FileNotFoundError:
                continue
            assert secret.encode() not in raw
    with runtime.transaction() as session:
        stored = session.get(OAuthClient, view["client_id"]).secret_hash
        entries = session.scalars(select(AuditEntry)).all()
    assert stored.startswith("scrypt$") and verify_secret(secret, stored)
    assert not any(secret in json.dumps([e.details, e.subjects]) for e in entries)


def test_a_key_client_registers_the_public_jwks(cli, tmp_path):
    _partner(cli)
    key = ECKey.generate_key("P-256", private=True, parameters={"kid": "r1"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    added = cli("clients", "add", "acme", "--scopes", "customers:contact customers:inquiries",
                "--jwks", str(jwks), "--json")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    view = json.loads(added.stdout)
    assert view["auth_method"] == "private_key_jwt" and view["key_ids"] == ["r1"]
    assert "client_secret" not in view


# A 1024-bit RSA public key (too short to accept), written out to spare generating one.
SHORT_RSA = {
    "kty": "RSA",
    "e": "AQAB",
    "n": "u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_IzW7yWR7QkrmBL7jTKEn5u"
    "-qKhbwKfBstIs-bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW_VDL5AaWTg0nLVk"
    "jRo9z-40RQzuVaE8AkAFmxZzow3x-VJYKdjykkJ0iT9wCS0DRTXu269V264Vf_3jvredZiKRkgwlL9xNAwxXFg0x_X"
    "FwpX0lLhRaHt8PU2Tn8Z_lP-9RdX2mxUKLaI2G1cM9VRWvQ0EW7I8ZpR0WYz-4pYc9EdCIa3qxw",
}


def _jwks_file(tmp_path, content) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


@pytest.mark.parametrize(
    "case",
    ["private key", "symmetric key", "not json", "empty set", "short rsa", "both", "neither",
     "bad scope", "no scope", "unknown partner", "revoked partner"],
)  # fmt: skip
def test_bad_client_registrations_are_refused_and_change_nothing(cli, runtime, tmp_path, case):
    _partner(cli)
    cli("partners", "add", "gone", "--name", "Gone")
    cli("partners", "revoke", "gone", "--reason", "ended")
    ec = ECKey.generate_key("P-256", private=True)
    good = _jwks_file(tmp_path, {"keys": [ec.as_dict(private=False)]})

    def keyset(*keys):
        return ["acme", "--jwks", _jwks_file(tmp_path, {"keys": list(keys)})]

    args = {
        "private key": lambda: keyset(ec.as_dict(private=True)),
        "symmetric key": lambda: keyset(OctKey.generate_key(256).as_dict()),
        "not json": lambda: ["acme", "--jwks", _jwks_file(tmp_path, "{nope")],
        "empty set": lambda: keyset(),
        "short rsa": lambda: keyset(SHORT_RSA),
        "both": lambda: ["acme", "--jwks", good, "--secret"],
        "neither": lambda: ["acme"],
        "bad scope": lambda: ["acme", "--secret", "--scopes", "customers:everything"],
        "no scope": lambda: ["acme", "--secret", "--scopes", " "],
        "unknown partner": lambda: ["ghost", "--secret"],
        "revoked partner": lambda: ["gone", "--secret"],
    }[case]()
    if "--scopes" not in args:
        args += ["--scopes", "customers:contact"]
    _one_line_error(cli("clients", "add", *args))
    with runtime.transaction() as session:
        assert session.scalars(select(OAuthClient)).all() == []


def _token(jti: str, client_id: str) -> AccessToken:
    return AccessToken(
        jti=jti, client_id=client_id, partner_id="acme", scope="customers:contact",
        issued_at=1, expires_at=2**40,
    )  # fmt: skip


def test_disabling_a_client_revokes_its_tokens(cli, runtime):
    _partner(cli)
    client_id = json.loads(
        cli("clients", "add", "acme", "--scopes", "customers:contact", "--secret", "--json").stdout
    )["client_id"]
    with runtime.transaction() as session:
        session.add(_token("t1", client_id))
    result = cli("clients", "disable", client_id, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "disabled"
    with runtime.transaction() as session:
        assert session.get(AccessToken, "t1").revoked_at is not None
    _one_line_error(cli("clients", "disable", client_id))
    _one_line_error(cli("clients", "disable", "cl_nope"))


def test_revoking_a_partner_disables_its_clients_and_revokes_its_tokens(cli, runtime):
    _partner(cli)
    ids = [
        json.loads(cli("clients", "add", "acme", "--scopes", "customers:contact", "--secret",
                       "--json").stdout)["client_id"]
        for _ in range(2)
    ]  # fmt: skip
    with runtime.transaction() as session:
        for n, client_id in enumerate(ids):
            session.add(_token(f"t{n}", client_id))
    revoked = json.loads(cli("partners", "revoke", "acme", "--reason", "leak", "--json").stdout)
    assert revoked["status"] == "revoked"
    with runtime.transaction() as session:
        assert {c.status for c in session.scalars(select(OAuthClient))} == {"disabled"}
        assert all(t.revoked_at for t in session.scalars(select(AccessToken)))
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert json.loads(entry.details) == {
        "reason": "leak",
        "clients_disabled": 2,
        "tokens_revoked": 2,
    }


def _key_client(cli, tmp_path, kid="r1") -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256", private=True)
    path = tmp_path / f"jwks-{kid}.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False) | {"kid": kid}]}))
    added = cli("clients", "add", "acme", "--scopes", "customers:contact", "--jwks", str(path),
                "--json")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    return json.loads(added.stdout)["client_id"], key


def _public_file(tmp_path, name, *keys) -> str:
    """A key set file of public keys, each as ``(key, kid)`` (kid ``None``: none)."""
    path = tmp_path / name
    path.write_text(json.dumps({"keys": [k.as_dict(private=False) | ({"kid": kid} if kid else {})
                                         for k, kid in keys]}))  # fmt: skip
    return str(path)


def _last_entry(runtime) -> AuditEntry:
    with runtime.transaction() as session:
        return session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()


def test_a_clients_keys_are_replaced_or_added_to_and_logged_without_key_material(
    cli, runtime, tmp_path
):
    _partner(cli)
    client_id, first = _key_client(cli, tmp_path)
    second, third = (ECKey.generate_key("P-256", private=True) for _ in range(2))

    replaced = cli("clients", "keys", client_id, "--jwks",
                   _public_file(tmp_path, "two.json", (second, "r2")), "--json")  # fmt: skip
    assert replaced.exit_code == 0, replaced.stderr
    view = json.loads(replaced.stdout)
    assert view["key_ids"] == ["r2"] and view["jwks_uri"] is None
    assert view["keys"] == [{"kid": "r2", "thumbprint": second.thumbprint()}]
    entry = _last_entry(runtime)
    assert (entry.action, entry.actor_id) == ("client.keys", "test-operator")
    assert json.loads(entry.details) == {
        "source": "jwks", "added": False, "jwks_uri": None, "kids": "r2",
        "thumbprints": second.thumbprint(), "previous_thumbprints": first.thumbprint(),
    }  # fmt: skip

    added = cli("clients", "keys", client_id, "--add", "--jwks",
                _public_file(tmp_path, "three.json", (third, "r3")))  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert "tokens already issued stay valid" in added.stdout
    with runtime.transaction() as session:
        stored = json.loads(session.get(OAuthClient, client_id).jwks)
    assert [k["kid"] for k in stored["keys"]] == ["r2", "r3"]
    details = json.loads(_last_entry(runtime).details)
    assert details["added"] is True and details["kids"] == "r2 r3"
    for key in (first, second, third):
        for member in ("x", "y"):
            assert key.as_dict()[member] not in _last_entry(runtime).details


def test_a_client_takes_its_keys_from_a_jwks_uri_instead(cli, runtime, tmp_path, key_server):
    _partner(cli)
    client_id, key = _key_client(cli, tmp_path)
    key_server.publish(key.as_dict(private=False) | {"kid": "r1"})
    moved = cli("clients", "keys", client_id, "--jwks-uri", key_server.url, "--json")
    assert moved.exit_code == 0, moved.stderr
    view = json.loads(moved.stdout)
    assert (view["jwks_uri"], view["key_ids"]) == (key_server.url, None)
    assert view["keys"] == [{"kid": "r1", "thumbprint": key.thumbprint()}]
    assert key_server.hits == 1  # checked once, at registration
    details = json.loads(_last_entry(runtime).details)
    assert (details["source"], details["jwks_uri"]) == ("jwks_uri", key_server.url)

    back = cli(
        "clients", "keys", client_id, "--jwks", _public_file(tmp_path, "k.json", (key, None))
    )
    assert back.exit_code == 0, back.stderr
    with runtime.transaction() as session:
        row = session.get(OAuthClient, client_id)
        assert row.jwks_uri is None and row.jwks is not None


def test_clients_keys_help_says_issued_tokens_stay_valid(cli):
    text = " ".join(cli("clients", "keys", "--help").stdout.split())
    assert "Tokens already issued stay valid" in text
    assert "--jwks-uri URL" in text and "--add" in text


# Each refused key change, and what its one line says.
_KEY_CHANGE_REFUSALS = {
    "unknown client": "no client", "secret client": "authenticates with a secret",
    "disabled client": "is disabled", "neither": "exactly one of", "both": "exactly one of",
    "add with uri": "--add", "plain http uri": "must be https",
    "unreachable uri": "could not be reached", "invalid set at uri": "private key material",
    "add to a uri client": "has its keys at a jwks_uri",
    "two keys without kid": "every key needs a kid", "two keys one kid": "every key needs a kid",
    "same kid twice": "same kid", "same key twice": "same key", "private key": "private key",
    "P-384 key": "P-256", "RS256 alg": "alg", "encryption key": "use", "too many keys": "at most",
    "oversized": "64 KiB", "not json": "JSON", "same keys again": "has these keys already",
}  # fmt: skip


@pytest.mark.parametrize("case", list(_KEY_CHANGE_REFUSALS))
def test_bad_key_changes_are_one_line_and_change_nothing(cli, runtime, tmp_path, key_server,
                                                         closed_port_url, case):  # fmt: skip
    _partner(cli)
    client_id, key = _key_client(cli, tmp_path)
    secret_id = json.loads(cli("clients", "add", "acme", "--scopes", "customers:contact",
                               "--secret", "--json").stdout)["client_id"]  # fmt: skip
    disabled_id, _ = _key_client(cli, tmp_path, "d1")
    cli("clients", "disable", disabled_id)
    uri_id, _ = _key_client(cli, tmp_path, "u1")
    key_server.publish(ECKey.generate_key("P-256", private=True).as_dict(private=False))
    assert cli("clients", "keys", uri_id, "--jwks-uri", key_server.url).exit_code == 0
    new = ECKey.generate_key("P-256", private=True)
    good = _public_file(tmp_path, "good.json", (new, "n1"))

    def keys_file(*keys) -> str:
        return _jwks_file(tmp_path, {"keys": list(keys)})

    def public(k, **members) -> dict:
        return k.as_dict(private=False) | members

    other = ECKey.generate_key("P-256", private=True)
    args = {
        "unknown client": lambda: ["cl_nope", "--jwks", good],
        "secret client": lambda: [secret_id, "--jwks", good],
        "disabled client": lambda: [disabled_id, "--jwks", good],
        "neither": lambda: [client_id],
        "both": lambda: [client_id, "--jwks", good, "--jwks-uri", key_server.url],
        "add with uri": lambda: [client_id, "--add", "--jwks-uri", key_server.url],
        "plain http uri": lambda: [client_id, "--jwks-uri", "http://keys.reseller.example/j"],
        "unreachable uri": lambda: [client_id, "--jwks-uri", closed_port_url],
        "invalid set at uri": lambda: [client_id, "--jwks-uri", key_server.url + "?private"],
        "add to a uri client": lambda: [uri_id, "--add", "--jwks", good],
        "two keys without kid": lambda: [client_id, "--jwks", keys_file(public(new),
                                                                         public(other))],
        "two keys one kid": lambda: [client_id, "--jwks", keys_file(public(new, kid="a"),
                                                                     public(other))],
        "same kid twice": lambda: [client_id, "--jwks", keys_file(public(new, kid="a"),
                                                                   public(other, kid="a"))],
        "same key twice": lambda: [client_id, "--jwks", keys_file(public(new, kid="a"),
                                                                   public(new, kid="b"))],
        "private key": lambda: [client_id, "--jwks", keys_file(new.as_dict(private=True))],
        "P-384 key": lambda: [client_id, "--jwks", keys_file(
            ECKey.generate_key("P-384", private=True).as_dict(private=False))],
        "RS256 alg": lambda: [client_id, "--jwks", keys_file(public(new, alg="RS256"))],
        "encryption key": lambda: [client_id, "--jwks", keys_file(public(new, use="enc"))],
        "too many keys": lambda: [client_id, "--jwks", keys_file(*(
            public(ECKey.generate_key("P-256", private=True), kid=f"k{n}") for n in range(11)))],
        "oversized": lambda: [client_id, "--jwks", _jwks_file(
            tmp_path, json.dumps({"keys": [public(new)], "pad": "x" * 70_000}))],
        "not json": lambda: [client_id, "--jwks", _jwks_file(tmp_path, "{nope")],
        "same keys again": lambda: [client_id, "--jwks", _public_file(tmp_path, "same.json",
                                                                      (key, "r1"))],
    }[case]()  # fmt: skip
    if case == "invalid set at uri":
        key_server.publish(new.as_dict(private=True))
    with runtime.transaction() as session:
        before = [(c.client_id, c.jwks, c.jwks_uri) for c in session.scalars(select(OAuthClient))]
    entries_before = _last_entry(runtime).seq
    line = _one_line_error(cli("clients", "keys", *args))
    assert _KEY_CHANGE_REFUSALS[case] in line, line
    with runtime.transaction() as session:
        after = [(c.client_id, c.jwks, c.jwks_uri) for c in session.scalars(select(OAuthClient))]
    assert after == before
    assert _last_entry(runtime).seq == entries_before
