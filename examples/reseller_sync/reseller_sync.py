"""A reseller's reference client for the Joint-Use Gateway: keep a local copy of the customers
who designated you, and delete them when the gateway says they left your view.

Standalone on purpose — it needs ``requests`` and ``joserfc`` and nothing of the gateway:

- tokens: the client-credentials grant with ``private_key_jwt`` (aud: the issuer; typ
  client-authentication+jwt), bound to a DPoP key (RFC 9449); a new token when one expires;
- :meth:`ResellerSync.sync`: an incremental sync into a local SQLite file — every page of
  ``GET /v1/customers`` since ``updated_since``: the ``next_updated_since`` the gateway gave on
  the previous sync's last page, kept in the same commit as that page (no clock of ours);
- :meth:`ResellerSync.apply_removals`: polls ``POST /v1/events`` (RFC 8936), verifies each SET
  (RFC 8417) against the gateway's published keys, deletes the customer from the local copy
  and commits, and only then acknowledges the event — an acknowledgement states the copy is
  deleted;
- :meth:`ResellerSync.lookup`: one customer, to answer their inquiry (purpose
  ``inquiry_response``);
- refusals raise :class:`Refused` with the problem's ``rule``; ``429`` and ``503`` wait
  ``Retry-After`` and try again, ``409`` tries again at once; a token refused as expired or
  revoked is replaced once.

    python reseller_sync.py --issuer https://gateway.example.com --client-id cl_… \\
        --partner-id acme --key reseller-key.pem --database copy.sqlite3
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

REMOVED = "urn:joint-use-gateway:event:customer-removed"
PURPOSE = "service_contact"  # a nightly sync keeps the copy for necessary contact
RETRIES = 5


class Refused(Exception):
    """The gateway refused a request: ``rule`` names the check (its page: ``type``)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status, self.problem = status, problem
        self.rule = problem.get("rule")
        detail = problem.get("detail") or problem.get("error_description")
        super().__init__(f"{status} {self.rule}: {detail}")


class ResellerSync:
    def __init__(self, issuer: str, client_id: str, partner_id: str, key: ECKey,
                 database: str | Path, *, timeout: float = 30) -> None:  # fmt: skip
        self.issuer = issuer.rstrip("/")
        self.client_id, self.partner_id, self.key = client_id, partner_id, key
        self.dpop_key = ECKey.generate_key("P-256", private=True)  # tokens are bound to it
        self.timeout = timeout
        self.http = requests.Session()
        self.db = sqlite3.connect(database)
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS customers (customer_id TEXT PRIMARY KEY, "
            "record TEXT NOT NULL, updated_at TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
        )
        self._token: str | None = None
        self._token_expires = 0.0
        self._gateway_keys: KeySet | None = None

    # --- the two jobs ---------------------------------------------------------------------

    def sync(self) -> int:
        """Pull every customer changed since the last sync into the local copy; returns how
        many records were written."""
        since = self._state("updated_since")
        params: dict[str, Any] = {"purpose": PURPOSE, "limit": 1000}
        if since:
            params["updated_since"] = since
        written = 0
        while True:
            page = self._api("GET", "/v1/customers", params=params).json()
            with self.db:  # one transaction a page, with the sync point once it is the last
                if not page["next_cursor"]:
                    self._set_state("updated_since", page["next_updated_since"])
                for record in page["customers"]:
                    self.db.execute(
                        "INSERT INTO customers VALUES (?, ?, ?) ON CONFLICT (customer_id) "
                        "DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
                        (record["customer_id"], json.dumps(record, ensure_ascii=False),
                         record["updated_at"]),
                    )  # fmt: skip
                    written += 1
            if not page["next_cursor"]:
                break
            params = {"purpose": PURPOSE, "limit": 1000, "cursor": page["next_cursor"]}
        return written

    def lookup(self, customer_id: str) -> dict[str, Any]:
        """One customer as the gateway holds it now, to answer their inquiry."""
        path = f"/v1/customers/{customer_id}"
        return self._api("GET", path, params={"purpose": "inquiry_response"}).json()

    def apply_removals(self) -> list[str]:
        """Delete every customer the gateway says left our view, then acknowledge: returns
        the customer ids removed from the local copy."""
        removed: list[str] = []
        while True:
            polled = self._api("POST", "/v1/events", json={"maxEvents": 50}).json()
            done = []
            for jti, token in polled["sets"].items():
                event = self._verified_event(token, jti)
                with self.db:  # the delete commits before the acknowledgement is sent
                    self.db.execute("DELETE FROM customers WHERE customer_id = ?",
                                    (event["customer_id"],))  # fmt: skip
                removed.append(event["customer_id"])
                done.append(jti)
            if done:
                self._api("POST", "/v1/events", json={"ack": done, "maxEvents": 0})
            if not polled["moreAvailable"]:
                return removed

    def customers(self) -> list[str]:
        return [row[0] for row in self.db.execute(
            "SELECT customer_id FROM customers ORDER BY customer_id")]  # fmt: skip

    # --- the protocol -----------------------------------------------------------------------

    def _verified_event(self, token: str, jti: str) -> dict[str, Any]:
        """A SET signed by a published key of the gateway, addressed to us (RFC 8417 §2.2)."""
        decoded = jwt.decode(token, self._keys(), algorithms=["ES256"])
        claims = decoded.claims
        if (
            decoded.header.get("typ") != "secevent+jwt"
            or claims.get("iss") != self.issuer
            or claims.get("aud") != self.partner_id
            or claims.get("jti") != jti
        ):
            raise ValueError(f"event {jti} is not a removal event for us")
        return claims["events"][REMOVED]

    def _keys(self) -> KeySet:
        if self._gateway_keys is None:
            metadata = self.http.get(self.issuer + "/.well-known/oauth-authorization-server",
                                     timeout=self.timeout).json()  # fmt: skip
            self._gateway_keys = KeySet.import_key_set(
                self.http.get(metadata["jwks_uri"], timeout=self.timeout).json())  # fmt: skip
        return self._gateway_keys

    def _api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.issuer + path
        for attempt in range(RETRIES):
            token = self._access_token()  # a new proof, and a new token when due, every try
            headers = {"Authorization": f"DPoP {token}", "DPoP": self._proof(method, url, token)}
            response = self.http.request(method, url, headers=headers, timeout=self.timeout,
                                         **kwargs)  # fmt: skip
            if response.status_code in (429, 503):  # too fast, or the gateway is busy
                time.sleep(min(int(response.headers.get("Retry-After", "1")), 60))
            elif response.status_code == 409:  # the sharing changed while answered: ask again
                continue
            elif response.status_code == 401 and attempt == 0:
                self._token = None  # expired or revoked early: one new token
            elif response.status_code >= 400:
                raise Refused(response.status_code, response.json())
            else:
                return response
        raise Refused(response.status_code, response.json())

    def _access_token(self) -> str:
        if self._token and time.time() < self._token_expires - 30:
            return self._token
        url = self.issuer + "/oauth/token"
        now = int(time.time())
        assertion = jwt.encode(
            {"alg": "ES256", "typ": "client-authentication+jwt",
             "kid": self.key.as_dict().get("kid")},
            {"iss": self.client_id, "sub": self.client_id, "aud": self.issuer, "iat": now,
             "exp": now + 60, "jti": uuid.uuid4().hex},
            self.key,
        )  # fmt: skip
        response = self.http.post(url, data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }, headers={"DPoP": self._proof("POST", url)}, timeout=self.timeout)  # fmt: skip
        if response.status_code != 200:
            raise Refused(response.status_code, response.json())
        issued = response.json()
        self._token, self._token_expires = issued["access_token"], now + issued["expires_in"]
        return self._token

    def _proof(self, method: str, url: str, token: str | None = None) -> str:
        claims = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
        if token is not None:
            digest = hashlib.sha256(token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.dpop_key.as_dict(private=False)}
        return jwt.encode(header, claims, self.dpop_key)

    def _state(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _set_state(self, name: str, value: str) -> None:
        self.db.execute("INSERT INTO state VALUES (?, ?) ON CONFLICT (name) "
                        "DO UPDATE SET value = excluded.value", (name, value))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--partner-id", required=True)
    parser.add_argument("--key", required=True, help="the client's private key (PEM)")
    parser.add_argument("--kid", default=None, help="its kid, as registered")
    parser.add_argument("--database", default="reseller-copy.sqlite3")
    args = parser.parse_args()
    key = ECKey.import_key(Path(args.key).read_text(),
                           parameters={"kid": args.kid} if args.kid else None)  # fmt: skip
    client = ResellerSync(args.issuer, args.client_id, args.partner_id, key, args.database)
    print(f"synced {client.sync()} records; removed {len(client.apply_removals())} customers")


if __name__ == "__main__":
    main()
