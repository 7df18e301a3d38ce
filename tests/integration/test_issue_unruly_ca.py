"""`certfleet issue` against a CA that says no: a Pebble of its own that rejects 60%
of good nonces (badNonce), where every issuance must still succeed because badNonce
is retried for a bounded time (30 s per request), not a small fixed count; and a
profile asked of a CA whose directory offers none, refused before any order; and
a Pebble that reuses valid authorizations (PEBBLE_AUTHZREUSE=100), where the
second issuance of the same names touches no DNS at all.

Each Pebble is started here (not by tests/lab/lab) on the lab's ACME address at
free ports, with the lab's TLS certificate (its SANs name that address), the
lab's Unbound as its DNS server and PEBBLE_VA_NOSLEEP=1, plus its own knobs
(no other PEBBLE_* variable reaches it); it is stopped after the module."""
import contextlib
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

import labdns
from issuance import bind_log_size, bind_max_live, check_certificate, issue

RFC = "rfc-alias.test"
RUNS = 5
HTTP_LINE = "   http "
STEP = re.compile(r"^\[\s*[\d.]+s\]\s+(\S+)")


def steps(stdout):
    """The step names in order, from the printed timeline."""
    return [m.group(1) for m in map(STEP.match, stdout.splitlines())
            if m and m.group(1) != "http"]


def _free_port(ip):
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _pebble(lab, d, **env_vars):
    """A Pebble of its own on the lab's ACME address (free ports, the lab's TLS
    certificate, the lab's Unbound), with env_vars; yields a lab dict pointing at
    it, and stops it after."""
    ip = urlsplit(lab["LAB_ACME_DIR"]).hostname
    tls = Path(lab["LAB_DIR"]) / "pebble"
    acme, mgmt = _free_port(ip), _free_port(ip)
    while mgmt == acme:
        mgmt = _free_port(ip)
    (d / "config.json").write_text(json.dumps({"pebble": {
        "listenAddress": f"{ip}:{acme}", "managementListenAddress": f"{ip}:{mgmt}",
        "certificate": str(tls / "cert.pem"), "privateKey": str(tls / "key.pem"),
        "httpPort": 5002, "tlsPort": 5001, "ocspResponderURL": "",
        "externalAccountBindingRequired": False}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    env.update(PEBBLE_VA_NOSLEEP="1", **env_vars)
    log = open(d / "log", "wb")
    proc = subprocess.Popen(["pebble", "-config", str(d / "config.json"),
                             "-dnsserver", f"{lab['LAB_RESOLVER']}:53"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    here = dict(lab, LAB_ACME_DIR=f"https://{ip}:{acme}/dir",
                LAB_ACME_MGMT=f"https://{ip}:{mgmt}")
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (d / "log").read_text()
            try:
                requests.get(here["LAB_ACME_DIR"], verify=lab["LAB_ACME_TLS_CA"],
                             timeout=2).raise_for_status()
                labdns.pebble_root(here)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "pebble did not start: " + \
                    (d / "log").read_text()
                time.sleep(0.1)
        yield here
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def unruly_pebble(lab, tmp_path_factory):
    """Rejects 60% of good nonces."""
    with _pebble(lab, tmp_path_factory.mktemp("pebble-nonce"),
                 PEBBLE_WFE_NONCEREJECT="60") as here:
        yield here


@pytest.fixture(scope="module")
def reuse_pebble(lab, tmp_path_factory):
    """Reuses every valid authorization of an account (and rejects no nonce)."""
    with _pebble(lab, tmp_path_factory.mktemp("pebble-reuse"),
                 PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="100") as here:
        yield here


def _bad_nonces(stdout):
    """How many requests were answered 400 (Pebble's badNonce) in a --verbose run."""
    return sum(1 for line in stdout.splitlines()
               if HTTP_LINE in line and " POST 400 " in line)


@pytest.fixture
def no_leftovers(lab):
    targets = []
    yield targets
    for t in targets:
        assert labdns.txt(lab["LAB_BIND"], t) == [], f"TXT left at {t}"


@pytest.mark.parametrize("names,target", [
    (["www.example.test"], f"www.example.test.{RFC}"),
    (["*.example.test", "example.test"], f"example.test.{RFC}"),
], ids=["one-name", "wildcard-and-apex"])
def test_issue_succeeds_with_60_percent_bad_nonces(certfleet, unruly_pebble, tmp_path,
                                                   no_leftovers, names, target):
    no_leftovers.append(target)
    rejected = 0
    for run in range(RUNS):
        out = tmp_path / f"run{run}"
        p = issue(certfleet, unruly_pebble, names, out, aliases=[target],
                  directory=unruly_pebble["LAB_ACME_DIR"])
        assert p.returncode == 0, f"run {run}: " + p.stdout + p.stderr
        check_certificate(unruly_pebble, out, names)
        rejected += _bad_nonces(p.stdout)
    # the CA really was unruly: with 60% rejected, a run sees several
    assert rejected >= RUNS, f"only {rejected} badNonce answers in {RUNS} runs"


def test_reused_authorizations_skip_dns(certfleet, reuse_pebble, tmp_path, no_leftovers):
    """The second order of the same account for the same names finds every
    authorization valid: no TXT is written, no propagation wait, no challenge."""
    target = f"example.test.{RFC}"
    names = ["*.example.test", "example.test"]
    no_leftovers.append(target)
    key = ["--account-key", str(tmp_path / "acct.pem")]
    first = issue(certfleet, reuse_pebble, names, tmp_path / "a", aliases=[target],
                  directory=reuse_pebble["LAB_ACME_DIR"], extra=key)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "present" in steps(first.stdout)
    mark = bind_log_size(reuse_pebble)
    second = issue(certfleet, reuse_pebble, names, tmp_path / "b", aliases=[target],
                   directory=reuse_pebble["LAB_ACME_DIR"], extra=key)
    assert second.returncode == 0, second.stdout + second.stderr
    check_certificate(reuse_pebble, tmp_path / "b", names)
    s = steps(second.stdout)
    for name in ["present", "propagate", "respond", "cleanup"]:
        assert name not in s, f"step {name} with reused authorizations: {second.stdout}"
    assert s.index("order") < s.index("finalize")
    http = [line for line in second.stdout.splitlines() if HTTP_LINE in line]
    assert not any(" challenge " in line for line in http), "a challenge was answered"
    assert bind_max_live(reuse_pebble, target, mark) == 0, "a TXT value was written"


def test_profile_refused_when_the_ca_offers_none(certfleet, lab, tmp_path):
    p = issue(certfleet, lab, ["www.example.test"], tmp_path,
              aliases=[f"www.example.test.{RFC}"], extra=["--profile", "tlsserver"])
    assert p.returncode == 1, p.stdout + p.stderr
    assert 'profile "tlsserver": the CA\'s directory offers no profiles' in p.stderr
    http = [line for line in p.stdout.splitlines() if HTTP_LINE in line]
    assert not any(" newOrder " in line for line in http), "ordered anyway"
    assert not (tmp_path / "cert.pem").exists()


def test_empty_profile_is_a_usage_error(certfleet, lab, tmp_path):
    p = issue(certfleet, lab, ["www.example.test"], tmp_path, extra=["--profile", ""])
    assert p.returncode == 2
    assert "--profile: empty name" in p.stderr
