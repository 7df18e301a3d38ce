"""The cloudflare provider against a fake Cloudflare API v4 (fakes/cloudflare_fake.py)
that publishes every TXT record it stores into the lab's PowerDNS, so Pebble
validates for real through the lab's CNAMEs
(_acme-challenge.cfN.example.test -> cfN.example.test.cf-alias.test).

What is checked: a real certificate (wildcard + apex in one order, two values at
one name at once), the two values at one name surviving each other's present and
cleanup, an identical record counted as present (code 81058), cleanup through
several pages of records with no server-side filter to lean on, zone lookup and
the zone setting, a bad token (a clear error, the token never in the output), a
server error passed on with its code, the http:// rule, and nothing left behind.
Every check of what is served goes straight to PowerDNS (LAB_PDNS) with dnspython.
"""

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))

import labdns  # noqa: E402
from cloudflare_fake import CloudflareFake  # noqa: E402
from issuance import TxtWatcher, check_certificate, issue  # noqa: E402
from providers_common import (  # noqa: E402
    assert_both_values_were_live, ok, run_dns, setting_args, value)


@pytest.fixture
def fake(lab):
    with CloudflareFake(lab) as f:
        yield f


def cf_args(fake, token=None, **extra):
    return setting_args("cloudflare", {"api_token": fake.token if token is None else token,
                                       "api_url": fake.api_url, **extra})


dns = run_dns


def unique():
    return f"cf-{uuid.uuid4().hex[:12]}.cf-alias.test"


def served(lab, name):
    return labdns.txt(lab["LAB_PDNS"], name)


def test_issue_wildcard_and_apex_in_one_order(lab, certfleet, fake, tmp_path):
    names = ["cf1.example.test", "*.cf1.example.test"]
    target = "cf1.example.test.cf-alias.test"
    with TxtWatcher(lab["LAB_PDNS"], target) as w:
        result = issue(certfleet, lab, names, tmp_path, aliases=[target],
                       provider_args=cf_args(fake))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    check_certificate(lab, tmp_path, names)
    assert_both_values_were_live(result.stdout, w, "cloudflare")
    assert fake.token not in out
    # both values went to the one target name, through the zone found by name
    creates = fake.calls("POST", "/dns_records")
    assert len(creates) == 2
    assert any(q.get("name") == "cf-alias.test" for p, q in fake.calls("GET", "/zones"))
    assert len(fake.calls("DELETE")) == 2
    assert fake.contents(target) == [] and served(lab, target) == []


def test_issue_with_zone_setting_and_automatic_ttl(lab, certfleet, fake, tmp_path):
    names = ["cf2.example.test"]
    target = "cf2.example.test.cf-alias.test"
    result = issue(certfleet, lab, names, tmp_path, aliases=[target],
                   provider_args=cf_args(fake, zone="cf-alias.test", ttl="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    check_certificate(lab, tmp_path, names)
    # the zone was asked for by its name only, never walked to
    assert [q.get("name") for p, q in fake.calls("GET", "/zones")] == ["cf-alias.test"] * 2
    assert served(lab, target) == []


def test_two_values_survive_each_other(lab, certfleet, fake):
    name, v1, v2 = unique(), value(), value()
    ok(dns(certfleet, "present", name, v1, *cf_args(fake)))
    ok(dns(certfleet, "present", name, v2, *cf_args(fake)))
    assert served(lab, name) == sorted([v1, v2])
    assert fake.contents(name) == [v1, v2]

    ok(dns(certfleet, "cleanup", name, v1, *cf_args(fake)))
    assert served(lab, name) == [v2]
    ok(dns(certfleet, "cleanup", name, v2, *cf_args(fake)))
    assert served(lab, name) == [] and fake.contents(name) == []
    # a value already gone: success, and nothing deleted
    deletes = len(fake.calls("DELETE"))
    ok(dns(certfleet, "cleanup", name, v2, *cf_args(fake)))
    assert len(fake.calls("DELETE")) == deletes


def test_identical_record_counts_as_present(lab, certfleet, fake):
    name, v = unique(), value()
    ok(dns(certfleet, "present", name, v, *cf_args(fake)))
    ok(dns(certfleet, "present", name, v, *cf_args(fake)))  # 81058 from the API
    assert fake.contents(name) == [v]
    ok(dns(certfleet, "cleanup", name, v, *cf_args(fake)))
    assert served(lab, name) == []


def test_cleanup_pages_through_all_records(lab, certfleet):
    # two records per page, and a server that ignores ?content=: the provider must
    # follow result_info.total_pages and pick its record by itself
    with CloudflareFake(lab, max_per_page=2, honor_content_filter=False) as fake:
        name = unique()
        values = [value() for _ in range(5)]
        for v in values:
            ok(dns(certfleet, "present", name, v, *cf_args(fake)))
        assert served(lab, name) == sorted(values)

        ok(dns(certfleet, "cleanup", name, values[4], *cf_args(fake)))
        pages = [q["page"] for p, q in fake.calls("GET", "/dns_records")]
        assert pages == ["1", "2", "3"]
        assert fake.contents(name) == values[:4]
        assert served(lab, name) == sorted(values[:4])

        for v in values[:4]:
            ok(dns(certfleet, "cleanup", name, v, *cf_args(fake)))
        assert served(lab, name) == [] and fake.contents(name) == []


def test_bad_token_is_a_clear_error_without_the_token(lab, certfleet, fake):
    name, wrong = unique(), "wrong-" + value()
    result = dns(certfleet, "present", name, value(), *cf_args(fake, token=wrong))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "HTTP 403" in out and "[10000] Authentication error" in out, out
    assert "api_token" in out
    assert wrong not in out and fake.token not in out
    assert fake.records == {} and served(lab, name) == []


def test_server_error_carries_the_code(lab, certfleet, fake):
    fake.fail_next.append((503, 10013, "Service temporarily unavailable"))
    result = dns(certfleet, "present", unique(), value(), *cf_args(fake))
    assert result.returncode != 0
    assert "HTTP 503" in result.stderr and "[10013]" in result.stderr, result.stderr


def test_zones(lab, certfleet, fake):
    result = dns(certfleet, "present", "x.nowhere.test", value(), *cf_args(fake))
    assert result.returncode != 0
    assert "no zone holds x.nowhere.test" in result.stderr, result.stderr

    result = dns(certfleet, "present", unique(), value(), *cf_args(fake, zone="other.test"))
    assert result.returncode != 0 and "not in zone other.test" in result.stderr

    result = dns(certfleet, "present", "a.pdns-alias.test", value(),
                 *cf_args(fake, zone="pdns-alias.test"))
    assert result.returncode != 0 and "zone pdns-alias.test not found" in result.stderr


@pytest.mark.parametrize("url,allowed", [
    ("http://192.0.2.1/client/v4", False),
    ("http://example.test/client/v4", False),
    ("ftp://127.0.0.1/client/v4", False),
    ("http://user:pw@127.0.0.1/client/v4", False),
    ("http://localhost:1/client/v4", True),
    ("http://[::1]:1/client/v4", True),
])
def test_api_url_rule(certfleet, url, allowed):
    # port 1 on loopback refuses at once: an allowed URL fails later, on the network
    args = ["--provider", "cloudflare", "--provider-setting", "api_token=t0ken",
            "--provider-setting", f"api_url={url}", "--timeout-ms", "2000"]
    result = dns(certfleet, "present", "x.cf-alias.test", value(), *args)
    assert result.returncode != 0
    assert ("setting api_url" in result.stderr) != allowed, result.stderr
    assert "pw" not in result.stderr


def test_settings_are_checked(certfleet, fake):
    for extra, expect in [({"ttl": "10"}, "setting ttl"), ({"colour": "x"}, "unknown setting"),
                          ({"zone": "bad..name"}, "setting zone")]:
        result = dns(certfleet, "present", unique(), value(), *cf_args(fake, **extra))
        assert result.returncode != 0 and expect in result.stderr, result.stderr
    result = dns(certfleet, "present", unique(), value(), *cf_args(fake, token="a b"))
    assert result.returncode != 0 and "setting api_token" in result.stderr
    assert fake.requests == []
