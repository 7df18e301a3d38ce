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

import argparse
import json
import re
import secrets
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import labdns  # noqa: E402  (tests/integration, for the PowerDNS helpers)

DOMAIN = "acmedns-alias.test"
TXT_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
SUBDOMAIN_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*$")
MAX_BODY = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    server_version = "acme-dns-fake"

    def log_message(self, fmt, *args):  # quiet: pytest shows failures, not traffic
        pass

    def _answer(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length else b""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/health":
            self._answer(200, {})
        else:
            self._answer(404, {"error": "not_found"})

    def do_POST(self):  # noqa: N802
        fake = self.server.fake
        raw = self._body()
        if self.path == "/register":
            self._answer(201, fake.add_account())
        elif self.path == "/update":
            status, doc = fake.update(self.headers.get("X-Api-User", ""),
                                      self.headers.get("X-Api-Key", ""), raw)
            self._answer(status, doc)
        else:
            self._answer(404, {"error": "not_found"})


class AcmeDnsFake:
    """The server, in a thread of the test process. Accounts are dicts shaped like
    /register's answer, plus the account's rows ([seq, value] pairs)."""

    def __init__(self, lab, domain=DOMAIN, host="127.0.0.1", port=0):
        self.lab, self.domain = lab, domain
        self.accounts = {}       # username -> account
        self.updates = []        # (subdomain, value, status) of every /update, in order
        self._lock = threading.Lock()
        self._seq = 0
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self):
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

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
        wanted = [labdns._quoted(v) for v in dict.fromkeys(values)]
        labdns._pdns_txt_set(self.lab, fulldomain, lambda _current: wanted)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True, help="the lab's env file (LAB_DIR/env)")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (0: any port)")
    parser.add_argument("--account", action="append", default=[],
                        help="subdomain of an account to create (repeatable)")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    fake = AcmeDnsFake(labdns.load_env(args.env), host=host, port=int(port)).start()
    accounts = [fake.add_account(s) for s in args.account]
    print(json.dumps({"url": fake.url, "accounts": accounts}, indent=2), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
