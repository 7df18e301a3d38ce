"""Helpers for the worker tests: a database with an admin token and any number of
`serve` processes with workers pointed at the lab (the `fleet` fixture), providers
and certificates made over the API, waits on job states, the job timelines, the
TXT values live at a name (BIND and dns_records at once), and the check of a stored
certificate version: it chains to Pebble's root, names exactly the domains, and its
sealed key opens with the test master key and matches it."""
import base64
import hashlib
import socket
import subprocess
import tempfile
import threading
import time

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import psycopg2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import labdns
from openapi import Api
from service import TEST_MASTER_KEY, Serve, clean_env, run

RFC = "rfc-alias.test"
FINAL = ("issued", "failed")


def bind_settings(lab, secret=None):
    return {"server": lab["LAB_BIND"], "tsig_name": lab["LAB_TSIG_NAME"],
            "tsig_algorithm": lab["LAB_TSIG_ALG"],
            "tsig_secret": secret or lab["LAB_TSIG_SECRET"]}


class Fleet:
    """One database (migrated, with an admin token) and the serve processes on it."""

    def __init__(self, certfleet, lab, db_url):
        self.certfleet, self.lab, self.db_url = certfleet, lab, db_url
        self.base = clean_env(
            CERTFLEET_DATABASE_URL=db_url, CERTFLEET_ACME_DIRECTORY=lab["LAB_ACME_DIR"],
            CERTFLEET_ACME_CA_FILE=lab["LAB_ACME_TLS_CA"],
            CERTFLEET_RESOLVERS=lab["LAB_RESOLVER"], CERTFLEET_ACME_EMAIL="ops@example.test",
            CERTFLEET_LEASE_SECONDS=10, CERTFLEET_POLL_SECONDS=2,
            CERTFLEET_RETRY_MAX_SECONDS=3, CERTFLEET_LOG_LEVEL="debug")
        run(certfleet, ["migrate"], self.base, check=True)
        self.token = run(certfleet, ["token", "create", "--role", "admin", "--name", "admin"],
                         self.base, check=True).stdout.strip()
        self.serves = []
        self.api = None

    def start(self, **settings):
        """Starts one more serve with the base settings plus these; returns it."""
        env = dict(self.base)
        env.update({k: str(v) for k, v in settings.items()})
        s = Serve(self.certfleet, env).__enter__()
        self.serves.append(s)
        if self.api is None:
            self.api = Api(s, self.token, self.db_url, env)
        return s

    def close(self):
        """Stops every serve; a sanitizer report in any log fails the test."""
        reports = []
        for s in self.serves:
            if s.proc.poll() is None:
                s.stop()
            out = s.output()
            s.__exit__(None, None, None)  # closes and removes the log
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                if marker in out:
                    reports.append(out[out.index(marker) - 200:][:4000])
        assert not reports, "sanitizer report:\n" + "\n".join(reports)

    def sql(self, query, args=()):
        with psycopg2.connect(self.db_url) as c, c.cursor() as cur:
            cur.execute(query, args)
            rows = cur.fetchall() if cur.description else []
        c.close()
        return rows

    # ---- API ----
    def provider(self, name="lab-bind", secret=None):
        r = self.api.post("/v1/providers", json={"name": name, "type": "rfc2136",
                                                 "settings": bind_settings(self.lab, secret)})
        assert r.status_code == 201, r.text

    def certificate(self, cid, domains, alias, provider="lab-bind", key_type="ec256"):
        """Creates a certificate; returns the id of its first job."""
        r = self.api.post("/v1/certificates", json={
            "id": cid, "domains": domains, "dns_alias": alias, "provider": provider,
            "key_type": key_type, "hosts": []})
        assert r.status_code == 201, r.text
        return r.json()["job"]["id"]

    # ---- jobs ----
    def job(self, job_id):
        rows = self.sql("SELECT state, step, attempt, failures, order_url, problem, "
                        "data::text, certificate_id FROM jobs WHERE id = %s", (job_id,))
        keys = ("state", "step", "attempt", "failures", "order_url", "problem", "data",
                "certificate")
        return dict(zip(keys, rows[0])) if rows else None

    def events(self, job_id):
        return self.sql("SELECT attempt, step, message, problem, duration_ms FROM job_events "
                        "WHERE job_id = %s ORDER BY id", (job_id,))

    def wait(self, job_ids, states=FINAL, timeout=120):
        """Waits until every job is in one of states; returns {id: state}."""
        deadline = time.monotonic() + timeout
        while True:
            rows = dict(self.sql("SELECT id::text, state FROM jobs WHERE id = ANY(%s::uuid[])",
                                 (list(job_ids),)))
            if all(rows.get(j) in states for j in job_ids):
                return rows
            if time.monotonic() > deadline:
                pytest.fail(f"jobs not {states} after {timeout} s: {rows}\n" + self.logs())
            time.sleep(0.1)

    def timeline(self, *job_ids):
        """The events of jobs as text, for assertion messages."""
        return "\n".join(f"{j[:8]} {a} {st:<14} {m} {p or ''}" for j in job_ids
                         for a, st, m, p, _ in self.events(j))

    def wait_event(self, job_id, pred, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events(job_id):
                if pred(e):
                    return e
            time.sleep(0.05)
        pytest.fail(f"no such event of job {job_id}: {self.events(job_id)}\n" + self.logs())

    def logs(self):
        return "\n".join(s.output()[-4000:] for s in self.serves)

    def live_values(self, fqdn):
        (n,), = self.sql("SELECT count(*) FROM dns_records WHERE fqdn = %s "
                         "AND state IN ('pending','present')", (fqdn,))
        return n


@pytest.fixture
def fleet(certfleet, lab, db_url):
    f = Fleet(certfleet, lab, db_url)
    try:
        yield f
    finally:
        f.close()


def new_orders(events):
    return [e for e in events if e[1] == "order" and e[2].startswith("newOrder ")]


def open_sealed(blob, aad):
    """Opens a sealed blob (0x01 || nonce || ciphertext || tag) with the test key."""
    assert blob[0] == 1
    return AESGCM(base64.b64decode(TEST_MASTER_KEY)).decrypt(blob[1:13], blob[13:], aad.encode())


def pem_of(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def check_version(fleet, cert_id, names, version=1):
    """Checks the stored version: real certificate for exactly names, chained to
    Pebble's root, sealed key opens (AAD bound to the row) and matches it."""
    rows = fleet.sql("SELECT cert_pem, chain_pem, key_sealed, etag, serial, issuer_cn "
                     "FROM certificate_versions WHERE certificate_id = %s AND version = %s",
                     (cert_id, version))
    assert rows, f"no version {version} of {cert_id}"
    cert_pem, chain_pem, sealed, etag, serial, issuer = rows[0]
    leaf = x509.load_pem_x509_certificate(cert_pem.encode())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(sans.value.get_values_for_type(x509.DNSName)) == sorted(names)
    assert int(serial, 16) == leaf.serial_number
    key_pem = open_sealed(bytes(sealed), f"certificate_versions:{cert_id}:{version}")
    key = serialization.load_pem_private_key(key_pem, None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    assert key.public_key().public_bytes(der, spki) == leaf.public_key().public_bytes(der, spki)
    assert etag == '"' + hashlib.sha256((cert_pem + chain_pem).encode()).hexdigest() + '"'
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as root, \
            tempfile.NamedTemporaryFile("w", suffix=".pem") as chain, \
            tempfile.NamedTemporaryFile("w", suffix=".pem") as c:
        root.write(labdns.pebble_root(fleet.lab))
        chain.write(chain_pem)
        c.write(cert_pem)
        for f in (root, chain, c):
            f.flush()
        v = subprocess.run(["openssl", "verify", "-CAfile", root.name, "-untrusted",
                            chain.name, c.name], capture_output=True, text=True)
    assert v.returncode == 0, f"does not chain to Pebble's root: {v.stdout}{v.stderr}"
    return leaf, key


class LiveWatcher:
    """Polls, in a thread, the TXT values at fqdn on BIND and the live dns_records
    rows for it; keeps the largest count of each seen at one moment."""

    def __init__(self, fleet, fqdn):
        self.fleet, self.fqdn = fleet, fqdn
        self.max_dns = self.max_rows = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        conn = psycopg2.connect(self.fleet.db_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not self._stop.is_set():
                try:
                    n = len(labdns.txt(self.fleet.lab["LAB_BIND"], self.fqdn))
                except Exception:  # noqa: BLE001 (a lost UDP packet is not a finding)
                    n = 0
                cur.execute("SELECT count(*) FROM dns_records WHERE fqdn = %s "
                            "AND state IN ('pending','present')", (self.fqdn,))
                self.max_dns = max(self.max_dns, n)
                self.max_rows = max(self.max_rows, cur.fetchone()[0])
                self.samples += 1
                time.sleep(0.003)
        conn.close()

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


class LyingResolver:
    """A UDP resolver on 127.0.0.1 that answers every query for the names in lies
    with a CNAME to lies[name], and forwards everything else to upstream: the
    service's view of DNS then differs from the CA's (which asks the lab's Unbound),
    so a preflight passes for a challenge the CA will find no value for."""

    def __init__(self, upstream, lies):
        self.upstream = upstream
        self.lies = {dns.name.from_text(k): dns.name.from_text(v) for k, v in lies.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _answer(self, wire):
        q = dns.message.from_wire(wire)
        name = q.question[0].name
        if name not in self.lies:
            return dns.query.udp(q, self.upstream, timeout=2).to_wire()
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", self.lies[name].to_text()))
        return r.to_wire()

    def _run(self):
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
                self.sock.sendto(self._answer(wire), peer)
            except (socket.timeout, OSError, dns.exception.DNSException):
                continue

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.sock.close()
