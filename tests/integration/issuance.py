"""Helpers for tests that issue certificates: run `certfleet issue` against the lab,
check a certificate for real (parses, exact SANs, chains to Pebble's root as served
by its management port, matches its key), and watch a TXT name while an issuance
runs, to see how many values were live at once."""
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import labdns


def rfc2136_args(lab, key="sha256"):
    if key == "sha512":
        name, alg, secret = lab["LAB_TSIG512_NAME"], "hmac-sha512", lab["LAB_TSIG512_SECRET"]
    else:
        name, alg, secret = lab["LAB_TSIG_NAME"], lab["LAB_TSIG_ALG"], lab["LAB_TSIG_SECRET"]
    return ["--provider", "rfc2136",
            "--provider-setting", f"server={lab['LAB_BIND']}",
            "--provider-setting", f"tsig_name={name}",
            "--provider-setting", f"tsig_algorithm={alg}",
            "--provider-setting", f"tsig_secret={secret}"]


def issue(certfleet, lab, names, out, aliases=(), extra=(), directory=None, timeout=180,
          verbose=True, provider_args=None):
    """Runs `certfleet issue` for NAMES into OUT. PROVIDER_ARGS (--provider ...
    --provider-setting ...) default to the rfc2136 provider on the lab's BIND."""
    args = [certfleet, "issue", "--directory", directory or lab["LAB_ACME_DIR"],
            "--ca-file", lab["LAB_ACME_TLS_CA"], "--email", "tests@example.test",
            "--resolver", lab["LAB_RESOLVER"], "--out", str(out)]
    for n in names:
        args += ["-d", n]
    for a in aliases:
        args += ["--alias", a]
    args += rfc2136_args(lab) if provider_args is None else list(provider_args)
    args += list(extra)
    if verbose:
        args.append("--verbose")
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def check_certificate(lab, out, names):
    """Asserts the files of an issuance are a real certificate for exactly names."""
    out = Path(out)
    leaf = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(sans.value.get_values_for_type(x509.DNSName)) == sorted(names)
    key = serialization.load_pem_private_key((out / "privkey.pem").read_bytes(), None)
    pub = lambda k: k.public_bytes(serialization.Encoding.DER,  # noqa: E731
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    assert pub(key.public_key()) == pub(leaf.public_key()), "key does not match certificate"
    assert (out / "privkey.pem").stat().st_mode & 0o777 == 0o600
    full = (out / "fullchain.pem").read_text()
    assert full.startswith((out / "cert.pem").read_text().strip()[:60])
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as root:
        root.write(labdns.pebble_root(lab))
        root.flush()
        v = subprocess.run(["openssl", "verify", "-CAfile", root.name, "-untrusted",
                            str(out / "chain.pem"), str(out / "cert.pem")],
                           capture_output=True, text=True)
    assert v.returncode == 0, f"does not chain to Pebble's root: {v.stdout}{v.stderr}"
    return leaf, key


class TxtWatcher:
    """Polls one TXT name at an authoritative server in a thread; records the largest
    set of values seen at one moment."""

    def __init__(self, server, name):
        self.server, self.name = server, name
        self.max_seen = set()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                vals = set(labdns.txt(self.server, self.name))
            except Exception:  # noqa: BLE001 (a lost UDP packet is not a finding)
                vals = set()
            if len(vals) > len(self.max_seen):
                self.max_seen = vals
            # no sleep: on loopback a whole issuance takes milliseconds, and the
            # window in which both values are live is only a few of them
            time.sleep(0)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def bind_max_live(lab, fqdn, since_bytes=0):
    """The largest number of TXT values live at fqdn at one moment, from BIND's own
    log of the updates it applied ("adding an RR at ..." / "deleting an RR at ...")
    after byte offset since_bytes. Deterministic, unlike polling from outside, and it
    is the authoritative server's record of what it served."""
    log = Path(lab["LAB_DIR"]) / "bind" / "log"
    with open(log, "rb") as f:
        f.seek(since_bytes)
        text = f.read().decode(errors="replace")
    live = peak = 0
    for line in text.splitlines():
        if f"adding an RR at '{fqdn}' TXT" in line:
            live += 1
        elif f"deleting an RR at {fqdn} TXT" in line:
            live -= 1
        peak = max(peak, live)
    return peak


def bind_log_size(lab):
    return (Path(lab["LAB_DIR"]) / "bind" / "log").stat().st_size
