"""TLS and the transport of private keys: `serve` speaks HTTPS itself when given
CERTFLEET_TLS_CERT and CERTFLEET_TLS_KEY (libmicrohttpd on GnuTLS); over plain HTTP it
sends a private key only to clients whose address is in CERTFLEET_LOCAL_ADDRESSES (or
to anyone with CERTFLEET_ALLOW_PLAIN_KEYS=true). Here CERTFLEET_LOCAL_ADDRESSES is
127.0.0.1 alone, the plain serve listens on 0.0.0.0, and the "remote" client connects
from another loopback address, 127.89.0.20."""
import os
import shutil
import subprocess

import pytest
import requests

from hostlib import (HostsApi, Pki, TlsServe, seed_version, session_from, start_hosts_api,
                     tmpdir, write_token_file)
from service import Serve, clean_env, db_url, free_port, run  # noqa: F401 (fixture)

REMOTE = "127.89.0.20"  # another 127.x source address: not "local" for these serves
KEY_PARTS = ("bundle", "privkey.pem")


@pytest.fixture(scope="module")
def pki():
    return Pki()


@pytest.fixture
def tls_files(pki):
    d = tmpdir()
    try:
        yield pki.write_tls(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Setup:
    """One database, a plain serve on 0.0.0.0 and an HTTPS serve on 127.0.0.1, both
    with CERTFLEET_LOCAL_ADDRESSES=127.0.0.1; certificate "web" for host web-01."""

    def __init__(self, certfleet, db_url, lab, pki, tls, **extra):
        self.api, self.tls_serve = start_hosts_api(
            certfleet, db_url, tls=tls, CERTFLEET_LOCAL_ADDRESSES="127.0.0.1", **extra)
        self.api.bind_provider(lab)
        self.api.certificate("web", ["web-01"])
        self.v = seed_version(db_url, "web", pki)
        self.token = self.api.host_token("web-01")
        env = dict(self.api.env)
        env.pop("CERTFLEET_TLS_CERT")
        env.pop("CERTFLEET_TLS_KEY")
        self.plain = Serve(certfleet, env, listen_ip="127.0.0.1")
        self.plain.env["CERTFLEET_LISTEN"] = f"0.0.0.0:{self.plain.port}"
        self.plain.__enter__()
        self.ca = tls[2]

    def get(self, base, part, source=None, verify=None):
        s = session_from(source) if source else requests.Session()
        r = s.get(f"{base}/v1/certificates/web/{part}", timeout=10, verify=verify or True,
                  headers={"Authorization": f"Bearer {self.token}"})
        from openapi import check_response
        return check_response(r)

    def close(self):
        for s in (self.plain, self.tls_serve):
            s.__exit__(None, None, None)


@pytest.fixture
def setup(certfleet, db_url, lab, pki, tls_files):
    s = Setup(certfleet, db_url, lab, pki, tls_files)
    try:
        yield s
    finally:
        s.close()


def test_plain_http_refuses_keys_to_non_local_clients_https_sends_them(setup):
    plain, https = setup.plain.url, setup.tls_serve.url
    assert https.startswith("https://")
    for part in KEY_PARTS:
        r = setup.get(plain, part, source=REMOTE)
        assert r.status_code == 403, r.text
        p = r.json()
        assert p["type"].endswith("/tls-required")
        assert REMOTE in p["detail"] and "CERTFLEET_LOCAL_ADDRESSES" in p["detail"]
        assert "HTTPS" in p["detail"] and "PRIVATE KEY" not in r.text
        # the same request over HTTPS, from the same address
        r = setup.get(https, part, source=REMOTE, verify=setup.ca)
        assert r.status_code == 200, r.text
        assert (r.json()["private_key"] if part == "bundle" else r.text) == setup.v["key"]
    # what holds no key goes over plain HTTP to anyone
    r = setup.get(plain, "fullchain.pem", source=REMOTE)
    assert r.status_code == 200 and r.text == setup.v["cert"] + setup.v["chain"]
    # 127.0.0.1 is local: plain HTTP is fine there
    r = setup.get(plain, "privkey.pem", source="127.0.0.1")
    assert r.status_code == 200 and r.text == setup.v["key"]
    # the audit trail tells the transports apart
    rows = setup.api.sql("SELECT address, detail->>'tls' FROM audit_events WHERE action = "
                         "'certificate.fetch_key' ORDER BY id")
    assert rows == [(REMOTE, "true"), (REMOTE, "true"), ("127.0.0.1", "false")]


def test_allow_plain_keys(certfleet, db_url, lab, pki, tls_files):
    s = Setup(certfleet, db_url, lab, pki, tls_files)
    try:
        s.plain.stop()
        env = dict(s.plain.env, CERTFLEET_ALLOW_PLAIN_KEYS="true")
        env.pop("CERTFLEET_LISTEN")
        with Serve(certfleet, env) as plain:
            r = s.get(plain.url, "privkey.pem", source=REMOTE)
            assert r.status_code == 200 and r.text == s.v["key"]
    finally:
        s.close()


def test_agent_over_https(setup, certfleet):
    d = tmpdir()
    try:
        tf = write_token_file(d, setup.token)
        out = os.path.join(d, "tls")
        argv = [certfleet, "fetch", "--server", setup.tls_serve.url, "--token-file", tf,
                "--certificate", "web", "--out", out]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and "certificate" in p.stderr.lower()  # not trusted yet
        p = subprocess.run(argv + ["--ca-file", setup.ca], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 10, p.stdout + p.stderr
        with open(os.path.join(out, "privkey.pem")) as f:
            assert f.read() == setup.v["key"]
        p = subprocess.run(argv + ["--ca-file", setup.ca], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_plain_request_to_the_https_port_gets_nothing(setup):
    url = setup.tls_serve.url.replace("https://", "http://")
    try:
        r = requests.get(url + "/v1/certificates/web/privkey.pem", timeout=5,
                         headers={"Authorization": f"Bearer {setup.token}"})
        assert r.status_code >= 400 and setup.v["key"] not in r.text
    except requests.RequestException:
        pass  # the TLS listener closed the connection: nothing was sent


def serve_fails(certfleet, db_url, **settings):
    settings.setdefault("CERTFLEET_LISTEN", f"127.0.0.1:{free_port()}")
    run(certfleet, ["migrate"], clean_env(CERTFLEET_DATABASE_URL=db_url), check=True)
    env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_WORKERS=0, **settings)
    p = subprocess.run([certfleet, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    return p.stderr


def test_bad_settings_stop_serve_with_their_name(certfleet, db_url, tls_files, pki):
    cert, key, _ = tls_files
    assert "CERTFLEET_TLS_KEY" in serve_fails(certfleet, db_url, CERTFLEET_TLS_CERT=cert)
    assert "CERTFLEET_TLS_CERT" in serve_fails(certfleet, db_url, CERTFLEET_TLS_KEY=key)
    assert "CERTFLEET_TLS_KEY" in serve_fails(certfleet, db_url, CERTFLEET_TLS_CERT=cert,
                                              CERTFLEET_TLS_KEY="/nonexistent")
    # a key that is not the certificate's
    d = tmpdir()
    try:
        other = pki.write_tls(d)[1]
        err = serve_fails(certfleet, db_url, CERTFLEET_TLS_CERT=cert, CERTFLEET_TLS_KEY=other)
        assert "CERTFLEET_TLS" in err
    finally:
        shutil.rmtree(d, ignore_errors=True)
    for bad in ("10.0.0.1/8", "not-an-address", "127.0.0.1/33"):
        assert "CERTFLEET_LOCAL_ADDRESSES" in serve_fails(certfleet, db_url,
                                                         CERTFLEET_LOCAL_ADDRESSES=bad)
    assert "CERTFLEET_ALLOW_PLAIN_KEYS" in serve_fails(certfleet, db_url,
                                                      CERTFLEET_ALLOW_PLAIN_KEYS="yes")


def test_local_addresses_can_be_ipv6_and_ranges(certfleet, db_url, lab, pki, tls_files):
    """A range (127.89.0.0/24) makes REMOTE local; ::1 stays in the default."""
    s = Setup(certfleet, db_url, lab, pki, tls_files)
    try:
        s.plain.stop()
        env = dict(s.plain.env, CERTFLEET_LOCAL_ADDRESSES="::1, 127.89.0.0/24")
        env.pop("CERTFLEET_LISTEN")
        with Serve(certfleet, env) as plain:
            assert s.get(plain.url, "privkey.pem", source=REMOTE).status_code == 200
            assert s.get(plain.url, "privkey.pem", source="127.0.0.1").status_code == 403
    finally:
        s.close()
