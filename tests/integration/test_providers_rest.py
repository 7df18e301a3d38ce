"""The records-API providers (digitalocean, hetzner, ovh, gandi, linode, desec, httpreq)
against their fakes (fakes/rest_fakes.py), which speak each API's wire format, check
its authentication, and publish what they hold into the lab's PowerDNS, so Pebble
validates for real through the lab's CNAMEs
(_acme-challenge.PN.example.test -> PN.example.test.P-alias.test).

For every provider: a real certificate (wildcard + apex in one order: two values at
one name at once, both written before either challenge is answered), every value
gone afterwards (at the fake and at PowerDNS), two values surviving each other's
present and cleanup, a cleanup of a value already gone, a wrong credential failing
the way the real API fails (its status and error text, the provider and the setting
named, the secret never shown, nothing written), and settings errors naming the
setting before any request is sent. Then what is particular: deSEC's 429 with
Retry-After waited out (and the wait measured at the fake), OVH's signature against
a server clock an hour off the local one and its zone refresh, Linode's domain
lookup over pages, httpreq's basic auth and lego's fqdn with its final dot.
"""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))

import labdns  # noqa: E402
from issuance import TxtWatcher, check_certificate, issue  # noqa: E402
from providers_common import (  # noqa: E402
    assert_both_values_were_live, ok, run_dns, setting_args, value)
from rest_fakes import (DesecFake, HttpreqFake, LinodeFake, OvhFake,  # noqa: E402
                        APIS, settings_of)

KIND = {"digitalocean": "do", "hetzner": "hetzner", "ovh": "ovh", "gandi": "gandi",
        "linode": "linode", "desec": "desec", "httpreq": "httpreq"}
PROVIDERS = sorted(KIND)

# what a wrong credential gets from each API: (settings change, expected in the error)
WRONG = {
    "digitalocean": ({"api_token": "wrong-" + uuid.uuid4().hex},
                     ["HTTP 401", "[Unauthorized] Unable to authenticate you", "api_token"]),
    "hetzner": ({"api_token": "wrong-" + uuid.uuid4().hex},
                ["HTTP 401", "Invalid authentication credentials", "api_token"]),
    "ovh": ({"consumer_key": "0123456789abcdef"},
            ["HTTP 403", "[INVALID_CREDENTIAL] This credential is not valid",
             "consumer_key"]),
    "gandi": ({"api_token": "wrong-" + uuid.uuid4().hex}, ["HTTP 401", "[Unauthorized] The server could not "
                                       "verify", "api_token"]),
    "linode": ({"api_token": "wrong-" + uuid.uuid4().hex}, ["HTTP 401", "Invalid Token", "api_token"]),
    "desec": ({"api_token": "wrong-" + uuid.uuid4().hex}, ["HTTP 401", "Invalid token.", "api_token"]),
    "httpreq": ({"password": "wrong-" + uuid.uuid4().hex}, ["HTTP 401", "Unauthorized", "username and password"]),
}


def start_fake(provider, lab, **kw):
    if provider == "httpreq":
        kw.setdefault("username", "certfleet")
        kw.setdefault("password", "pw-" + uuid.uuid4().hex)
    return APIS[provider](lab, **kw)


@pytest.fixture(params=PROVIDERS)
def provider(request):
    return request.param


@pytest.fixture
def fake(provider, lab):
    with start_fake(provider, lab) as f:
        yield f


def args_of(provider, fake, **change):
    return setting_args(provider, {**settings_of(provider, fake), **change})


def secrets_of(provider, fake):
    s = settings_of(provider, fake)
    return [s[k] for k in ("api_token", "application_secret", "consumer_key", "password")
            if k in s]


def served(lab, name):
    return labdns.txt(lab["LAB_PDNS"], name)


def unique(provider):
    return f"t-{uuid.uuid4().hex[:10]}.{KIND[provider]}-alias.test"


def test_issue_wildcard_and_apex(lab, certfleet, provider, fake, tmp_path):
    base = f"{KIND[provider]}1.example.test"
    names, target = [base, f"*.{base}"], f"{base}.{KIND[provider]}-alias.test"
    with TxtWatcher(lab["LAB_PDNS"], target) as w:
        result = issue(certfleet, lab, names, tmp_path, aliases=[target],
                       provider_args=args_of(provider, fake))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    check_certificate(lab, tmp_path, names)
    assert_both_values_were_live(result.stdout, w, provider)
    assert fake.values(target) == [] and served(lab, target) == []
    assert not any(s in out for s in secrets_of(provider, fake))


def test_two_values_survive_each_other(lab, certfleet, provider, fake):
    name, v1, v2 = unique(provider), value(), value()
    args = args_of(provider, fake)
    ok(run_dns(certfleet, "present", name, v1, *args))
    ok(run_dns(certfleet, "present", name, v2, *args))
    if provider == "ovh":  # published at the refresh after each change
        assert fake.refreshes == 2
    assert fake.values(name) == [v1, v2] and served(lab, name) == sorted([v1, v2])
    ok(run_dns(certfleet, "present", name, v2, *args))  # already there: no second copy
    assert fake.values(name) == [v1, v2]

    ok(run_dns(certfleet, "cleanup", name, v1, *args))
    assert fake.values(name) == [v2] and served(lab, name) == [v2]
    ok(run_dns(certfleet, "cleanup", name, v2, *args))
    assert fake.values(name) == [] and served(lab, name) == []
    ok(run_dns(certfleet, "cleanup", name, v2, *args))  # gone already: success


def test_wrong_credential_fails_like_the_api(lab, certfleet, provider, fake):
    change, expected = WRONG[provider]
    name = unique(provider)
    result = run_dns(certfleet, "present", name, value(), *args_of(provider, fake, **change))
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{provider}: " in result.stderr, out
    for text in expected:
        assert text in out, out
    assert not any(s in out for s in secrets_of(provider, fake) + list(change.values()))
    assert fake.store == {} and served(lab, name) == []


SETTINGS_ERRORS = {
    "common": [({"ttl": "5"}, "setting ttl"), ({"colour": "x"}, "unknown setting"),
               ({"api_url": "http://192.0.2.1/v1"}, "setting api_url"),
               ({"zone": "bad..name"}, "setting zone"), ({"api_token": None}, "setting api_token"),
               ({"api_token": "a b"}, "setting api_token")],
    "ovh": [({"application_key": None}, "setting application_key"),
            ({"application_secret": None}, "setting application_secret"),
            ({"consumer_key": None}, "setting consumer_key"), ({"ttl": "5"}, "setting ttl"),
            ({"api_url": "ftp://127.0.0.1/1.0"}, "setting api_url")],
    "httpreq": [({"endpoint": None}, "setting endpoint"),
                ({"endpoint": "http://192.0.2.1/dns"}, "setting endpoint"),
                ({"password": None}, "setting password"),
                ({"username": None}, "setting username"), ({"zone": "x"}, "unknown setting")],
}


def test_settings_errors_name_the_setting(certfleet, provider, fake):
    for change, expected in SETTINGS_ERRORS.get(provider, SETTINGS_ERRORS["common"]):
        settings = {k: v for k, v in {**settings_of(provider, fake), **change}.items()
                    if v is not None}
        result = run_dns(certfleet, "present", unique(provider), value(),
                         *setting_args(provider, settings))
        assert result.returncode != 0 and expected in result.stderr, (change, result.stderr)
        assert f"{provider}" in result.stderr
        assert not any(s in result.stderr for s in secrets_of(provider, fake))
    assert fake.requests == []


def test_no_zone_for_the_name(certfleet, provider, fake):
    if provider == "httpreq":
        pytest.skip("httpreq has no zone lookup: the server decides")
    result = run_dns(certfleet, "present", "x.nowhere.test", value(), *args_of(provider, fake))
    assert result.returncode != 0 and "no zone holds x.nowhere.test" in result.stderr, \
        result.stderr
    result = run_dns(certfleet, "present", unique(provider), value(),
                     *args_of(provider, fake, zone="other.test"))
    assert result.returncode != 0 and "not in zone other.test" in result.stderr


def alias_row(certfleet, lab, name, args):
    """(verdict, writable, target) of `certfleet alias check NAME --alias auto`."""
    p = subprocess.run([certfleet, "alias", "check", name, "--alias", "auto", "--resolver",
                        lab["LAB_RESOLVER"], *args], capture_output=True, text=True, timeout=60)
    row = next(line.split() for line in p.stdout.splitlines() if line.startswith(name + " "))
    return row[1], row[2], row[3], p.stdout + p.stderr


def test_alias_check_asks_the_api(lab, certfleet, provider, fake):
    if provider == "httpreq":
        pytest.skip("httpreq cannot tell whether it could write")
    name = f"{KIND[provider]}3.example.test"
    target = f"{name}.{KIND[provider]}-alias.test"
    verdict, writable, shown, out = alias_row(certfleet, lab, name, args_of(provider, fake))
    assert (verdict, writable, shown) == ("ok", "yes", target), out
    change, _expected = WRONG[provider]
    verdict, writable, shown, out = alias_row(certfleet, lab, name,
                                              args_of(provider, fake, **change))
    assert (verdict, writable) == ("unwritable", "no"), out
    assert not any(s in out for s in secrets_of(provider, fake) + list(change.values()))
    # a probe changes nothing: GETs only (OVH's clock is not signed either)
    assert {r[1] for r in fake.requests} == {"GET"}, fake.requests
    assert fake.store == {}


# ---- deSEC: rate limits ----

def test_desec_429_retry_after_is_honoured(lab, certfleet, tmp_path):
    with DesecFake(lab, throttle=2, retry_after=1) as fake:
        base = "desec2.example.test"
        names, target = [base], f"{base}.desec-alias.test"
        result = issue(certfleet, lab, names, tmp_path, aliases=[target],
                       provider_args=args_of("desec", fake))
        assert result.returncode == 0, result.stdout + result.stderr
        check_certificate(lab, tmp_path, names)
        t = [r[0] for r in fake.requests]
        statuses = [r[4] for r in fake.requests]
        assert statuses[:2] == [429, 429] and statuses[2] != 429, fake.requests
        assert len({r[2] for r in fake.requests[:3]}) == 1  # one request, sent three times
        # the same request came again only after the Retry-After the fake asked for
        assert t[1] - t[0] >= 0.95 and t[2] - t[1] >= 0.95, t[:3]
        assert fake.values(target) == [] and served(lab, target) == []


def test_desec_retry_after_beyond_the_bound_fails_at_once(lab, certfleet):
    with DesecFake(lab, throttle=1, retry_after=3600) as fake:
        start = time.monotonic()
        result = run_dns(certfleet, "present", unique("desec"), value(),
                         *args_of("desec", fake))
        assert result.returncode != 0
        assert "desec: " in result.stderr and "HTTP 429" in result.stderr
        assert "Retry-After: 3600 s" in result.stderr, result.stderr
        assert time.monotonic() - start < 20
        assert len(fake.requests) == 1


# ---- OVH: the server's clock and the signature ----

def test_ovh_signs_with_the_servers_clock(lab, certfleet, tmp_path):
    # the fake's clock runs an hour behind: a timestamp from the local clock would be
    # refused (QUERY_TIME_OUT), one from /auth/time's offset is taken
    with OvhFake(lab, clock_offset=-3600) as fake:
        base = "ovh2.example.test"
        names, target = [base, f"*.{base}"], f"{base}.ovh-alias.test"
        result = issue(certfleet, lab, names, tmp_path, aliases=[target],
                       provider_args=args_of("ovh", fake))
        assert result.returncode == 0, result.stdout + result.stderr
        check_certificate(lab, tmp_path, names)
        assert fake.time_calls == 1  # the offset is kept for the process
        # the consumer key may touch its zone only: the walk up to it is refused, and
        # that is no error (NOT_GRANTED_CALL means "not this zone")
        refused = [r[2] for r in fake.requests if r[4] != 200]
        assert refused and all(r[4] == 403 and r[1] == "GET" for r in fake.requests
                               if r[4] != 200), fake.requests
        assert "/1.0/domain/zone/ovh2.example.test.ovh-alias.test" in refused
        assert fake.refreshes >= 2  # after the presents and after the cleanups
        assert fake.values(target) == [] and served(lab, target) == []


def test_ovh_wrong_application_secret_is_an_invalid_signature(lab, certfleet):
    with OvhFake(lab) as fake:
        wrong = "f" * 32
        result = run_dns(certfleet, "present", unique("ovh"), value(),
                         *args_of("ovh", fake, application_secret=wrong))
        assert result.returncode != 0
        assert "HTTP 400" in result.stderr and "[INVALID_SIGNATURE] Invalid signature" in \
            result.stderr, result.stderr
        assert wrong not in result.stderr and fake.store == {}


# ---- Linode: the domain id over pages ----

def test_linode_finds_the_domain_id_over_pages(lab, certfleet):
    with LinodeFake(lab) as fake:
        fake.max_page_size = 25
        fake.domain_ids = {**{f"other{i}.test": 5000 + i for i in range(30)},
                           "linode-alias.test": 9000}
        name, v = unique("linode"), value()
        ok(run_dns(certfleet, "present", name, v, *args_of("linode", fake)))
        assert fake.values(name) == [v] and served(lab, name) == [v]
        assert {q.get("page") for p, q in fake.calls("GET") if p == "/v4/domains"} >= {"1", "2"}
        ok(run_dns(certfleet, "cleanup", name, v, *args_of("linode", fake)))
        assert served(lab, name) == []


# ---- httpreq: lego's convention ----

def test_httpreq_without_auth_and_lego_body(lab, certfleet):
    with HttpreqFake(lab) as fake:  # no username: no basic auth either way
        name, v = unique("httpreq"), value()
        ok(run_dns(certfleet, "present", name, v,
                   *setting_args("httpreq", {"endpoint": fake.api_url})))
        assert fake.values(name) == [v] and served(lab, name) == [v]
        # lego's fqdn: the name with its final dot (the fake refuses it without)
        assert [p for p, _ in fake.calls("POST")] == ["/dns/present"]
        ok(run_dns(certfleet, "cleanup", name, v,
                   *setting_args("httpreq", {"endpoint": fake.api_url})))
        assert fake.values(name) == [] and served(lab, name) == []
