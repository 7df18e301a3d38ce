"""A renewalInfo server (RFC 9773, ACME Renewal Information) in front of the lab's
Pebble, which has no ARI of its own (Pebble 2.4).

It serves HTTPS on 127.0.0.1 with a certificate from the lab's TLS CA (so
certfleet trusts it with the same CERTFLEET_ACME_CA_FILE as Pebble), and:

  GET  /dir                       Pebble's directory, plus "renewalInfo": its own
                                  /renewal-info URL
  GET  /renewal-info/<certID>     {"suggestedWindow": {"start", "end"}} with a
                                  Retry-After header: the window set for that
                                  certID with set_window(), else a default one far
                                  in the future; every look-up is recorded
                                  (lookups: [(certID, monotonic time)])
  anything else                   proxied to Pebble as it came (method, path, body,
                                  Content-Type), with the Host header kept: Pebble
                                  builds its URLs and checks the JWS "url" from the
                                  Host it was asked for, so every URL it hands out
                                  points back here and every signature verifies

Every newOrder request that Pebble accepts (201) is decoded (the JWS payload,
base64url JSON) and recorded (new_orders: [payload dict]), so a test can see the
"replaces" a renewal sent; one that Pebble refused (a badNonce, which the client
sends again) is recorded only in all_new_orders ([(status, payload)]).

Use in a test:
    with AriProxy(lab) as ari:
        ... ari.directory ...
        ari.set_window(cert_id, start, end, retry_after=2)
        ari.lookups, ari.new_orders
"""

import base64
import datetime
import http.server
import ipaddress
import json
import os
import ssl
import tempfile
import threading
import time
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UPSTREAM_TIMEOUT = 30


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rfc3339(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def ari_cert_id(cert_pem):
    """RFC 9773 certID of a PEM certificate: base64url(AKI keyIdentifier) "."
    base64url(DER content octets of the serial), without padding."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode() if isinstance(cert_pem, str)
                                          else cert_pem)
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    serial = cert.serial_number
    raw = serial.to_bytes((serial.bit_length() + 7) // 8 or 1, "big")
    if raw[0] & 0x80:
        raw = b"\0" + raw  # DER: a positive INTEGER keeps a leading zero

    def enc(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    return f"{enc(aki.key_identifier)}.{enc(raw)}"


def _server_cert(lab, directory):
    """A key and certificate for IP:127.0.0.1 signed by the lab's TLS CA."""
    ca_dir = Path(lab["LAB_DIR"]) / "pebble"
    ca_key = serialization.load_pem_private_key((ca_dir / "tls-ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((ca_dir / "tls-ca.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ari-proxy")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file = os.path.join(directory, "ari.pem")
    key_file = os.path.join(directory, "ari.key")
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_file, key_file


class AriProxy:
    def __init__(self, lab, retry_after=2):
        self.lab = lab
        self.upstream = lab["LAB_ACME_DIR"].rsplit("/", 1)[0]  # https://NET.5:14000
        self.ca_file = lab["LAB_ACME_TLS_CA"]
        self.default_retry_after = retry_after
        self.windows = {}      # certID -> (start, end, retry_after)
        self.lookups = []      # (certID, time.monotonic())
        self.new_orders = []   # decoded payloads of the newOrders Pebble accepted
        self.all_new_orders = []  # (HTTP status, payload) of every newOrder
        self.lock = threading.Lock()
        self._tmp = tempfile.mkdtemp(prefix="ari-proxy-")
        self._new_order_path = None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _send(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_GET(self):
                proxy._handle(self, "GET")

            def do_HEAD(self):
                proxy._handle(self, "HEAD")

            def do_POST(self):
                proxy._handle(self, "POST")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        cert_file, key_file = _server_cert(lab, self._tmp)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.directory = self.base + "/dir"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ---- what a test sets and reads ----
    def set_window(self, cert_id, start, end, retry_after=None):
        """The window (epoch seconds) served for cert_id from now on."""
        with self.lock:
            self.windows[cert_id] = (start, end, retry_after or self.default_retry_after)

    def lookups_of(self, cert_id):
        with self.lock:
            return [t for c, t in self.lookups if c == cert_id]

    # ---- serving ----
    def _handle(self, h, method):
        path = h.path.split("?", 1)[0]
        body = h._body() if method == "POST" else b""
        if method == "GET" and path == "/dir":
            return self._directory(h)
        if method == "GET" and path.startswith("/renewal-info/"):
            return self._renewal_info(h, path[len("/renewal-info/"):])
        status = self._forward(h, method, body)
        if method == "POST" and path == self._new_order_path:
            self._record_order(body, status)

    def _upstream(self, h, method, body=b""):
        headers = {"Host": h.headers.get("Host", self.base[len("https://"):])}
        for k in ("Content-Type", "Accept"):
            if h.headers.get(k):
                headers[k] = h.headers[k]
        return requests.request(method, self.upstream + h.path, data=body or None,
                                headers=headers, verify=self.ca_file, timeout=UPSTREAM_TIMEOUT,
                                allow_redirects=False)

    def _directory(self, h):
        r = self._upstream(h, "GET")
        d = r.json()
        d["renewalInfo"] = self.base + "/renewal-info"
        self._new_order_path = d["newOrder"].split("://", 1)[1].split("/", 1)[1]
        self._new_order_path = "/" + self._new_order_path
        h._send(200, json.dumps(d).encode(), [("Content-Type", "application/json")])

    def _renewal_info(self, h, cert_id):
        now = time.time()
        with self.lock:
            self.lookups.append((cert_id, time.monotonic()))
            start, end, retry = self.windows.get(
                cert_id, (now + 86400, now + 2 * 86400, self.default_retry_after))
        doc = {"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)}}
        h._send(200, json.dumps(doc).encode(), [("Content-Type", "application/json"),
                                                ("Retry-After", str(int(retry)))])

    def _record_order(self, body, status):
        try:
            payload = json.loads(_b64url_decode(json.loads(body)["payload"]))
        except (ValueError, KeyError, TypeError):
            payload = {"undecodable": body.decode(errors="replace")}
        with self.lock:
            self.all_new_orders.append((status, payload))
            if status == 201:
                self.new_orders.append(payload)

    def _forward(self, h, method, body):
        try:
            r = self._upstream(h, method, body)
        except requests.RequestException as e:
            h._send(502, str(e).encode())
            return 502
        headers = [(k, v) for k, v in r.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                        "content-encoding")]
        h._send(r.status_code, r.content if method != "HEAD" else b"", headers)
        return r.status_code

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        for f in Path(self._tmp).iterdir():
            f.unlink()
        os.rmdir(self._tmp)
