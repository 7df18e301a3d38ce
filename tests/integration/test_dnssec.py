"""DNSSEC along the challenge chain, and the alias check's answers about the chain's
health, against the lab's signed zones (tests/lab/README.md: a signed "test." root
that Unbound trusts, example.test and sec-alias.test signed by BIND, rfc-alias2.test
unsigned, `lab break-dnssec` publishing a wrong DS):

- a fully signed chain validates (AD) and issues;
- a bogus alias zone (a wrong DS; signatures expired): the alias check answers
  dnssec_bogus naming the zone and the reason, `certfleet issue` stops before
  ordering, and a job for a name aliased into it fails in preflight with that verdict,
  before any order is placed;
- unsigned zones issue, and the check shows them as insecure (exit status 0);
- a CNAME into a zone nobody delegates (dangling) and into one whose server does not
  answer (unresolvable) are never ok, and are answered within a few seconds.
"""
import json
import re
import subprocess
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import pytest

import labdns
from issuance import issue
from service import db_url  # noqa: F401 (fixture)
from workerlib import check_version, fleet  # noqa: F401 (fixture)

LAB = Path(__file__).resolve().parents[1] / "lab" / "lab"
SEC = "sec-alias.test"
UNSIGNED = "rfc-alias2.test"


def rfc2136(lab):
    return ["--provider", "rfc2136", "--provider-setting", f"server={lab['LAB_BIND']}",
            "--provider-setting", f"tsig_name={lab['LAB_TSIG_NAME']}",
            "--provider-setting", f"tsig_algorithm={lab['LAB_TSIG_ALG']}",
            "--provider-setting", f"tsig_secret={lab['LAB_TSIG_SECRET']}"]


def check(certfleet, lab, name, alias="auto", extra=()):
    """`certfleet alias check --json` of one name: (exit status, result, seconds)."""
    t0 = time.monotonic()
    p = subprocess.run([certfleet, "alias", "check", name, "--alias", alias, "--resolver",
                        lab["LAB_RESOLVER"], "--json", *extra], capture_output=True, text=True,
                       timeout=60)
    elapsed = time.monotonic() - t0
    (res,) = json.loads(p.stdout)["results"]
    return p.returncode, res, elapsed


def resolver_answer(lab, name, rdtype="TXT"):
    """The resolver's answer to name with the DO bit: (rcode, AD flag)."""
    q = dns.message.make_query(name, rdtype, want_dnssec=True)
    r = dns.query.udp(q, lab["LAB_RESOLVER"], timeout=3)
    return r.rcode(), bool(r.flags & dns.flags.AD)


def lab_dnssec(lab, what, zone):
    subprocess.run([str(LAB), what, lab["LAB_DIR"], zone], check=True, timeout=30)


@pytest.fixture
def broken_sec_zone(lab):
    """sec-alias.test with a wrong DS in test. for the test's length."""
    lab_dnssec(lab, "break-dnssec", SEC)
    try:
        yield
    finally:
        lab_dnssec(lab, "fix-dnssec", SEC)
    assert resolver_answer(lab, f"ns1.{SEC}", "A") == (0, True)


def test_the_lab_validates(lab):
    assert SEC in lab["LAB_DNSSEC_ZONES"].split(",")
    assert resolver_answer(lab, "www.example.test", "A") == (0, True)
    assert resolver_answer(lab, "_acme-challenge.sec1.example.test") == (3, True)  # NXDOMAIN
    assert resolver_answer(lab, "ns1.pdns-alias.test", "A") == (0, True)
    assert resolver_answer(lab, f"ns1.{UNSIGNED}", "A") == (0, False)


def test_a_signed_chain_is_ok_and_issues(fleet, certfleet, lab):
    status, res, _ = check(certfleet, lab, "sec2.example.test", extra=rfc2136(lab))
    assert (status, res["verdict"], res["writable"]) == (0, "ok", True), res
    assert res["dnssec"] == {"state": "secure", "zone": None, "reason": None}, res
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    job = fleet.certificate("signed", ["sec2.example.test"], f"sec2.example.test.{SEC}")
    assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
    check_version(fleet, "signed", ["sec2.example.test"])


def test_a_bogus_alias_zone(fleet, certfleet, lab, broken_sec_zone):
    assert resolver_answer(lab, "_acme-challenge.sec3.example.test")[0] == 2  # SERVFAIL
    status, res, elapsed = check(certfleet, lab, "sec3.example.test", extra=rfc2136(lab))
    assert status == 1 and res["verdict"] == "dnssec_bogus", res
    assert res["dnssec"]["state"] == "bogus" and res["dnssec"]["zone"] == SEC, res
    assert "DS mismatch" in res["dnssec"]["reason"] and SEC in res["detail"], res
    assert elapsed < 5, elapsed
    # the worker refuses it in preflight, naming the zone; nothing is ordered or written
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    job = fleet.certificate("bogus", ["sec3.example.test"], f"sec3.example.test.{SEC}")
    assert fleet.wait([job])[job] == "failed", fleet.timeline(job)
    j = fleet.job(job)
    assert j["order_url"] is None, j
    text = fleet.api.get(f"/v1/jobs/{job}").text
    assert "dnssec_bogus" in text and SEC in text and "DS mismatch" in text, text
    assert [e for e in fleet.events(job) if e[1] == "order"] == [], fleet.timeline(job)
    assert fleet.sql("SELECT count(*) FROM dns_records") == [(0,)]


def test_certfleet_issue_refuses_a_bogus_chain_before_ordering(certfleet, lab, tmp_path,
                                                              broken_sec_zone):
    p = issue(certfleet, lab, ["sec5.example.test"], tmp_path,
              aliases=[f"sec5.example.test.{SEC}"])
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "dnssec_bogus" in out and SEC in out and "DS mismatch" in out, out
    # the steps printed: nothing was asked of the CA (--verbose prints every request)
    steps = [m.group(1) for m in map(re.compile(r"^\[\s*[\d.]+s\]\s+(\S+)").match,
                                     p.stdout.splitlines()) if m]
    assert "dnssec" in steps and "http" not in steps and "order" not in steps, p.stdout
    assert not (tmp_path / "cert.pem").exists()


def test_expired_signatures_are_named(certfleet, lab):
    """stale-alias.test: the right DS, but every signature expired in 2020."""
    status, res, elapsed = check(certfleet, lab, "stale.example.test")
    assert status == 1 and res["verdict"] == "dnssec_bogus", res
    assert res["dnssec"]["zone"] == "stale-alias.test", res
    assert "expired" in res["dnssec"]["reason"], res
    assert elapsed < 5, elapsed


def test_unsigned_zones_issue_and_show_insecure(fleet, certfleet, lab):
    status, res, _ = check(certfleet, lab, "two.example.test", extra=rfc2136(lab))
    assert (status, res["verdict"], res["writable"]) == (0, "insecure", True), res
    assert res["dnssec"]["state"] == "insecure" and UNSIGNED in res["dnssec"]["reason"], res
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    job = fleet.certificate("unsigned", ["two.example.test"], f"two.example.test.{UNSIGNED}")
    assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
    check_version(fleet, "unsigned", ["two.example.test"])


def test_a_dangling_target_is_never_ok(certfleet, lab):
    """The issue's case: a CNAME into a zone that does not exist, with the rfc2136
    provider: dangling, WRITABLE no, at once."""
    status, res, elapsed = check(certfleet, lab, "gone.example.test", extra=rfc2136(lab))
    assert status == 1 and res["verdict"] == "dangling", res
    assert res["target"] == "gone.example.test.nowhere.test" and res["writable"] is False, res
    assert "gone.example.test.nowhere.test" in res["detail"], res
    assert elapsed < 5, elapsed
    p = subprocess.run([certfleet, "alias", "check", "gone.example.test", "--alias", "auto",
                        "--resolver", lab["LAB_RESOLVER"], *rfc2136(lab)],
                       capture_output=True, text=True, timeout=60)
    row = p.stdout.splitlines()[1].split()
    assert p.returncode == 1 and row[1:3] == ["dangling", "no"], p.stdout


def test_an_unresolvable_target_is_answered_within_seconds(certfleet, lab):
    """dead-alias.test is delegated to an address where nothing answers."""
    status, res, elapsed = check(certfleet, lab, "dead.example.test",
                                 f"dead.example.test.dead-alias.test", extra=rfc2136(lab))
    assert status == 1 and res["verdict"] == "unresolvable", res
    assert lab["LAB_RESOLVER"] in res["detail"], res
    assert elapsed < 5, elapsed


def test_txt_through_signed_zones_is_validated(lab):
    """A value written into the signed alias zone by RFC 2136 is signed by BIND at once,
    so the CA's validating resolver serves it."""
    value = "dnssec-" + str(time.time_ns())
    labdns.nsupdate_add(lab, SEC, f"sec4.example.test.{SEC}", value)
    try:
        assert labdns.resolve_txt(lab["LAB_RESOLVER"], "_acme-challenge.sec4.example.test") \
            == [value]
        assert resolver_answer(lab, "_acme-challenge.sec4.example.test") == (0, True)
    finally:
        labdns.nsupdate_delete(lab, SEC, f"sec4.example.test.{SEC}", value)
