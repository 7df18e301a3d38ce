"""Time (issue 17): leases and schedules use the database's clock, never a replica's.

One of two replicas runs with its clock two days off (+2 d, and in another case
-2 d), through libfaketime (Debian's `faketime`: LD_PRELOAD of libfaketimeMT with
FAKETIME, the monotonic clock left alone by FAKETIME_DONT_FAKE_MONOTONIC). The
lab's own certificates (Pebble's TLS, its CA) are valid for far longer than two
days either way, so TLS to Pebble still verifies; the 90-second certificates the
lab issues are never checked against the replica's clock. DNS goes through
PowerDNS's HTTP API: TSIG (RFC 2136) signs the sender's time, and BIND rightly
answers BADTIME to a sender two days off, which is the DNS server's clock check,
not certfleet's.

- With both replicas working a queue, every job is issued, each claim of a job is
  a new attempt, no lease is taken over while it is held ("after the lease of ...
  expired" never appears), and the skewed replica did claim some of the jobs.
- The skewed replica, as the only scheduler, renews a certificate at its planned
  point of the certificate's life (renew_fraction 0.3 of 90 s) counted on the
  database's clock: not at once (+2 d would make it due long ago) and not never
  (-2 d would make it due in two days).
"""
import os
import re
import subprocess
import time

import pytest

import labdns
from opslib import jobs_of, short_lab, version_row, wait_for
from service import db_url, run  # noqa: F401 (fixture)
from workerlib import Fleet

PDNS = "pdns-alias.test"

NET = "127.92.17"
VALIDITY = 90
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def skewed(offset):
    """The settings that run a serve with its clock `offset` off (e.g. "+2d"). Under
    AddressSanitizer (scripts/test) the preload comes before ASan's runtime, which
    ASan accepts once told not to check the link order."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": offset,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1",
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


@pytest.fixture(scope="module")
def slab():
    directory, env = short_lab(NET, VALIDITY)
    try:
        yield env
    finally:
        labdns.lab_down(directory)


@pytest.fixture
def cfleet(certfleet, slab, db_url):  # noqa: F811
    f = Fleet(certfleet, slab, db_url)
    try:
        yield f
    finally:
        f.close()


def create(fleet, cid, names, alias, **extra):
    body = {"id": cid, "domains": names, "dns_alias": alias, "provider": "lab-pdns",
            **extra}
    r = fleet.api.post("/v1/certificates", json=body)
    assert r.status_code == 201, r.text
    return r.json()["job"]["id"]


def pdns(fleet):
    r = fleet.api.post("/v1/providers", json={"name": "lab-pdns", "type": "powerdns", "settings": {
        "api_url": fleet.lab["LAB_PDNS_API"], "api_key": fleet.lab["LAB_PDNS_KEY"]}})
    assert r.status_code == 201, r.text


def test_faketime_moves_the_clock(certfleet):
    """The preload works, and with this binary (else the tests below prove nothing)."""
    env = dict(os.environ, **skewed("+2d"))
    out = subprocess.run(["date", "+%s"], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert int(out) - time.time() > 2 * 86400 - 60
    p = subprocess.run([certfleet, "--help"], env=env, capture_output=True, text=True)
    assert "usage: certfleet" in p.stdout + p.stderr, p.stderr


@pytest.mark.parametrize("offset", ["+2d", "-2d"])
def test_no_double_claims_with_a_skewed_replica(cfleet, offset):
    skew = cfleet.start(CERTFLEET_WORKERS=2, CERTFLEET_RENEW_INTERVAL=0, **skewed(offset))
    cfleet.start(CERTFLEET_WORKERS=2, CERTFLEET_RENEW_INTERVAL=0)
    pdns(cfleet)
    jobs = [create(cfleet, f"c{i}", [f"p{i + 1}.example.test"], f"p{i + 1}.example.test.{PDNS}")
            for i in range(8)]
    states = cfleet.wait(jobs, timeout=180)
    assert all(s == "issued" for s in states.values()), cfleet.timeline(*jobs)
    skew_pid = f":{skew.proc.pid}:"
    by_skewed = 0
    for j in jobs:
        ev = cfleet.events(j)
        claims = [(a, m) for a, st, m, _, _ in ev if st == "claim"]
        assert claims, cfleet.timeline(j)
        attempts = [a for a, _ in claims]
        assert len(attempts) == len(set(attempts)), cfleet.timeline(j)  # one per attempt
        assert not any("after the lease of" in m for _, m in claims), cfleet.timeline(j)
        assert cfleet.job(j)["attempt"] == max(attempts)
        by_skewed += any(skew_pid in m for _, m in claims)
        cid = cfleet.job(j)["certificate"]
        assert len(cfleet.sql("SELECT version FROM certificate_versions WHERE "
                              "certificate_id = %s", (cid,))) == 1
    assert by_skewed > 0, "the skewed replica claimed no job"


@pytest.mark.parametrize("offset", ["+2d", "-2d"])
def test_renewal_on_the_database_clock(cfleet, offset):
    # the skewed replica is the only scheduler; the other one only works jobs
    skew = cfleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RENEW_INTERVAL=1, **skewed(offset))
    wait_for(lambda: "scheduler.leader" in skew.output(), 20, "the skewed scheduler")
    cfleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RENEW_INTERVAL=0)
    pdns(cfleet)
    job = create(cfleet, "web", ["p40.example.test"], f"p40.example.test.{PDNS}",
                 renew_fraction=0.3)
    assert cfleet.wait([job], timeout=60)[job] == "issued", cfleet.timeline(job)
    _, nb, na, _ = version_row(cfleet, "web", 1)
    life = na - nb
    assert 80 <= life <= 95, life
    due = nb + 0.3 * life  # minus a jitter of at most life / 50
    renew = wait_for(lambda: jobs_of(cfleet, "web", "renew"), 90, "a renewal job")[0]
    created = renew[3]
    # not early: not before the plan (DB time), and not late: within a couple of
    # scheduler intervals after it
    assert due - life / 50 - 1.5 <= created <= due + 5, (created - nb, life)
    assert len(jobs_of(cfleet, "web", "renew")) == 1
    ev = cfleet.events(renew[0])
    assert ev[0][1] == "schedule" and "renewal of version 1" in ev[0][2], ev[0]
    # the due time the event names is the plan's, on the database's clock
    m = re.search(r"due at (\S+)Z", ev[0][2])
    assert m and m.group(1)[:10] == cfleet.sql(
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')")[0][0], ev[0][2]
    assert cfleet.wait([renew[0]], timeout=60)[renew[0]] == "issued", \
        cfleet.timeline(renew[0])


@pytest.mark.parametrize("offset", ["+2d", "-2d"])
def test_token_expiry_on_the_database_clock(cfleet, offset):
    """A token valid for an hour works on a replica two days fast; one that has
    expired is refused by a replica two days slow."""
    skew = cfleet.start(CERTFLEET_WORKERS=0, CERTFLEET_RENEW_INTERVAL=0, **skewed(offset))

    def token(expires):
        return run(cfleet.certfleet, ["token", "create", "--role", "admin", "--name",
                                      f"t{expires}", "--expires", expires], cfleet.base,
                   check=True).stdout.strip()

    hour, short = token("1h"), token("1s")
    wait_for(lambda: cfleet.sql("SELECT expires_at < now() FROM tokens WHERE name = 't1s'")
             [0][0], 10, "the short token to expire")
    for tok, want in ((hour, 200), (short, 401)):
        r = skew.get("/v1/certificates", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == want, (tok[:10], r.status_code, r.text)
