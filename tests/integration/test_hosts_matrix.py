"""The full auth matrix: every route of service/http/routes.c x every kind of caller
(none, a bad token, an expired token, a revoked token, host A, host B, admin, keys) x own
or other certificate, each cell asserted against the status this table gives it.
The table must name exactly the routes of routes.c: a new route fails this test
until its row is added.

"Own" and "other" are seen from the caller: for host A its own certificate is cert-a
(hosts: [host-a]) and the other is cert-b (hosts: [host-b]), for host B the reverse;
for the admin token "own" is cert-a, which grants admin tokens its key
("admin_keys": true), and "other" is cert-b, which does not. Requests come over plain
HTTP from 127.0.0.1, which counts as local (TLS is test_tls.py's matter).

A refused cell (not 2xx) must leave every table as it was. Mutating cells of the
admin act on objects made for them just before (a provider, certificate or token to
delete, a certificate whose job has ended for /issue), so every cell sees the same
world."""
import itertools
import re
import uuid
from pathlib import Path

import pytest

from hostlib import Pki, seed_version, start_hosts_api
from service import db_url  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
ROLES = ["none", "bad", "expired", "revoked", "host_a", "host_b", "admin", "keys"]
UNAUTHENTICATED = ("none", "bad", "expired", "revoked")

# method, route pattern: status for (admin own, admin other, host own, host other, keys,
# no valid token). "no valid token" is 401 on every /v1 route. A keys token grants
# keys (host tokens, a certificate's hosts and admin_keys) and may do nothing else; an
# admin token may not make a host token (it would then fetch the key).
TABLE = [
    ("GET", "/healthz",                             200, 200, 200, 200, 200, 200),
    ("GET", "/readyz",                              200, 200, 200, 200, 200, 200),
    ("GET", "/v1/whoami",                           200, 200, 200, 200, 200, 401),
    ("GET", "/v1/providers",                        200, 200, 403, 403, 403, 401),
    ("POST", "/v1/providers",                       201, 201, 403, 403, 403, 401),
    ("GET", "/v1/providers/{name}",                 200, 200, 403, 403, 403, 401),
    ("DELETE", "/v1/providers/{name}",              204, 204, 403, 403, 403, 401),
    ("GET", "/v1/certificates",                     200, 200, 403, 403, 200, 401),
    ("POST", "/v1/certificates",                    201, 201, 403, 403, 403, 401),
    ("GET", "/v1/certificates/{id}",                200, 200, 403, 403, 200, 401),
    ("PATCH", "/v1/certificates/{id}",              200, 200, 403, 403, 200, 401),
    ("DELETE", "/v1/certificates/{id}",             204, 204, 403, 403, 403, 401),
    ("POST", "/v1/certificates/{id}/issue",         202, 202, 403, 403, 403, 401),
    ("GET", "/v1/certificates/{id}/bundle",         200, 403, 200, 404, 403, 401),
    ("GET", "/v1/certificates/{id}/fullchain.pem",  200, 200, 200, 404, 403, 401),
    ("GET", "/v1/certificates/{id}/chain.pem",      200, 200, 200, 404, 403, 401),
    ("GET", "/v1/certificates/{id}/cert.pem",       200, 200, 200, 404, 403, 401),
    ("GET", "/v1/certificates/{id}/privkey.pem",    200, 403, 200, 404, 403, 401),
    ("GET", "/v1/certificates/{id}/versions",       200, 200, 403, 403, 403, 401),
    ("POST", "/v1/certificates/{id}/versions/{version}/revoke",
                                                    202, 202, 403, 403, 403, 401),
    ("GET", "/v1/jobs",                             200, 200, 403, 403, 403, 401),
    ("GET", "/v1/jobs/{id}",                        200, 200, 403, 403, 403, 401),
    ("GET", "/v1/tokens",                           200, 200, 403, 403, 200, 401),
    ("POST", "/v1/tokens",                          403, 403, 403, 403, 201, 401),
    ("DELETE", "/v1/tokens/{name}",                 200, 200, 403, 403, 200, 401),
    ("GET", "/v1/audit",                            200, 200, 403, 403, 403, 401),
    ("GET", "/metrics",                             200, 200, 200, 200, 200, 200),
    ("POST", "/v1/aliases/check",                   200, 200, 403, 403, 403, 401),
    ("POST", "/v1/certificates/{id}/resume",        202, 202, 403, 403, 403, 401),
    ("GET", "/v1/issuers",                          200, 200, 403, 403, 403, 401),
    ("POST", "/v1/issuers",                         201, 201, 403, 403, 403, 401),
    ("GET", "/v1/issuers/{name}",                   200, 200, 403, 403, 403, 401),
    ("PATCH", "/v1/issuers/{name}",                 200, 200, 403, 403, 403, 401),
    ("DELETE", "/v1/issuers/{name}",                204, 204, 403, 403, 403, 401),
]

ROUTE = re.compile(r'\{"(GET|POST|PATCH|DELETE|PUT)",\s*"([^"]+)",\s*(CF_AUTH_\w+)')


def routes_in_code():
    return {(m.group(1), m.group(2))
            for m in ROUTE.finditer((ROOT / "service/http/routes.c").read_text())}


def expected(row, role, which):
    admin_own, admin_other, host_own, host_other, keys, unauth = row[2:]
    if role in UNAUTHENTICATED:
        return unauth
    if role == "keys":
        return keys
    if role == "admin":
        return admin_own if which == "own" else admin_other
    return host_own if which == "own" else host_other


def cert_of(role, which):
    """The certificate "own"/"other" names for this caller."""
    mine = "cert-b" if role == "host_b" else "cert-a"
    theirs = "cert-a" if mine == "cert-b" else "cert-b"
    return mine if which == "own" else theirs


HOSTS = {"cert-a": ["host-a"], "cert-b": ["host-b"]}
ADMIN_KEYS = {"cert-a": True, "cert-b": False}


class World:
    """The objects every cell sees, and the disposable ones admin cells act on."""

    def __init__(self, api, lab, pki):
        self.api, self.lab, self.pki = api, lab, pki
        api.bind_provider(lab)
        self.jobs = {}
        for cid in ("cert-a", "cert-b"):
            api.certificate(cid, HOSTS[cid], admin_keys=ADMIN_KEYS[cid])
            seed_version(api.db_url, cid, pki)
            (self.jobs[cid],), = api.sql("SELECT id::text FROM jobs WHERE certificate_id = %s",
                                         (cid,))
        a = api.host_token("host-a")
        self.tokens = {"admin": api.token, "keys": api.keys_token, "host_a": a, "host_b": api.host_token("host-b"),
                       "none": None, "bad": a[:17] + ("B" if a[17] != "B" else "C") + a[18:]}
        revoked = api.host_token("host-a")
        r = api.delete(f"/v1/tokens/host-a?id={revoked[3:15]}")
        assert r.status_code == 200, r.text
        self.tokens["revoked"] = revoked
        expired = api.host_token("host-a", expires_in="1h")  # never used, so never cached
        api.sql("UPDATE tokens SET expires_at = now() - interval '1 minute' WHERE id = %s",
                (expired[3:15],))
        self.tokens["expired"] = expired
        self.issuer("world-ca")

    def issuer(self, name):
        r = self.api.post("/v1/issuers", json={"name": name, "directory": self.lab["LAB_ACME_DIR"],
                                               "email": "ops@example.test"})
        assert r.status_code == 201, r.text
        return name

    def unique(self, prefix):
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def disposable_cert(self, like, end_job=False):
        cid = self.unique("tmp")
        self.api.certificate(cid, HOSTS[like], admin_keys=ADMIN_KEYS[like])
        if end_job:
            self.api.sql("UPDATE jobs SET state = 'failed', finished_at = now() "
                         "WHERE certificate_id = %s", (cid,))
        return cid

    def request(self, method, pattern, role, which):
        """(path, body) of the cell, making what an admin cell acts on."""
        cid = cert_of(role, which)
        admin = role == "admin"
        body = None
        path = pattern
        if pattern == "/v1/providers" and method == "POST":
            body = {"name": self.unique("p"), "type": "rfc2136",
                    "settings": {"server": self.lab["LAB_BIND"]}}
        elif pattern == "/v1/providers/{name}":
            name = "lab-bind"
            if method == "DELETE" and admin:
                name = self.unique("p")
                self.api.post("/v1/providers", json={"name": name, "type": "rfc2136",
                                                     "settings": {"server": self.lab["LAB_BIND"]}})
            path = f"/v1/providers/{name}"
        elif pattern == "/v1/certificates" and method == "POST":
            body = {"id": self.unique("new"), "domains": ["example.test"],
                    "provider": "lab-bind", "hosts": HOSTS[cid]}
        elif pattern.startswith("/v1/certificates/{id}"):
            if admin and method == "DELETE":
                cid = self.disposable_cert(cid)
            elif admin and pattern.endswith("/issue"):
                cid = self.disposable_cert(cid, end_job=True)
            elif admin and pattern.endswith("/resume"):
                cid = self.disposable_cert(cid, end_job=True)
                self.api.sql("UPDATE certificates SET status = 'paused' WHERE id = %s", (cid,))
            elif admin and pattern.endswith("/revoke"):
                cid = self.disposable_cert(cid, end_job=True)
                seed_version(self.api.db_url, cid, self.pki)
            if method == "PATCH":
                body = {"hosts": HOSTS[cert_of(role, which)]}  # the same: changes nothing
            path = pattern.replace("{id}", cid).replace("{version}", "1")
        elif pattern == "/v1/issuers" and method == "POST":
            body = {"name": self.unique("ca"), "directory": self.lab["LAB_ACME_DIR"],
                    "email": "ops@example.test"}
        elif pattern == "/v1/issuers/{name}":
            name = "world-ca"
            if admin and method in ("PATCH", "DELETE"):
                name = self.issuer(self.unique("ca"))
            if method == "PATCH":
                body = {"email": "ops2@example.test"}
            path = f"/v1/issuers/{name}"
        elif pattern == "/v1/jobs/{id}":
            path = f"/v1/jobs/{self.jobs[cid]}"
        elif pattern == "/v1/aliases/check":
            body = {"domains": ["www.example.test"],
                    "dns_alias": "www.example.test.rfc-alias.test"}
        elif pattern == "/v1/tokens" and method == "POST":
            body = {"name": self.unique("h"), "role": "host"}
        elif pattern == "/v1/tokens/{name}":
            name = "host-a"
            if admin or role == "keys":
                name = self.unique("h")
                self.api.host_token(name)
            path = f"/v1/tokens/{name}"
        return path, body

    def counts(self):
        (row,) = self.api.sql(
            "SELECT (SELECT count(*) FROM certificates), (SELECT count(*) FROM jobs), "
            "(SELECT count(*) FROM dns_providers), (SELECT count(*) FROM tokens), "
            "(SELECT count(*) FROM tokens WHERE revoked_at IS NOT NULL), "
            "(SELECT count(*) FROM audit_events), (SELECT count(*) FROM idempotency_keys), "
            "(SELECT count(*) FROM certificate_versions), "
            "(SELECT string_agg(id || ':' || array_to_string(hosts, ',') || ':' || admin_keys, "
            "' ' ORDER BY id) FROM certificates)")
        return row


@pytest.fixture
def world(certfleet, db_url, lab):
    api, serve = start_hosts_api(certfleet, db_url, CERTFLEET_RESOLVERS=lab["LAB_RESOLVER"])
    try:
        yield World(api, lab, Pki())
        serve.stop()
        out = serve.output()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert marker not in out, out[out.index(marker) - 200:][:3000]
    finally:
        serve.__exit__(None, None, None)


def test_the_table_names_every_route():
    table = {(m, p) for m, p, *_ in TABLE}
    code = routes_in_code()
    assert len(table) == len(TABLE), "a route is in the table twice"
    assert code - table == set(), f"routes without a row in TABLE: {sorted(code - table)}"
    assert table - code == set(), f"rows for routes that do not exist: {sorted(table - code)}"


def test_auth_matrix(world):
    wrong = []
    cells = 0
    for row, role, which in itertools.product(TABLE, ROLES, ("own", "other")):
        method, pattern = row[0], row[1]
        want = expected(row, role, which)
        path, body = world.request(method, pattern, role, which)
        before = world.counts()
        r = world.api.call(method, path, token=world.tokens[role], json=body)
        cells += 1
        if r.status_code != want:
            wrong.append(f"{role:8} {which:5} {method:6} {path}: {r.status_code}, want {want}"
                         f" ({r.text[:120]})")
            continue
        if not 200 <= want < 300:
            after = world.counts()
            if after != before:
                wrong.append(f"{role:8} {which:5} {method:6} {path}: refused with {want} "
                             f"but changed the database: {before} -> {after}")
    assert cells == len(TABLE) * len(ROLES) * 2
    assert not wrong, f"{len(wrong)} of {cells} cells wrong:\n" + "\n".join(wrong)
