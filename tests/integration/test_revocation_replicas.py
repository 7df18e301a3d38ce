"""Revocation and de-listing hold on every replica, whatever the fetch cache knows.

The fetch cache of a serve learns changes from NOTIFY. These tests lose the
notification the ways an operator meets it, and check that the change holds anyway:

- a write with triggers skipped (`SET session_replication_role = replica`, as in a
  restore): the next private-key fetch is refused at once (the database decides a key
  fetch, store/key_fetch.c), and the certificate fetch within CERTFLEET_CACHE_MAX_AGE;
- the listener's backend terminated (`pg_terminate_backend`) while its reconnections
  are refused: serve connects as a role of its own, and the test sets that role's
  CONNECTION LIMIT to 0 first. PostgreSQL checks the limit only when a session starts,
  so the connections serve already holds (its pool) keep working and every new one,
  the listener's included, is refused with "too many connections for role": the
  situation of a listener that cannot come back while the database answers. The
  cache is then offline, and every lookup goes to the database;
- a listener whose connection stays up but delivers nothing (a proxy in front of
  PostgreSQL swallows what the server sends on that one connection, as a
  transaction-pooling PgBouncer loses LISTEN): its heartbeat does not come back, the
  cache counts as offline, and the change holds within a few heartbeats although the
  maximum age is long.

Each change is either a token revoked or the host removed from the certificate's
`hosts`; a key fetch and a certificate fetch are made with different tokens or
certificates, so that the refusal of one does not drop the cache entry of the other.

Also: a version revoked for keyCompromise is not served (410, a problem naming the
revocation) until a replacement lands; through the API with a real CA, and in SQL
with the notification lost."""
import select
import socket
import time
import uuid

import psycopg2
import pytest

from hostlib import PgProxy, Pki, log_lines, seed_version, start_hosts_api, wait_log
from service import db_url, poll, run, with_dbname  # noqa: F401 (fixture)
from workerlib import RFC, fleet  # noqa: F401 (fixture)

MAX_AGE = 3  # CERTFLEET_CACHE_MAX_AGE of the tests that rely on it
LONG_AGE = 600  # ... and of those that must not


@pytest.fixture(scope="module")
def pki():
    return Pki()


def stop_clean(serve):
    """Stops serve; a sanitizer report or a private key in its log fails the test."""
    assert serve.stop() == 0, serve.output()[-3000:]
    log = serve.output()
    assert "PRIVATE KEY" not in log
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert marker not in log, log[log.index(marker) - 200:][:3000]


def sql_without_triggers(url, query, args=()):
    """Runs query with triggers skipped: the NOTIFY of the cache triggers is not sent."""
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute(query, args)
    c.close()


def sql(url, query, args=()):
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute(query, args)
        rows = cur.fetchall() if cur.description else []
    c.close()
    return rows


def key_fetches(url):
    (n,), = sql(url, "SELECT count(*) FROM audit_events "
                "WHERE action = 'certificate.fetch_key'")
    return n


def answered_from_cache(hosts, cert, token):
    """Fetches cert.pem until a fetch loads nothing (the entries are cached)."""
    def cached():
        loads = len(log_lines(hosts.serve, "cache.load"))
        assert hosts.fetch(cert, "cert.pem", token=token).status_code == 200
        return len(log_lines(hosts.serve, "cache.load")) == loads
    poll(cached, what=f"a fetch of {cert} answered from the cache")


def setup_fleet(hosts, pki):
    """Two certificates for web-01, two tokens: one for the key, one for the certificate.
    Both fetched once, and the certificate fetch answered from the cache."""
    for cid in ("web", "api"):
        hosts.certificate(cid, ["web-01"])
    v = {cid: seed_version(hosts.db_url, cid, pki) for cid in ("web", "api")}
    t_key, t_cert = hosts.host_token("web-01"), hosts.host_token("web-01")
    assert hosts.fetch("web", "privkey.pem", token=t_key).text == v["web"]["key"]
    answered_from_cache(hosts, "api", t_cert)
    return t_key, t_cert


CHANGES = {
    # the change, in SQL; the answer of a refused fetch (status, piece of the detail)
    "token-revoked": ("UPDATE tokens SET revoked_at = now() WHERE name = 'web-01'",
                      401, "revoked"),
    "host-removed": ("UPDATE certificates SET hosts = array_remove(hosts, 'web-01')",
                     404, "no certificate"),
}


def check_refused(hosts, url, change, t_key, t_cert, within):
    """After change (made without a notification reaching serve): the key fetch is
    refused at once, with no key and no audit event; the certificate fetch within
    `within` seconds."""
    _, status, detail = CHANGES[change]
    before = key_fetches(url)
    t0 = time.monotonic()
    r = hosts.fetch("web", "privkey.pem", token=t_key)
    assert r.status_code == status and detail in r.json()["detail"], r.text
    assert "PRIVATE KEY" not in r.text
    assert key_fetches(url) == before, "a refused key fetch was recorded"

    def refused():
        r = hosts.fetch("api", "cert.pem", token=t_cert)
        assert r.status_code in (200, status), r.text
        return r.status_code == status and detail in r.json()["detail"]
    poll(refused, timeout=within + 10, what=f"the certificate fetch refused ({change})")
    took = time.monotonic() - t0
    assert took <= within + 1.5, f"refused after {took:.1f} s, the bound is {within} s"
    # and it stays refused, on every route
    for part in ("bundle", "fullchain.pem", "chain.pem", "cert.pem", "privkey.pem"):
        assert hosts.fetch("api", part, token=t_cert).status_code == status, part
    assert key_fetches(url) == before


# ---- a notification lost: triggers skipped ----

@pytest.fixture
def hosts(certfleet, db_url, lab):
    api, serve = start_hosts_api(certfleet, db_url, CERTFLEET_CACHE_MAX_AGE=MAX_AGE)
    api.bind_provider(lab)
    try:
        yield api
        stop_clean(serve)
    finally:
        serve.__exit__(None, None, None)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_change_with_triggers_skipped(hosts, pki, change):
    t_key, t_cert = setup_fleet(hosts, pki)
    n = len(log_lines(hosts.serve, "cache.invalidate", "(notify)"))
    sql_without_triggers(hosts.db_url, CHANGES[change][0])
    check_refused(hosts, hosts.db_url, change, t_key, t_cert, within=MAX_AGE)
    # serve learnt nothing from PostgreSQL: the refusals came from the database's
    # verdict on the key fetch and from the maximum age
    assert len(log_lines(hosts.serve, "cache.invalidate", "(notify)")) == n


# ---- the listener's backend terminated, its reconnections refused ----

@pytest.fixture
def own_role(certfleet, lab):
    """A database owned by a role of its own, and a serve connected as that role (one
    pool connection, so that it exists before the role is shut out); yields
    (HostsApi, role). The HostsApi's db_url is the superuser's."""
    tag = uuid.uuid4().hex[:12]
    role, name = f"cf_{tag}", f"t_{tag}"
    admin = psycopg2.connect(lab["LAB_PG_URL"])
    admin.autocommit = True
    admin.cursor().execute(f"CREATE ROLE {role} LOGIN")
    admin.cursor().execute(f"CREATE DATABASE {name} OWNER {role}")
    host = lab["LAB_PG_URL"].split("@")[1].split("/")[0]
    serve = None
    try:
        api, serve = start_hosts_api(certfleet, f"postgresql://{role}@{host}/{name}",
                                     CERTFLEET_CACHE_MAX_AGE=LONG_AGE, CERTFLEET_DB_POOL=1,
                                     CERTFLEET_HTTP_THREADS=1)
        api.db_url = with_dbname(lab["LAB_PG_URL"], name)
        api.bind_provider(lab)
        yield api, role
        stop_clean(serve)
    finally:
        if serve is not None:
            serve.__exit__(None, None, None)
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.cursor().execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_change_while_the_listener_cannot_reconnect(own_role, pki, change):
    hosts, role = own_role
    t_key, t_cert = setup_fleet(hosts, pki)
    url = hosts.db_url
    sql(url, f"ALTER ROLE {role} CONNECTION LIMIT 0")  # existing sessions stay
    (pid,), = sql(url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                  "AND application_name = 'certfleet-cache'")[0:1]
    assert sql(url, "SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
    wait_log(hosts.serve, "cache.offline")
    # its reconnections are refused
    wait_log(hosts.serve, "listen.connect", "too many connections for role", timeout=15)
    # the change is made normally: its NOTIFY reaches nobody
    sql(url, CHANGES[change][0])
    # offline, every lookup asks the database, which answers: refused at once,
    # although entries live for LONG_AGE seconds
    check_refused(hosts, url, change, t_key, t_cert, within=0)
    assert len(log_lines(hosts.serve, "cache.listening")) == 1  # it never came back
    assert not log_lines(hosts.serve, "cache.stand_in")


# ---- a listener that is connected but deaf: the heartbeat ----

class DeafeningProxy(PgProxy):
    """A PgProxy that can make the cache listener's connection deaf: what the server
    sends on it is swallowed, while the connection itself stays up (TCP keepalives are
    answered by this host's kernel). A connection is the listener's when its startup
    message names application_name certfleet-cache."""

    def __init__(self, *args, **kw):
        self.listeners, self.deaf = set(), set()
        super().__init__(*args, **kw)

    def deafen(self):
        self.deaf |= self.listeners
        return len(self.deaf)

    def _pump(self, src, dst):
        try:
            to_server = dst.getpeername()[1] == self.target[1]
        except OSError:
            return
        seen = b""
        try:
            while not self.stop.is_set():
                r, _, _ = select.select([src], [], [], 0.5)
                if not r:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                if to_server and len(seen) < 8192:
                    seen += data
                    if b"certfleet-cache" in seen:
                        self.listeners.add(dst)
                if not to_server and src in self.deaf:
                    continue
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def test_a_deaf_listener_misses_its_heartbeat(certfleet, lab, pki):
    name = "t_" + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(lab["LAB_PG_URL"])
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    proxy = DeafeningProxy(lab["LAB_PG_URL"].split("@")[1].split(":")[0])
    serve = None
    try:
        hosts, serve = start_hosts_api(certfleet, proxy.url(name),
                                       CERTFLEET_CACHE_MAX_AGE=LONG_AGE,
                                       CERTFLEET_CACHE_HEARTBEAT=1)
        hosts.db_url = with_dbname(lab["LAB_PG_URL"], name)
        hosts.bind_provider(lab)
        t_key, t_cert = setup_fleet(hosts, pki)
        assert proxy.deafen() == 1
        sql(hosts.db_url, CHANGES["token-revoked"][0])  # its NOTIFY is swallowed
        # refused within two heartbeats and the time to reconnect, although the
        # entries live for LONG_AGE seconds
        check_refused(hosts, hosts.db_url, "token-revoked", t_key, t_cert, within=4)
        assert log_lines(serve, "listen.heartbeat_missed")
        wait_log(serve, "cache.listening", count=2, timeout=15)  # back, on a new connection
        assert hosts.fetch("api", "cert.pem", token=t_cert).status_code == 401
        stop_clean(serve)
    finally:
        if serve is not None:
            serve.__exit__(None, None, None)
        proxy.close()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


# ---- keyCompromise: not served until a replacement lands ----

PARTS = ("bundle", "fullchain.pem", "chain.pem", "cert.pem", "privkey.pem")


def check_gone(api, cid, token, version, revoked_at, etag=None):
    for part in PARTS:
        headers = {"If-None-Match": etag} if etag else {}
        r = api.get(f"/v1/certificates/{cid}/{part}", token=token, headers=headers)
        assert r.status_code == 410, (part, r.status_code, r.text)
        assert r.headers["Content-Type"] == "application/problem+json"
        p = r.json()
        assert p["type"].endswith("/key-compromised") and p["status"] == 410
        assert p["revocation"] == {"version": version, "reason": "keyCompromise",
                                   "revoked_at": revoked_at}, p
        assert f"version {version}" in p["detail"] and "keyCompromise" in p["detail"]
        assert "PRIVATE KEY" not in r.text and "CERTIFICATE" not in r.text


def test_key_compromise_in_sql_with_triggers_skipped(hosts, pki):
    """The version revoked in SQL, the notification lost: the key fetch is refused at
    once (the database's verdict), the other routes within the maximum age; a new
    version is served again."""
    hosts.certificate("web", ["web-01"])
    v1 = seed_version(hosts.db_url, "web", pki)
    t = hosts.host_token("web-01")
    answered_from_cache(hosts, "web", t)
    sql_without_triggers(hosts.db_url, "UPDATE certificate_versions SET revoked_at = now(), "
                         "revocation_reason = 1 WHERE certificate_id = 'web'")
    (at,), = sql(hosts.db_url, "SELECT to_char(revoked_at AT TIME ZONE 'UTC', "
                 "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM certificate_versions")
    before = key_fetches(hosts.db_url)
    r = hosts.fetch("web", "privkey.pem", token=t)
    assert r.status_code == 410 and r.json()["revocation"]["version"] == 1, r.text
    check_gone(hosts, "web", t, 1, at, etag=v1["etag"])
    assert key_fetches(hosts.db_url) == before
    # a revocation for another reason does not stop serving
    hosts.certificate("other", ["web-01"])
    seed_version(hosts.db_url, "other", pki)
    sql(hosts.db_url, "UPDATE certificate_versions SET revoked_at = now(), "
        "revocation_reason = 4 WHERE certificate_id = 'other'")
    assert hosts.fetch("other", "privkey.pem", token=t).status_code == 200
    # the replacement is served (its NOTIFY arrives)
    v2 = seed_version(hosts.db_url, "web", pki)
    r = poll(lambda: (lambda r: r if r.status_code == 200 else None)(
        hosts.fetch("web", "privkey.pem", token=t)), what="the replacement served")
    assert r.text == v2["key"]
    assert hosts.fetch("web", "fullchain.pem", token=t).text == v2["cert"] + v2["chain"]


def test_key_compromise_revoked_through_the_api(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    job = fleet.certificate("www", ["www.example.test"], f"www.example.test.{RFC}")
    assert fleet.wait([job], timeout=90)[job] == "issued", fleet.timeline(job)
    api = fleet.api
    keys = run(fleet.certfleet, ["token", "create", "--role", "keys", "--name", "test-keys"],
               fleet.base, check=True).stdout.strip()
    r = api.patch("/v1/certificates/www", json={"hosts": ["web-01"]}, token=keys)
    assert r.status_code == 200, r.text
    r = api.post("/v1/tokens", json={"name": "web-01", "role": "host"}, token=keys)
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    v1 = api.get("/v1/certificates/www/bundle", token=t)
    assert v1.status_code == 200 and v1.json()["version"] == 1
    r = api.post("/v1/certificates/www/versions/1/revoke", json={"reason": "keyCompromise"})
    assert r.status_code == 202, r.text
    rj = r.json()["job"]["id"]
    assert fleet.wait([rj], states=("done", "failed"))[rj] == "done", fleet.timeline(rj)
    cv = api.get("/v1/certificates/www").json()["current_version"]
    assert cv["revocation_reason"] == 1
    before = key_fetches(fleet.db_url)
    poll(lambda: api.get("/v1/certificates/www/cert.pem", token=t).status_code == 410,
         timeout=10, what="the revoked version refused")
    check_gone(api, "www", t, 1, cv["revoked_at"], etag=v1.headers["ETag"])
    assert key_fetches(fleet.db_url) == before
    # a renewal lands: served as usual
    r = api.post("/v1/certificates/www/issue?force=true", json={})
    assert r.status_code == 202, r.text
    job = r.json()["job"]["id"]
    assert fleet.wait([job], timeout=90)[job] == "issued", fleet.timeline(job)

    def served():
        r = api.get("/v1/certificates/www/bundle", token=t)
        return r if r.status_code == 200 else None
    b = poll(served, timeout=10, what="the replacement served").json()
    assert b["version"] == 2 and b["serial"] != v1.json()["serial"]
    for part in PARTS:
        assert api.get(f"/v1/certificates/www/{part}", token=t).status_code == 200, part
    assert key_fetches(fleet.db_url) == before + 1 + 2  # the bundle above, and the loop's two
