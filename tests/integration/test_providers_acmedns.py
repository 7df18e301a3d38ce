"""The acmedns provider against a fake acme-dns (fakes/acmedns_fake.py) that keeps,
like acme-dns, the two newest TXT values per subdomain and publishes them in the
lab's PowerDNS zone acmedns-alias.test, where the lab's CNAMEs
(_acme-challenge.acmeN.example.test -> acmeN.acmedns-alias.test) lead the CA.

Real certificates from Pebble (the wildcard and its apex, both values at one
account at once), the two-value limit (a third value in one order is refused with
the reason, before acme-dns could push out a value the CA is checking), the
43-character check, credentials and fulldomain errors, and an account made with
/register and used at once. acme-dns cannot delete values: cleanup is a no-op, so
the values stay at the name until newer ones replace them; the tests check that
instead of "nothing left". What PowerDNS serves is read straight from it.
"""

import pytest

import labdns
from fakes.acmedns_fake import AcmeDnsFake
from issuance import TxtWatcher, check_certificate, issue
from providers_common import assert_both_values_were_live, ok, setting_args, value
from providers_common import run_dns as run

LIMIT_MESSAGE = "acme-dns keeps only two TXT values per subdomain"


@pytest.fixture(scope="module")
def fake(lab):
    with AcmeDnsFake(lab) as f:
        yield f


def account_args(fake, account, **extra):
    return setting_args("acmedns", {
        "api_url": fake.url, "username": account["username"],
        "password": account["password"], "fulldomain": account["fulldomain"], **extra})


def served(lab, account):
    return labdns.txt(lab["LAB_PDNS"], account["fulldomain"])


def test_wildcard_and_apex_in_one_order(certfleet, lab, fake, tmp_path):
    account = fake.add_account("acme11")
    names = ["*.acme11.example.test", "acme11.example.test"]
    with TxtWatcher(lab["LAB_PDNS"], account["fulldomain"]) as w:
        p = issue(certfleet, lab, names, tmp_path, aliases=["auto"],
                  provider_args=account_args(fake, account))
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, tmp_path, names)
    assert_both_values_were_live(p.stdout, w, "acmedns")
    assert account["password"] not in p.stdout + p.stderr
    # cleanup wrote nothing: acme-dns still holds (and serves) exactly these two
    presented = sorted(line.split('"')[1] for line in p.stdout.splitlines()
                       if " present " in line and " TXT " in line)
    assert sorted(fake.values("acme11")) == presented == served(lab, account)
    assert [s for s, _, status in fake.updates if s == "acme11"] == ["acme11"] * 2


def test_a_third_value_in_one_order_is_refused(certfleet, lab, fake, tmp_path):
    # three names of one order all aliased to one acme-dns account: the third
    # value would push out the first while the CA may still be checking it
    account = fake.add_account("acme12")
    names = ["*.acme12.example.test", "acme12.example.test", "acme13.example.test"]
    p = issue(certfleet, lab, names, tmp_path, aliases=[account["fulldomain"]],
              extra=["--no-preflight"], provider_args=account_args(fake, account))
    assert p.returncode != 0
    assert LIMIT_MESSAGE in p.stderr, p.stdout + p.stderr
    assert "acme12.acmedns-alias.test" in p.stderr
    assert len(fake.values("acme12")) == 2  # the two first, intact
    assert [st for s, _, st in fake.updates if s == "acme12"] == [200, 200]


def test_two_values_survive_each_others_present_and_cleanup(certfleet, lab, fake):
    account = fake.add_account("acme14")
    name, args = account["fulldomain"], account_args(fake, account)
    v1, v2, v3 = value(), value(), value()
    ok(run(certfleet, "present", name, v1, *args))
    ok(run(certfleet, "present", name, v2, *args))
    assert served(lab, account) == sorted([v1, v2])
    ok(run(certfleet, "cleanup", name, v1, *args))  # acme-dns cannot delete
    assert served(lab, account) == sorted([v1, v2])
    ok(run(certfleet, "cleanup", name, v2, *args))
    assert served(lab, account) == sorted([v1, v2])
    # the next value pushes out the oldest, exactly as acme-dns does
    ok(run(certfleet, "present", name, v3, *args))
    assert served(lab, account) == sorted([v2, v3])


def test_txt_must_be_43_characters(certfleet, lab, fake):
    account = fake.add_account("acme15")
    before = len(fake.updates)
    for bad in [value()[:42], value() + "x", value()[:42] + "="]:
        result = run(certfleet, "present", account["fulldomain"], bad,
                     *account_args(fake, account))
        assert result.returncode != 0
        assert "43 characters" in result.stderr, result.stderr
    assert len(fake.updates) == before, "a bad value reached acme-dns"


def test_wrong_password_names_the_settings(certfleet, lab, fake):
    account = fake.add_account("acme16")
    wrong = "w" * 40
    result = run(certfleet, "present", account["fulldomain"], value(),
                 *account_args(fake, account, password=wrong))
    assert result.returncode != 0
    assert "HTTP 401: forbidden" in result.stderr, result.stderr
    assert "username and password" in result.stderr
    assert wrong not in result.stderr and account["password"] not in result.stderr
    assert served(lab, account) == []


def test_name_that_is_not_the_fulldomain(certfleet, lab, fake):
    account = fake.add_account("acme17")
    result = run(certfleet, "present", "acme18.acmedns-alias.test", value(),
                 *account_args(fake, account))
    assert result.returncode != 0
    assert "is not this account's fulldomain acme17.acmedns-alias.test" in result.stderr


@pytest.mark.parametrize("change,expect", [
    ({"api_url": None}, "api_url"),
    ({"api_url": "acme-dns.example"}, "api_url"),
    ({"username": "admin"}, "username"),
    ({"password": "short"}, "password"),
    ({"fulldomain": None}, "fulldomain"),
    ({"subdomain": "other"}, "subdomain"),
    ({"token": "x"}, "token"),
])
def test_bad_settings_name_the_setting(certfleet, lab, fake, change, expect):
    account = fake.add_account()
    settings = {"api_url": fake.url, "username": account["username"],
                "password": account["password"], "fulldomain": account["fulldomain"]}
    settings.update(change)
    result = run(certfleet, "present", account["fulldomain"], value(),
                 *setting_args("acmedns", settings))
    assert result.returncode != 0
    assert expect in result.stderr, result.stderr
    assert account["password"] not in result.stderr


def test_unreachable_api_is_transient(certfleet, lab, fake):
    account = fake.add_account("acme19")
    result = run(certfleet, "present", account["fulldomain"], value(),
                 *account_args(fake, account, api_url="http://127.0.0.1:1"),
                 "--timeout-ms", "1000")
    assert result.returncode != 0
    assert "api_url" in result.stderr, result.stderr


def test_registered_account_is_usable_at_once(certfleet, lab, fake):
    import requests

    r = requests.post(fake.url + "/register", timeout=10)
    assert r.status_code == 201
    account = r.json()
    assert account["fulldomain"] == account["subdomain"] + ".acmedns-alias.test"
    v = value()
    ok(run(certfleet, "present", account["fulldomain"], v, *account_args(fake, account)))
    assert served(lab, account) == [v]
    # and through the resolver, as the CA sees it
    assert labdns.resolve_txt(lab["LAB_RESOLVER"], account["fulldomain"]) == [v]
