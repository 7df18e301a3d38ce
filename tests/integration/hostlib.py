"""Helpers for the host tests (test_hosts*.py, test_fetch_agent.py, test_tls.py):

- `Pki`: a throwaway CA that signs leaf certificates (for seeded certificate versions)
  and the API's own TLS certificate;
- `seed_version`: stores a certificate version the way a worker does (PEMs, the key
  sealed with the test master key and the AAD "certificate_versions:<id>:<version>",
  the strong ETag over cert||chain) and makes it current, straight in the database;
- `HostsApi`: a serve (optionally HTTPS) with an admin token, providers,
  certificates and host tokens made over the API, every answer checked against
  api/openapi.yaml;
- `session_from`: a requests session whose connections leave from a given source
  address (127.x), to look like another client;
- `PgProxy`: a TCP relay in front of the lab's PostgreSQL that a test can cut, to make
  the database unreachable for one serve only.
"""
import base64
import datetime
import hashlib
import os
import select
import socket
import tempfile
import threading

import psycopg2
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from openapi import Api
from service import TEST_MASTER_KEY, Serve, clean_env, poll, run

PEM = serialization.Encoding.PEM


def key_pem(key):
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class Pki:
    """A CA with an intermediate; issues leaves for names or IP addresses."""

    def __init__(self, name="certfleet test"):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._cert(f"{name} root", self.root_key, self.root_key, None, ca=True)
        self.int_key = ec.generate_private_key(ec.SECP256R1())
        self.int = self._cert(f"{name} intermediate", self.int_key, self.root_key,
                              self.root, ca=True)

    @staticmethod
    def _cert(cn, key, signer, issuer, ca=False, sans=(), days=90):
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder().subject_name(subject)
             .issuer_name(issuer.subject if issuer else subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        return b.sign(signer, hashes.SHA256())

    def root_pem(self):
        return self.root.public_bytes(PEM).decode()

    def leaf(self, names=(), ips=(), days=90):
        """(cert PEM, chain PEM, key PEM, serial hex) of a new leaf."""
        import ipaddress
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i))
                                                   for i in ips]
        cert = self._cert((list(names) + list(ips))[0], key, self.int_key, self.int,
                          sans=sans, days=days)
        return (cert.public_bytes(PEM).decode(), self.int.public_bytes(PEM).decode(),
                key_pem(key), format(cert.serial_number, "x"))

    def write_tls(self, directory, ips=("127.0.0.1",)):
        """The API's certificate (fullchain) and key as files; returns (cert, key, ca)."""
        cert, chain, key, _ = self.leaf(ips=ips)
        paths = [os.path.join(directory, n) for n in ("tls-cert.pem", "tls-key.pem", "ca.pem")]
        for p, text in zip(paths, (cert + chain, key, self.root_pem())):
            with open(p, "w") as f:
                f.write(text)
        os.chmod(paths[1], 0o600)
        return paths


def seal(plain, aad):
    """AES-256-GCM with the test master key: 0x01 || nonce || ciphertext || tag."""
    nonce = os.urandom(12)
    ct = AESGCM(base64.b64decode(TEST_MASTER_KEY)).encrypt(nonce, plain.encode(), aad.encode())
    return b"\x01" + nonce + ct


def etag_of(cert_pem, chain_pem):
    return '"' + hashlib.sha256((cert_pem + chain_pem).encode()).hexdigest() + '"'


def seed_version(db_url, cert_id, pki, names=("example.test",), chain_extra=""):
    """Stores a new version of cert_id (issued by pki) and makes it current.
    Returns {"version", "cert", "chain", "key", "serial", "etag"}."""
    cert, chain, key, serial = pki.leaf(names=names)
    chain += chain_extra
    with psycopg2.connect(db_url) as c, c.cursor() as cur:
        cur.execute("SELECT 1 FROM certificates WHERE id = %s FOR UPDATE", (cert_id,))
        cur.execute("SELECT coalesce(max(version), 0) + 1 FROM certificate_versions "
                    "WHERE certificate_id = %s", (cert_id,))
        version = cur.fetchone()[0]
        leaf = x509.load_pem_x509_certificate(cert.encode())
        cur.execute(
            "INSERT INTO certificate_versions (certificate_id, version, serial, not_before, "
            "not_after, cert_pem, chain_pem, key_sealed, etag) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (cert_id, version, serial, leaf.not_valid_before.replace(tzinfo=datetime.timezone.utc),
             leaf.not_valid_after.replace(tzinfo=datetime.timezone.utc),
             cert, chain, seal(key, f"certificate_versions:{cert_id}:{version}"),
             etag_of(cert, chain)))
        cur.execute("UPDATE certificates SET current_version = %s, status = 'valid' "
                    "WHERE id = %s", (version, cert_id))
    c.close()
    return {"version": version, "cert": cert, "chain": chain, "key": key, "serial": serial,
            "etag": etag_of(cert, chain)}


class SourceAddressAdapter(HTTPAdapter):
    def __init__(self, source, **kw):
        self.source = source
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kw)


def session_from(source):
    s = requests.Session()
    a = SourceAddressAdapter(source)
    s.mount("http://", a)
    s.mount("https://", a)
    return s


class TlsServe(Serve):
    """A serve that speaks HTTPS (CERTFLEET_TLS_CERT/KEY in env); ca: the PEM to trust."""

    def __init__(self, certfleet, env, ca, listen_ip="127.0.0.1"):
        super().__init__(certfleet, env, listen_ip=listen_ip)
        self.url = f"https://{listen_ip}:{self.port}"
        self.ca = ca

    def _alive_and_up(self):
        if self.proc.poll() is not None:
            pytest.fail(f"serve exited {self.proc.returncode}: {self.output()}")
        return requests.get(self.url + "/healthz", timeout=2, verify=self.ca).status_code == 200

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 10)
        kw.setdefault("verify", self.ca)
        return requests.request(method, self.url + path, **kw)


class HostsApi(Api):
    """Api plus what the host tests make over it."""

    def bind_provider(self, lab, name="lab-bind"):
        r = self.post("/v1/providers", json={"name": name, "type": "rfc2136", "settings": {
            "server": lab["LAB_BIND"], "tsig_name": lab["LAB_TSIG_NAME"],
            "tsig_algorithm": lab["LAB_TSIG_ALG"], "tsig_secret": lab["LAB_TSIG_SECRET"]}})
        assert r.status_code == 201, r.text

    def certificate(self, cid, hosts, admin_keys=False, provider="lab-bind",
                    domains=("example.test",)):
        """Creates a certificate (admin token); a key for both hosts and admins is
        granted as an operator must: admin_keys by the keys token afterwards."""
        both = bool(hosts) and admin_keys
        r = self.post("/v1/certificates", json={
            "id": cid, "domains": list(domains), "provider": provider, "hosts": list(hosts),
            "admin_keys": admin_keys and not both})
        assert r.status_code == 201, r.text
        if both:
            p = self.patch(f"/v1/certificates/{cid}", json={"admin_keys": True},
                           token=self.keys_token)
            assert p.status_code == 200, p.text
        return r.json()

    def host_token(self, name, **extra):
        """A new host token, made by the keys token (the only role that may)."""
        r = self.post("/v1/tokens", json={"name": name, "role": "host", **extra},
                      token=self.keys_token)
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def fetch(self, cid, part="bundle", token="default", **kw):
        return self.get(f"/v1/certificates/{cid}/{part}", token=token, **kw)


def start_hosts_api(certfleet, db_url, tls=None, **settings):
    """Migrates db_url, makes an admin token, starts serve (HTTPS when tls is
    (cert, key, ca)); returns (HostsApi, serve). The caller stops the serve."""
    env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_WORKERS=0,
                    CERTFLEET_LOG_LEVEL="debug", **settings)
    if tls:
        env["CERTFLEET_TLS_CERT"], env["CERTFLEET_TLS_KEY"] = tls[0], tls[1]
    run(certfleet, ["migrate"], env, check=True)
    token = run(certfleet, ["token", "create", "--role", "admin", "--name", "test-admin"], env,
                check=True).stdout.strip()
    keys = run(certfleet, ["token", "create", "--role", "keys", "--name", "test-keys"], env,
               check=True).stdout.strip()
    serve = (TlsServe(certfleet, env, tls[2]) if tls else Serve(certfleet, env)).__enter__()
    # the cache keeps entries only once its LISTEN connection is up (and drops all
    # when it connects): tests that count cache loads start after that
    try:
        wait_log(serve, "cache.listening")
    except BaseException:
        serve.__exit__(None, None, None)
        raise
    api = HostsApi(serve, token, db_url, env)
    api.keys_token = keys
    return api, serve


def log_lines(serve, event, text=""):
    """The log lines of serve with this event (and containing text)."""
    return [line for line in serve.output().splitlines()
            if f'"event":"{event}"' in line and text in line]


def wait_log(serve, event, text="", count=1, timeout=10):
    """Waits until serve has logged at least count lines of event containing text."""
    return poll(lambda: len(log_lines(serve, event, text)) >= count, timeout=timeout,
                what=f"{count} log line(s) {event} {text}")


class PgProxy:
    """A TCP relay from 127.0.0.1:<port> to PostgreSQL; cut() drops every connection
    and refuses new ones until restore()."""

    def __init__(self, target_host, target_port=5432):
        self.target = (target_host, target_port)
        self.port = None
        self.lsock = None
        self.conns = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._listen()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _listen(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port or 0))
        s.listen(64)
        s.settimeout(0.1)
        self.port = s.getsockname()[1]
        self.lsock = s

    def url(self, dbname):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _accept_loop(self):
        while not self.stop.is_set():
            s = self.lsock
            if s is None:
                self.stop.wait(0.05)
                continue
            try:
                client, _ = s.accept()
            except (socket.timeout, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                r, _, _ = select.select([src], [], [], 0.5)
                if not r:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        s, self.lsock = self.lsock, None
        if s is not None:
            s.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
                except OSError:
                    pass
            self.conns = []

    def restore(self):
        self._listen()

    def close(self):
        self.stop.set()
        self.cut()


def write_token_file(directory, token, name="token"):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


def tmpdir():
    return tempfile.mkdtemp(prefix="certfleet-hosts-")
