"""Revocation through the API: POST /v1/certificates/{id}/versions/{v}/revoke queues
a job that a worker runs with the CA's revokeCert (signed by the account key); the
version then shows revoked_at and the reason, the certificate's status is revoked,
and Pebble's management API reports the serial revoked with that reason. With
"replace": true a new issuance follows. Bad requests change nothing."""
import time

from acmeclient import cert_status
from opslib import jobs_of, version_row
from service import db_url  # noqa: F401 (fixture)
from workerlib import RFC, check_version, fleet  # noqa: F401 (fixture)


def issued(fleet, cid, name):
    job = fleet.certificate(cid, [name], f"{name}.{RFC}")
    assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)


def revoke(fleet, cid, version, body=None, status=202):
    r = fleet.api.post(f"/v1/certificates/{cid}/versions/{version}/revoke", json=body)
    assert r.status_code == status, r.text
    return r


def test_revoke_the_current_version(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    issued(fleet, "www", "www.example.test")
    serial, _, _, pem = version_row(fleet, "www", 1)
    assert cert_status(lab["LAB_ACME_MGMT"], lab["LAB_ACME_TLS_CA"], pem)["Status"] == "Valid"
    r = revoke(fleet, "www", 1, {"reason": "keyCompromise"})
    job = r.json()["job"]
    assert job["kind"] == "revoke" and job["state"] == "queued"
    assert fleet.wait([job["id"]], states=("done", "failed"))[job["id"]] == "done", \
        fleet.timeline(job["id"])
    c = fleet.api.get("/v1/certificates/www").json()
    assert c["status"] == "revoked"
    cv = c["current_version"]
    assert cv["version"] == 1 and cv["revocation_reason"] == 1 and cv["revoked_at"]
    v = fleet.api.get("/v1/certificates/www/versions").json()["versions"]
    assert v[0]["revoked_at"] and v[0]["revocation_reason"] == 1 and v[0]["current"]
    st = cert_status(lab["LAB_ACME_MGMT"], lab["LAB_ACME_TLS_CA"], pem)
    assert st["Status"] == "Revoked" and st["Reason"] == 1, st
    assert int(st["Serial"], 16) == int(serial, 16)
    steps = [e[1] for e in fleet.events(job["id"])]
    assert steps == ["claim", "revoke"], steps
    # no second revocation, and nothing is renewed or queued for a revoked certificate
    revoke(fleet, "www", 1, {}, status=409)
    assert [j[1] for j in jobs_of(fleet, "www")] == ["issue", "revoke"]


def test_revoke_and_replace(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    issued(fleet, "web", "www.example.test")
    pem1 = version_row(fleet, "web", 1)[3]
    r = revoke(fleet, "web", 1, {"reason": 4, "replace": True})
    job = r.json()["job"]["id"]
    assert fleet.wait([job], states=("done", "failed"))[job] == "done", fleet.timeline(job)
    jobs = jobs_of(fleet, "web")
    assert [j[1] for j in jobs] == ["issue", "revoke", "issue"], jobs
    repl = jobs[2][0]
    assert fleet.wait([repl], timeout=60)[repl] == "issued", fleet.timeline(repl)
    check_version(fleet, "web", ["www.example.test"], version=2)
    c = fleet.api.get("/v1/certificates/web").json()
    assert c["status"] == "valid" and c["current_version"]["version"] == 2
    assert "revoked_at" not in c["current_version"]
    versions = fleet.api.get("/v1/certificates/web/versions").json()["versions"]
    assert [(v["version"], v["current"], "revoked_at" in v) for v in versions] == \
        [(2, True, False), (1, False, True)]
    st = cert_status(lab["LAB_ACME_MGMT"], lab["LAB_ACME_TLS_CA"], pem1)
    assert st["Status"] == "Revoked" and st["Reason"] == 4, st


def test_bad_revocations_change_nothing(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=0)
    fleet.provider()
    fleet.certificate("www", ["www.example.test"], f"www.example.test.{RFC}")
    before = fleet.sql("SELECT count(*) FROM jobs")
    for body in ({"reason": 7}, {"reason": "compromised"}, {"replace": "yes"}, {"why": 1}, [1]):
        r = revoke(fleet, "www", 1, body, status=400)
        assert r.json()["field"] in ("reason", "replace", "why", "body"), r.text
    revoke(fleet, "www", 1, {}, status=404)        # no version yet
    revoke(fleet, "nosuch", 1, {}, status=404)
    revoke(fleet, "www", "x", {}, status=404)
    assert fleet.sql("SELECT count(*) FROM jobs") == before
    assert fleet.api.get("/v1/certificates/nosuch/versions").status_code == 404
    assert fleet.api.get("/v1/certificates/www/versions").json() == {"versions": []}
    time.sleep(0.1)
