"""HTTP benchmark of the gateway against the bare stack, measured in the same run.

    python -m bench.http                      # SQLite and PostgreSQL, 10 s a case
    python -m bench.http --databases sqlite --duration 5 --connections 16

For each database: a fresh store with one reseller, its clients and ``--customers`` designated
customers; gunicorn on 127.0.0.1 with the same workers and threads for every case; wrk as the
load generator (one thread, so it takes as little of the machine as it can). Cases:

- ``bare``: a Flask endpoint returning the same ~1 KB JSON from memory — this stack's ceiling;
- ``read``: ``GET /v1/customers/{id}`` over every customer in turn, each with its durable log
  record, with a bearer token (a client opted out of DPoP);
- ``list``: ``GET /v1/customers?limit=100`` (a 100-customer page);
- ``read-dpop``: the same reads with a DPoP-bound token (the default for a client), a fresh
  proof each (made before the run);
- ``token``: ``POST /oauth/token`` with a fresh ``private_key_jwt`` assertion and DPoP proof
  each time.

Prints requests/s, p50 and p99 latency, and each gateway case as a ratio to ``bare``.
These machines are noisy: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import requests
from joserfc import jwt
from joserfc.jwk import ECKey

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.postgres import PostgresServer  # noqa: E402
from tests.server import GunicornServer, free_port  # noqa: E402


@dataclass
class Result:
    case: str
    database: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _wrk(url: str, args: argparse.Namespace, script: Path | None = None,
         headers: tuple[str, ...] = ()) -> tuple[float, float, float, int]:  # fmt: skip
    command = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
               "--timeout", "10s"]  # fmt: skip
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", str(script)]
    run = subprocess.run(command + [url], capture_output=True, text=True, check=True)  # noqa: S603
    output = run.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _latency(re.search(r"50%\s+([\d.]+\w+)", output).group(1))
    p99 = _latency(re.search(r"99%\s+([\d.]+\w+)", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = int(bad.group(1)) if bad else 0
    socket_errors = re.search(r"Socket errors:.*", output)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(0)))
    return rate, p50, p99, errors


def _latency(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _seed(env: dict[str, str], customers: int, workdir: Path) -> dict[str, str]:
    """One reseller with an NDA, a secret client and a key client; ``customers`` customers
    who designated it. Returns what the load needs."""
    from gateway.audit.spine import Actor, ActorKind
    from gateway.config import Config
    from gateway.customers.importer import import_customers
    from gateway.designations.service import import_designations
    from gateway.oauth import clients
    from gateway.oauth.keys import init_keys
    from gateway.partners import service as partners
    from gateway.runtime import Runtime

    runtime = Runtime.open(Config.from_env(env))
    actor = Actor(ActorKind.OPERATOR, "bench")
    clock = runtime.clock
    init_keys(runtime.config.keys_dir, int(time.time()))
    key = ECKey.generate_key("P-256", private=True, parameters={"kid": "bench"})
    lines = io.BytesIO()
    designations = io.BytesIO()
    for n in range(customers):
        record = json.loads(json.dumps(_customer(n)))
        lines.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
        designations.write(json.dumps({"customer_id": record["customer_id"],
                                       "partner_id": "bench", "designated_on": "2025-01-01"})
                           .encode() + b"\n")  # fmt: skip
    lines.seek(0)
    designations.seek(0)
    from gateway import allowlist

    with runtime.transaction() as session:
        partners.add_partner(session, clock, actor, partner_id="bench", name="Bench K.K.")
        partners.record_nda(session, clock, actor, partner_id="bench", reference="B-1",
                            signed_on="2025-01-01", expires_on="2099-12-31")  # fmt: skip
        secret_client, secret = clients.add_client(
            session, clock, actor, partner_id="bench", with_secret=True,
            scopes="customers:contact customers:contract customers:inquiries",
            sender_constraint="none",
        )  # fmt: skip
        key_client, _ = clients.add_client(
            session, clock, actor, partner_id="bench", scopes="customers:contact",
            jwks_text=json.dumps({"keys": [key.as_dict(private=False)]}),
        )  # fmt: skip
    with runtime.transaction() as session:
        import_customers(session, clock, actor, lines, allowlist=allowlist.current())
    with runtime.transaction() as session:
        import_designations(session, clock, actor, designations)
    runtime.close()
    (workdir / "key.pem").write_bytes(key.as_pem(private=True))
    return {"secret_client": secret_client.client_id, "secret": secret,
            "key_client": key_client.client_id}  # fmt: skip


def _customer(n: int) -> dict:
    from bench.bare import DOCUMENT

    record = json.loads(json.dumps(DOCUMENT))
    record.pop("updated_at")
    record["customer_id"] = f"C-{n:08d}"
    record["account_id"] = f"acct-{n:08d}"
    return record


def _paths_script(workdir: Path, paths: list[str]) -> Path:
    listing = workdir / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    script = workdir / "paths.lua"
    script.write_text(f"""
local paths = {{}}
for line in io.lines("{listing}") do paths[#paths + 1] = line end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
""")
    return script


def _requests_script(workdir: Path, name: str, method: str,
                     requests_: list[tuple[str, dict[str, str], str]]) -> Path:  # fmt: skip
    """A wrk script sending ``requests_`` (path, headers, body) in turn, each once."""
    listing = workdir / f"{name}.txt"
    with listing.open("w") as handle:
        for path, headers, body in requests_:
            fields = [path, body, *(f"{k}: {v}" for k, v in headers.items())]
            handle.write("\t".join(fields) + "\n")
    script = workdir / f"{name}.lua"
    script.write_text(f"""
local requests = {{}}
for line in io.lines("{listing}") do
  local fields = {{}}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
  local headers = {{["Content-Type"] = "application/x-www-form-urlencoded"}}
  for i = 3, #fields do
    local name, value = fields[i]:match("^([^:]+): (.*)$")
    headers[name] = value
  end
  requests[#requests + 1] = wrk.format("{method}", fields[1], headers,
                                       fields[2] ~= "" and fields[2] or nil)
end
local n = 0
request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end
""")
    return script


def _assertion_body(client_id: str, key: ECKey, issuer: str) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": issuer, "iat": now, "exp": now + 600,
              "jti": uuid.uuid4().hex}  # fmt: skip
    header = {"alg": "ES256", "kid": "bench", "typ": "client-authentication+jwt"}
    assertion = jwt.encode(header, claims, key)
    return (
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3A"
        f"oauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    )


def _proof(key: ECKey, method: str, url: str, token: str | None = None) -> str:
    """A DPoP proof, made as a reseller's client makes one for each request."""
    from gateway.oauth.dpop import token_hash

    claims = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
    if token is not None:
        claims["ath"] = token_hash(token)
    return jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)},
                      claims, key)  # fmt: skip


def _token_script(workdir: Path, client_id: str, key: ECKey, issuer: str, count: int) -> Path:
    """Token requests as a DPoP client makes them: a fresh assertion and a fresh proof each."""
    token_url = issuer + "/oauth/token"
    return _requests_script(workdir, "token", "POST", [
        ("/oauth/token", {"DPoP": _proof(key, "POST", token_url)},
         _assertion_body(client_id, key, issuer))
        for _ in range(count)])  # fmt: skip


def _dpop_reads_script(workdir: Path, key: ECKey, issuer: str, token: str, customers: int,
                       count: int) -> Path:  # fmt: skip
    """Single reads with a DPoP-bound token: a fresh proof for each request."""
    requests_ = []
    for n in range(count):
        path = f"/v1/customers/C-{n % customers:08d}"
        headers = {"Authorization": f"DPoP {token}",
                   "DPoP": _proof(key, "GET", issuer + path, token)}  # fmt: skip
        requests_.append((path + "?purpose=inquiry_response", headers, ""))
    return _requests_script(workdir, "read-dpop", "GET", requests_)


def _store(database: str, stack: ExitStack) -> tuple[Path, str, int, dict[str, str]]:
    """A fresh store (SQLite file, or a durable throwaway PostgreSQL) and the gateway's
    environment for it; both removed when ``stack`` closes."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{database}-"))
    stack.callback(shutil.rmtree, workdir, True)
    if database == "sqlite":
        url = f"sqlite:///{workdir}/gateway.db"
    else:
        server = PostgresServer.start(durable=True)
        stack.callback(server.stop)
        url = server.url()
    port = free_port()
    env = {
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_KEYS_DIR": str(workdir / "keys"),
        "GATEWAY_ISSUER": f"http://127.0.0.1:{port}",
        "GATEWAY_TOKEN_LIFETIME": "900",
        # Limits counted as in production (node-wide store), set out of the way of the load.
        "GATEWAY_RATE_LIMIT_STORAGE": f"gateway+node:///{workdir}/rate-limits.sqlite3",
        "GATEWAY_RATE_LIMIT_PER_MINUTE": "1000000",
        "GATEWAY_RATE_LIMIT_TOKENS_PER_MINUTE": "1000000",
    }
    return workdir, url, port, env


def _gunicorn(args: argparse.Namespace) -> dict:
    """The same workers for every case. wrk opens its connections all at once and the kernel
    hands each to whichever worker wakes first: left alone, one worker may get all 16 and the
    run measures the luck of that split (the bare case swung from 2 k to 8 k req/s between
    runs). Capping each worker's connections at its share spreads them evenly, for the bare
    case and the gateway alike."""
    share = -(-args.connections // args.workers)
    return {"workers": args.workers, "threads": args.threads,
            "extra": ("--worker-connections", str(share))}  # fmt: skip


def run(database: str, args: argparse.Namespace, stack: ExitStack) -> list[Result]:
    workdir, url, port, env = _store(database, stack)
    seeded = _seed(env, args.customers, workdir)
    key = ECKey.import_key((workdir / "key.pem").read_bytes(), parameters={"kid": "bench"})
    gunicorn = _gunicorn(args)

    bare = GunicornServer.start_app("bench.bare:app", env, workdir / "bare.log", **gunicorn)
    try:
        results = [Result("bare", database, *_wrk(bare.base_url + "/bare", args))]
    finally:
        bare.stop()

    gateway = GunicornServer.start(env, workdir / "gateway.log", port=port, **gunicorn)
    try:
        token = requests.post(gateway.base_url + "/oauth/token",
                              data={"grant_type": "client_credentials"},
                              auth=(seeded["secret_client"], seeded["secret"]),
                              timeout=30).json()["access_token"]  # fmt: skip
        bearer = (f"Authorization: Bearer {token}",)
        reads = [f"/v1/customers/C-{n:08d}?purpose=inquiry_response"
                 for n in range(args.customers)]  # fmt: skip
        script = _paths_script(workdir, reads)
        results.append(Result("read", database,
                              *_wrk(gateway.base_url, args, script, bearer)))  # fmt: skip
        results.append(Result("list100", database, *_wrk(
            gateway.base_url + "/v1/customers?purpose=service_contact&limit=100", args,
            headers=bearer)))  # fmt: skip
        count = max(1000, int(args.duration * 3000))
        issuer = gateway.base_url
        token_url = issuer + "/oauth/token"
        bound = requests.post(token_url, data=_assertion_body(seeded["key_client"], key, issuer),
                              headers={"DPoP": _proof(key, "POST", token_url), "Content-Type":
                                       "application/x-www-form-urlencoded"},
                              timeout=30).json()["access_token"]  # fmt: skip
        script = _dpop_reads_script(workdir, key, issuer, bound, args.customers, count)
        results.append(Result("read-dpop", database, *_wrk(gateway.base_url, args, script)))
        script = _token_script(workdir, seeded["key_client"], key, issuer, count)
        results.append(Result("token", database, *_wrk(gateway.base_url, args, script)))
    finally:
        gateway.stop()
    return results


def _grow(url: str, total: int) -> tuple[str, str]:
    """Bring the bench reseller's designated customers up to ``total`` by bulk inserts (a copy
    of the first customer's stored content under new ids); returns a cursor pointing at the
    middle of the reseller's list."""
    from sqlalchemy import create_engine, func, insert, select

    from gateway.customers.models import Customer
    from gateway.designations.models import Designation
    from gateway.sharing.service import encode_cursor

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        have = connection.scalar(select(func.count()).select_from(Customer))
        first = connection.execute(select(Customer).limit(1)).one()
        model = connection.execute(select(Designation).limit(1)).one()
        batch = 20_000
        for start in range(have, total, batch):
            ids = [f"C-{n:08d}" for n in range(start, min(start + batch, total))]
            connection.execute(insert(Customer), [
                {"customer_id": i, "content": first.content, "content_hash": first.content_hash,
                 "updated_at": first.updated_at, "contract_ended": False, "stop_use": False}
                for i in ids])  # fmt: skip
            connection.execute(insert(Designation), [
                {"customer_id": i, "partner_id": "bench", "designated_on": model.designated_on,
                 "changed_at": model.changed_at}
                for i in ids])  # fmt: skip
        middle = connection.execute(
            select(Designation.changed_at, Designation.customer_id)
            .where(Designation.partner_id == "bench")
            .order_by(Designation.changed_at, Designation.customer_id)
            .offset(total // 2)
            .limit(1)
        ).one()
    engine.dispose()
    return encode_cursor(middle.changed_at, middle.customer_id, middle.changed_at)


def list_scales(database: str, args: argparse.Namespace, stack: ExitStack) -> list[Result]:
    """List-page latency as the table grows: the first page and a page from the middle."""
    workdir, url, port, env = _store(database, stack)
    seeded = _seed(env, 100, workdir)
    results = []
    for scale in (int(n) for n in args.list_scales.split(",")):
        cursor = _grow(url, scale)
        gateway = GunicornServer.start(env, workdir / "gateway.log", port=port,
                                       **_gunicorn(args))  # fmt: skip
        try:
            token = requests.post(gateway.base_url + "/oauth/token",
                                  data={"grant_type": "client_credentials"},
                                  auth=(seeded["secret_client"], seeded["secret"]),
                                  timeout=30).json()["access_token"]  # fmt: skip
            bearer = (f"Authorization: Bearer {token}",)
            page = gateway.base_url + "/v1/customers?purpose=service_contact&limit=100"
            results.append(Result(f"list@{scale}", database, *_wrk(page, args, headers=bearer)))
            middle = _wrk(f"{page}&cursor={cursor}", args, headers=bearer)
            results.append(Result(f"mid@{scale}", database, *middle))
        finally:
            gateway.stop()
    return results


def report(results: list[Result]) -> None:
    print(f"{'database':<11}{'case':<9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'vs bare':>9}{'p99/bare':>10}{'errors':>8}")  # fmt: skip
    for database in dict.fromkeys(r.database for r in results):
        rows = [r for r in results if r.database == database]
        bare = next((r for r in rows if r.case == "bare"), rows[0])
        for r in rows:
            print(f"{r.database:<11}{r.case:<9}{r.requests_per_second:>9.0f}{r.p50_ms:>9.2f}"
                  f"{r.p99_ms:>9.2f}{r.requests_per_second / bare.requests_per_second:>9.0%}"
                  f"{r.p99_ms / bare.p99_ms:>10.2f}{r.errors:>8}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print results as JSON too")
    parser.add_argument(
        "--list-scales", default="",
        help="also time list pages at these table sizes, e.g. 1000,1000000 (SQLite)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    results: list[Result] = []
    with ExitStack() as stack:
        for database in args.databases.split(","):
            results += run(database.strip(), args, stack)
        scales = list_scales("sqlite", args, stack) if args.list_scales else []
    report(results)
    if scales:
        report(scales)
    if args.json:
        print(json.dumps([r.__dict__ for r in results]))
    return 1 if any(r.errors for r in results + scales) else 0


if __name__ == "__main__":
    raise SystemExit(main())
