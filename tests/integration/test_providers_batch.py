"""Batched DNS changes through the SERVICE: a provider with change IDs (route53;
gcloud in test_providers_gcloud.py) gets all of a job's values for one zone in ONE
change, and the change is waited for ONCE, for presenting and again for cleanup.

The job: a wildcard and its apex (two values at one target) plus a second name
with a target of its own in the same hosted zone: three values, two rrsets, one
zone. The fake Route 53 counts every ChangeResourceRecordSets and every GetChange;
Pebble validates through the lab's PowerDNS, where the fake publishes a change once
it is INSYNC, so the values really were there together.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))

import labdns  # noqa: E402
from route53_fake import Route53Fake  # noqa: E402
from service import db_url  # noqa: E402,F401 (fixture)
from test_service_providers import add_provider, presents  # noqa: E402
from workerlib import check_version, fleet  # noqa: E402,F401


def test_route53_one_change_per_zone(fleet, lab):
    with Route53Fake(lab, pending_polls=2) as fake:
        fleet.start(CERTFLEET_WORKERS=2)
        add_provider(fleet, "lab-r53b", "route53", {
            "access_key_id": fake.access_key_id, "secret_access_key": fake.secret_access_key,
            "endpoint": fake.endpoint})
        a, b = "r53-8.example.test", "r53-9.example.test"
        ta, tb = f"{a}.r53-alias.test", f"{b}.r53-alias.test"
        names = [f"*.{a}", a, b]
        job = fleet.certificate("r53-batch", names, {f"*.{a}": ta, a: ta, b: tb},
                                provider="lab-r53b")
        assert fleet.wait([job], timeout=180)[job] == "issued", fleet.timeline(job)
        check_version(fleet, "r53-batch", names)
        p = presents(fleet, job)
        assert sorted(f for f, _v, _p in p) == sorted([ta, ta, tb]), p

        posts = [r for r in fake.requests if r[0] == "POST"]
        assert len(posts) == 2, fake.requests  # one to present, one to clean up
        assert len(fake.changes) == 2
        first, second = fake.changes.values()
        assert sorted((act, n, len(v)) for act, n, _t, _ttl, v in first["actions"]) == \
            [("UPSERT", ta + ".", 2), ("UPSERT", tb + ".", 1)]
        assert sorted((act, n, len(v)) for act, n, _t, _ttl, v in second["actions"]) == \
            [("DELETE", ta + ".", 2), ("DELETE", tb + ".", 1)]
        # one wait per change: pending_polls PENDING answers, then one INSYNC
        polls = [path for m, path, _s, _c in fake.requests
                 if m == "GET" and "/change/" in path]
        assert len(polls) == 2 * 3, polls
        assert [c["polls"] for c in fake.changes.values()] == [3, 3]
        assert all(c["status"] == "INSYNC" for c in fake.changes.values())
        assert all(code == "" for *_x, code in fake.requests), fake.requests
        for t in (ta, tb):
            assert fake.rrset(t) is None and labdns.txt(lab["LAB_PDNS"], t) == []
        assert fleet.sql("SELECT DISTINCT state FROM dns_records") == [("removed",)]
    assert fake.secret_access_key not in fleet.logs()
