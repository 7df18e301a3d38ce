"""Who gets a private key (README "Who gets the key"), and the secrets that guard the
way to it (issue 12):

- an admin token alone cannot obtain the key of a certificate with admin_keys:
  false by any route: it cannot mint a host token, change hosts or admin_keys, make
  a keys token, or create a certificate whose key goes to hosts and admins at once;
  a keys token can grant, and nothing else;
- every audit event carries the acting token's id beside its name; the names cli,
  worker and db:* are reserved;
- token secrets are stored as an HMAC keyed from the master key; a token stored
  with the older plain SHA-256 keeps working, and its row is re-hashed at its first
  use;
- a sealed provider row whose type or public settings change in SQL no longer
  opens, while a row sealed the old way (AAD version 1) still does;
- Idempotency-Key fingerprints are keyed, and records older than 24 h are purged
  by the workers' janitor."""
import base64
import hashlib
import hmac
import os
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hostlib import Pki, seed_version, start_hosts_api
from service import TEST_MASTER_KEY, db_url, poll, run  # noqa: F401 (fixture)
from workerlib import fleet  # noqa: F401 (fixture)

TOKEN = re.compile(r"^cf_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
MASTER = base64.b64decode(TEST_MASTER_KEY)


def derived(info):
    return HKDF(hashes.SHA256(), 32, None, info.encode()).derive(MASTER)


@pytest.fixture(scope="module")
def pki():
    return Pki()


@pytest.fixture
def grants(certfleet, db_url, lab):
    api, serve = start_hosts_api(certfleet, db_url)
    api.bind_provider(lab)
    try:
        yield api
    finally:
        serve.__exit__(None, None, None)


def tid(token):
    return TOKEN.fullmatch(token).group(1)


def state(api):
    """Everything a refused grant must leave as it was."""
    (row,) = api.sql(
        "SELECT (SELECT string_agg(id || ':' || name || ':' || role, ' ' ORDER BY id) "
        "FROM tokens), (SELECT string_agg(id || ':' || array_to_string(hosts, ',') || ':' || "
        "admin_keys || ':' || array_to_string(domains, ','), ' ' ORDER BY id) FROM "
        "certificates), (SELECT count(*) FROM audit_events)")
    return row


# ---- admin_keys: false holds against an admin token ----

def test_admin_cannot_get_a_key_by_any_route(grants, pki):
    api = grants
    api.certificate("web", ["web-01"])  # admin_keys: false
    seed_version(api.db_url, "web", pki)
    r = api.fetch("web", "privkey.pem")
    assert r.status_code == 403 and r.json()["type"].endswith("/key-not-granted")
    before = state(api)
    # 1. a host token named after the listed host
    r = api.post("/v1/tokens", json={"name": "web-01", "role": "host"})
    assert r.status_code == 403 and r.json()["field"] == "role", r.text
    # 2. a keys token, to mint the host token with
    r = api.post("/v1/tokens", json={"name": "helper", "role": "keys"})
    assert r.status_code == 403 and r.json()["field"] == "role", r.text
    # 3. PATCH hosts (adding one, replacing, or removing all) or admin_keys
    for body, field in (({"hosts": ["web-01", "admin-box"]}, "hosts"),
                        ({"hosts": ["admin-box"]}, "hosts"),
                        ({"hosts": None}, "hosts"),
                        ({"admin_keys": True}, "admin_keys"),
                        ({"domains": ["www.example.test"], "admin_keys": True}, "admin_keys")):
        r = api.patch("/v1/certificates/web", json=body)
        assert r.status_code == 403 and r.json()["field"] == field, (body, r.text)
        assert r.headers["Content-Type"] == "application/problem+json"
    # 4. a certificate whose key goes to both its hosts and admin tokens
    r = api.post("/v1/certificates", json={"id": "web2", "domains": ["example.test"],
                                           "provider": "lab-bind", "hosts": ["web-01"],
                                           "admin_keys": True})
    assert r.status_code == 403 and r.json()["field"] == "admin_keys", r.text
    assert state(api) == before
    # the key is still refused; changes that grant nothing stay an admin's
    assert api.fetch("web", "privkey.pem").status_code == 403
    assert api.fetch("web", "bundle").status_code == 403
    r = api.patch("/v1/certificates/web", json={"hosts": ["web-01"], "renew_fraction": 0.5})
    assert r.status_code == 200, r.text  # the same hosts again is no change
    r = api.post("/v1/tokens", json={"name": "second-admin", "role": "admin"})
    assert r.status_code == 201, r.text
    # a certificate for hosts only, or for admins only, an admin may create
    assert api.post("/v1/certificates", json={
        "id": "hosts-only", "domains": ["example.test"], "provider": "lab-bind",
        "hosts": ["web-01"]}).status_code == 201
    assert api.post("/v1/certificates", json={
        "id": "admins-only", "domains": ["example.test"], "provider": "lab-bind",
        "admin_keys": True}).status_code == 201
    # ... but not one with an empty list turned into both: hosts need a keys token
    r = api.patch("/v1/certificates/admins-only", json={"hosts": ["web-01"]})
    assert r.status_code == 403 and r.json()["field"] == "hosts"


def test_keys_token_grants_and_does_nothing_else(grants, pki):
    api, keys = grants, grants.keys_token
    api.certificate("web", ["web-01"])
    seed_version(api.db_url, "web", pki)
    # it mints host tokens, and changes hosts and admin_keys
    r = api.post("/v1/tokens", json={"name": "web-02", "role": "host"}, token=keys)
    assert r.status_code == 201, r.text
    host = r.json()["token"]
    assert api.fetch("web", "privkey.pem", token=host).status_code == 404  # not listed yet
    r = api.patch("/v1/certificates/web", json={"hosts": ["web-01", "web-02"]}, token=keys)
    assert r.status_code == 200 and r.json()["hosts"] == ["web-01", "web-02"], r.text
    assert api.fetch("web", "privkey.pem", token=host).status_code == 200
    r = api.patch("/v1/certificates/web", json={"admin_keys": True}, token=keys)
    assert r.status_code == 200 and r.json()["admin_keys"] is True
    assert api.fetch("web", "privkey.pem").status_code == 200  # the admin, now granted
    assert api.get("/v1/certificates/web", token=keys).status_code == 200
    assert api.get("/v1/tokens", token=keys).status_code == 200
    before = state(api)
    # nothing else: no other member of a certificate, no fetch, no admin or keys token,
    # no certificate, provider, audit, and no revoking of other roles' tokens
    r = api.patch("/v1/certificates/web", json={"hosts": ["web-01"], "domains": ["x.test"]},
                  token=keys)
    assert r.status_code == 403 and r.json()["field"] == "domains", r.text
    for body in ({"name": "ops", "role": "admin"}, {"name": "more-keys", "role": "keys"}):
        r = api.post("/v1/tokens", json=body, token=keys)
        assert r.status_code == 403 and r.json()["field"] == "role", r.text
    for part in ("privkey.pem", "bundle", "cert.pem"):
        assert api.fetch("web", part, token=keys).status_code == 403
    for method, path in (("POST", "/v1/certificates"), ("DELETE", "/v1/certificates/web"),
                         ("GET", "/v1/audit"), ("GET", "/v1/providers")):
        assert api.call(method, path, json={} if method == "POST" else None,
                        token=keys).status_code == 403
    assert api.delete("/v1/tokens/test-admin", token=keys).status_code == 404
    assert state(api) == before
    assert api.delete("/v1/tokens/web-02", token=keys).status_code == 200
    assert api.fetch("web", "privkey.pem", token=host).status_code == 401


def test_reserved_names_are_refused(grants):
    api = grants
    before = state(api)
    for name, role, who in (("cli", "admin", api.token), ("worker", "admin", api.token),
                            ("worker", "host", api.keys_token), ("cli", "host", api.keys_token),
                            ("db:postgres", "admin", api.token)):
        r = api.post("/v1/tokens", json={"name": name, "role": role}, token=who)
        assert r.status_code == 400 and r.json()["field"] == "name", (name, r.text)
    assert state(api) == before
    for name in ("cli", "worker", "db:x"):
        p = run(api.serve.certfleet, ["token", "create", "--role", "admin", "--name", name],
                api.env)
        assert p.returncode != 0 and p.stdout == "" and "--name" in p.stderr, p.stderr
    assert state(api) == before


def test_every_audit_event_names_the_token_id(grants, pki):
    api, keys = grants, grants.keys_token
    admin_id, keys_id = tid(api.token), tid(keys)
    (start,), = api.sql("SELECT max(id) FROM audit_events")
    api.certificate("web", [])
    host = api.host_token("web-01")
    api.patch("/v1/certificates/web", json={"hosts": ["web-01"]}, token=keys)
    seed_version(api.db_url, "web", pki)
    assert api.fetch("web", "privkey.pem", token=host).status_code == 200
    cli = run(api.serve.certfleet, ["token", "create", "--role", "admin", "--name", "ops"],
              api.env, check=True).stdout.strip()
    rows = api.sql("SELECT actor, token_id, action, target FROM audit_events WHERE id > %s "
                   "ORDER BY id", (start,))
    want = [("test-admin", admin_id, "certificate.create", "web"),
            ("test-keys", keys_id, "token.create", tid(host)),
            ("test-keys", keys_id, "certificate.update", "web"),
            ("db:postgres", None, "certificate.issued", "web"),
            ("web-01", tid(host), "certificate.fetch_key", "web"),
            ("cli", None, "token.create", tid(cli))]
    assert rows == want
    events = api.get("/v1/audit").json()["events"][-len(want):]
    assert [(e["actor"], e["token_id"]) for e in events] == [(a, t) for a, t, _, _ in want]
    # the two tokens made at the start by the CLI: no token acted
    assert api.sql("SELECT actor, token_id FROM audit_events WHERE id <= %s AND action = "
                   "'token.create'", (start,)) == [("cli", None), ("cli", None)]


# ---- token hashes ----

def legacy_token(api, tid_, name, role):
    """A token as the service stored it before 0011_keys: the plain SHA-256 of its
    secret. Returns the token and the HMAC the service should store instead."""
    secret = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    api.sql("INSERT INTO tokens (id, name, role, secret_sha256) VALUES (%s, %s, %s, %s)",
            (tid_, name, role, hashlib.sha256(secret.encode()).digest()))
    mac = hmac.new(derived("certfleet token hmac v1"), secret.encode(), hashlib.sha256).digest()
    return f"cf_{tid_}_{secret}", mac


def hashes_of(api, tid_):
    (plain, mac), = api.sql("SELECT secret_sha256, secret_hmac FROM tokens WHERE id = %s",
                            (tid_,))
    return (plain and bytes(plain)), (mac and bytes(mac))


def test_new_tokens_are_hmac_and_legacy_sha256_tokens_still_work(grants, pki):
    api = grants
    legacy, want = legacy_token(api, "0123456789ab", "old-admin", "admin")
    idle, _ = legacy_token(api, "00000000000f", "idle-admin", "admin")
    assert api.get("/v1/whoami", token=legacy[:-1] + ("A" if legacy[-1] != "A" else "B")
                   ).status_code == 401
    assert hashes_of(api, "0123456789ab")[1] is None  # a refused token changes nothing
    assert api.get("/v1/whoami", token=legacy).json() == {
        "token_id": "0123456789ab", "name": "old-admin", "role": "admin"}
    # its first use re-hashed the row: the plain SHA-256 is gone, and the token works on
    assert hashes_of(api, "0123456789ab") == (None, want)
    assert api.get("/v1/whoami", token=legacy).status_code == 200
    # the same for a host token on the cached fetch route (through the pool)
    api.certificate("web", ["web-09"])
    seed_version(api.db_url, "web", pki)
    host, host_mac = legacy_token(api, "0000000000aa", "web-09", "host")
    assert api.fetch("web", "cert.pem", token=host).status_code == 200
    poll(lambda: hashes_of(api, "0000000000aa") == (None, host_mac), timeout=10,
         what="the legacy host token's row re-hashed")
    poll(lambda: api.fetch("web", "cert.pem", token=host).status_code == 200, timeout=10,
         what="the re-hashed host token fetching again")
    # new tokens: HMAC-SHA-256 keyed by HKDF(master key), never the plain SHA-256
    new = api.host_token("web-01")
    (plain, mac), = api.sql("SELECT secret_sha256, secret_hmac FROM tokens WHERE id = %s",
                            (tid(new),))
    s = TOKEN.fullmatch(new).group(2)
    assert plain is None
    assert bytes(mac) != hashlib.sha256(s.encode()).digest()
    assert bytes(mac) == hmac.new(derived("certfleet token hmac v1"), s.encode(),
                                  hashlib.sha256).digest()
    assert api.get("/v1/whoami", token=new).json()["role"] == "host"
    # the listing tells the operator which tokens to rotate
    hashes_ = {t["name"]: t["hash"] for t in api.get("/v1/tokens").json()["tokens"]}
    assert hashes_ == {"test-admin": "hmac", "test-keys": "hmac", "old-admin": "hmac",
                       "idle-admin": "sha256", "web-09": "hmac", "web-01": "hmac"}
    assert api.get("/v1/whoami", token=idle).status_code == 200  # unused until now
    # an HMAC row's value copied into the legacy column does not verify a token
    api.sql("UPDATE tokens SET secret_sha256 = secret_hmac, secret_hmac = NULL WHERE id = %s",
            (tid(new),))
    assert api.get("/v1/whoami", token=new).status_code == 401


# ---- sealed provider rows ----

def provider_row(api, name):
    (row,) = api.sql("SELECT type, settings::text, secrets_aad FROM dns_providers "
                      "WHERE name = %s", (name,))
    return row


def test_sealed_provider_row_binds_type_and_public_settings(grants, lab):
    api = grants
    assert provider_row(api, "lab-bind")[2] == 2
    assert api.get("/v1/providers/lab-bind").json()["secrets_valid"] is True
    # another type, set in SQL: the blob no longer opens
    api.sql("UPDATE dns_providers SET type = 'powerdns' WHERE name = 'lab-bind'")
    r = api.get("/v1/providers/lab-bind").json()
    assert r["secrets_valid"] is False and r["secrets"] == []
    api.sql("UPDATE dns_providers SET type = 'rfc2136' WHERE name = 'lab-bind'")
    assert api.get("/v1/providers/lab-bind").json()["secrets_valid"] is True
    # a public setting pointed elsewhere (the TSIG key would go to that server)
    api.sql("UPDATE dns_providers SET settings = jsonb_set(settings, '{server}', "
            "'\"198.51.100.9:53\"') WHERE name = 'lab-bind'")
    assert api.get("/v1/providers/lab-bind").json()["secrets_valid"] is False
    # relabelled as a version 1 row: does not open either
    api.sql("UPDATE dns_providers SET settings = settings || jsonb_build_object('server', "
            "%s::text), secrets_aad = 1 WHERE name = 'lab-bind'", (lab["LAB_BIND"],))
    assert api.get("/v1/providers/lab-bind").json()["secrets_valid"] is False


def test_provider_row_sealed_before_the_upgrade_still_opens(grants, lab):
    api = grants
    # what 0001..0010 wrote: AAD "dns_providers:<name>", version byte 1, GCM
    nonce = os.urandom(12)
    plain = ('{"tsig_secret":"%s"}' % lab["LAB_TSIG_SECRET"]).encode()
    blob = b"\x01" + nonce + AESGCM(MASTER).encrypt(nonce, plain, b"dns_providers:old-bind")
    api.sql("INSERT INTO dns_providers (name, type, settings, secrets_sealed) VALUES "
            "('old-bind', 'rfc2136', jsonb_build_object('server', %s::text, 'tsig_name', "
            "%s::text, 'tsig_algorithm', %s::text), %s)",
            (lab["LAB_BIND"], lab["LAB_TSIG_NAME"], lab["LAB_TSIG_ALG"], blob))
    assert provider_row(api, "old-bind")[2] == 1
    r = api.get("/v1/providers/old-bind").json()
    assert r["secrets_valid"] is True and r["secrets"] == ["tsig_secret"]


# ---- Idempotency-Key records ----

def test_idempotency_fingerprint_is_keyed_and_old_records_are_purged(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=1)
    api = fleet.api
    body = {"name": "p1", "type": "rfc2136", "settings": {"server": lab["LAB_BIND"]}}
    r = api.call("POST", "/v1/providers", json=body, headers={"Idempotency-Key": "old"})
    assert r.status_code == 201, r.text
    raw = r.request.body
    (fp,), = fleet.sql("SELECT body_sha256 FROM idempotency_keys WHERE key = 'old'")
    msg = b"POST\0/v1/providers\0" + raw
    assert bytes(fp) != hashlib.sha256(msg).digest()
    assert bytes(fp) == hmac.new(derived("certfleet idempotency v1"), msg,
                                 hashlib.sha256).digest()
    body["name"] = "p2"
    assert api.call("POST", "/v1/providers", json=body,
                    headers={"Idempotency-Key": "new"}).status_code == 201
    fleet.sql("UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute' "
              "WHERE key = 'old'")
    poll(lambda: fleet.sql("SELECT key FROM idempotency_keys") == [("new",)], timeout=30,
         what="the janitor purging the record older than 24 h")
    assert any('"event":"idempotency.purge"' in line
               for line in fleet.serves[0].output().splitlines())
