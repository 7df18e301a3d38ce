"""The lab's unruly CA (tests/lab/ca-proxy in front of Pebble, and the two extra Pebbles):
what the issuer features of certfleet will be tested against must itself behave as
documented. Every test runs against the real lab: limits answered as Let's Encrypt
answers them, scripted faults, profiles, `certfleet issue` through the proxy, the backup
Pebble's own roots and the Pebble that reuses authorizations.

The proxy is shared by the session: each test starts from a reset proxy (counts,
faults and orders forgotten, config back to the lab's defaults) and leaves it reset.
"""
import hashlib
import json
import subprocess
import time
import uuid

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import labdns
from acmeclient import AcmeError, AcmeReader, b64url, root_pem
from issuance import check_certificate, issue

RFC = "rfc-alias.test"
RATE_LIMITED = "urn:ietf:params:acme:error:rateLimited"
DEFAULT_CONFIG = {"limits": {"orders": None, "certificates_per_domain": None,
                             "duplicate_sets": None, "failed_authorizations_per_name": None},
                  "renewals_exempt": True,
                  "max_names": {"classic": 100, "tlsserver": 25, "shortlived": 25}}


@pytest.fixture
def proxy(lab):
    """The control API's base URL, with the proxy reset before and after the test."""
    if "LAB_CAPROXY_CONTROL" not in lab:
        pytest.fail("the lab has no CA proxy (LAB_CAPROXY_CONTROL): tests/lab/lab too old?")
    base = lab["LAB_CAPROXY_CONTROL"]

    def reset():
        requests.patch(f"{base}/config", json=DEFAULT_CONFIG, timeout=5).raise_for_status()
        requests.post(f"{base}/reset", timeout=5).raise_for_status()

    reset()
    yield base
    reset()


def control(base, method, path, body=None):
    r = requests.request(method, base + path, json=body, timeout=5)
    assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


def statuses(base, endpoint):
    """The statuses the proxy answered on ENDPOINT, in order, without Pebble's badNonce
    refusals (400): Pebble rejects a share of good nonces and clients send again."""
    return [r["status"] for r in control(base, "GET", "/requests")
            if r["endpoint"] == endpoint and r["status"] != 400]


def new_key(path):
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path)


def new_account(directory, lab, tmp_path, key=None):
    """A fresh account at DIRECTORY through the tests' own ACME client."""
    client = AcmeReader(directory, lab["LAB_ACME_TLS_CA"],
                        key or new_key(tmp_path / f"acct-{uuid.uuid4().hex[:6]}.pem"))
    r = client.post(client.directory["newAccount"], {"termsOfServiceAgreed": True},
                    use_jwk=True)
    client.kid = r.headers["Location"]
    return client


def new_order(client, names, **extra):
    payload = {"identifiers": [{"type": "dns", "value": n} for n in names], **extra}
    return client.post(client.directory["newOrder"], payload)


def wait_status(client, url, done, timeout=30):
    """Polls an ACME object until its status is one of DONE; returns it."""
    deadline = time.monotonic() + timeout
    obj = client.read(url)
    while obj["status"] not in done:
        assert time.monotonic() < deadline, obj
        time.sleep(0.1)
        obj = client.read(url)
    return obj


def issue_by_hand(client, lab, name, zone, target, **extra):
    """A certificate for NAME through the tests' own client: newOrder (with EXTRA in the
    payload), DNS-01 at TARGET (the alias of NAME's challenge in ZONE), finalize,
    download. Returns the leaf as an x509.Certificate."""
    r = new_order(client, [name], **extra)
    order_url, order = r.headers["Location"], r.json()
    jwk = json.dumps(client._jwk(), sort_keys=True, separators=(",", ":")).encode()
    thumbprint = b64url(hashlib.sha256(jwk).digest())
    values = []
    try:
        for authz_url in order["authorizations"]:
            authz = client.read(authz_url)
            if authz["status"] == "valid":
                continue
            chal = next(c for c in authz["challenges"] if c["type"] == "dns-01")
            keyauth = f"{chal['token']}.{thumbprint}".encode()
            values.append(b64url(hashlib.sha256(keyauth).digest()))
            labdns.nsupdate_add(lab, zone, target, values[-1])
            client.post(chal["url"], {})
            assert wait_status(client, authz_url, ("valid", "invalid"))["status"] == "valid"
    finally:
        for v in values:
            labdns.nsupdate_delete(lab, zone, target, v)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
           .sign(key, hashes.SHA256()))
    client.post(order["finalize"],
                {"csr": b64url(csr.public_bytes(serialization.Encoding.DER))})
    order = wait_status(client, order_url, ("valid", "invalid"))
    assert order["status"] == "valid", order
    pem = client.post(order["certificate"]).content
    return x509.load_pem_x509_certificate(pem)


def cert_id(leaf):
    """ARI's certID of LEAF: base64url(AKI key id) "." base64url(serial's DER bytes)."""
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    n = leaf.serial_number
    return f"{b64url(aki.key_identifier)}.{b64url(n.to_bytes(n.bit_length() // 8 + 1, 'big'))}"


def unique(prefix="o"):
    """A name under example.test nobody else orders (orders need no DNS)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}.example.test"


def test_directory_offers_profiles_and_renewal_info(lab, proxy):
    d = requests.get(lab["LAB_CAPROXY_DIR"], verify=lab["LAB_ACME_TLS_CA"], timeout=5).json()
    assert set(d["meta"]["profiles"]) == {"classic", "tlsserver", "shortlived"}
    assert d["meta"]["profiles"]["tlsserver"].startswith("https://letsencrypt.org/")
    host = lab["LAB_CAPROXY_DIR"].split("/")[2]
    # Pebble built every URL from the Host header the proxy kept
    for key in ("newNonce", "newAccount", "newOrder", "revokeCert", "renewalInfo"):
        assert d[key].startswith(f"https://{host}/"), d
    assert control(proxy, "GET", "/counters")["requests"]["directory"] == 1


def test_order_limit_then_429_as_lets_encrypt_answers(lab, proxy, tmp_path):
    control(proxy, "PATCH", "/config", {"limits": {"orders": {"count": 3, "per_seconds": 120}}})
    client = new_account(lab["LAB_CAPROXY_DIR"], lab, tmp_path)
    for _ in range(3):
        assert new_order(client, [unique()]).status_code == 201
    with pytest.raises(AcmeError) as e:
        new_order(client, [unique()])
    err = e.value
    assert err.status == 429
    assert err.headers["Content-Type"] == "application/problem+json"
    assert err.type == RATE_LIMITED
    assert "too many new orders (3)" in err.problem["detail"]
    # Let's Encrypt's bucket: the next unit comes back after 120 s / 3
    assert 35 <= int(err.headers["Retry-After"]) <= 40, err.headers
    assert err.headers.get("Replay-Nonce"), "a 429 must carry a fresh nonce"
    # the nonce of the 429 is one Pebble issued: the next request uses it (badNonce
    # retried: Pebble rejects a share of good nonces) and the account is still served
    assert client.read(client.kid)["status"] == "valid"
    # another account has its own budget
    other = new_account(lab["LAB_CAPROXY_DIR"], lab, tmp_path)
    assert new_order(other, [unique()]).status_code == 201
    c = control(proxy, "GET", "/counters")
    assert c["orders_by_account"] == {client.kid: 3, other.kid: 1}
    assert c["rate_limited"] == 1 and c["rate_limited_by_limit"] == {"orders": 1}
    assert statuses(proxy, "newOrder") == [201, 201, 201, 429, 201]
    limits = control(proxy, "GET", "/limits")["orders"]
    assert limits["used"] == {client.kid: 3, other.kid: 1}


def test_order_limit_as_a_sliding_window(lab, proxy, tmp_path):
    control(proxy, "PATCH", "/config", {"limits": {
        "orders": {"count": 2, "per_seconds": 120, "algorithm": "window"}}})
    client = new_account(lab["LAB_CAPROXY_DIR"], lab, tmp_path)
    for _ in range(2):
        assert new_order(client, [unique()]).status_code == 201
    with pytest.raises(AcmeError) as e:
        new_order(client, [unique()])
    # the first order leaves the window only 120 s after it was made
    assert e.value.status == 429 and 110 <= int(e.value.headers["Retry-After"]) <= 120


def test_renewal_with_replaces_is_exempt_once(lab, proxy, tmp_path):
    control(proxy, "PATCH", "/config", {"limits": {"orders": {"count": 1, "per_seconds": 120}}})
    client = new_account(lab["LAB_CAPROXY_DIR"], lab, tmp_path)
    assert new_order(client, [unique()]).status_code == 201
    with pytest.raises(AcmeError) as e:
        new_order(client, [unique()])
    assert e.value.status == 429
    # an ARI renewal (replaces a predecessor not yet replaced) is not limited
    r = new_order(client, [unique()], replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
    assert r.status_code == 201
    orders = control(proxy, "GET", "/orders")
    assert [o["exempt"] for o in orders] == [False, True]
    assert orders[1]["replaces"] == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    control(proxy, "PATCH", "/config", {"renewals_exempt": False})
    with pytest.raises(AcmeError) as e:
        new_order(client, [unique()], replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyF")
    assert e.value.status == 429


def test_a_replaced_certificate_is_exempt_once(lab, proxy, tmp_path):
    """An ARI renewal of a certificate not yet replaced is neither limited nor counted;
    once it is issued, the predecessor is replaced and cannot be `replaces`d again."""
    control(proxy, "PATCH", "/config", {"limits": {
        "orders": {"count": 1, "per_seconds": 300},
        "certificates_per_domain": {"count": 1, "per_seconds": 300}}})
    client = new_account(lab["LAB_CAPROXY_DIR"], lab, tmp_path)
    name, zone = "h299.example.test", "rfc-alias.test"
    target = f"h299.example.test.{zone}"
    first = issue_by_hand(client, lab, name, zone, target)
    with pytest.raises(AcmeError) as e:  # both budgets are spent
        new_order(client, [name])
    assert e.value.status == 429
    second = issue_by_hand(client, lab, name, zone, target, replaces=cert_id(first))
    assert second.serial_number != first.serial_number
    with pytest.raises(AcmeError) as e:
        new_order(client, [name], replaces=cert_id(first))
    assert e.value.status == 409
    assert e.value.type == "urn:ietf:params:acme:error:alreadyReplaced"
    state = control(proxy, "GET", "/state")
    assert state["replaced"] == [cert_id(first)]
    assert state["counters"]["certificates"] == 2
    assert state["limits"]["certificates_per_domain"]["used"] == {"example.test": 1}
    assert state["limits"]["orders"]["used"] == {client.kid: 1}


def test_503_with_retry_after_then_recovery(lab, proxy, tmp_path):
    client = new_account(lab["LAB_CAPROXY_DIR"], lab, tmp_path)
    control(proxy, "POST", "/faults", {"endpoint": "newOrder", "kind": "503", "count": 2,
                                       "retry_after": 7})
    for _ in range(2):
        with pytest.raises(AcmeError) as e:
            new_order(client, [unique()])
        assert e.value.status == 503
        assert e.value.headers["Retry-After"] == "7"
        assert e.value.headers["Content-Type"] == "application/problem+json"
        assert e.value.headers.get("Replay-Nonce")
    assert new_order(client, [unique()]).status_code == 201
    c = control(proxy, "GET", "/counters")
    assert c["faults_fired"] == {"newOrder:503": 2}
    assert c["orders_by_account"] == {client.kid: 1}, "a 503 must not reach Pebble"
    assert control(proxy, "GET", "/faults") == [], "a counted fault is gone once spent"
    assert statuses(proxy, "newOrder") == [503, 503, 201]


def test_500_everywhere_until_cleared(lab, proxy):
    url, ca = lab["LAB_CAPROXY_DIR"], lab["LAB_ACME_TLS_CA"]
    nonce_url = requests.get(url, verify=ca, timeout=5).json()["newNonce"]
    fault = control(proxy, "POST", "/faults", {"endpoint": "*", "kind": "500"})
    for _ in range(3):
        assert requests.get(url, verify=ca, timeout=5).status_code == 500
        assert requests.head(nonce_url, verify=ca, timeout=5).status_code == 500
    control(proxy, "DELETE", f"/faults/{fault['id']}")
    assert requests.get(url, verify=ca, timeout=5).status_code == 200
    assert requests.head(nonce_url, verify=ca, timeout=5).status_code == 200


def test_connection_reset_and_latency(lab, proxy):
    url, ca = lab["LAB_CAPROXY_DIR"], lab["LAB_ACME_TLS_CA"]
    control(proxy, "POST", "/faults", {"endpoint": "directory", "kind": "reset", "count": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, verify=ca, timeout=5)
    assert requests.get(url, verify=ca, timeout=5).status_code == 200
    control(proxy, "POST", "/faults", {"endpoint": "directory", "kind": "latency", "ms": 400,
                                       "count": 1})
    t = time.monotonic()
    assert requests.get(url, verify=ca, timeout=5).status_code == 200
    assert time.monotonic() - t >= 0.4
    t = time.monotonic()
    assert requests.get(url, verify=ca, timeout=5).status_code == 200
    assert time.monotonic() - t < 0.4
    assert control(proxy, "GET", "/counters")["faults_fired"] == {
        "directory:reset": 1, "directory:latency": 1}


def test_probability_fault(lab, proxy):
    url, ca = lab["LAB_CAPROXY_DIR"], lab["LAB_ACME_TLS_CA"]
    control(proxy, "POST", "/faults", {"endpoint": "directory", "kind": "503",
                                       "probability": 0.5})
    codes = [requests.get(url, verify=ca, timeout=5).status_code for _ in range(40)]
    assert set(codes) == {200, 503}, codes  # P(all one way) = 2 * 0.5**40


def test_profiles_enforced_and_recorded(lab, proxy, tmp_path):
    client = new_account(lab["LAB_CAPROXY_DIR"], lab, tmp_path)
    with pytest.raises(AcmeError) as e:
        new_order(client, [unique()], profile="nonesuch")
    assert e.value.status == 400
    assert e.value.type == "urn:ietf:params:acme:error:invalidProfile"
    assert "classic, shortlived, tlsserver" in e.value.problem["detail"]
    with pytest.raises(AcmeError) as e:
        new_order(client, [unique() for _ in range(26)], profile="tlsserver")
    assert e.value.status == 400 and "25" in e.value.problem["detail"]
    r = new_order(client, [unique()], profile="tlsserver")
    assert r.status_code == 201 and r.json()["profile"] == "tlsserver"
    assert client.read(r.headers["Location"])["profile"] == "tlsserver"
    r2 = new_order(client, [unique()])
    assert r2.json()["profile"] == "classic"
    orders = control(proxy, "GET", "/orders")
    assert [(o["url"], o["profile"], o["effective_profile"]) for o in orders] == [
        (r.headers["Location"], "tlsserver", "tlsserver"),
        (r2.headers["Location"], None, "classic")]


def test_issue_through_the_proxy_chains_to_pebble_and_has_renewal_info(
        certfleet, lab, proxy, tmp_path):
    p = issue(certfleet, lab, ["www.example.test"], tmp_path,
              aliases=[f"www.example.test.{RFC}"], directory=lab["LAB_CAPROXY_DIR"])
    assert p.returncode == 0, p.stdout + p.stderr
    leaf, _ = check_certificate(lab, tmp_path, ["www.example.test"])
    c = control(proxy, "GET", "/counters")
    assert statuses(proxy, "newOrder") == [201] and statuses(proxy, "finalize") == [200]
    assert c["certificates"] == 1
    # ARI: the proxy answers a window for what it saw downloaded
    cid = cert_id(leaf)
    d = requests.get(lab["LAB_CAPROXY_DIR"], verify=lab["LAB_ACME_TLS_CA"], timeout=5).json()
    r = requests.get(f"{d['renewalInfo']}/{cid}", verify=lab["LAB_ACME_TLS_CA"], timeout=5)
    assert r.status_code == 200 and int(r.headers["Retry-After"]) > 0
    w = r.json()["suggestedWindow"]
    assert leaf.not_valid_before.isoformat() < w["start"].rstrip("Z") < w["end"].rstrip("Z")
    assert w["end"].rstrip("Z") < leaf.not_valid_after.isoformat()
    control(proxy, "PUT", f"/renewal-info/{cid}", {"now": True})
    w2 = requests.get(f"{d['renewalInfo']}/{cid}", verify=lab["LAB_ACME_TLS_CA"],
                      timeout=5).json()["suggestedWindow"]
    assert w2["start"] < time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) < w2["end"]
    assert requests.get(f"{d['renewalInfo']}/AAAA.AAAA", verify=lab["LAB_ACME_TLS_CA"],
                        timeout=5).status_code == 404


def test_processing_on_finalize_still_ends_valid(certfleet, lab, proxy, tmp_path):
    control(proxy, "POST", "/faults", {"endpoint": "finalize", "kind": "processing",
                                       "count": 1, "polls": 2, "retry_after": 1})
    p = issue(certfleet, lab, ["www.example.test"], tmp_path,
              aliases=[f"www.example.test.{RFC}"], directory=lab["LAB_CAPROXY_DIR"])
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, tmp_path, ["www.example.test"])
    c = control(proxy, "GET", "/counters")
    # the finalize and two polls were answered `processing`, the third poll passed
    # Pebble's `valid` through (certfleet waited for it)
    assert c["faults_fired"] == {"finalize:processing": 1, "order:processing": 2}, p.stdout


def test_certificates_per_domain_and_duplicate_sets(certfleet, lab, proxy, tmp_path):
    control(proxy, "PATCH", "/config", {"limits": {
        "duplicate_sets": {"count": 1, "per_seconds": 300},
        "certificates_per_domain": {"count": 2, "per_seconds": 300}}})
    args = dict(aliases=[f"www.example.test.{RFC}"], directory=lab["LAB_CAPROXY_DIR"])
    assert issue(certfleet, lab, ["www.example.test"], tmp_path / "1", **args).returncode == 0
    # the same set again: duplicate_sets (checked at newOrder)
    p = issue(certfleet, lab, ["www.example.test"], tmp_path / "2", **args)
    assert p.returncode != 0 and "429" in p.stdout + p.stderr, p.stdout + p.stderr
    # another set in the same registered domain: still one certificate left there
    p = issue(certfleet, lab, ["two.example.test"], tmp_path / "3",
              aliases=["two.example.test=two.example.test.rfc-alias2.test"],
              directory=lab["LAB_CAPROXY_DIR"])
    assert p.returncode == 0, p.stdout + p.stderr
    p = issue(certfleet, lab, ["chain.example.test"], tmp_path / "4", aliases=["auto"],
              directory=lab["LAB_CAPROXY_DIR"])
    assert p.returncode != 0 and "429" in p.stdout + p.stderr, p.stdout + p.stderr
    c = control(proxy, "GET", "/counters")
    assert c["certificates"] == 2
    assert c["rate_limited_by_limit"] == {"duplicate_sets": 1, "certificates_per_domain": 1}


def test_failed_authorizations_per_name(lab, proxy, tmp_path):
    control(proxy, "PATCH", "/config", {"limits": {
        "failed_authorizations_per_name": {"count": 1, "per_seconds": 300}}})
    client = new_account(lab["LAB_CAPROXY_DIR"], lab, tmp_path)
    name = "nocname.example.test"  # no challenge record: validation fails
    order = new_order(client, [name]).json()
    authz_url = order["authorizations"][0]
    authz = client.read(authz_url)
    chal = next(c for c in authz["challenges"] if c["type"] == "dns-01")
    client.post(chal["url"], {})
    deadline = time.monotonic() + 20
    while authz["status"] != "invalid":
        assert time.monotonic() < deadline, authz
        time.sleep(0.1)
        authz = client.read(authz_url)
    with pytest.raises(AcmeError) as e:
        new_order(client, [name])
    assert e.value.status == 429 and e.value.type == RATE_LIMITED
    assert "failed authorizations" in e.value.problem["detail"]
    # other names, and other accounts, are not held back
    assert new_order(client, [unique()]).status_code == 201
    other = new_account(lab["LAB_CAPROXY_DIR"], lab, tmp_path)
    assert new_order(other, [name]).status_code == 201


def test_backup_pebble_issues_from_other_roots(certfleet, lab, tmp_path):
    p = issue(certfleet, lab, ["www.example.test"], tmp_path,
              aliases=[f"www.example.test.{RFC}"], directory=lab["LAB_BACKUP_ACME_DIR"])
    assert p.returncode == 0, p.stdout + p.stderr
    backup_root = root_pem(lab["LAB_BACKUP_ACME_MGMT"], lab["LAB_ACME_TLS_CA"])
    primary_root = root_pem(lab["LAB_ACME_MGMT"], lab["LAB_ACME_TLS_CA"])
    assert backup_root != primary_root

    def verify(root):
        f = tmp_path / "root.pem"
        f.write_text(root)
        return subprocess.run(["openssl", "verify", "-CAfile", str(f), "-untrusted",
                               str(tmp_path / "chain.pem"), str(tmp_path / "cert.pem")],
                              capture_output=True, text=True).returncode

    assert verify(backup_root) == 0
    assert verify(primary_root) != 0


def test_authz_reuse_pebble_hands_back_a_valid_authorization(certfleet, lab, tmp_path):
    acct = tmp_path / "acct.pem"
    p = issue(certfleet, lab, ["www.example.test"], tmp_path,
              aliases=[f"www.example.test.{RFC}"], directory=lab["LAB_REUSE_ACME_DIR"],
              extra=["--account-key", str(acct)])
    assert p.returncode == 0, p.stdout + p.stderr
    client = AcmeReader(lab["LAB_REUSE_ACME_DIR"], lab["LAB_ACME_TLS_CA"], str(acct))
    client.find_account()
    order = new_order(client, ["www.example.test"]).json()
    assert order["status"] == "ready", order
    authz = client.read(order["authorizations"][0])
    assert authz["status"] == "valid"
