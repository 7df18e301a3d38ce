"""API tokens: `certfleet token create|list|revoke` against the database, and the
bearer check in front of every /v1 route: no token, a malformed, unknown, wrong,
expired or revoked one gets 401 and nothing happens; a host token on an admin route
gets 403; only an HMAC of the secret is stored, keyed by a key derived from the master
key (a token stored with the older plain SHA-256 keeps working: test_keys.py)."""
import base64
import hashlib
import hmac
import re

import pytest

from openapi import api  # noqa: F401 (fixture)
from service import TEST_MASTER_KEY, db_url, run  # noqa: F401 (fixture)

TOKEN = re.compile(r"^cf_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
CERT = {"id": "web", "domains": ["example.test"], "provider": "p"}


def token_hmac(secret):
    """What the service stores of a secret: HMAC-SHA-256 keyed by HKDF-SHA-256(master key,
    no salt, info "certfleet token hmac v1")."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    key = HKDF(hashes.SHA256(), 32, None, b"certfleet token hmac v1").derive(
        base64.b64decode(TEST_MASTER_KEY))
    return hmac.new(key, secret.encode(), hashlib.sha256).digest()


def prepare(api, lab):
    r = api.post("/v1/providers", json={"name": "p", "type": "rfc2136",
                                        "settings": {"server": lab["LAB_BIND"]}})
    assert r.status_code == 201


def test_create_prints_the_token_once_and_stores_its_hash(api):
    p = run(api.serve.certfleet, ["token", "create", "--role", "admin", "--name", "ops"], api.env)
    assert p.returncode == 0, p.stderr
    m = TOKEN.match(p.stdout.strip())
    assert m, p.stdout
    tid, secret = m.groups()
    assert "only time" in p.stderr and secret not in p.stderr
    (name, role, plain, digest, expires), = api.sql(
        "SELECT name, role, secret_sha256, secret_hmac, expires_at FROM tokens WHERE id = %s",
        (tid,))
    assert (name, role, plain, expires) == ("ops", "admin", None, None)
    assert bytes(digest) == token_hmac(secret)
    assert bytes(digest) != hashlib.sha256(secret.encode()).digest()
    (dump,), = api.sql("SELECT string_agg(row_to_json(t)::text, ' ') FROM tokens t")
    assert secret not in dump
    listing = run(api.serve.certfleet, ["token", "list"], api.env)
    assert listing.returncode == 0 and tid in listing.stdout and secret not in listing.stdout
    assert api.get("/v1/whoami", token=p.stdout.strip()).json() == {
        "token_id": tid, "name": "ops", "role": "admin"}
    audit = api.sql("SELECT actor, action, target, detail FROM audit_events "
                    "WHERE action = 'token.create' AND target = %s", (tid,))
    assert audit == [("cli", "token.create", tid,
                      {"name": "ops", "role": "admin", "expires_in_s": 0})]


def test_create_refuses_bad_arguments(api):
    for args in (["--role", "root", "--name", "x"], ["--role", "admin", "--name", "bad name"],
                 ["--role", "admin", "--name", "cli"], ["--role", "keys", "--name", "worker"],
                 ["--role", "host", "--name", "Web_01"], ["--role", "admin", "--name", "x",
                                                         "--expires", "soon"]):
        p = run(api.serve.certfleet, ["token", "create", *args], api.env)
        assert p.returncode != 0 and p.stdout == "", args
        assert "--" in p.stderr, p.stderr
    p = run(api.serve.certfleet, ["token", "create", "--name", "x"], api.env)
    assert p.returncode == 2 and "usage" in p.stderr
    assert api.sql("SELECT count(*) FROM tokens") == [(1,)]  # the fixture's only


def test_expiry_option(api):
    api.token_create("host", "web-01", "--expires", "90d")
    (days,), = api.sql("SELECT extract(epoch FROM expires_at - created_at) / 86400 FROM tokens "
                       "WHERE name = 'web-01'")
    assert round(float(days)) == 90


def bad_tokens(api):
    good = api.token
    tid = TOKEN.match(good).group(1)
    return {
        "none": None,
        "empty": "",
        "garbage": "hello",
        "wrong-secret": f"cf_{tid}_" + "A" * 43,
        "unknown-id": "cf_000000000000_" + TOKEN.match(good).group(2),
        "truncated": good[:-1],
        "with-suffix": good + "x",
        "upper-case-id": good.upper(),
    }


@pytest.mark.parametrize("case", ["none", "empty", "garbage", "wrong-secret", "unknown-id",
                                  "truncated", "with-suffix", "upper-case-id"])
def test_bad_token_is_401_and_nothing_happens(api, lab, case):
    prepare(api, lab)
    token = bad_tokens(api)[case]
    before = api.counts()
    last_used = api.sql("SELECT last_used_at FROM tokens")
    for method, path, body in (("POST", "/v1/certificates", CERT),
                               ("POST", "/v1/providers", {"name": "q", "type": "rfc2136",
                                                          "settings": {"server": "1.2.3.4"}}),
                               ("DELETE", "/v1/providers/p", None),
                               ("GET", "/v1/certificates", None),
                               ("GET", "/v1/whoami", None)):
        r = api.call(method, path, json=body, token=token,
                     headers={"Idempotency-Key": "k"} if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.headers["Content-Type"] == "application/problem+json"
    assert api.counts() == before
    assert api.sql("SELECT last_used_at FROM tokens") == last_used


def test_scheme_must_be_bearer(api):
    r = api.get("/v1/whoami", token=None, headers={"Authorization": f"Basic {api.token}"})
    assert r.status_code == 401
    r = api.get("/v1/whoami", token=None, headers={"Authorization": f"bearer {api.token}"})
    assert r.status_code == 200  # the scheme is case-insensitive (RFC 9110)


def test_revoked_token_is_401(api, lab):
    prepare(api, lab)
    victim = api.token_create("admin", "leaving")
    assert api.get("/v1/whoami", token=victim).status_code == 200
    p = run(api.serve.certfleet, ["token", "revoke", "leaving"], api.env)
    assert p.returncode == 0 and TOKEN.match(victim).group(1) in p.stdout
    before = api.counts()
    r = api.post("/v1/certificates", json=CERT, token=victim)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert api.counts() == before
    # revoking again finds nothing live; by id works too
    assert run(api.serve.certfleet, ["token", "revoke", "leaving"], api.env).returncode != 0
    other = api.token_create("admin", "other")
    tid = TOKEN.match(other).group(1)
    assert run(api.serve.certfleet, ["token", "revoke", "--id", tid], api.env).returncode == 0
    assert api.get("/v1/whoami", token=other).status_code == 401
    assert [r[0] for r in api.sql("SELECT action FROM audit_events WHERE action LIKE "
                                  "'token.revoke' ORDER BY id")] == ["token.revoke"] * 2
    assert api.get("/v1/whoami").status_code == 200  # the fixture's token is untouched


def test_expired_token_is_401(api, lab):
    prepare(api, lab)
    t = api.token_create("admin", "temp", "--expires", "1h")
    assert api.get("/v1/whoami", token=t).status_code == 200
    api.sql("UPDATE tokens SET expires_at = now() - interval '1 second' WHERE name = 'temp'")
    before = api.counts()
    r = api.post("/v1/certificates", json=CERT, token=t)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert api.counts() == before


def test_host_token_on_admin_routes_is_403(api, lab):
    prepare(api, lab)
    host = api.token_create("host", "web-01")
    assert api.get("/v1/whoami", token=host).json()["role"] == "host"
    before = api.counts()
    for method, path, body in (("POST", "/v1/certificates", CERT),
                               ("GET", "/v1/certificates", None),
                               ("GET", "/v1/providers", None),
                               ("DELETE", "/v1/providers/p", None),
                               ("GET", "/v1/jobs", None)):
        r = api.call(method, path, json=body, token=host)
        assert r.status_code == 403, (method, path, r.text)
        assert "admin" in r.json()["detail"]
    assert api.counts() == before


def test_last_use_is_recorded(api):
    (before,), = api.sql("SELECT last_used_at FROM tokens")
    assert before is None
    assert api.get("/v1/whoami").status_code == 200
    (after,), = api.sql("SELECT last_used_at FROM tokens")
    assert after is not None
