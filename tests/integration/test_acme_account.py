"""`certfleet account` and `certfleet revoke` against Pebble, each outcome checked
from the CA's side with the tests' own ACME client (acmeclient.py) or Pebble's
management port:

- External Account Binding, on the lab's EAB-requiring Pebble (NET.7, LAB_EAB=1):
  refused without a binding, refused with a wrong MAC or key id (403 unauthorized),
  and the right one creates the account, which then issues without the binding.
- Key rollover: the old key no longer finds the account, the new key finds the same
  one and issues; the key file holds the new key, FILE.old the old one, both 0600;
  a rollover interrupted before the files were replaced is completed by a rerun.
- Revocation with a reason, by the account key and by the certificate's own key:
  Pebble reports the serial revoked with that reason; a second revocation is
  reported as already revoked; a revocation by the wrong key changes nothing.

Every issuance here leaves no TXT value behind (checked at BIND).
"""
import base64
import os
import socket
import subprocess

import pytest

import labdns
from acmeclient import AcmeError, AcmeReader, cert_status, public_der
from issuance import check_certificate, issue

WWW = "www.example.test"
TARGET = "www.example.test.rfc-alias.test"
# The EAB tests' own lab when the session's lab has no EAB Pebble (LAB_EAB unset); the
# second NET only when the session's lab sits on the first (or another run holds it).
EAB_NETS = ("127.84.1", "127.84.3")
DNE = "urn:ietf:params:acme:error:accountDoesNotExist"


def run(certfleet, *args, timeout=120):
    return subprocess.run([certfleet, *args], capture_output=True, text=True, timeout=timeout)


def account(certfleet, lab, action, *args, directory=None):
    return run(certfleet, "account", action, "--directory", directory or lab["LAB_ACME_DIR"],
               "--ca-file", lab["LAB_ACME_TLS_CA"], *args)


def revoke(certfleet, lab, *args):
    return run(certfleet, "revoke", "--directory", lab["LAB_ACME_DIR"], "--ca-file",
               lab["LAB_ACME_TLS_CA"], *args)


def fields(stdout):
    """The "key: value" lines of an account/revoke command's output."""
    out = {}
    for line in stdout.splitlines():
        if ": " in line and not line.startswith(" "):
            key, value = line.split(": ", 1)
            out.setdefault(key, value)
    return out


def mode(path):
    return os.stat(path).st_mode & 0o777


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _listening(ip, port):
    try:
        socket.create_connection((ip, port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def no_leftovers(lab):
    yield
    assert labdns.txt(lab["LAB_BIND"], TARGET) == [], f"TXT left at {TARGET}"


@pytest.fixture(scope="module")
def eab_lab(lab):
    """A lab whose env has the EAB Pebble: the session's (LAB_EAB=1), else one of this
    module's own on EAB_NETS, whose 'down' must stop that Pebble too."""
    if lab.get("LAB_EAB_ACME_DIR"):
        yield lab
        return
    directory = labdns.lab_tmpdir()
    env = None
    try:
        for net in EAB_NETS:
            if net == lab["LAB_NET"]:
                continue
            try:
                env = labdns.lab_up(directory, net, extra_env={"LAB_EAB": "1"})
                break
            except RuntimeError as error:
                if "in use" not in str(error):
                    raise
    finally:
        if env is None:
            labdns.lab_down(directory)
    if env is None:
        pytest.fail(f"every NET of {EAB_NETS} is in use")
    try:
        yield env
    finally:
        pid = int(env["LAB_EAB_PEBBLE_PID"])
        labdns.lab_down(directory)
        assert not _running(pid), "lab down left the EAB Pebble running"
        assert not _listening(env["LAB_NET"] + ".7", 14000), "NET.7:14000 still served"


def eab_account(certfleet, eab_lab, *args):
    return account(certfleet, eab_lab, "register", *args, directory=eab_lab["LAB_EAB_ACME_DIR"])


def eab_reader(eab_lab, key):
    return AcmeReader(eab_lab["LAB_EAB_ACME_DIR"], eab_lab["LAB_ACME_TLS_CA"], str(key))


def assert_no_account(reader):
    with pytest.raises(AcmeError) as e:
        reader.find_account()
    assert e.value.type == DNE, e.value


# --- External Account Binding -------------------------------------------------------------

def test_eab_lab_pebble_requires_binding(eab_lab, tmp_path):
    """The lab's EAB Pebble itself: advertises the requirement and refuses a plain
    newAccount (externalAccountRequired), so the tests below test certfleet."""
    key = tmp_path / "k.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(key)], check=True)
    reader = eab_reader(eab_lab, key)
    assert reader.directory["meta"]["externalAccountRequired"] is True
    with pytest.raises(AcmeError) as e:
        reader.post(reader.directory["newAccount"], {"termsOfServiceAgreed": True},
                    use_jwk=True)
    assert e.value.type == "urn:ietf:params:acme:error:externalAccountRequired"


def test_eab_refused_without_binding(certfleet, eab_lab, tmp_path):
    key = tmp_path / "acct.pem"
    p = eab_account(certfleet, eab_lab, "--account-key", str(key), "--verbose")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "requires External Account Binding" in p.stderr
    assert "account:" not in p.stdout
    # sent as a look-up only: the CA was never asked to create an account
    assert "accountDoesNotExist" in p.stderr
    assert mode(key) == 0o600  # the key was made all the same, for the next try
    assert_no_account(eab_reader(eab_lab, key))


@pytest.mark.parametrize("what", ["wrong MAC key", "unknown key id"])
def test_eab_refused_with_a_wrong_binding(certfleet, eab_lab, tmp_path, what):
    key = tmp_path / "acct.pem"
    kid, mac = eab_lab["LAB_EAB_KID"], eab_lab["LAB_EAB_HMAC_KEY"]
    if what == "wrong MAC key":
        mac = base64.urlsafe_b64encode(os.urandom(48)).rstrip(b"=").decode()
    else:
        kid = "no-such-kid"
    p = eab_account(certfleet, eab_lab, "--account-key", str(key), "--eab-kid", kid,
                    "--eab-hmac-key", mac)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "HTTP 403" in p.stderr and "unauthorized" in p.stderr, p.stderr
    assert '"type": "urn:ietf:params:acme:error:unauthorized"' in p.stderr  # the CA's document
    assert mac not in p.stdout + p.stderr
    assert_no_account(eab_reader(eab_lab, key))


def test_eab_binding_creates_an_account_that_issues(certfleet, eab_lab, tmp_path):
    key, secret = tmp_path / "acct.pem", tmp_path / "eab.key"
    secret.write_text(eab_lab["LAB_EAB_HMAC_KEY"] + "\n")
    secret.chmod(0o600)
    p = eab_account(certfleet, eab_lab, "--account-key", str(key), "--email",
                    "ops@example.test", "--eab-kid", eab_lab["LAB_EAB_KID"],
                    "--eab-hmac-key", f"@{secret}")
    assert p.returncode == 0, p.stdout + p.stderr
    f = fields(p.stdout)
    assert f["new"] == "yes" and f["status"] == "valid" and f["key"].endswith("(created)")
    url = f["account"]
    assert url.startswith(eab_lab["LAB_EAB_ACME_DIR"].rsplit("/", 1)[0] + "/")
    assert eab_lab["LAB_EAB_HMAC_KEY"] not in p.stdout + p.stderr
    assert mode(key) == 0o600
    # the CA knows the key now, with our contact
    reader = eab_reader(eab_lab, key)
    assert reader.find_account() == url
    assert reader.read(url)["contact"] == ["mailto:ops@example.test"]
    # found again, not created again; no binding needed for that
    p = eab_account(certfleet, eab_lab, "--account-key", str(key), "--only-existing")
    assert p.returncode == 0, p.stdout + p.stderr
    assert fields(p.stdout)["account"] == url and fields(p.stdout)["new"] == "no"
    # and it issues (without --eab-*: the account exists)
    out = tmp_path / "out"
    try:
        p = issue(certfleet, eab_lab, [WWW], out, aliases=[TARGET],
                  directory=eab_lab["LAB_EAB_ACME_DIR"], extra=["--account-key", str(key)])
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"{url} (existing)" in p.stdout
        check_certificate(dict(eab_lab, LAB_ACME_MGMT=eab_lab["LAB_EAB_ACME_MGMT"]), out, [WWW])
    finally:
        assert labdns.txt(eab_lab["LAB_BIND"], TARGET) == [], f"TXT left at {TARGET}"


# --- key rollover ---------------------------------------------------------------------------

def test_key_rollover(certfleet, lab, tmp_path, no_leftovers):
    key, new = tmp_path / "acct.pem", tmp_path / "new.pem"
    p = account(certfleet, lab, "register", "--account-key", str(key))
    assert p.returncode == 0, p.stdout + p.stderr
    url = fields(p.stdout)["account"]
    old_der = public_der(key)

    p = account(certfleet, lab, "rollover", "--account-key", str(key), "--new-key", str(new))
    assert p.returncode == 0, p.stdout + p.stderr
    assert fields(p.stdout)["new key"] == f"{new} (created)"
    assert fields(p.stdout)["account"] == url
    # FILE holds the new key, FILE.old the old one; keys stay private
    old_file = tmp_path / "acct.pem.old"
    assert public_der(key) == public_der(new) != old_der
    assert public_der(old_file) == old_der
    assert mode(key) == mode(old_file) == mode(new) == 0o600
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")], "temporary files left"

    # the old key has lost the account, the new key finds the same one
    p = account(certfleet, lab, "register", "--account-key", str(old_file), "--only-existing")
    assert p.returncode == 1 and "accountDoesNotExist" in p.stderr, p.stdout + p.stderr
    p = account(certfleet, lab, "register", "--account-key", str(new), "--only-existing")
    assert p.returncode == 0, p.stdout + p.stderr
    assert fields(p.stdout)["account"] == url and fields(p.stdout)["new"] == "no"
    assert_no_account(AcmeReader(lab["LAB_ACME_DIR"], lab["LAB_ACME_TLS_CA"], str(old_file)))
    assert AcmeReader(lab["LAB_ACME_DIR"], lab["LAB_ACME_TLS_CA"], str(new)).find_account() == url

    # the new key issues on the same account
    out = tmp_path / "out"
    p = issue(certfleet, lab, [WWW], out, aliases=[TARGET], extra=["--account-key", str(new)])
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"{url} (existing)" in p.stdout
    check_certificate(lab, out, [WWW])

    # a second run has nothing to do
    p = account(certfleet, lab, "rollover", "--account-key", str(key), "--new-key", str(new))
    assert p.returncode == 0, p.stdout + p.stderr
    assert fields(p.stdout)["key"].startswith("unchanged")


def test_rollover_interrupted_before_the_files_is_completed(certfleet, lab, tmp_path):
    """The CA switched keys but FILE still holds the old key (as if the process died
    right after the CA's answer): a rerun sees that and fixes the files."""
    key, new = tmp_path / "acct.pem", tmp_path / "new.pem"
    assert account(certfleet, lab, "register", "--account-key", str(key)).returncode == 0
    old_pem = key.read_bytes()
    p = account(certfleet, lab, "rollover", "--account-key", str(key), "--new-key", str(new))
    assert p.returncode == 0, p.stdout + p.stderr
    url = fields(p.stdout)["account"]
    key.write_bytes(old_pem)  # undo the file step only
    os.unlink(tmp_path / "acct.pem.old")
    p = account(certfleet, lab, "rollover", "--account-key", str(key), "--new-key", str(new))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "already done at the CA" in p.stdout
    assert fields(p.stdout)["account"] == url
    assert public_der(key) == public_der(new)
    assert (tmp_path / "acct.pem.old").read_bytes() != b""
    assert_no_account(AcmeReader(lab["LAB_ACME_DIR"], lab["LAB_ACME_TLS_CA"],
                                 str(tmp_path / "acct.pem.old")))


def test_rollover_needs_an_existing_account(certfleet, lab, tmp_path):
    key, new = tmp_path / "acct.pem", tmp_path / "new.pem"
    p = account(certfleet, lab, "rollover", "--account-key", str(key), "--new-key", str(new))
    assert p.returncode == 1 and "cannot open" in p.stderr, p.stderr  # no key file: no guess
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(key)], check=True)
    before = key.read_bytes()
    p = account(certfleet, lab, "rollover", "--account-key", str(key), "--new-key", str(new))
    assert p.returncode == 1 and "accountDoesNotExist" in p.stderr, p.stdout + p.stderr
    assert key.read_bytes() == before and not (tmp_path / "acct.pem.old").exists()


# --- revocation -----------------------------------------------------------------------------

def issue_one(certfleet, lab, tmp_path, acct):
    out = tmp_path / "out"
    p = issue(certfleet, lab, [WWW], out, aliases=[TARGET], extra=["--account-key", str(acct)])
    assert p.returncode == 0, p.stdout + p.stderr
    pem = (out / "cert.pem").read_text()
    assert cert_status(lab["LAB_ACME_MGMT"], lab["LAB_ACME_TLS_CA"], pem)["Status"] == "Valid"
    return out, pem


@pytest.mark.parametrize("signer,reason,code", [
    ("account-key", "keyCompromise", 1),
    ("cert-key", "superseded", 4),
    ("account-key", "5", 5),               # cessationOfOperation, as a number
    ("cert-key", None, None),              # no reason: none recorded
])
def test_revoke_with_a_reason(certfleet, lab, tmp_path, no_leftovers, signer, reason, code):
    acct = tmp_path / "acct.pem"
    out, pem = issue_one(certfleet, lab, tmp_path, acct)
    key = acct if signer == "account-key" else out / "privkey.pem"
    args = ["--cert", str(out / "fullchain.pem"), f"--{signer}", str(key)]
    if reason is not None:
        args += ["--reason", reason]
    p = revoke(certfleet, lab, *args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert fields(p.stdout)["result"] == "revoked"
    status = cert_status(lab["LAB_ACME_MGMT"], lab["LAB_ACME_TLS_CA"], pem)
    assert status["Status"] == "Revoked", status
    assert status.get("Reason") == code, status
    # again: the CA's alreadyRevoked, reported as such, exit 0
    p = revoke(certfleet, lab, *args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert fields(p.stdout)["result"].startswith("already revoked")
    assert "BEGIN" not in p.stdout + p.stderr  # no key or certificate printed


def test_revoke_by_the_wrong_key_changes_nothing(certfleet, lab, tmp_path, no_leftovers):
    acct, other = tmp_path / "acct.pem", tmp_path / "other.pem"
    out, pem = issue_one(certfleet, lab, tmp_path, acct)
    assert account(certfleet, lab, "register", "--account-key", str(other)).returncode == 0
    # another account: the CA refuses
    p = revoke(certfleet, lab, "--cert", str(out / "cert.pem"), "--account-key", str(other),
               "--reason", "keyCompromise")
    assert p.returncode == 1 and "unauthorized" in p.stderr, p.stdout + p.stderr
    # a key that is not the certificate's: refused before asking the CA
    p = revoke(certfleet, lab, "--cert", str(out / "cert.pem"), "--cert-key", str(acct))
    assert p.returncode == 1 and "is not the key of the certificate" in p.stderr, p.stderr
    # an account key that has no account: looked up, never created
    lone = tmp_path / "lone.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(lone)], check=True)
    p = revoke(certfleet, lab, "--cert", str(out / "cert.pem"), "--account-key", str(lone))
    assert p.returncode == 1 and "accountDoesNotExist" in p.stderr, p.stdout + p.stderr
    assert_no_account(AcmeReader(lab["LAB_ACME_DIR"], lab["LAB_ACME_TLS_CA"], str(lone)))
    # no key file at all: nothing made
    p = revoke(certfleet, lab, "--cert", str(out / "cert.pem"), "--account-key",
               str(tmp_path / "missing.pem"))
    assert p.returncode == 1 and not (tmp_path / "missing.pem").exists()
    assert cert_status(lab["LAB_ACME_MGMT"], lab["LAB_ACME_TLS_CA"], pem)["Status"] == "Valid"


@pytest.mark.parametrize("args,message", [
    (["--reason", "7"], "7 is not a reason code"),
    (["--reason", "sometimes"], "unknown reason"),
    (["--account-key", "a.pem", "--cert-key", "b.pem"], "exactly one of"),
])
def test_revoke_usage_errors(certfleet, lab, tmp_path, args, message):
    base = ["--cert", str(tmp_path / "c.pem")]
    if "--account-key" not in args:
        base += ["--cert-key", str(tmp_path / "k.pem")]
    p = revoke(certfleet, lab, *base, *args)
    assert p.returncode == 2 and message in p.stderr, p.stderr
