"""Hosts: tokens over the API (create, list, revoke, rotation, expiry, last use), the
fetch routes (bundle and PEMs, strong ETags, 304), who gets what (hosts, admin_keys),
the audit trail (every key fetch and change, GET /v1/audit), secrets at rest (tokens
hashed, a pg_dump holds no key and no credential, a sealed key moved to another row
does not open) and the fetch cache (answers without the database, invalidated by
NOTIFY). The full auth matrix is in test_hosts_matrix.py.

Every serve here logs at debug level, and its log is searched for secrets when the
test ends."""
import hashlib
import re
import subprocess
import time

import psycopg2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hostlib import (PgProxy, Pki, log_lines, seed_version, start_hosts_api, wait_log)
from service import clean_env, db_url, poll, run, with_dbname  # noqa: F401 (fixture)

TOKEN = re.compile(r"cf_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@pytest.fixture(scope="module")
def pki():
    return Pki()


def check_log_clean(serve, lab, secrets=()):
    """No token, private key or provider credential in serve's log; no sanitizer report."""
    log = serve.output()
    assert not TOKEN.search(log), "a token in the log"
    assert "PRIVATE KEY" not in log
    assert lab["LAB_TSIG_SECRET"] not in log
    for s in secrets:
        assert s not in log
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert marker not in log, log[log.index(marker) - 200:][:3000]


@pytest.fixture
def hosts(certfleet, db_url, lab):
    api, serve = start_hosts_api(certfleet, db_url)
    api.bind_provider(lab)
    try:
        yield api
        serve.stop()
        check_log_clean(serve, lab)
    finally:
        serve.__exit__(None, None, None)


def key_matches(cert_pem, key_pem):
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def audit(api, action=None):
    q = "SELECT actor, action, target, address, detail FROM audit_events"
    if action:
        return api.sql(q + " WHERE action = %s ORDER BY id", (action,))
    return api.sql(q + " ORDER BY id")


# ---- tokens ----

def test_token_api_create_list_revoke(hosts):
    # host tokens are made by the keys token (an admin token may not: test_keys.py)
    r = hosts.post("/v1/tokens", json={"name": "web-01", "role": "host", "expires_in": "90d"},
                   token=hosts.keys_token)
    assert r.status_code == 201, r.text
    body = r.json()
    tid, secret = TOKEN.fullmatch(body["token"]).groups()
    assert body["id"] == tid and body["role"] == "host" and body["expires_at"]
    assert body["hash"] == "hmac"
    # only a keyed hash of the secret is stored (not even its plain SHA-256), nothing
    # else holds it
    (plain, digest), = hosts.sql("SELECT secret_sha256, secret_hmac FROM tokens WHERE id = %s",
                                 (tid,))
    assert plain is None and len(bytes(digest)) == 32
    assert bytes(digest) != hashlib.sha256(secret.encode()).digest()
    (dump,), = hosts.sql("SELECT concat_ws(' ', (SELECT string_agg(row_to_json(t)::text, ' ') "
                         "FROM tokens t), (SELECT string_agg(row_to_json(a)::text, ' ') FROM "
                         "audit_events a), (SELECT string_agg(row_to_json(i)::text, ' ') "
                         "FROM idempotency_keys i))")
    assert secret not in dump
    listing = hosts.get("/v1/tokens").json()["tokens"]
    assert [t["name"] for t in listing] == ["test-admin", "test-keys", "web-01"]
    assert secret not in str(listing) and all("token" not in t for t in listing)
    assert hosts.get("/v1/whoami", token=body["token"]).json() == {
        "token_id": tid, "name": "web-01", "role": "host"}
    r = hosts.delete("/v1/tokens/web-01")
    assert r.status_code == 200 and r.json() == {"revoked": [tid]}
    assert hosts.get("/v1/whoami", token=body["token"]).status_code == 401
    assert hosts.delete("/v1/tokens/web-01").status_code == 404  # nothing live left
    events = [(a, act, t, addr) for a, act, t, addr, _ in audit(hosts)
              if act.startswith("token.")]
    assert ("test-keys", "token.create", tid, "127.0.0.1") in events
    assert ("test-admin", "token.revoke", tid, "127.0.0.1") in events


@pytest.mark.parametrize("body,field", [
    ({"name": "web-01", "role": "root"}, "role"),
    ({"name": "Web_01", "role": "host"}, "name"),
    ({"role": "host"}, "name"),
    ({"name": "web-01", "role": "host", "expires_in": "soon"}, "expires_in"),
    ({"name": "web-01", "role": "host", "expires_in": 3600}, "expires_in"),
    ({"name": "web-01", "role": "host", "colour": "red"}, "colour"),
])
def test_token_create_refuses_bad_input(hosts, body, field):
    before = hosts.sql("SELECT count(*) FROM tokens")
    r = hosts.post("/v1/tokens", json=body)
    assert r.status_code == 400 and r.json()["field"] == field, r.text
    assert hosts.sql("SELECT count(*) FROM tokens") == before


def test_token_create_refuses_idempotency_key(hosts):
    # a replayed answer would have to be stored, and it holds the secret
    before, tokens = hosts.counts(), hosts.sql("SELECT count(*) FROM tokens")
    r = hosts.post("/v1/tokens", json={"name": "web-01", "role": "host"},
                   headers={"Idempotency-Key": "k1"}, token=hosts.keys_token)
    assert r.status_code == 400 and r.json()["field"] == "Idempotency-Key"
    assert hosts.counts() == before and hosts.sql("SELECT count(*) FROM tokens") == tokens


def test_rotation_two_live_tokens_then_revoke_the_old_one(hosts, pki):
    hosts.certificate("web", ["web-01"])
    seed_version(hosts.db_url, "web", pki)
    old = hosts.host_token("web-01")
    new = hosts.host_token("web-01")
    assert hosts.fetch("web", "fullchain.pem", token=old).status_code == 200
    assert hosts.fetch("web", "fullchain.pem", token=new).status_code == 200
    old_id = TOKEN.fullmatch(old).group(1)
    r = hosts.delete(f"/v1/tokens/web-01?id={old_id}")
    assert r.json() == {"revoked": [old_id]}
    r = hosts.fetch("web", "fullchain.pem", token=old)  # the very next request
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert hosts.fetch("web", "fullchain.pem", token=new).status_code == 200
    assert hosts.delete("/v1/tokens/web-01?id=nothex").status_code == 400
    assert hosts.delete(f"/v1/tokens/web-02?id={TOKEN.fullmatch(new).group(1)}"
                        ).status_code == 404  # the id is not web-02's


def test_revoked_by_the_cli_refused_once_notified(hosts, pki):
    hosts.certificate("web", ["web-01"])
    seed_version(hosts.db_url, "web", pki)
    t = hosts.host_token("web-01")
    tid = TOKEN.fullmatch(t).group(1)
    assert hosts.fetch("web", "cert.pem", token=t).status_code == 200  # cached now
    p = run(hosts.serve.certfleet, ["token", "revoke", "web-01"], hosts.env)
    assert p.returncode == 0, p.stderr
    wait_log(hosts.serve, "cache.invalidate", f"token:{tid} (notify)")
    r = hosts.fetch("web", "cert.pem", token=t)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_expiry_is_enforced(hosts, pki):
    hosts.certificate("web", ["web-01"])
    seed_version(hosts.db_url, "web", pki)
    t = hosts.host_token("web-01", expires_in="2s")
    assert hosts.fetch("web", "cert.pem", token=t).status_code == 200
    assert hosts.get("/v1/whoami", token=t).status_code == 200
    time.sleep(2.2)
    # the cached row expires on the clock, without a NOTIFY
    r = hosts.fetch("web", "cert.pem", token=t)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert hosts.get("/v1/whoami", token=t).status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute(hosts, pki):
    hosts.certificate("web", ["web-01"])
    seed_version(hosts.db_url, "web", pki)
    t = hosts.host_token("web-01")
    tid = TOKEN.fullmatch(t).group(1)
    assert hosts.sql("SELECT last_used_at FROM tokens WHERE id = %s", (tid,)) == [(None,)]
    assert hosts.fetch("web", "cert.pem", token=t).status_code == 200
    (first,), = hosts.sql("SELECT last_used_at FROM tokens WHERE id = %s", (tid,))
    assert first is not None
    for _ in range(20):
        assert hosts.fetch("web", "cert.pem", token=t).status_code == 200
    assert hosts.sql("SELECT last_used_at FROM tokens WHERE id = %s", (tid,)) == [(first,)]
    # a refused request records nothing
    t2 = hosts.host_token("web-02")
    tid2 = TOKEN.fullmatch(t2).group(1)
    hosts.delete("/v1/tokens/web-02")
    assert hosts.fetch("web", "cert.pem", token=t2).status_code == 401
    assert hosts.get("/v1/whoami", token=t2).status_code == 401
    assert hosts.sql("SELECT last_used_at FROM tokens WHERE id = %s", (tid2,)) == [(None,)]


# ---- fetch ----

def test_bundle_and_pem_files(hosts, pki):
    hosts.certificate("web", ["web-01"])
    v = seed_version(hosts.db_url, "web", pki, names=("example.test", "www.example.test"))
    t = hosts.host_token("web-01")
    r = hosts.fetch("web", "bundle", token=t)
    assert r.status_code == 200, r.text
    b = r.json()
    assert (b["id"], b["version"], b["serial"]) == ("web", 1, v["serial"])
    assert (b["certificate"], b["chain"], b["private_key"]) == (v["cert"], v["chain"], v["key"])
    assert b["fullchain"] == v["cert"] + v["chain"] and key_matches(b["certificate"],
                                                                    b["private_key"])
    assert r.headers["ETag"] == v["etag"] and r.headers["Cache-Control"] == "no-store"
    want = {"fullchain.pem": v["cert"] + v["chain"], "chain.pem": v["chain"],
            "cert.pem": v["cert"], "privkey.pem": v["key"]}
    for part, text in want.items():
        r = hosts.fetch("web", part, token=t)
        assert r.status_code == 200 and r.text == text, part
        assert r.headers["ETag"] == v["etag"]
        assert r.headers["Cache-Control"] == ("no-store" if part == "privkey.pem" else "no-cache")
    assert hosts.fetch("web", "privkey.pem", token=t).headers["Content-Type"] == \
        "application/x-pem-file"
    assert hosts.fetch("web", "cert.pem", token=t).headers["Content-Type"] == \
        "application/pem-certificate-chain"


def test_if_none_match_gets_304(hosts, pki):
    hosts.certificate("web", ["web-01"])
    v = seed_version(hosts.db_url, "web", pki)
    t = hosts.host_token("web-01")
    fetches = len(audit(hosts, "certificate.fetch_key"))
    for part in ("bundle", "fullchain.pem", "chain.pem", "cert.pem", "privkey.pem"):
        for inm in (v["etag"], "W/" + v["etag"], '"other", ' + v["etag"], "*"):
            r = hosts.fetch("web", part, token=t, headers={"If-None-Match": inm})
            assert r.status_code == 304 and r.content == b"", (part, inm)
            assert r.headers["ETag"] == v["etag"]
        r = hosts.fetch("web", part, token=t, headers={"If-None-Match": '"other"'})
        assert r.status_code == 200
    # a 304 carries no key: only the two 200s of key routes are key fetches
    assert len(audit(hosts, "certificate.fetch_key")) == fetches + 2


def test_who_may_fetch_what(hosts, pki):
    hosts.certificate("web", ["web-01"])
    hosts.certificate("pending", ["web-01"])
    seed_version(hosts.db_url, "web", pki)
    w1, w2 = hosts.host_token("web-01"), hosts.host_token("web-02")
    assert hosts.fetch("web", "bundle", token=w1).status_code == 200
    # not granted, and no such certificate: the same answer
    a = hosts.fetch("web", "bundle", token=w2)
    b = hosts.fetch("nope", "bundle", token=w2)
    assert a.status_code == b.status_code == 404
    assert a.json()["type"] == b.json()["type"]
    assert a.json()["detail"].replace('"web"', "ID") == b.json()["detail"].replace('"nope"', "ID")
    assert hosts.fetch("pending", "cert.pem", token=w2).status_code == 404
    r = hosts.fetch("pending", "cert.pem", token=w1)
    assert r.status_code == 404 and r.json()["type"].endswith("/not-issued")
    # admins: every certificate, but the key only with admin_keys
    assert hosts.fetch("web", "fullchain.pem").status_code == 200
    for part in ("bundle", "privkey.pem"):
        r = hosts.fetch("web", part)
        assert r.status_code == 403 and r.json()["type"].endswith("/key-not-granted")
        assert "admin_keys" in r.json()["detail"]
    assert hosts.patch("/v1/certificates/web", json={"admin_keys": True},
                       token=hosts.keys_token).json()["admin_keys"]
    assert hosts.fetch("web", "privkey.pem").status_code == 200  # the next request
    # taking a host off the list takes effect at its next request
    hosts.patch("/v1/certificates/web", json={"hosts": ["web-02"]}, token=hosts.keys_token)
    assert hosts.fetch("web", "cert.pem", token=w1).status_code == 404
    assert hosts.fetch("web", "cert.pem", token=w2).status_code == 200
    # a host token stays off the admin routes
    assert hosts.get("/v1/certificates/web", token=w2).status_code == 403
    assert hosts.post("/v1/tokens", json={"name": "x", "role": "admin"},
                      token=w2).status_code == 403


# ---- audit ----

def test_audit_of_changes_and_key_fetches(hosts, pki, lab):
    hosts.bind_provider(lab, name="second")
    hosts.delete("/v1/providers/second")
    hosts.certificate("web", ["web-01"])
    hosts.patch("/v1/certificates/web", json={"hosts": ["web-01", "web-02"]},
                token=hosts.keys_token)
    t = hosts.host_token("web-01")
    v = seed_version(hosts.db_url, "web", pki)  # an issuance (here: by the test's db user)
    hosts.fetch("web", "bundle", token=t)
    hosts.fetch("web", "privkey.pem", token=t)
    hosts.certificate("gone", [])
    hosts.delete("/v1/certificates/gone")
    actions = [(a, act, tgt) for a, act, tgt, _, _ in audit(hosts)]
    for want in (("test-admin", "provider.create", "second"),
                 ("test-admin", "provider.delete", "second"),
                 ("test-admin", "certificate.create", "web"),
                 ("test-keys", "certificate.update", "web"),
                 ("test-keys", "token.create", TOKEN.fullmatch(t).group(1)),
                 ("db:postgres", "certificate.issued", "web"),
                 ("web-01", "certificate.fetch_key", "web"),
                 ("test-admin", "certificate.delete", "gone")):
        assert want in actions, want
    fetches = audit(hosts, "certificate.fetch_key")
    assert [(f[0], f[3], f[4]["via"], f[4]["version"], f[4]["tls"]) for f in fetches] == [
        ("web-01", "127.0.0.1", "bundle", 1, False),
        ("web-01", "127.0.0.1", "privkey.pem", 1, False)]
    assert fetches[0][4]["token"] == TOKEN.fullmatch(t).group(1)
    issued, = [d for _, act, _, _, d in audit(hosts) if act == "certificate.issued"]
    assert issued["version"] == 1 and issued["serial"] == v["serial"]
    # no secret in any row
    (rows,), = hosts.sql("SELECT string_agg(row_to_json(a)::text, ' ') FROM audit_events a")
    assert "PRIVATE KEY" not in rows and lab["LAB_TSIG_SECRET"] not in rows
    assert not TOKEN.search(rows)


def test_get_audit_filters(hosts, pki):
    hosts.certificate("web", ["web-01"])
    seed_version(hosts.db_url, "web", pki)
    t = hosts.host_token("web-01")
    hosts.fetch("web", "privkey.pem", token=t)
    everything = hosts.get("/v1/audit").json()["events"]
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything)
    mine = hosts.get("/v1/audit?actor=web-01").json()["events"]
    assert [(e["actor"], e["action"], e["target"], e["address"]) for e in mine] == [
        ("web-01", "certificate.fetch_key", "web", "127.0.0.1")]
    assert {e["action"] for e in hosts.get("/v1/audit?action=token.create").json()["events"]} \
        == {"token.create"}
    at = mine[0]["at"]
    assert hosts.get(f"/v1/audit?since={at}&actor=web-01").json()["events"] == mine
    assert hosts.get("/v1/audit?since=2999-01-01T00:00:00Z").json()["events"] == []
    # an offset: "+" unencoded arrives as a space and is still understood
    assert len(hosts.get("/v1/audit?since=2000-01-01T02:00:00+02:00").json()["events"]) == \
        len(everything)
    assert len(hosts.get("/v1/audit?limit=2").json()["events"]) == 2
    for bad in ("since=yesterday", "since=2025-02-30T00:00:00Z", "since=2025-01-01",
                "limit=0", "limit=x", "actor="):
        r = hosts.get(f"/v1/audit?{bad}")
        assert r.status_code == 400 and r.json()["field"] == bad.split("=")[0], bad
    assert hosts.get("/v1/audit", token=t).status_code == 403


# ---- secrets at rest ----

def test_pg_dump_holds_no_private_key_and_no_secret(hosts, pki, lab):
    hosts.certificate("web", ["web-01"], admin_keys=True)
    v = seed_version(hosts.db_url, "web", pki)
    seed_version(hosts.db_url, "web", pki)
    t = hosts.host_token("web-01")
    assert hosts.fetch("web", "bundle", token=t).status_code == 200
    assert hosts.fetch("web", "privkey.pem").status_code == 200
    dump = subprocess.run(["pg_dump", "--no-owner", hosts.db_url], capture_output=True,
                          text=True, timeout=60)
    assert dump.returncode == 0, dump.stderr
    text = dump.stdout
    assert "certificate_versions" in text and "BEGIN CERTIFICATE" in text  # it is the data
    assert "PRIVATE KEY" not in text
    key_body = "".join(v["key"].splitlines()[1:-1])
    assert key_body[:40] not in text.replace("\n", "")
    assert lab["LAB_TSIG_SECRET"] not in text
    for token in (t, hosts.token):
        assert TOKEN.fullmatch(token).group(2) not in text


def notified(hosts, cids, change):
    """Runs change() (a write in the database) and waits until serve has processed the
    NOTIFY of each certificate in cids."""
    before = {c: len(log_lines(hosts.serve, "cache.invalidate", f"certificate:{c} (notify)"))
              for c in cids}
    change()
    for c in cids:
        wait_log(hosts.serve, "cache.invalidate", f"certificate:{c} (notify)",
                 count=before[c] + 1)


def test_swapped_ciphertext_does_not_open(hosts, pki):
    for cid in ("web", "api", "multi"):
        hosts.certificate(cid, ["web-01"])
    web = seed_version(hosts.db_url, "web", pki)
    api = seed_version(hosts.db_url, "api", pki)
    t = hosts.host_token("web-01")
    assert hosts.fetch("web", "bundle", token=t).status_code == 200
    assert hosts.fetch("api", "bundle", token=t).status_code == 200
    notified(hosts, ["web", "api"], lambda: hosts.sql(
        "UPDATE certificate_versions v SET key_sealed = o.key_sealed FROM certificate_versions "
        "o WHERE v.certificate_id IN ('web', 'api') AND o.certificate_id IN ('web', 'api') "
        "AND v.certificate_id <> o.certificate_id"))
    for cid in ("web", "api"):
        for part in ("bundle", "privkey.pem"):
            r = hosts.fetch(cid, part, token=t)
            assert r.status_code == 500 and r.json()["type"].endswith("/key-unreadable"), r.text
            assert "PRIVATE KEY" not in r.text
        assert hosts.fetch(cid, "fullchain.pem", token=t).status_code == 200
    # two versions of one certificate: the AAD names the version too
    seed_version(hosts.db_url, "multi", pki)
    v2 = seed_version(hosts.db_url, "multi", pki)
    assert hosts.fetch("multi", "privkey.pem", token=t).text == v2["key"]
    notified(hosts, ["multi"], lambda: hosts.sql(
        "UPDATE certificate_versions a SET key_sealed = b.key_sealed FROM certificate_versions "
        "b WHERE a.certificate_id = 'multi' AND b.certificate_id = 'multi' "
        "AND a.version <> b.version"))
    r = hosts.fetch("multi", "privkey.pem", token=t)
    assert r.status_code == 500 and "PRIVATE KEY" not in r.text
    # swapped back, every key opens again
    notified(hosts, ["web", "api"], lambda: hosts.sql(
        "UPDATE certificate_versions v SET key_sealed = o.key_sealed FROM certificate_versions "
        "o WHERE v.certificate_id IN ('web', 'api') AND o.certificate_id IN ('web', 'api') "
        "AND v.certificate_id <> o.certificate_id"))
    assert hosts.fetch("web", "privkey.pem", token=t).text == web["key"]
    assert hosts.fetch("api", "privkey.pem", token=t).text == api["key"]


# ---- the cache ----

def wait_cached(hosts, cert, token):
    """Fetches cert until a fetch loads nothing into the cache. A notification of
    the test's set-up may arrive after the first fetch and drop (or keep the cache
    from keeping) what it loaded; under ThreadSanitizer the listener lags enough
    for that to happen."""
    def answered_from_cache():
        loads = len(log_lines(hosts.serve, "cache.load"))
        assert hosts.fetch(cert, "fullchain.pem", token=token).status_code == 200
        return len(log_lines(hosts.serve, "cache.load")) == loads
    poll(answered_from_cache, what=f"a fetch of {cert} answered from the cache")


def test_new_version_invalidates_the_cache(hosts, pki):
    hosts.certificate("web", ["web-01"])
    v1 = seed_version(hosts.db_url, "web", pki)
    t = hosts.host_token("web-01")
    serve = hosts.serve
    wait_cached(hosts, "web", t)
    loads = len(log_lines(serve, "cache.load", "certificate web"))
    for _ in range(10):
        r = hosts.fetch("web", "fullchain.pem", token=t, headers={"If-None-Match": v1["etag"]})
        assert r.status_code == 304
    # ten fetches, no load: all came from memory
    assert len(log_lines(serve, "cache.load", "certificate web")) == loads
    n = len(log_lines(serve, "cache.invalidate", "certificate:web (notify)"))
    v2 = seed_version(hosts.db_url, "web", pki)  # what a worker's commit does
    wait_log(serve, "cache.invalidate", "certificate:web (notify)", count=n + 1)
    r = hosts.fetch("web", "fullchain.pem", token=t, headers={"If-None-Match": v1["etag"]})
    assert r.status_code == 200 and r.text == v2["cert"] + v2["chain"]
    assert r.headers["ETag"] == v2["etag"] != v1["etag"]
    assert hosts.fetch("web", "bundle", token=t).json()["version"] == 2
    assert len(log_lines(serve, "cache.load", "certificate web")) == loads + 1
    r = hosts.fetch("web", "fullchain.pem", token=t, headers={"If-None-Match": v2["etag"]})
    assert r.status_code == 304


@pytest.fixture
def proxied(certfleet, lab):
    """A database reached through a PgProxy the test can cut; (HostsApi, proxy)."""
    name = "t_" + __import__("uuid").uuid4().hex[:12]
    admin = psycopg2.connect(lab["LAB_PG_URL"])
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    proxy = PgProxy(lab["LAB_PG_URL"].split("@")[1].split(":")[0])
    api, serve = start_hosts_api(certfleet, proxy.url(name), CERTFLEET_CACHE_OFFLINE_GRACE=60)
    api.db_url = with_dbname(lab["LAB_PG_URL"], name)  # the test's own queries go direct
    api.bind_provider(lab)
    try:
        yield api, proxy
        serve.stop()
        check_log_clean(serve, lab)
    finally:
        serve.__exit__(None, None, None)
        proxy.close()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_fetches_keep_working_while_the_database_is_unreachable(proxied, pki):
    hosts, proxy = proxied
    hosts.certificate("web", ["web-01"])
    hosts.certificate("other", ["web-01"])
    v = seed_version(hosts.db_url, "web", pki)
    seed_version(hosts.db_url, "other", pki)
    t = hosts.host_token("web-01")
    wait_cached(hosts, "web", t)
    proxy.cut()
    wait_log(hosts.serve, "cache.offline")
    assert hosts.get("/readyz", token=None).status_code == 503  # the database is gone
    for _ in range(5):
        r = hosts.fetch("web", "fullchain.pem", token=t, headers={"If-None-Match": v["etag"]})
        assert r.status_code == 304
        r = hosts.fetch("web", "cert.pem", token=t)
        assert r.status_code == 200 and r.text == v["cert"]
    # what is not cached needs the database; a key fetch needs its audit event
    assert hosts.fetch("other", "cert.pem", token=t).status_code == 503
    r = hosts.fetch("web", "privkey.pem", token=t)
    assert r.status_code == 503 and "audit" in r.json()["detail"]
    assert hosts.get("/v1/certificates").status_code == 503
    proxy.restore()
    wait_log(hosts.serve, "cache.listening", count=2, timeout=20)
    assert hosts.fetch("other", "cert.pem", token=t).status_code == 200
    assert hosts.fetch("web", "privkey.pem", token=t).text == v["key"]


def test_without_grace_an_outage_stops_fetches(certfleet, lab, pki):
    name = "t_" + __import__("uuid").uuid4().hex[:12]
    admin = psycopg2.connect(lab["LAB_PG_URL"])
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    proxy = PgProxy(lab["LAB_PG_URL"].split("@")[1].split(":")[0])
    hosts, serve = start_hosts_api(certfleet, proxy.url(name), CERTFLEET_CACHE_OFFLINE_GRACE=0)
    try:
        hosts.db_url = with_dbname(lab["LAB_PG_URL"], name)
        hosts.bind_provider(lab)
        hosts.certificate("web", ["web-01"])
        seed_version(hosts.db_url, "web", pki)
        t = hosts.host_token("web-01")
        assert hosts.fetch("web", "cert.pem", token=t).status_code == 200
        proxy.cut()
        wait_log(serve, "cache.offline")
        time.sleep(1.1)
        assert hosts.fetch("web", "cert.pem", token=t).status_code == 503
    finally:
        serve.__exit__(None, None, None)
        proxy.close()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
