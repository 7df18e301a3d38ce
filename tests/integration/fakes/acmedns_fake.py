"""A fake acme-dns server (github.com/joohoi/acme-dns) for the integration tests.

It speaks the two calls certfleet uses, with acme-dns's answers:

  POST /register   -> 201 {"username", "password", "fulldomain", "subdomain",
                           "allowfrom"}: a new account (UUID user and subdomain,
                           40-character password)
  POST /update     -> 200 {"txt": VALUE}, with X-Api-User / X-Api-Key checked
                           against the accounts; 401 {"error": "forbidden"} for an
                           unknown user, a wrong key, or a subdomain in the body
                           that is not the account's (acme-dns answers all three
                           alike); 400 {"error": "bad_txt"} unless the value is 43
                           characters of base64url; 400 bad_subdomain
  GET  /health     -> 200

and keeps, like acme-dns, exactly two TXT rows per subdomain: an update overwrites
the older of the two (so the two newest values stay, and posting one value twice
pushes out the other). acme-dns cannot delete a value.

So that a CA sees the values, every update PUBLISHES the account's current values
as the TXT rrset of its fulldomain in the lab's PowerDNS (zone acmedns-alias.test,
which the lab's Unbound serves), replacing the rrset with the non-empty rows
(acme-dns starts an account with two empty rows; the fake does not publish those).
The HTTP answer comes only once PowerDNS has the new rrset.

Use in a test:
    with AcmeDnsFake(lab) as fake:
        account = fake.add_account("acme5")    # fulldomain acme5.acmedns-alias.test
        ... fake.url, account["username"], account["password"] ...
        fake.values("acme5"), fake.updates

Standalone (for the demo or by hand):
    python3 acmedns_fake.py --env LAB_DIR/env --account acme1 --account acme2
prints the URL and the accounts as JSON and serves until interrupted.
"""

import json
import re
import secrets
import sys
import threading
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import common  # noqa: E402  (tests/integration/fakes/common.py)

DOMAIN = "acmedns-alias.test"
TXT_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
SUBDOMAIN_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*$")


class _Handler(common.QuietHandler):
    server_version = "acme-dns-fake"
    max_body = 64 * 1024

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/health":
            self.send_json(200, {})
        else:
            self.send_json(404, {"error": "not_found"})

    def do_POST(self):  # noqa: N802
        fake = self.server.fake
        raw = self.read_body()
        if self.path == "/register":
            self.send_json(201, fake.add_account())
        elif self.path == "/update":
            status, doc = fake.update(self.headers.get("X-Api-User", ""),
                                      self.headers.get("X-Api-Key", ""), raw)
            self.send_json(status, doc)
        else:
            self.send_json(404, {"error": "not_found"})


class AcmeDnsFake(common.FakeServer):
    """The server, in a thread of the test process. Accounts are dicts shaped like
    /register's answer, plus the account's rows ([seq, value] pairs)."""

    def __init__(self, lab, domain=DOMAIN, host="127.0.0.1", port=0):
        super().__init__(_Handler, host, port)
        self.lab, self.domain = lab, domain
        self.accounts = {}       # username -> account
        self.updates = []        # (subdomain, value, status) of every /update, in order
        self._lock = threading.Lock()
        self._seq = 0

    @property
    def url(self):
        return self.base_url

    def add_account(self, subdomain=None):
        """A new account (as POST /register makes one); SUBDOMAIN picks its name
        (e.g. 'acme5', whose fulldomain the lab's CNAMEs point at), else a UUID."""
        sub = subdomain or str(uuid.uuid4())
        account = {
            "username": str(uuid.uuid4()),
            "password": secrets.token_urlsafe(30),  # 40 characters, like acme-dns
            "subdomain": sub,
            "fulldomain": f"{sub}.{self.domain}",
            "allowfrom": [],
        }
        with self._lock:
            account["rows"] = [[0, ""], [0, ""]]
            self.accounts[account["username"]] = account
            self._publish(account["fulldomain"], [])  # what it stores: nothing yet
        return {k: v for k, v in account.items() if k != "rows"}

    def values(self, subdomain):
        """The non-empty values the account of SUBDOMAIN holds, oldest first."""
        with self._lock:
            for a in self.accounts.values():
                if a["subdomain"] == subdomain:
                    return [v for _, v in sorted(a["rows"]) if v]
        raise KeyError(subdomain)

    def update(self, user, key, raw):
        """acme-dns's /update: returns (status, JSON document)."""
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        sub, txt = payload.get("subdomain"), payload.get("txt")
        with self._lock:
            account = self.accounts.get(user)
            if (account is None or not secrets.compare_digest(account["password"], key)
                    or account["subdomain"] != sub):
                self.updates.append((sub, txt, 401))
                return 401, {"error": "forbidden"}
            if not isinstance(sub, str) or not SUBDOMAIN_RE.match(sub):
                self.updates.append((sub, txt, 400))
                return 400, {"error": "bad_subdomain"}
            if not isinstance(txt, str) or not TXT_RE.match(txt):
                self.updates.append((sub, txt, 400))
                return 400, {"error": "bad_txt"}
            # overwrite the older row, exactly like acme-dns
            self._seq += 1
            oldest = min(range(2), key=lambda i: account["rows"][i][0])
            account["rows"][oldest] = [self._seq, txt]
            published = [v for _, v in sorted(account["rows"]) if v]
            try:
                self._publish(account["fulldomain"], published)
            except Exception as e:  # noqa: BLE001 (PowerDNS down: acme-dns's db_error)
                self.updates.append((sub, txt, 500))
                return 500, {"error": "db_error", "detail": str(e)[:200]}
            self.updates.append((sub, txt, 200))
        return 200, {"txt": txt}

    def _publish(self, fulldomain, values):
        """Replaces the TXT rrset of FULLDOMAIN in PowerDNS with VALUES (distinct,
        at most two). Called with the lock held, so PowerDNS sees updates in order."""
        common.publish_txt(self.lab, fulldomain, values)


def main():
    def add_arguments(parser):
        parser.add_argument("--account", action="append", default=[],
                            help="subdomain of an account to create (repeatable)")

    args, lab, host, port = common.standalone(__doc__.split("\n")[0], add_arguments)
    fake = AcmeDnsFake(lab, host=host, port=port).start()
    accounts = [fake.add_account(s) for s in args.account]
    common.serve(fake, {"url": fake.url, "accounts": accounts})


if __name__ == "__main__":
    main()
