"""Process and transport hardening of `serve`:

- it is not dumpable (prctl PR_SET_DUMPABLE 0): no core file, and no process of the
  same user may ptrace it or read its memory or environment. Run as uid 65534, its
  /proc entries then belong to root, and uid 65534 itself cannot read its environ;
- the master key (and the webhook secret) are gone from its environment once read:
  /proc/PID/environ, which shows the initial environment block, holds no trace;
- HTTPS offers AEAD suites with ECDHE only: a client that offers only CBC suites, or
  only static-RSA key exchange, is refused; an ECDHE-GCM client gets through.

The compile-time hardening (PIE, full RELRO, stack protector, _FORTIFY_SOURCE) is
checked on the release binary by tests/tools/hardening (ctest).
"""
import os
import shutil
import subprocess

import pytest

from hostlib import Pki, TlsServe, tmpdir
from service import TEST_MASTER_KEY, Serve, clean_env, db_url, run  # noqa: F401

NOBODY = 65534
WEBHOOK_SECRET = "whsec-" + "7" * 40


def _read_as(uid, path):
    """Reads path in a child that runs as uid: the bytes, or None when refused."""
    code = ("import sys\ntry:\n    sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())\n"
            "except PermissionError:\n    sys.exit(13)\n")
    p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                        "/usr/bin/python3", "-c", code, path], capture_output=True)
    return None if p.returncode == 13 else p.stdout


def test_serve_is_not_dumpable_and_keeps_no_secret_in_its_environment(certfleet, db_url):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_WORKERS=0,
                    CERTFLEET_WEBHOOK_SECRET=WEBHOOK_SECRET)
    run(certfleet, ["migrate"], env, check=True)
    argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            certfleet, "serve"]
    with Serve(certfleet, env, argv=argv) as s:
        pid = s.proc.pid
        # setpriv exec'ed serve in place: the pid is serve's
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        assert f"Uid:\t{NOBODY}" in status, status
        with open(f"/proc/{pid}/limits") as f:
            core = [ln for ln in f if ln.startswith("Max core file size")][0].split()
        assert core[4:6] == ["0", "0"], core  # soft and hard limit
        # not dumpable: its /proc entries belong to root, and its own user cannot read
        # its environment (a dumpable process's user can)
        assert os.stat(f"/proc/{pid}/environ").st_uid == 0
        assert _read_as(NOBODY, f"/proc/{pid}/environ") is None
        with open(f"/proc/{pid}/environ", "rb") as f:  # as root
            environ = f.read()
        assert b"CERTFLEET_DATABASE_URL=" in environ  # the block is really this one
        assert TEST_MASTER_KEY.encode() not in environ
        assert TEST_MASTER_KEY[:12].encode() not in environ
        assert WEBHOOK_SECRET.encode() not in environ
        assert s.get("/healthz").status_code == 200  # and it works without them


def _s_client(url, *args):
    host_port = url.split("//", 1)[1]
    p = subprocess.run(["openssl", "s_client", "-connect", host_port, "-brief", *args],
                       input="", capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


@pytest.fixture
def tls_serve(certfleet, db_url):
    pki = Pki()
    d = tmpdir()
    try:
        cert, key, ca = pki.write_tls(d)
        env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_WORKERS=0,
                        CERTFLEET_TLS_CERT=cert, CERTFLEET_TLS_KEY=key)
        run(certfleet, ["migrate"], env, check=True)
        with TlsServe(certfleet, env, ca) as s:
            yield s
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_tls_refuses_cbc_and_static_rsa_suites(tls_serve):
    url = tls_serve.url
    rc, out = _s_client(url, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert rc == 0 and "ECDHE-ECDSA-AES128-GCM-SHA256" in out, out
    rc, out = _s_client(url, "-tls1_3")
    assert rc == 0, out
    for cbc in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
                "ECDHE-ECDSA-AES256-SHA384"):
        rc, out = _s_client(url, "-tls1_2", "-cipher", cbc)
        assert rc != 0, f"{cbc} (CBC) was accepted: {out}"


def _rsa_tls_files(d):
    """A self-signed RSA certificate for 127.0.0.1: (cert, key, ca) paths."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certfleet rsa test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    paths = [os.path.join(d, n) for n in ("rsa-cert.pem", "rsa-key.pem")]
    with open(paths[0], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(paths[1], 0o600)
    return paths[0], paths[1], paths[0]


def test_tls_with_an_rsa_key_refuses_static_rsa_and_cbc(certfleet, db_url):
    d = tmpdir()
    try:
        cert, key, ca = _rsa_tls_files(d)
        env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_WORKERS=0,
                        CERTFLEET_TLS_CERT=cert, CERTFLEET_TLS_KEY=key)
        run(certfleet, ["migrate"], env, check=True)
        with TlsServe(certfleet, env, ca) as s:
            rc, out = _s_client(s.url, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384")
            assert rc == 0 and "ECDHE-RSA-AES256-GCM-SHA384" in out, out
            for suite in ("AES128-GCM-SHA256", "AES256-GCM-SHA384",  # static RSA, AEAD
                          "AES128-SHA", "AES256-SHA256",             # static RSA, CBC
                          "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"):  # CBC
                rc, out = _s_client(s.url, "-tls1_2", "-cipher", suite)
                assert rc != 0, f"{suite} was accepted: {out}"
    finally:
        shutil.rmtree(d, ignore_errors=True)
