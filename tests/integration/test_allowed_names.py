"""Credentials scoped to names: a provider with `allowed_names` (any provider type;
here rfc2136 on the lab's BIND, whose TSIG key could write both rfc-alias.test and
rfc-alias2.test) writes nothing outside the list. Each of the three points refuses:

- certificate create: 400 naming the name and the provider;
- the alias check (CLI and API): unwritable, naming the setting;
- the worker, before the write: a job whose target is known only from DNS ("auto")
  fails there, and no TXT value reaches the zone.

Plus the setting itself: validated (a list of DNS names), normalised, public (GET).
"""
import subprocess

import labdns
from service import db_url  # noqa: F401 (fixture)
from workerlib import bind_settings, check_version, fleet  # noqa: F401 (fixture)

IN = "rfc-alias.test"
OUT = "rfc-alias2.test"


def scoped(fleet, name="scoped", names=(IN,)):
    settings = dict(bind_settings(fleet.lab), allowed_names=list(names))
    return fleet.api.post("/v1/providers", json={"name": name, "type": "rfc2136",
                                                 "settings": settings})


def test_the_setting_is_validated_normalised_and_public(fleet):
    fleet.start(CERTFLEET_WORKERS=0)
    for bad in ("rfc-alias.test", [], ["not a name!"], [3]):
        r = fleet.api.post("/v1/providers", json={
            "name": "bad", "type": "rfc2136",
            "settings": dict(bind_settings(fleet.lab), allowed_names=bad)})
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["field"] == "settings.allowed_names", r.text
    assert fleet.api.get("/v1/providers/bad").status_code == 404
    r = scoped(fleet, names=["RFC-Alias.Test."])
    assert r.status_code == 201, r.text
    got = fleet.api.get("/v1/providers/scoped").json()
    assert got["settings"]["allowed_names"] == [IN], got
    assert "allowed_names" not in got["secrets"]


def test_certificate_create_refuses_a_target_outside(fleet):
    fleet.start(CERTFLEET_WORKERS=0)
    assert scoped(fleet).status_code == 201
    r = fleet.api.post("/v1/certificates", json={
        "id": "outside", "domains": ["two.example.test"],
        "dns_alias": f"two.example.test.{OUT}", "provider": "scoped"})
    assert r.status_code == 400, r.text
    err = r.json()["errors"][0]
    assert err["field"] == "provider", err
    assert "two.example.test" in err["detail"] and "scoped" in err["detail"], err
    assert "allowed_names" in err["detail"], err
    assert fleet.sql("SELECT count(*) FROM certificates") == [(0,)]
    # no alias: the target is the challenge record itself, in example.test: outside too
    r = fleet.api.post("/v1/certificates", json={
        "id": "noalias", "domains": ["www.example.test"], "provider": "scoped"})
    assert r.status_code == 400 and "_acme-challenge.www.example.test" in r.text, r.text
    # inside: created
    r = fleet.api.post("/v1/certificates", json={
        "id": "inside", "domains": ["www.example.test"],
        "dns_alias": f"www.example.test.{IN}", "provider": "scoped"})
    assert r.status_code == 201, r.text


def test_the_alias_check_says_unwritable(fleet, certfleet, lab):
    fleet.start(CERTFLEET_WORKERS=0)
    assert scoped(fleet).status_code == 201
    r = fleet.api.post("/v1/aliases/check", json={
        "domains": ["two.example.test", "www.example.test"], "dns_alias": "auto",
        "provider": "scoped"})
    assert r.status_code == 200, r.text
    two, www = r.json()["results"]
    assert two["verdict"] == "unwritable" and two["writable"] is False, two
    assert "allowed_names" in two["detail"] and "allowed_names" in two["writable_detail"], two
    assert www["verdict"] == "ok" and www["writable"] is True, www
    p = subprocess.run([certfleet, "alias", "check", "two.example.test", "--alias", "auto",
                        "--resolver", lab["LAB_RESOLVER"], "--provider", "rfc2136",
                        "--provider-setting", f"server={lab['LAB_BIND']}",
                        "--provider-setting", f"tsig_name={lab['LAB_TSIG_NAME']}",
                        "--provider-setting", f"tsig_algorithm={lab['LAB_TSIG_ALG']}",
                        "--provider-setting", f"tsig_secret={lab['LAB_TSIG_SECRET']}",
                        "--provider-setting", f"allowed_names={IN}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and p.stdout.splitlines()[1].split()[1:3] == ["unwritable", "no"], \
        p.stdout + p.stderr
    assert "allowed_names" in p.stdout


def test_the_worker_refuses_the_write(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=1)
    assert scoped(fleet).status_code == 201
    # "auto": the target (two.example.test.rfc-alias2.test) is known only from DNS, so
    # create cannot refuse it; the worker does, before writing
    r = fleet.api.post("/v1/certificates", json={
        "id": "auto", "domains": ["two.example.test"], "dns_alias": "auto",
        "provider": "scoped"})
    assert r.status_code == 201, r.text
    job = r.json()["job"]["id"]
    assert fleet.wait([job])[job] == "failed", fleet.timeline(job)
    text = fleet.api.get(f"/v1/jobs/{job}").text
    assert "allowed_names" in text and f"two.example.test.{OUT}" in text, text
    assert labdns.txt(lab["LAB_BIND"], f"two.example.test.{OUT}") == []
    assert fleet.sql("SELECT state FROM dns_records") in ([], [("failed",)])
    # the same provider issues inside its list
    r = fleet.api.post("/v1/certificates", json={
        "id": "fine", "domains": ["www.example.test"], "dns_alias": "auto",
        "provider": "scoped"})
    assert r.status_code == 201, r.text
    job = r.json()["job"]["id"]
    assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
    check_version(fleet, "fine", ["www.example.test"])
