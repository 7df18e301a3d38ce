"""The powerdns provider against the lab's real PowerDNS 4.7 (HTTP API on LAB_PDNS_API).

Real certificates from Pebble through `certfleet issue --provider powerdns` (the
wildcard and its apex in one order, both values at one name; a name whose zone is
found by walking up), and `certfleet dns present|cleanup` for what the provider
must keep (providers/provider.h): other values at the name survive (PowerDNS
replaces whole rrsets, so the provider reads, modifies and writes them back),
cleanup removes exactly its value and succeeds when it is gone, the rrset is
deleted when empty, the TTL setting, and errors that name the setting at fault
but never the api_key. What PowerDNS serves is read straight from it with
dnspython (labdns.txt), never through certfleet.
"""

import time
import uuid

import dns.message
import dns.query
import dns.rdatatype
import pytest

import labdns
from issuance import TxtWatcher, check_certificate, issue
from providers_common import assert_both_values_were_live, ok, setting_args, value
from providers_common import run_dns as run

ZONE = "pdns-alias.test"


def provider_args(lab, **extra):
    return setting_args("powerdns", {"api_url": lab["LAB_PDNS_API"],
                                     "api_key": lab["LAB_PDNS_KEY"], **extra})


def unique():
    return f"pdns-{uuid.uuid4().hex[:12]}.{ZONE}"


@pytest.fixture
def no_leftovers(lab):
    targets = []
    yield targets
    for t in targets:
        assert labdns.txt(lab["LAB_PDNS"], t) == [], f"TXT left at {t}"


def test_wildcard_and_apex_in_one_order(certfleet, lab, tmp_path, no_leftovers):
    target = f"p41.example.test.{ZONE}"
    no_leftovers.append(target)
    names = ["*.p41.example.test", "p41.example.test"]
    with TxtWatcher(lab["LAB_PDNS"], target) as w:
        p = issue(certfleet, lab, names, tmp_path, aliases=[target],
                  provider_args=provider_args(lab))
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, tmp_path, names)
    assert_both_values_were_live(p.stdout, w, "powerdns")
    assert lab["LAB_PDNS_KEY"] not in p.stdout + p.stderr


def test_alias_auto_and_zone_found_by_walking_up(certfleet, lab, tmp_path, no_leftovers):
    # no zone setting: the provider tries api.example.test.pdns-alias.test,
    # example.test.pdns-alias.test, test.pdns-alias.test, then finds pdns-alias.test
    target = f"api.example.test.{ZONE}"
    no_leftovers.append(target)
    p = issue(certfleet, lab, ["api.example.test"], tmp_path, aliases=["auto"],
              provider_args=provider_args(lab, server_id="localhost", ttl="30"))
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, tmp_path, ["api.example.test"])
    assert f"{target} TXT" in p.stdout


def test_two_values_and_a_foreign_one_survive(certfleet, lab):
    name, v1, v2, foreign = unique(), value(), value(), "not-certfleet's"
    labdns.pdns_add(lab, name, foreign)
    try:
        ok(run(certfleet, "present", name, v1, *provider_args(lab)))
        ok(run(certfleet, "present", name, v2, *provider_args(lab, zone=ZONE)))
        assert labdns.txt(lab["LAB_PDNS"], name) == sorted([v1, v2, foreign])
        ok(run(certfleet, "present", name, v2, *provider_args(lab)))  # idempotent
        assert labdns.txt(lab["LAB_PDNS"], name) == sorted([v1, v2, foreign])

        ok(run(certfleet, "cleanup", name, v1, *provider_args(lab)))
        assert labdns.txt(lab["LAB_PDNS"], name) == sorted([v2, foreign])
        ok(run(certfleet, "cleanup", name, v2, *provider_args(lab)))
        assert labdns.txt(lab["LAB_PDNS"], name) == [foreign]
        ok(run(certfleet, "cleanup", name, v2, *provider_args(lab)))  # already gone
        assert labdns.txt(lab["LAB_PDNS"], name) == [foreign]
    finally:
        labdns.pdns_delete(lab, name)


def test_last_value_deletes_the_rrset(certfleet, lab):
    name, v1, v2 = unique(), value(), value()
    ok(run(certfleet, "present", name, v1, *provider_args(lab)))
    ok(run(certfleet, "present", name, v2, *provider_args(lab)))
    ok(run(certfleet, "cleanup", name, v2, *provider_args(lab)))
    ok(run(certfleet, "cleanup", name, v1, *provider_args(lab)))
    assert labdns.txt(lab["LAB_PDNS"], name) == []
    zone = labdns._pdns(lab, "GET", f"/zones/{ZONE}.")
    assert not [r for r in zone["rrsets"] if r["name"] == name + "."], "empty rrset left"


def test_values_with_quotes_and_dashes(certfleet, lab):
    name = unique()
    for v in ["-starts-with-dash", 'has "quotes" and \\ backslash']:
        ok(run(certfleet, "present", *provider_args(lab), "--", name, v))
        assert labdns.txt(lab["LAB_PDNS"], name) == [v]
        ok(run(certfleet, "cleanup", *provider_args(lab), "--", name, v))
        assert labdns.txt(lab["LAB_PDNS"], name) == []


def test_ttl_setting(certfleet, lab):
    name, v = unique(), value()
    ok(run(certfleet, "present", name, v, *provider_args(lab, ttl="123")))
    try:
        response = dns.query.udp(dns.message.make_query(name, dns.rdatatype.TXT),
                                 lab["LAB_PDNS"], timeout=labdns.TIMEOUT)
        assert [rrset.ttl for rrset in response.answer] == [123]
    finally:
        ok(run(certfleet, "cleanup", name, v, *provider_args(lab)))


def test_api_key_from_a_file(certfleet, lab, tmp_path):
    key_file = tmp_path / "pdns.key"
    key_file.write_text(lab["LAB_PDNS_KEY"] + "\n")
    key_file.chmod(0o600)
    name, v = unique(), value()
    args = provider_args(lab, api_key=f"@{key_file}")
    ok(run(certfleet, "present", name, v, *args))
    assert labdns.txt(lab["LAB_PDNS"], name) == [v]
    ok(run(certfleet, "cleanup", name, v, *args))


@pytest.mark.parametrize("extra,expect", [
    ({"api_key": "wrong-key-0123456789"}, ["api_key", "401"]),
    ({"server_id": "nosuchserver"}, ["server_id", "nosuchserver", "404"]),
    ({"zone": "elsewhere.test"}, ["not in zone elsewhere.test"]),
    ({"api_url": None}, ["api_url", "required"]),
    ({"api_url": "pdns.example:8081"}, ["api_url", "http"]),
    ({"api_key": None}, ["api_key", "required"]),
    ({"ttl": "0"}, ["ttl"]),
    ({"apikey": "x"}, ["unknown setting", "apikey"]),
])
def test_bad_settings_name_the_setting(certfleet, lab, extra, expect):
    name = unique()
    result = run(certfleet, "present", name, value(), *provider_args(lab, **extra))
    assert result.returncode != 0
    for text in expect:
        assert text in result.stderr, result.stderr
    assert lab["LAB_PDNS_KEY"] not in result.stdout + result.stderr
    assert "wrong-key-0123456789" not in result.stdout + result.stderr
    assert labdns.txt(lab["LAB_PDNS"], name) == []


def test_zone_powerdns_does_not_have(certfleet, lab):
    result = run(certfleet, "present", "x.nothere.test", value(), *provider_args(lab))
    assert result.returncode != 0
    assert "no zone" in result.stderr and "x.nothere.test" in result.stderr, result.stderr
    assert "nothere.test" in result.stderr


def test_422_from_powerdns_is_reported(certfleet, lab):
    # a TXT next to a CNAME: PowerDNS refuses the PATCH with 422 {"error": ...}
    name = unique()
    labdns._pdns(lab, "PATCH", f"/zones/{ZONE}.", json={"rrsets": [{
        "name": name + ".", "type": "CNAME", "ttl": 60, "changetype": "REPLACE",
        "records": [{"content": "elsewhere.test.", "disabled": False}]}]})
    try:
        result = run(certfleet, "present", name, value(), *provider_args(lab))
        assert result.returncode != 0
        assert "HTTP 422" in result.stderr and "onflicts" in result.stderr, result.stderr
        assert name in result.stderr
    finally:
        labdns._pdns(lab, "PATCH", f"/zones/{ZONE}.", json={"rrsets": [{
            "name": name + ".", "type": "CNAME", "changetype": "DELETE"}]})


def test_overlong_value_is_refused_before_any_request(certfleet, lab):
    bad = run(certfleet, "present", unique(), "x" * 1025, *provider_args(lab))
    assert bad.returncode != 0 and "1024" in bad.stderr, bad.stderr


def test_unreachable_api_is_transient_and_fast(certfleet, lab):
    url = lab["LAB_PDNS_API"].rsplit(":", 1)[0] + ":1"
    t0 = time.monotonic()
    result = run(certfleet, "present", unique(), value(), *provider_args(lab, api_url=url),
                 "--timeout-ms", "1000")
    assert result.returncode != 0
    assert "api_url" in result.stderr and ":1" in result.stderr, result.stderr
    assert time.monotonic() - t0 < 10


def test_api_that_never_answers_times_out(certfleet, lab):
    # a socket that accepts connections (the kernel's backlog) but never answers
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        t0 = time.monotonic()
        result = run(certfleet, "present", unique(), value(),
                     *provider_args(lab, api_url=url), "--timeout-ms", "700")
    assert result.returncode != 0
    assert "no answer within 700 ms" in result.stderr, result.stderr
    assert time.monotonic() - t0 < 10
