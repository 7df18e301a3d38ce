"""The azure provider against a fake Azure DNS, Microsoft identity platform and
managed-identity endpoint (fakes/azure_fake.py) that checks the client
credentials and bearer tokens like the real services and publishes each record
set into the lab's PowerDNS, so Pebble validates for real through the lab's
CNAMEs (_acme-challenge.azN.example.test -> azN.example.test.az-alias.test).

What is checked: a real certificate (wildcard + apex, two values at one record
set) with `certfleet issue`, and through the SERVICE, where a job's values at one
record set go in one PUT; the zone found by suffix; the managed identity; a wrong
client secret (401 invalid_client AADSTS7000215, as Azure answers, in the job's
error naming the provider); a concurrent writer (412 on the etag, read again);
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
from azure_fake import AzureFake  # noqa: E402
from issuance import TxtWatcher, check_certificate, issue  # noqa: E402
from providers_common import (  # noqa: E402
    assert_both_values_were_live, ok, run_dns, setting_args, value)
from service import db_url  # noqa: E402,F401 (fixture)
from test_service_providers import add_provider, presents  # noqa: E402
from workerlib import check_version, fleet  # noqa: E402,F401


@pytest.fixture
def fake(lab):
    with AzureFake(lab) as f:
        yield f


def az_args(fake, **extra):
    return setting_args("azure", fake.settings(**extra))


def unique():
    return f"az-{uuid.uuid4().hex[:12]}.az-alias.test"


def served(lab, name):
    return labdns.txt(lab["LAB_PDNS"], name)


def test_issue_wildcard_and_apex_in_one_order(lab, certfleet, fake, tmp_path):
    names = ["az1.example.test", "*.az1.example.test"]
    target = "az1.example.test.az-alias.test"
    with TxtWatcher(lab["LAB_PDNS"], target) as w:
        result = issue(certfleet, lab, names, tmp_path, aliases=[target],
                       provider_args=az_args(fake))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    check_certificate(lab, tmp_path, names)
    assert_both_values_were_live(result.stdout, w, "azure")
    assert fake.client_secret not in out
    assert fake.values(target) == [] and served(lab, target) == []
    assert fake.token_requests == [("client_credentials", 200)]  # one token, reused
    assert all(s in (200, 201, 404) for _m, _p, s in fake.requests), fake.requests


def test_two_values_and_cleanup_keeps_the_other(lab, certfleet, fake):
    name, v1, v2, long = unique(), value(), value(), "x" * 300
    for v in (v1, v2, long):
        ok(run_dns(certfleet, "present", name, v, *az_args(fake, zone="az-alias.test")))
    assert fake.values(name) == sorted([v1, v2, long])
    assert served(lab, name) == sorted([v1, v2, long])
    ok(run_dns(certfleet, "cleanup", name, v1, *az_args(fake)))
    assert fake.values(name) == sorted([v2, long]) and served(lab, name) == sorted([v2, long])
    for v in (v2, long):
        ok(run_dns(certfleet, "cleanup", name, v, *az_args(fake)))
    assert fake.values(name) == [] and served(lab, name) == []
    writes = len(fake.calls("PUT", "")) + len(fake.calls("DELETE", ""))
    ok(run_dns(certfleet, "cleanup", name, v2, *az_args(fake)))  # gone already: no write
    assert len(fake.calls("PUT", "")) + len(fake.calls("DELETE", "")) == writes


def test_concurrent_writer_meets_the_etag(lab, certfleet, fake):
    name, ours, theirs = unique(), value(), value()
    ok(run_dns(certfleet, "present", name, ours, *az_args(fake)))
    fake.before_write = lambda f: f.set_values(name, [ours, theirs])
    ok(run_dns(certfleet, "cleanup", name, ours, *az_args(fake)))
    assert 412 in [s for _m, _p, s in fake.requests]
    assert fake.values(name) == [theirs] and served(lab, name) == [theirs]
    ok(run_dns(certfleet, "cleanup", name, theirs, *az_args(fake)))
    assert served(lab, name) == []


def test_managed_identity(lab, certfleet, fake):
    name, v = unique(), value()
    args = setting_args("azure", fake.msi_settings())
    ok(run_dns(certfleet, "present", name, v, *args))
    assert served(lab, name) == [v]
    ok(run_dns(certfleet, "cleanup", name, v, *args))
    assert served(lab, name) == []
    assert {k for k, _s in fake.token_requests} == {"msi"}


def test_wrong_secret_is_invalid_client(lab, certfleet, fake):
    name, wrong = unique(), "Wrong~" + value()
    result = run_dns(certfleet, "present", name, value(), *az_args(fake, client_secret=wrong))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "azure: token endpoint" in out and "HTTP 401 invalid_client" in out, out
    assert "AADSTS7000215" in out and "client_secret" in out
    assert wrong not in out and fake.client_secret not in out
    assert fake.calls("PUT", "") == [] and served(lab, name) == []
    other = run_dns(certfleet, "present", name, value(),
                    *az_args(fake, subscription_id=str(uuid.uuid4())))
    assert other.returncode != 0 and "SubscriptionNotFound" in other.stderr


@pytest.mark.parametrize("extra,expect", [
    ({"subscription_id": "nope"}, "setting subscription_id"),
    ({"resource_group": "bad/rg"}, "setting resource_group"),
    ({"tenant_id": "bad tenant"}, "setting tenant_id"),
    ({"client_id": "x"}, "setting client_id"),
    ({"client_secret": ""}, "setting client_secret"),
    ({"use_managed_identity": "yes"}, "setting use_managed_identity"),
    ({"management_endpoint": "http://192.0.2.1"}, "setting management_endpoint"),
    ({"login_endpoint": "ftp://x"}, "setting login_endpoint"),
    ({"identity_endpoint": "http://192.0.2.1/token"}, "setting identity_endpoint"),
    ({"zone": "bad zone"}, "setting zone"),
    ({"ttl": "0"}, "setting ttl"),
    ({"api_token": "x"}, "unknown setting"),
])
def test_settings_are_checked(certfleet, fake, extra, expect):
    result = run_dns(certfleet, "present", unique(), value(), *az_args(fake, **extra))
    assert result.returncode != 0 and expect in result.stderr, result.stderr
    assert fake.requests == []


def test_service_issues_and_batches_per_record_set(fleet, lab):
    with AzureFake(lab) as fake:
        fleet.start(CERTFLEET_WORKERS=2)
        add_provider(fleet, "lab-az", "azure", fake.settings())
        a, b = "az2.example.test", "az3.example.test"
        ta, tb = f"{a}.az-alias.test", f"{b}.az-alias.test"
        names = [f"*.{a}", a, b]
        job = fleet.certificate("az-batch", names, {f"*.{a}": ta, a: ta, b: tb},
                                provider="lab-az")
        assert fleet.wait([job], timeout=180)[job] == "issued", fleet.timeline(job)
        check_version(fleet, "az-batch", names)
        assert sorted(f for f, _v, _p in presents(fleet, job)) == sorted([ta, ta, tb])
        # one PUT per record set (the wildcard and its apex share one), one DELETE each
        assert len(fake.calls("PUT", "/TXT/")) == 2, fake.requests
        assert len(fake.calls("DELETE", "/TXT/")) == 2, fake.requests
        for t in (ta, tb):
            assert fake.values(t) == [] and labdns.txt(lab["LAB_PDNS"], t) == []
        assert fleet.sql("SELECT DISTINCT state FROM dns_records") == [("removed",)]
    assert fake.client_secret not in fleet.logs()


def test_service_wrong_secret_fails_the_job(fleet, lab):
    with AzureFake(lab) as fake:
        fleet.start(CERTFLEET_WORKERS=1)
        add_provider(fleet, "lab-az-bad", "azure", fake.settings(client_secret="Wrong~x"))
        job = fleet.certificate("az-bad", ["az4.example.test"],
                                "az4.example.test.az-alias.test", provider="lab-az-bad")
        assert fleet.wait([job], timeout=120)[job] == "failed", fleet.timeline(job)
        problem = json.dumps(fleet.job(job)["problem"]) + fleet.timeline(job)
        assert "lab-az-bad" in problem and "AADSTS7000215" in problem, problem
        assert fake.calls("PUT", "") == []


def test_service_settings_checked_at_create(fleet, lab):
    with AzureFake(lab) as fake:
        fleet.start(CERTFLEET_WORKERS=1)
        r = fleet.api.post("/v1/providers", json={"name": "az-x", "type": "azure",
                                                  "settings": fake.settings(tenant_id="")})
        assert r.status_code == 400 and "setting tenant_id" in r.text, r.text
        r = fleet.api.post("/v1/providers", json={"name": "az-y", "type": "azure",
                                                  "settings": fake.settings()})
        assert r.status_code == 201 and fake.client_secret not in r.text
        assert "client_secret" in r.json()["secrets"]


def alias_json(certfleet, lab, name, target, args):
    r = subprocess.run([certfleet, "alias", "check", name, "--alias", target, "--resolver",
                        lab["LAB_RESOLVER"], "--json", *args],
                       capture_output=True, text=True, timeout=60)
    (res,) = json.loads(r.stdout)["results"]
    return res


def test_alias_check_can_write(lab, certfleet, fake):
    res = alias_json(certfleet, lab, "az5.example.test", "az5.example.test.az-alias.test",
                     az_args(fake))
    assert res["verdict"] == "ok" and res["writable"] is True, res
    res = alias_json(certfleet, lab, "az5.example.test", "az5.example.test.az-alias.test",
                     az_args(fake, resource_group="elsewhere-rg"))
    assert res["writable"] is False and res["verdict"] == "unwritable", res
    assert fake.calls("PUT", "") == [] and fake.calls("DELETE", "") == []
