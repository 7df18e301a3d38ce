"""`certfleet issue` against the lab: real certificates from Pebble through DNS
challenge aliases in BIND (RFC 2136 + TSIG), checked for real, and no TXT value
left behind after any test."""
import re

import pytest

import labdns
from issuance import bind_log_size, bind_max_live, check_certificate, issue

RFC = "rfc-alias.test"


@pytest.fixture
def no_leftovers(lab):
    """Collects alias targets; after the test, asserts no TXT value is left there."""
    targets = []
    yield targets
    for t in targets:
        assert labdns.txt(lab["LAB_BIND"], t) == [], f"TXT left at {t}"


STEP = re.compile(r"^\[\s*[\d.]+s\]\s+(\S+)")
HTTP = re.compile(r"^\[\s*[\d.]+s\]\s+http\s+(\S+)\s+(\S+)\s+(\d+)")


def steps(stdout):
    """The step names in order, from the printed timeline."""
    return [m.group(1) for m in map(STEP.match, stdout.splitlines())
            if m and m.group(1) != "http"]


def http(stdout):
    """(acme step, method, status) of every HTTP exchange printed by --verbose."""
    return [m.groups() for m in map(HTTP.match, stdout.splitlines()) if m]


def test_one_name_through_an_rfc2136_alias(certfleet, lab, tmp_path, no_leftovers):
    target = f"www.example.test.{RFC}"
    no_leftovers.append(target)
    p = issue(certfleet, lab, ["www.example.test"], tmp_path, aliases=[target])
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, tmp_path, ["www.example.test"])
    s = steps(p.stdout)
    for name in ["plan", "preflight", "account", "order", "authorizations", "present",
                 "propagate", "respond", "validate", "finalize", "download", "cleanup"]:
        assert name in s, f"step {name} not printed: {p.stdout}"
    assert f"{target} TXT" in p.stdout


def test_wildcard_and_apex_in_one_round(certfleet, lab, tmp_path, no_leftovers):
    target = f"example.test.{RFC}"
    no_leftovers.append(target)
    mark = bind_log_size(lab)
    p = issue(certfleet, lab, ["*.example.test", "example.test"], tmp_path, aliases=[target])
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, tmp_path, ["*.example.test", "example.test"])
    assert bind_max_live(lab, target, mark) == 2, "both values were never live at once"
    # both challenges answered before either authorization was polled (a request
    # Pebble refused with badNonce, 400, and that was sent again, counts once)
    ex = [h[0] for h in http(p.stdout) if h[2] != "400"]
    first_chal = ex.index("challenge")
    last_chal = len(ex) - 1 - ex[::-1].index("challenge")
    assert ex.count("challenge") == 2
    assert "authz" not in ex[first_chal:last_chal + 1], ex
    assert "authz" in ex[last_chal:], "authorizations were not polled after answering"
    s = steps(p.stdout)
    assert s.index("respond") < s.index("validate")
    assert s.count("present") == 2 and s.index("propagate") > max(
        i for i, x in enumerate(s) if x == "present")


def test_per_name_aliases_in_two_zones(certfleet, lab, tmp_path, no_leftovers):
    a, b = f"www.example.test.{RFC}", "two.example.test.rfc-alias2.test"
    no_leftovers.extend([a, b])
    p = issue(certfleet, lab, ["www.example.test", "two.example.test"], tmp_path,
              aliases=[f"www.example.test={a}", f"two.example.test={b}"])
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, tmp_path, ["www.example.test", "two.example.test"])
    assert f"{a} TXT" in p.stdout and f"{b} TXT" in p.stdout


def test_auto_follows_the_cname_chain(certfleet, lab, tmp_path, no_leftovers):
    end = f"chain-end.{RFC}"
    no_leftovers.append(end)
    p = issue(certfleet, lab, ["chain.example.test"], tmp_path, aliases=["auto"])
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, tmp_path, ["chain.example.test"])
    assert f"{end} TXT" in p.stdout, "auto did not write at the end of the CNAME chain"


@pytest.mark.parametrize("key_type,expect", [("ec384", "EllipticCurvePrivateKey"),
                                             ("rsa2048", "RSAPrivateKey")])
def test_key_types(certfleet, lab, tmp_path, no_leftovers, key_type, expect):
    target = f"www.example.test.{RFC}"
    no_leftovers.append(target)
    p = issue(certfleet, lab, ["www.example.test"], tmp_path, aliases=[target],
              extra=["--key-type", key_type, "--account-key", str(tmp_path / "acct.pem")])
    assert p.returncode == 0, p.stdout + p.stderr
    _, key = check_certificate(lab, tmp_path, ["www.example.test"])
    assert expect in type(key).__name__
    if key_type == "ec384":
        assert key.curve.name == "secp384r1"
    else:
        assert key.key_size == 2048
    acct = (tmp_path / "acct.pem").read_text()
    assert acct != (tmp_path / "privkey.pem").read_text()


def test_fresh_key_unless_reuse(certfleet, lab, tmp_path, no_leftovers):
    target = f"www.example.test.{RFC}"
    no_leftovers.append(target)
    args = dict(aliases=[target])
    assert issue(certfleet, lab, ["www.example.test"], tmp_path, **args).returncode == 0
    k1 = (tmp_path / "privkey.pem").read_text()
    assert issue(certfleet, lab, ["www.example.test"], tmp_path, **args).returncode == 0
    k2 = (tmp_path / "privkey.pem").read_text()
    assert k1 != k2
    p = issue(certfleet, lab, ["www.example.test"], tmp_path, extra=["--reuse-key"], **args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "privkey.pem").read_text() == k2
    check_certificate(lab, tmp_path, ["www.example.test"])


@pytest.mark.parametrize("name,alias,record", [
    ("nocname.example.test", f"nocname.example.test.{RFC}",
     f"_acme-challenge.nocname.example.test. CNAME nocname.example.test.{RFC}."),
    ("wrong.example.test", f"wrong.example.test.{RFC}",
     f"_acme-challenge.wrong.example.test. CNAME wrong.example.test.{RFC}."),
])
def test_missing_or_wrong_cname_names_the_record(certfleet, lab, tmp_path, no_leftovers,
                                                 name, alias, record):
    no_leftovers.append(alias)
    p = issue(certfleet, lab, [name], tmp_path, aliases=[alias])
    assert p.returncode != 0
    assert record in p.stderr, p.stderr
    assert "order" not in steps(p.stdout), "an order was placed despite a failed preflight"
    assert not (tmp_path / "cert.pem").exists()


def test_failed_validation_cleans_up(certfleet, lab, tmp_path, no_leftovers):
    """--no-preflight on a name whose CNAME points elsewhere: the CA fails the
    challenge; the CA's problem is printed, the value is removed, exit is non-zero."""
    alias = f"wrong.example.test.{RFC}"
    no_leftovers.append(alias)
    p = issue(certfleet, lab, ["wrong.example.test"], tmp_path, aliases=[alias],
              extra=["--no-preflight", "--propagation", "none"])
    assert p.returncode != 0
    assert "urn:ietf:params:acme:error" in p.stderr, p.stderr
    assert "cleanup" in steps(p.stdout)


def test_bad_nonces_are_retried(certfleet, tmp_path):
    """A Pebble that rejects half of all nonces: issuance still succeeds."""
    d = labdns.lab_tmpdir()
    lab2 = labdns.lab_up(d, "127.76.0", extra_env={"LAB_NONCEREJECT": "50"})
    try:
        target = f"www.example.test.{RFC}"
        p = issue(certfleet, lab2, ["www.example.test"], tmp_path, aliases=[target])
        assert p.returncode == 0, p.stdout + p.stderr
        check_certificate(lab2, tmp_path, ["www.example.test"])
        assert any(h[2] == "400" for h in http(p.stdout)), "no nonce was rejected"
        assert labdns.txt(lab2["LAB_BIND"], target) == []
    finally:
        labdns.lab_down(d)


def test_tsig_sha512_secret_read_from_a_file(certfleet, lab, tmp_path, no_leftovers):
    """The secret comes from KEY=@FILE (so it is not in argv), with an hmac-sha512 key."""
    import subprocess
    target = f"www.example.test.{RFC}"
    no_leftovers.append(target)
    secret = tmp_path / "tsig.secret"
    secret.write_text(lab["LAB_TSIG512_SECRET"] + "\n")
    out = tmp_path / "out"
    p = subprocess.run([
        certfleet, "issue", "--directory", lab["LAB_ACME_DIR"], "--ca-file",
        lab["LAB_ACME_TLS_CA"], "-d", "www.example.test", "--alias", target,
        "--resolver", lab["LAB_RESOLVER"], "--out", str(out),
        "--provider", "rfc2136", "--provider-setting", f"server={lab['LAB_BIND']}",
        "--provider-setting", f"tsig_name={lab['LAB_TSIG512_NAME']}",
        "--provider-setting", "tsig_algorithm=hmac-sha512",
        "--provider-setting", f"tsig_secret=@{secret}"], capture_output=True, text=True,
        timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, out, ["www.example.test"])
    assert lab["LAB_TSIG512_SECRET"] not in p.stdout + p.stderr


# --- chains and failed orders, checked from the CA's side (acmeclient.py) -----------------

WWW, WWW_TARGET = "www.example.test", f"www.example.test.{RFC}"
# A lab of these tests' own whose Pebble offers a chain to a second root; the second
# NET only when the session's lab sits on the first (or another run holds it).
ALT_NETS = ("127.84.0", "127.84.2")
HTTP_URL = re.compile(r"^\[\s*[\d.]+s\]\s+http\s+(\S+)\s+(\S+)\s+(\d+)\s+\d+ ms (\S+)")


def http_urls(stdout, step):
    """(method, status, url) of every HTTP exchange of one ACME step, from --verbose."""
    return [m.groups()[1:] for m in map(HTTP_URL.match, stdout.splitlines())
            if m and m.group(1) == step]


def pem_blocks(text):
    begin = "-----BEGIN CERTIFICATE-----"
    return [begin + b for b in text.split(begin)[1:]]


def verifies(root_pem, out):
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as root:
        root.write(root_pem)
        root.flush()
        return subprocess.run(["openssl", "verify", "-CAfile", root.name, "-untrusted",
                               str(out / "chain.pem"), str(out / "cert.pem")],
                              capture_output=True, text=True).returncode == 0


@pytest.fixture(scope="module")
def alt_lab(lab):
    """LAB_ALTERNATE_ROOTS=1: every certificate has a default chain to root 0 and an
    alternate one to root 1."""
    directory = labdns.lab_tmpdir()
    env = None
    try:
        for net in ALT_NETS:
            if net == lab["LAB_NET"]:
                continue
            try:
                env = labdns.lab_up(directory, net, extra_env={"LAB_ALTERNATE_ROOTS": "1"})
                break
            except RuntimeError as error:
                if "in use" not in str(error):
                    raise
        if env is None:
            pytest.fail(f"every NET of {ALT_NETS} is in use")
        yield env
    finally:
        labdns.lab_down(directory)


def test_preferred_chain_picks_the_alternate_root(certfleet, alt_lab, tmp_path):
    from acmeclient import common_name, root_pem
    mgmt, ca = alt_lab["LAB_ACME_MGMT"], alt_lab["LAB_ACME_TLS_CA"]
    assert alt_lab["LAB_ALTERNATE_ROOTS"] == "1"
    roots = [root_pem(mgmt, ca, 0), root_pem(mgmt, ca, 1)]
    cns = [common_name(r) for r in roots]
    assert cns[0] != cns[1]
    cases = [("default", [], 0), ("preferred", ["--preferred-chain", cns[1]], 1),
             ("preferred-default", ["--preferred-chain", cns[0]], 0),
             ("no-match", ["--preferred-chain", "No Such Root CA"], 0)]
    try:
        for label, extra, want in cases:
            out = tmp_path / label
            p = issue(certfleet, alt_lab, [WWW], out, aliases=[WWW_TARGET], extra=extra)
            assert p.returncode == 0, p.stdout + p.stderr
            assert f"chain issued by {cns[want]} (1 alternates)" in p.stdout, (label, p.stdout)
            chain = pem_blocks((out / "chain.pem").read_text())
            assert common_name(chain[-1], issuer=True) == cns[want], label
            full = (out / "fullchain.pem").read_text()
            assert pem_blocks(full) == pem_blocks((out / "cert.pem").read_text()) + chain
            assert verifies(roots[want], out), label
            assert not verifies(roots[1 - want], out), label
            if want == 1:  # the alternate was fetched: its URL is the default's + /alternate/1
                assert any(u.endswith("/alternate/1") for _, s, u in http_urls(p.stdout, "cert")
                           if s == "200"), p.stdout
    finally:
        assert labdns.txt(alt_lab["LAB_BIND"], WWW_TARGET) == [], f"TXT left at {WWW_TARGET}"


def test_rejected_challenge_leaves_the_invalid_authorization(certfleet, lab, tmp_path,
                                                             no_leftovers):
    """The CA rejects the challenge (the CNAME points elsewhere): the order fails and
    its authorization, now invalid, is read again and left alone: only pending or
    valid authorizations are deactivated (RFC 8555 section 7.5.2; Let's Encrypt
    refuses the rest, though Pebble would accept it). test_failed_order_... covers
    the pending ones."""
    from acmeclient import AcmeReader
    alias, acct = f"wrong.example.test.{RFC}", tmp_path / "acct.pem"
    no_leftovers.append(alias)
    p = issue(certfleet, lab, ["wrong.example.test"], tmp_path / "out", aliases=[alias],
              extra=["--no-preflight", "--propagation", "none", "--account-key", str(acct)])
    assert p.returncode != 0
    assert "urn:ietf:params:acme:error" in p.stderr, p.stderr
    urls = sorted({u for m, _, u in http_urls(p.stdout, "authz") if m == "POST"})
    assert len(urls) == 1, p.stdout
    assert http_urls(p.stdout, "deactivate") == [], p.stdout
    assert "0 of 1 authorizations deactivated, 1 no longer pending or valid" in p.stdout
    reader = AcmeReader(lab["LAB_ACME_DIR"], lab["LAB_ACME_TLS_CA"], str(acct))
    assert reader.read(urls[0])["status"] == "invalid"
    assert not (tmp_path / "out" / "cert.pem").exists()


def test_failed_order_deactivates_its_pending_authorizations(certfleet, lab, tmp_path,
                                                             no_leftovers):
    """Two names; the value of one cannot be written (its alias is in a zone nobody
    may update), so no challenge is ever answered: both authorizations are still
    pending when the order fails, and both end deactivated at the CA."""
    from acmeclient import AcmeReader
    bad, acct = "wrong.example.test.elsewhere.test", tmp_path / "acct.pem"
    no_leftovers.append(WWW_TARGET)
    p = issue(certfleet, lab, [WWW, "wrong.example.test"], tmp_path / "out",
              aliases=[f"{WWW}={WWW_TARGET}", f"wrong.example.test={bad}"],
              extra=["--no-preflight", "--account-key", str(acct)])
    assert p.returncode != 0
    assert "REFUSED" in p.stderr, p.stderr
    assert not http_urls(p.stdout, "challenge"), "a challenge was answered"
    urls = sorted({u for m, _, u in http_urls(p.stdout, "authz") if m == "POST"})
    assert len(urls) == 2, p.stdout
    assert "2 of 2 authorizations deactivated" in p.stdout
    reader = AcmeReader(lab["LAB_ACME_DIR"], lab["LAB_ACME_TLS_CA"], str(acct))
    for url in urls:
        authz = reader.read(url)
        assert authz["status"] == "deactivated", authz
        assert all(c["status"] == "pending" for c in authz["challenges"]), authz


def test_interrupted_issuance_removes_only_its_own_values(certfleet, lab, tmp_path,
                                                          no_leftovers):
    """Ctrl-C while the engine waits for propagation: the values this order wrote are
    removed, a value someone else put at the same name survives."""
    import signal
    import subprocess
    import time
    target = f"www.example.test.{RFC}"
    labdns.nsupdate_add(lab, RFC, target, "someone-elses-value")
    try:
        # resolvers mode against an address where nothing answers: the wait cannot end
        args = [certfleet, "issue", "--directory", lab["LAB_ACME_DIR"], "--ca-file",
                lab["LAB_ACME_TLS_CA"], "-d", "*.example.test", "-d", "example.test",
                "--alias", f"example.test.{RFC}", "--resolver", lab["LAB_RESOLVER"],
                "--propagation", "resolvers", "--no-preflight", "--out", str(tmp_path)]
        from issuance import rfc2136_args
        args += rfc2136_args(lab)
        # --resolver is also used for propagation: point the wait at a dead address
        args[args.index(lab["LAB_RESOLVER"])] = lab["LAB_NET"] + ".250"
        other = f"example.test.{RFC}"
        labdns.nsupdate_add(lab, RFC, other, "foreign-at-the-apex-name")
        no_leftovers.append(target)
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            vals = labdns.txt(lab["LAB_BIND"], other)
            if len(vals) == 3:  # the foreign one and this order's two
                break
            time.sleep(0.02)
        assert len(labdns.txt(lab["LAB_BIND"], other)) == 3
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode != 0
        assert "interrupted" in err or "cleanup" in out, out + err
        assert labdns.txt(lab["LAB_BIND"], other) == ["foreign-at-the-apex-name"]
        assert labdns.txt(lab["LAB_BIND"], target) == ["someone-elses-value"]
    finally:
        labdns.nsupdate_delete(lab, RFC, f"example.test.{RFC}")
        labdns.nsupdate_delete(lab, RFC, target)
