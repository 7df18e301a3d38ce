"""The rfc2136 provider against the lab's BIND, driven through `certfleet dns`.

What a provider must keep (providers/provider.h): present adds one TXT value without
touching the others at the name (a wildcard and its apex need two at once), cleanup
removes exactly that value and succeeds when it is already gone, errors name the
server, zone and key but never the secret. BIND's answers checked here: BADSIG (wrong
secret), REFUSED (the critical zone example.test allows no updates), NOTAUTH (a zone
BIND does not serve). Every check of what BIND serves goes straight to BIND with
dnspython, not through certfleet.
"""

import base64
import os
import subprocess
import uuid

import pytest

import labdns

RUN_TIMEOUT = 60  # seconds for one certfleet invocation


def run(certfleet, *args):
    return subprocess.run([certfleet, "dns", *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)


def provider_args(lab, key="sha256", secret=None, **extra):
    prefix = {"sha256": "LAB_TSIG", "sha512": "LAB_TSIG512"}[key]
    settings = {
        "server": lab["LAB_BIND"],
        "tsig_name": lab[prefix + "_NAME"],
        "tsig_algorithm": lab.get(prefix + "_ALG", "hmac-" + key),
        "tsig_secret": secret if secret is not None else lab[prefix + "_SECRET"],
        **extra,
    }
    args = ["--provider", "rfc2136"]
    for k, v in settings.items():
        args += ["--provider-setting", f"{k}={v}"]
    return args


def unique(zone):
    """A fresh name in ZONE, so tests sharing the session's lab never collide."""
    return f"rfc2136-{uuid.uuid4().hex[:12]}.{zone}"


def value():
    """A value shaped like an ACME key authorization digest (43 base64url chars)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def ok(result):
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}{result.stderr}"
    return result


def test_two_values_at_one_name(lab, certfleet):
    name, v1, v2 = unique("rfc-alias.test"), value(), value()
    resolver = ["--resolver", lab["LAB_RESOLVER"]]

    # zone found through the resolver (SOA walk) ...
    ok(run(certfleet, "present", name, v1, *provider_args(lab), *resolver))
    # ... and, without a resolver, by asking the update server itself
    ok(run(certfleet, "present", name, v2, *provider_args(lab)))
    assert labdns.txt(lab["LAB_BIND"], name) == sorted([v1, v2])

    ok(run(certfleet, "cleanup", name, v1, *provider_args(lab), *resolver))
    assert labdns.txt(lab["LAB_BIND"], name) == [v2]

    ok(run(certfleet, "cleanup", name, v2, *provider_args(lab, zone="rfc-alias.test")))
    assert labdns.txt(lab["LAB_BIND"], name) == []

    # cleaning up a value that is already gone succeeds
    ok(run(certfleet, "cleanup", name, v2, *provider_args(lab), *resolver))


@pytest.mark.parametrize("prefix", ["-", "--", "-r"])
def test_values_starting_with_dashes(lab, certfleet, prefix):
    # base64url values begin with '-' one time in 64: they are values, not options
    name, v = unique("rfc-alias.test"), prefix + value()[len(prefix):]
    ok(run(certfleet, "present", name, v, *provider_args(lab)))
    assert labdns.txt(lab["LAB_BIND"], name) == [v]
    ok(run(certfleet, "wait", name, v, "--resolver", lab["LAB_RESOLVER"]))
    ok(run(certfleet, "cleanup", *provider_args(lab), "--", name, v))
    assert labdns.txt(lab["LAB_BIND"], name) == []


def test_ttl_setting(lab, certfleet):
    import dns.message
    import dns.query
    import dns.rdatatype

    name, v = unique("rfc-alias.test"), value()
    ok(run(certfleet, "present", name, v, *provider_args(lab, ttl="123")))
    try:
        response = dns.query.udp(dns.message.make_query(name, dns.rdatatype.TXT),
                                 lab["LAB_BIND"], timeout=labdns.TIMEOUT)
        assert [rrset.ttl for rrset in response.answer] == [123]
    finally:
        ok(run(certfleet, "cleanup", name, v, *provider_args(lab)))


def test_hmac_sha512(lab, certfleet):
    name, v = unique("rfc-alias2.test"), value()
    ok(run(certfleet, "present", name, v, *provider_args(lab, key="sha512")))
    assert labdns.txt(lab["LAB_BIND"], name) == [v]
    ok(run(certfleet, "cleanup", name, v, *provider_args(lab, key="sha512")))
    assert labdns.txt(lab["LAB_BIND"], name) == []


def test_wrong_secret_is_badsig_and_secret_stays_hidden(lab, certfleet):
    name, v = unique("rfc-alias.test"), value()
    wrong = base64.b64encode(os.urandom(32)).decode()
    result = run(certfleet, "present", name, v, *provider_args(lab, secret=wrong))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "BADSIG" in out or "bad signature" in out.lower(), out
    assert lab["LAB_TSIG_NAME"] in out  # the message names the key ...
    assert "rfc-alias.test" in out      # ... and the zone
    assert wrong not in out and lab["LAB_TSIG_SECRET"] not in out
    assert labdns.txt(lab["LAB_BIND"], name) == []


def test_wrong_algorithm_is_refused_by_the_server(lab, certfleet):
    name, v = unique("rfc-alias.test"), value()
    args = provider_args(lab)
    args[args.index("tsig_algorithm=hmac-sha256")] = "tsig_algorithm=hmac-sha512"
    result = run(certfleet, "present", name, v, *args)
    assert result.returncode != 0
    assert "BADKEY" in result.stderr or "BADSIG" in result.stderr, result.stderr
    assert lab["LAB_TSIG_SECRET"] not in result.stdout + result.stderr


def test_critical_zone_is_refused(lab, certfleet):
    record = "_acme-challenge.www.example.test"
    before = labdns.cname(lab["LAB_BIND"], record)
    result = run(certfleet, "present", record, value(), *provider_args(lab),
                 "--resolver", lab["LAB_RESOLVER"])
    assert result.returncode != 0
    assert "REFUSED" in result.stderr, result.stderr
    assert "example.test" in result.stderr and lab["LAB_TSIG_NAME"] in result.stderr
    assert labdns.cname(lab["LAB_BIND"], record) == before


def test_zone_bind_does_not_serve(lab, certfleet):
    result = run(certfleet, "present", "x.nothere.test", value(),
                 *provider_args(lab, zone="nothere.test"))
    assert result.returncode != 0
    assert "NOTAUTH" in result.stderr or "REFUSED" in result.stderr, result.stderr
    assert "nothere.test" in result.stderr


def test_name_outside_the_configured_zone(lab, certfleet):
    result = run(certfleet, "present", "x.rfc-alias2.test", value(),
                 *provider_args(lab, zone="rfc-alias.test"))
    assert result.returncode != 0
    assert "not in zone rfc-alias.test" in result.stderr, result.stderr


def test_unreachable_server_fails_fast(lab, certfleet):
    args = provider_args(lab, zone="rfc-alias.test")
    args[args.index("server=" + lab["LAB_BIND"])] = "server=" + lab["LAB_BIND"] + ":1"
    result = run(certfleet, "present", unique("rfc-alias.test"), value(), *args,
                 "--timeout-ms", "500")
    assert result.returncode != 0
    assert "no answer" in result.stderr, result.stderr


def test_bad_settings_name_the_setting(lab, certfleet):
    result = run(certfleet, "present", unique("rfc-alias.test"), value(),
                 *provider_args(lab, secret="%%%not-base64"))
    assert result.returncode != 0
    assert "tsig_secret" in result.stderr and "not-base64" not in result.stderr
    result = run(certfleet, "present", unique("rfc-alias.test"), value(),
                 *provider_args(lab, ttl="soon"))
    assert result.returncode != 0 and "ttl" in result.stderr


def test_wait_authoritative_after_present(lab, certfleet):
    name, v1, v2 = unique("rfc-alias.test"), value(), value()
    resolver = ["--resolver", lab["LAB_RESOLVER"]]
    ok(run(certfleet, "present", name, v1, *provider_args(lab), *resolver))
    ok(run(certfleet, "present", name, v2, *provider_args(lab), *resolver))
    try:
        ok(run(certfleet, "wait", name, v1, name, v2, "--propagation", "authoritative",
               *resolver, "--timeout-ms", "15000"))
        ok(run(certfleet, "wait", name, v2, "--propagation", "resolvers", *resolver,
               "--timeout-ms", "15000"))
        missing = run(certfleet, "wait", name, value(), *resolver, "--timeout-ms", "400")
        assert missing.returncode != 0
        assert "timed out" in missing.stderr and lab["LAB_BIND"] in missing.stderr
    finally:
        ok(run(certfleet, "cleanup", name, v1, *provider_args(lab), *resolver))
        ok(run(certfleet, "cleanup", name, v2, *provider_args(lab), *resolver))


@pytest.mark.parametrize("action,args,expect", [
    ("chain", ["_acme-challenge.www.example.test"],
     "_acme-challenge.www.example.test\nwww.example.test.rfc-alias.test\n"),
    ("zone", ["www.example.test.rfc-alias.test"], "rfc-alias.test\n"),
    ("txt", ["_acme-challenge.shadow.example.test"], "stale\n"),
])
def test_lookups(lab, certfleet, action, args, expect):
    result = ok(run(certfleet, action, *args, "--resolver", lab["LAB_RESOLVER"]))
    assert result.stdout == expect


def test_loop_is_reported(lab, certfleet):
    result = run(certfleet, "chain", "_acme-challenge.loop.example.test",
                 "--resolver", lab["LAB_RESOLVER"])
    assert result.returncode == 1
    assert "loops" in result.stderr
