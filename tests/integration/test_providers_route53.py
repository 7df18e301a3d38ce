"""The route53 provider against a fake Route 53 (fakes/route53_fake.py) that checks
the SigV4 signature of every request and publishes each rrset into the lab's
PowerDNS once its change is INSYNC, so Pebble validates for real through the
lab's CNAMEs (_acme-challenge.r53-N.example.test -> r53-N.example.test.r53-alias.test).

What is checked: a real certificate (wildcard + apex in one order: both values in
one UPSERT, both removed in one DELETE), the two values at one name surviving each
other's present and cleanup (UPSERT of the union, then UPSERT without ours, then a
DELETE of the exact set), GetChange polled until
INSYNC, the public zone found past its private twin, hosted_zone_id, a session
token, a wrong secret (SignatureDoesNotMatch, no secret in the output), a DELETE
that meets a concurrent writer, an insync timeout, values that need XML and TXT
escaping, and nothing left behind. What is served is read from PowerDNS
(LAB_PDNS) with dnspython.
"""

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))

import labdns  # noqa: E402
from issuance import TxtWatcher, check_certificate, issue  # noqa: E402
from providers_common import (  # noqa: E402
    assert_both_values_were_live, ok, run_dns, setting_args, value)
from route53_fake import Route53Fake  # noqa: E402


@pytest.fixture
def fake(lab):
    with Route53Fake(lab) as f:
        yield f


def r53_args(fake, secret=None, **extra):
    return setting_args("route53", {
        "access_key_id": fake.access_key_id,
        "secret_access_key": fake.secret_access_key if secret is None else secret,
        "endpoint": fake.endpoint, **extra})


dns = run_dns


def unique():
    return f"r53-{uuid.uuid4().hex[:12]}.r53-alias.test"


def served(lab, name):
    return labdns.txt(lab["LAB_PDNS"], name)


def changes(fake):
    """(action, name, values) of every applied change, in order."""
    return [(a, n, vals) for ch in fake.changes.values() for a, n, _t, _ttl, vals in ch["actions"]]


def test_issue_wildcard_and_apex_in_one_order(lab, certfleet, fake, tmp_path):
    names = ["r53-1.example.test", "*.r53-1.example.test"]
    target = "r53-1.example.test.r53-alias.test"
    with TxtWatcher(lab["LAB_PDNS"], target) as w:
        result = issue(certfleet, lab, names, tmp_path, aliases=[target],
                       provider_args=r53_args(fake))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    check_certificate(lab, tmp_path, names)
    assert_both_values_were_live(result.stdout, w, "route53")
    assert fake.secret_access_key not in out
    # both values in one UPSERT, both removed in one DELETE: one change and one wait
    # each (the provider's batch operations)
    assert [(a, len(v)) for a, _n, v in changes(fake)] == [("UPSERT", 2), ("DELETE", 2)]
    assert all(ch["status"] == "INSYNC" for ch in fake.changes.values())
    assert fake.rrset(target) is None and served(lab, target) == []
    assert all(code == "" for *_x, code in fake.requests), fake.requests


def test_issue_with_hosted_zone_id(lab, certfleet, fake, tmp_path):
    names = ["r53-2.example.test"]
    target = "r53-2.example.test.r53-alias.test"
    result = issue(certfleet, lab, names, tmp_path, aliases=[target],
                   provider_args=r53_args(fake, hosted_zone_id="/hostedzone/" + fake.zone_id,
                                          ttl="30"))
    assert result.returncode == 0, result.stdout + result.stderr
    check_certificate(lab, tmp_path, names)
    assert not any(p.endswith("/hostedzonesbyname") for _m, p, _s, _c in fake.requests)
    assert served(lab, target) == []


def test_two_values_survive_each_other(lab, certfleet, fake):
    name, v1, v2 = unique(), value(), value()
    ok(dns(certfleet, "present", name, v1, *r53_args(fake)))
    ok(dns(certfleet, "present", name, v2, *r53_args(fake)))
    assert fake.values(name) == [v1, v2]
    assert served(lab, name) == sorted([v1, v2])

    ok(dns(certfleet, "cleanup", name, v1, *r53_args(fake)))
    assert served(lab, name) == [v2]
    ok(dns(certfleet, "cleanup", name, v2, *r53_args(fake)))
    assert served(lab, name) == [] and fake.rrset(name) is None
    fq = name + "."
    assert changes(fake) == [("UPSERT", fq, [f'"{v1}"']),
                             ("UPSERT", fq, [f'"{v1}"', f'"{v2}"']),
                             ("UPSERT", fq, [f'"{v2}"']),
                             ("DELETE", fq, [f'"{v2}"'])]
    # present again is a no-op, and so is cleaning up a value that is gone
    before = len(fake.changes)
    ok(dns(certfleet, "cleanup", name, v2, *r53_args(fake)))
    assert len(fake.changes) == before


def test_polls_until_insync(lab, certfleet):
    with Route53Fake(lab, pending_polls=2) as fake:
        name, v = unique(), value()
        ok(dns(certfleet, "present", name, v, *r53_args(fake)))
        (change,) = fake.changes.values()
        assert change["status"] == "INSYNC" and change["polls"] == 3
        assert served(lab, name) == [v]
        ok(dns(certfleet, "cleanup", name, v, *r53_args(fake)))
        assert served(lab, name) == []


def test_insync_timeout(lab, certfleet, fake):
    fake.never_insync = True
    name, v = unique(), value()
    result = dns(certfleet, "present", name, v, *r53_args(fake, insync_timeout="1"))
    assert result.returncode != 0
    assert "still PENDING" in result.stderr and "insync_timeout" in result.stderr
    assert served(lab, name) == []  # never in sync, never published
    fake.never_insync = False
    ok(dns(certfleet, "cleanup", name, v, *r53_args(fake)))
    assert fake.rrset(name) is None


def test_wrong_secret_is_signature_mismatch(lab, certfleet, fake):
    name, wrong = unique(), "Wrong/" + value()
    result = dns(certfleet, "present", name, value(), *r53_args(fake, secret=wrong))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "HTTP 403 SignatureDoesNotMatch" in out, out
    assert "secret_access_key" in out
    assert wrong not in out and fake.secret_access_key not in out
    assert fake.changes == {} and served(lab, name) == []


def test_unknown_key_and_session_token(lab, certfleet):
    with Route53Fake(lab, session_token="FQoG" + value()) as fake:
        name, v = unique(), value()
        result = dns(certfleet, "present", name, v, *r53_args(fake))
        assert result.returncode != 0 and "InvalidClientTokenId" in result.stderr
        args = r53_args(fake, session_token=fake.session_token)
        bad_key = dns(certfleet, "present", name, v,
                      *r53_args(fake, access_key_id="AKIANOTKNOWN",
                                session_token=fake.session_token))
        assert bad_key.returncode != 0 and "InvalidClientTokenId" in bad_key.stderr
        ok(dns(certfleet, "present", name, v, *args))
        assert served(lab, name) == [v]
        result = ok(dns(certfleet, "cleanup", name, v, *args))
        assert fake.session_token not in result.stdout + result.stderr + bad_key.stderr
        assert served(lab, name) == []


def test_delete_meets_a_concurrent_writer(lab, certfleet, fake):
    # between our read and our DELETE, another client adds a value: Route 53 refuses
    # the DELETE (values do not match); the provider reads again and keeps theirs
    name, ours, theirs = unique(), value(), value()
    ok(dns(certfleet, "present", name, ours, *r53_args(fake)))
    fake.before_change = lambda f: f.set_rrset(name, 60, [ours, theirs])
    ok(dns(certfleet, "cleanup", name, ours, *r53_args(fake)))
    assert fake.values(name) == [theirs] and served(lab, name) == [theirs]
    assert "InvalidChangeBatch" in [code for *_x, code in fake.requests]
    ok(dns(certfleet, "cleanup", name, theirs, *r53_args(fake)))
    assert served(lab, name) == []


def test_values_that_need_escaping(lab, certfleet, fake):
    name = unique()
    odd = ['quote"back\\slash', "amp&lt<gt>apos'", "x" * 300]
    for v in odd:
        ok(dns(certfleet, "present", name, v, *r53_args(fake)))
    assert sorted(fake.values(name)) == sorted(odd)
    assert served(lab, name) == sorted(odd)
    for v in odd:
        ok(dns(certfleet, "cleanup", name, v, *r53_args(fake)))
    assert served(lab, name) == []


def test_zones(lab, certfleet, fake):
    result = dns(certfleet, "present", "x.nowhere.test", value(), *r53_args(fake))
    assert result.returncode != 0 and "no public hosted zone holds x.nowhere.test" in result.stderr
    result = dns(certfleet, "present", unique(), value(),
                 *r53_args(fake, hosted_zone_id="ZNOSUCHZONE"))
    assert result.returncode != 0 and "NoSuchHostedZone" in result.stderr
    result = dns(certfleet, "present", "x.other-zone.test", value(),
                 *r53_args(fake, hosted_zone_id=fake.zone_id))
    assert result.returncode != 0 and "not permitted in zone" in result.stderr


def test_throttling_is_reported(lab, certfleet, fake):
    fake.fail_next.append((400, "Throttling", "Rate exceeded"))
    result = dns(certfleet, "present", unique(), value(), *r53_args(fake))
    assert result.returncode != 0 and "HTTP 400 Throttling: Rate exceeded" in result.stderr


@pytest.mark.parametrize("extra,expect", [
    ({"endpoint": "http://192.0.2.1"}, "setting endpoint"),
    ({"endpoint": "https://route53.amazonaws.com/a%20b"}, "setting endpoint"),
    ({"region": "US East"}, "setting region"),
    ({"hosted_zone_id": "Z-1"}, "setting hosted_zone_id"),
    ({"ttl": "0"}, "setting ttl"),
    ({"insync_timeout": "soon"}, "setting insync_timeout"),
    ({"secret_access_key": ""}, "setting secret_access_key"),
    ({"zone": "x"}, "unknown setting"),
])
def test_settings_are_checked(certfleet, fake, extra, expect):
    result = dns(certfleet, "present", unique(), value(), *r53_args(fake, **extra))
    assert result.returncode != 0 and expect in result.stderr, result.stderr
    assert fake.requests == []
