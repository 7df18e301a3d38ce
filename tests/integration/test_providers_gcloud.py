"""The gcloud provider against a fake Google Cloud DNS and token endpoint
(fakes/gcloud_fake.py) that verifies the RS256 signature of every JWT with the
service account's public key and publishes each change into the lab's PowerDNS
once it is "done", so Pebble validates for real through the lab's CNAMEs
(_acme-challenge.gcN.example.test -> gcN.example.test.gc-alias.test).

What is checked: a real certificate (wildcard + apex, two values at one name)
with `certfleet issue`; the same through the SERVICE, where all of the job's
values in the zone go in ONE change polled once (and one for cleanup); the
public zone found past its private twin; a key whose signature does not verify
(invalid_grant, as Google answers, in the job's error, naming the provider); the
settings checked at create time, naming the setting; the token reused; nothing
left behind (fake and PowerDNS).
"""
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))

import labdns  # noqa: E402
from gcloud_fake import GcloudFake  # noqa: E402
from issuance import TxtWatcher, check_certificate, issue  # noqa: E402
from providers_common import (  # noqa: E402
    assert_both_values_were_live, ok, run_dns, setting_args, value)
from service import db_url  # noqa: E402,F401 (fixture)
from test_service_providers import add_provider, presents  # noqa: E402
from workerlib import check_version, fleet  # noqa: E402,F401


@pytest.fixture
def fake(lab):
    with GcloudFake(lab) as f:
        yield f


def settings(fake, **extra):
    return {"service_account_key": fake.key_json, "endpoint": fake.endpoint, **extra}


def gc_args(fake, **extra):
    return setting_args("gcloud", settings(fake, **extra))


def unique():
    return f"gc-{uuid.uuid4().hex[:12]}.gc-alias.test"


def served(lab, name):
    return labdns.txt(lab["LAB_PDNS"], name)


def test_issue_wildcard_and_apex_in_one_order(lab, certfleet, fake, tmp_path):
    names = ["gc1.example.test", "*.gc1.example.test"]
    target = "gc1.example.test.gc-alias.test"
    with TxtWatcher(lab["LAB_PDNS"], target) as w:
        result = issue(certfleet, lab, names, tmp_path, aliases=[target],
                       provider_args=gc_args(fake))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    check_certificate(lab, tmp_path, names)
    assert_both_values_were_live(result.stdout, w, "gcloud")
    assert fake.key["private_key"].splitlines()[1] not in out
    assert all(c["status"] == "done" for c in fake.changes.values())
    # both values in one change, both removed in one change
    assert [(len(c["additions"]), len(c["deletions"])) for c in fake.changes.values()] == \
        [(1, 0), (0, 1)]
    assert [len(c["additions"][0]["rrdatas"]) for c in fake.changes.values()
            if c["additions"]] == [2]
    assert fake.values(target) == [] and served(lab, target) == []
    assert len(fake.calls("POST", "/token$")) == 1  # the token was reused
    assert all(s == 200 for _m, _p, s in fake.requests), fake.requests


def test_two_values_and_cleanup_keeps_the_other(lab, certfleet, fake):
    name, v1, v2 = unique(), value(), value()
    ok(run_dns(certfleet, "present", name, v1, *gc_args(fake)))
    ok(run_dns(certfleet, "present", name, v2, *gc_args(fake)))
    assert fake.values(name) == sorted([v1, v2]) and served(lab, name) == sorted([v1, v2])
    ok(run_dns(certfleet, "cleanup", name, v1, *gc_args(fake)))
    assert fake.values(name) == [v2] and served(lab, name) == [v2]
    ok(run_dns(certfleet, "cleanup", name, v2, *gc_args(fake)))
    assert fake.values(name) == [] and served(lab, name) == []
    before = len(fake.changes)
    ok(run_dns(certfleet, "cleanup", name, v2, *gc_args(fake)))  # gone already: no change
    assert len(fake.changes) == before
    # the public zone, never its private twin
    assert {c["zone"] for c in fake.changes.values()} == {"gc-alias"}


def test_wrong_key_is_invalid_grant(lab, certfleet, fake):
    name = unique()
    result = run_dns(certfleet, "present", name, value(), *setting_args("gcloud", {
        "service_account_key": fake.other_key_json(), "endpoint": fake.endpoint}))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "gcloud: token endpoint" in out and "HTTP 400 invalid_grant" in out, out
    assert "Invalid JWT Signature." in out and "service_account_key" in out
    assert "PRIVATE KEY" not in out
    assert fake.changes == {} and served(lab, name) == []


@pytest.mark.parametrize("extra,expect", [
    ({"service_account_key": "{not json"}, "setting service_account_key"),
    ({"service_account_key": json.dumps({"type": "authorized_user"})},
     "setting service_account_key"),
    ({"project": "X"}, "setting project"),
    ({"managed_zone": "Bad_Zone"}, "setting managed_zone"),
    ({"endpoint": "http://192.0.2.1/dns/v1"}, "setting endpoint"),
    ({"token_uri": "ftp://x"}, "setting token_uri"),
    ({"ttl": "0"}, "setting ttl"),
    ({"change_timeout": "soon"}, "setting change_timeout"),
    ({"zone": "x"}, "unknown setting"),
])
def test_settings_are_checked(certfleet, fake, extra, expect):
    result = run_dns(certfleet, "present", unique(), value(), *gc_args(fake, **extra))
    assert result.returncode != 0 and expect in result.stderr, result.stderr
    assert fake.requests == []


def test_service_one_change_per_zone(fleet, lab):
    with GcloudFake(lab, pending_polls=2) as fake:
        fleet.start(CERTFLEET_WORKERS=2)
        add_provider(fleet, "lab-gc", "gcloud", settings(fake))
        a, b = "gc2.example.test", "gc3.example.test"
        ta, tb = f"{a}.gc-alias.test", f"{b}.gc-alias.test"
        names = [f"*.{a}", a, b]
        job = fleet.certificate("gc-batch", names, {f"*.{a}": ta, a: ta, b: tb},
                                provider="lab-gc")
        assert fleet.wait([job], timeout=180)[job] == "issued", fleet.timeline(job)
        check_version(fleet, "gc-batch", names)
        assert sorted(f for f, _v, _p in presents(fleet, job)) == sorted([ta, ta, tb])
        assert len(fake.calls("POST", "/changes$")) == 2, fake.requests  # present, cleanup
        first, second = fake.changes.values()
        assert sorted((x["name"], len(x["rrdatas"])) for x in first["additions"]) == \
            [(ta + ".", 2), (tb + ".", 1)] and first["deletions"] == []
        assert sorted((x["name"], len(x["rrdatas"])) for x in second["deletions"]) == \
            [(ta + ".", 2), (tb + ".", 1)] and second["additions"] == []
        # each change polled once through: pending_polls "pending", then "done"
        assert len(fake.calls("GET", "/changes/")) == 2 * 3
        assert [c["polls"] for c in fake.changes.values()] == [3, 3]
        for t in (ta, tb):
            assert fake.values(t) == [] and labdns.txt(lab["LAB_PDNS"], t) == []
        assert fleet.sql("SELECT DISTINCT state FROM dns_records") == [("removed",)]
    assert fake.key["private_key"].splitlines()[1] not in fleet.logs()


def test_service_wrong_key_fails_the_job(fleet, lab):
    with GcloudFake(lab) as fake:
        fleet.start(CERTFLEET_WORKERS=1)
        add_provider(fleet, "lab-gc-bad", "gcloud", {
            "service_account_key": fake.other_key_json(), "endpoint": fake.endpoint})
        job = fleet.certificate("gc-bad", ["gc4.example.test"],
                                "gc4.example.test.gc-alias.test", provider="lab-gc-bad")
        assert fleet.wait([job], timeout=120)[job] == "failed", fleet.timeline(job)
        problem = json.dumps(fleet.job(job)["problem"]) + fleet.timeline(job)
        assert "lab-gc-bad" in problem and "invalid_grant" in problem, problem
        assert fake.changes == {}


def test_service_settings_checked_at_create(fleet, lab):
    with GcloudFake(lab) as fake:
        fleet.start(CERTFLEET_WORKERS=1)
        r = fleet.api.post("/v1/providers", json={"name": "gc-x", "type": "gcloud",
                                                  "settings": settings(fake, project="X")})
        assert r.status_code == 400 and "setting project" in r.text, r.text
        r = fleet.api.post("/v1/providers", json={"name": "gc-y", "type": "gcloud",
                                                  "settings": {"endpoint": fake.endpoint}})
        assert r.status_code == 400 and "service_account_key" in r.text, r.text


def alias_json(certfleet, lab, name, target, args):
    r = subprocess.run([certfleet, "alias", "check", name, "--alias", target, "--resolver",
                        lab["LAB_RESOLVER"], "--json", *args],
                       capture_output=True, text=True, timeout=60)
    (res,) = json.loads(r.stdout)["results"]
    return res


def test_alias_check_can_write(lab, certfleet, fake):
    res = alias_json(certfleet, lab, "gc5.example.test", "gc5.example.test.gc-alias.test",
                     gc_args(fake))
    assert res["verdict"] == "ok" and res["writable"] is True, res
    # a project the account has no permission on: not writable, saying why
    res = alias_json(certfleet, lab, "gc5.example.test", "gc5.example.test.gc-alias.test",
                     gc_args(fake, project="someone-else"))
    assert res["writable"] is False and res["verdict"] == "unwritable", res
    assert fake.changes == {}  # the probe writes nothing


def test_concurrent_writer_is_kept(lab, certfleet, fake):
    # between our read and our change, another client adds a value: the deletion no
    # longer matches (412 conditionNotMet); the provider reads again and keeps theirs
    name, ours, theirs = unique(), value(), value()
    ok(run_dns(certfleet, "present", name, ours, *gc_args(fake)))
    fake.before_change = lambda f: f.set_values(name, [ours, theirs])
    ok(run_dns(certfleet, "cleanup", name, ours, *gc_args(fake)))
    assert 412 in [s for _m, _p, s in fake.requests]
    assert fake.values(name) == [theirs] and served(lab, name) == [theirs]
    ok(run_dns(certfleet, "cleanup", name, theirs, *gc_args(fake)))
    assert fake.values(name) == [] and served(lab, name) == []
