"""A small ACME client of the tests' own, to check what certfleet did from the CA's
side with code that shares nothing with certfleet's: look an account up by its key
(onlyReturnExisting), read any object by POST-as-GET (an authorization after a
failed order: was it deactivated?), and ask Pebble's management port for the
revocation status of a serial and for its roots.

Keys: PEM files as certfleet writes them (P-256 ES256, or RSA RS256). Pebble rejects
a share of good nonces (badNonce): every request is retried with the nonce of the
error response, as RFC 8555 section 6.5 has it.
"""
import base64
import json

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

HTTP_TIMEOUT = 10.0
BAD_NONCE = "urn:ietf:params:acme:error:badNonce"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AcmeError(Exception):
    def __init__(self, response):
        self.status = response.status_code
        self.headers = response.headers
        try:
            self.problem = response.json()
        except ValueError:
            self.problem = {"detail": response.text[:200]}
        super().__init__(f"HTTP {self.status}: {self.problem}")

    @property
    def type(self):
        return self.problem.get("type", "")


class AcmeReader:
    """One account key at one CA."""

    def __init__(self, directory_url, ca_file, key_file):
        self.ca_file = ca_file
        self.directory = self._get(directory_url).json()
        self.key = serialization.load_pem_private_key(open(key_file, "rb").read(), None)
        self.kid = None
        self.nonce = None

    def _get(self, url):
        r = requests.get(url, verify=self.ca_file, timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return r

    def _jwk(self):
        pub = self.key.public_key()
        if isinstance(pub, ec.EllipticCurvePublicKey):
            n = pub.public_numbers()
            size = (pub.curve.key_size + 7) // 8
            return {"kty": "EC", "crv": {256: "P-256", 384: "P-384"}[pub.curve.key_size],
                    "x": b64url(n.x.to_bytes(size, "big")), "y": b64url(n.y.to_bytes(size, "big"))}
        n = pub.public_numbers()
        return {"kty": "RSA", "e": b64url(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")),
                "n": b64url(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big"))}

    def _alg(self):
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return {256: "ES256", 384: "ES384"}[self.key.curve.key_size]
        return "RS256"

    def _sign(self, data):
        """The JWS signature: r||s for ECDSA (RFC 7518 section 3.4), not DER."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            size = (self.key.curve.key_size + 7) // 8
            h = {256: hashes.SHA256(), 384: hashes.SHA384()}[self.key.curve.key_size]
            r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(h)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        assert isinstance(self.key, rsa.RSAPrivateKey)
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def _fresh_nonce(self):
        r = requests.head(self.directory["newNonce"], verify=self.ca_file, timeout=HTTP_TIMEOUT)
        return r.headers["Replay-Nonce"]

    def post(self, url, payload=None, use_jwk=False):
        """A signed POST (payload None: POST-as-GET). Returns the response; raises
        AcmeError on an error status other than badNonce (retried)."""
        body = b"" if payload is None else json.dumps(payload).encode()
        for _ in range(20):
            nonce = self.nonce or self._fresh_nonce()
            self.nonce = None
            protected = {"alg": self._alg(), "nonce": nonce, "url": url}
            if use_jwk:
                protected["jwk"] = self._jwk()
            else:
                protected["kid"] = self.kid
            p64, b64 = b64url(json.dumps(protected).encode()), b64url(body)
            sig = self._sign(f"{p64}.{b64}".encode())
            r = requests.post(url, data=json.dumps({"protected": p64, "payload": b64,
                                                    "signature": b64url(sig)}),
                              headers={"Content-Type": "application/jose+json"},
                              verify=self.ca_file, timeout=HTTP_TIMEOUT)
            self.nonce = r.headers.get("Replay-Nonce")
            if r.status_code < 400:
                return r
            err = AcmeError(r)
            if err.type != BAD_NONCE:
                raise err
        raise RuntimeError(f"POST {url}: badNonce 20 times")

    def find_account(self):
        """The account URL of the key (onlyReturnExisting); raises AcmeError
        (accountDoesNotExist) when it has none."""
        r = self.post(self.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
        self.kid = r.headers["Location"]
        return self.kid

    def read(self, url):
        """An object (authorization, order, account) by POST-as-GET, as JSON."""
        if self.kid is None:
            self.find_account()
        return self.post(url).json()


# --- Pebble's management port -----------------------------------------------------------

def cert_status(mgmt_url, ca_file, cert_pem):
    """Pebble's record of a certificate: {"Status": "Valid"|"Revoked", "Serial",
    "Reason" (when revoked with one), "RevokedAt"}. GET /cert-status-by-serial/<hex>."""
    serial = x509.load_pem_x509_certificate(cert_pem.encode()).serial_number
    r = requests.get(f"{mgmt_url}/cert-status-by-serial/{serial:x}", verify=ca_file,
                     timeout=HTTP_TIMEOUT)
    r.raise_for_status()
    return r.json()


def root_pem(mgmt_url, ca_file, n=0):
    """PEM of Pebble's root number n (1.. are the alternate roots)."""
    r = requests.get(f"{mgmt_url}/roots/{n}", verify=ca_file, timeout=HTTP_TIMEOUT)
    r.raise_for_status()
    return r.text


def common_name(pem_or_cert, issuer=False):
    cert = pem_or_cert if isinstance(pem_or_cert, x509.Certificate) else \
        x509.load_pem_x509_certificate(pem_or_cert.encode())
    name = cert.issuer if issuer else cert.subject
    return name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def public_der(key_file):
    """SubjectPublicKeyInfo DER of the private key in key_file (to compare keys)."""
    key = serialization.load_pem_private_key(open(key_file, "rb").read(), None)
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
