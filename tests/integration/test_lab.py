"""The lab itself: what every other integration test takes for granted.

Values written to the alias zones (RFC 2136 on BIND, the PowerDNS API) must be seen
through the resolver at the CNAMEd _acme-challenge names of the critical zone, several
values at one name together, and be gone once deleted; the static zone must hold its
records and refuse updates; a second lab must run beside the first.
"""

import subprocess
import uuid
from pathlib import Path

import dns.rcode
import dns.resolver
import psycopg2
import pytest
import requests

import labdns

SECOND_NETS = ("127.79.0", "127.79.1")


def token():
    """A fresh value, so that tests never see each other's records."""
    return "lab-" + uuid.uuid4().hex


def test_rfc2136_values_visible_through_cname(lab):
    target = "www.example.test.rfc-alias.test"
    challenge = "_acme-challenge.www.example.test"
    one, two = token(), token()
    try:
        labdns.nsupdate_add(lab, "rfc-alias.test", target, one)
        assert one in labdns.txt(lab["LAB_BIND"], target)
        assert one in labdns.resolve_txt(lab["LAB_RESOLVER"], challenge)

        labdns.nsupdate_add(lab, "rfc-alias.test", target, two)
        seen = labdns.resolve_txt(lab["LAB_RESOLVER"], challenge)
        assert one in seen and two in seen
    finally:
        labdns.nsupdate_delete(lab, "rfc-alias.test", target, one)
        labdns.nsupdate_delete(lab, "rfc-alias.test", target, two)
    seen = labdns.resolve_txt(lab["LAB_RESOLVER"], challenge)
    assert one not in seen and two not in seen
    assert one not in labdns.txt(lab["LAB_BIND"], target)


def test_pdns_api_values_visible_through_cname(lab):
    target = "api.example.test.pdns-alias.test"
    challenge = "_acme-challenge.api.example.test"
    one, two = token(), token()
    try:
        labdns.pdns_add(lab, target, one)
        assert one in labdns.txt(lab["LAB_PDNS"], target)
        assert one in labdns.resolve_txt(lab["LAB_RESOLVER"], challenge)

        labdns.pdns_add(lab, target, two)
        assert {one, two} <= set(labdns.txt(lab["LAB_PDNS"], target))
        assert {one, two} <= set(labdns.resolve_txt(lab["LAB_RESOLVER"], challenge))
    finally:
        labdns.pdns_delete(lab, target, one)
        labdns.pdns_delete(lab, target, two)
    seen = labdns.resolve_txt(lab["LAB_RESOLVER"], challenge)
    assert one not in seen and two not in seen


def test_hmac_sha512_key_can_update(lab):
    target = "two.example.test.rfc-alias2.test"
    value = token()
    try:
        labdns.nsupdate_add(lab, "rfc-alias2.test", target, value, key="sha512")
        assert value in labdns.resolve_txt(lab["LAB_RESOLVER"], "_acme-challenge.two.example.test")
    finally:
        labdns.nsupdate_delete(lab, "rfc-alias2.test", target, value, key="sha512")
    assert value not in labdns.txt(lab["LAB_BIND"], target)


@pytest.mark.parametrize("key", ["sha256", "sha512"])
def test_update_to_critical_zone_is_refused(lab, key):
    rcode = labdns.nsupdate_add(lab, "example.test", "_acme-challenge.nocname.example.test",
                                token(), key=key, check=False)
    assert rcode == dns.rcode.REFUSED
    assert labdns.txt(lab["LAB_BIND"], "_acme-challenge.nocname.example.test") == []


def test_critical_zone_static_records(lab):
    bind, resolver = lab["LAB_BIND"], lab["LAB_RESOLVER"]
    expected = {
        "_acme-challenge.example.test": "example.test.rfc-alias.test.",
        "_acme-challenge.www.example.test": "www.example.test.rfc-alias.test.",
        "_acme-challenge.api.example.test": "api.example.test.pdns-alias.test.",
        "_acme-challenge.two.example.test": "two.example.test.rfc-alias2.test.",
        "_acme-challenge.auto.example.test": "auto-target.rfc-alias.test.",
        "_acme-challenge.chain.example.test": "chain-mid.example.test.",
        "chain-mid.example.test": "chain-end.rfc-alias.test.",
        "_acme-challenge.wrong.example.test": "wrong.example.test.elsewhere.test.",
        "_acme-challenge.loop.example.test": "loop-b.example.test.",
        "loop-b.example.test": "_acme-challenge.loop.example.test.",
        "_acme-challenge.h300.example.test": "h300.example.test.rfc-alias.test.",
        "_acme-challenge.p50.example.test": "p50.example.test.pdns-alias.test.",
        "_acme-challenge.s20.example.test": "shared.rfc-alias.test.",
    }
    for name, target in expected.items():
        assert labdns.cname(bind, name) == target, name
    assert labdns.cname(bind, "_acme-challenge.nocname.example.test") is None
    assert labdns.txt(bind, "_acme-challenge.shadow.example.test") == ["stale"]
    assert labdns.resolve_txt(resolver, "_acme-challenge.shadow.example.test") == ["stale"]
    # A loop is the resolver's SERVFAIL.
    with pytest.raises(dns.resolver.NoNameservers):
        labdns.resolve_txt(resolver, "_acme-challenge.loop.example.test")


def test_two_hop_chain_reaches_alias_zone(lab):
    value = token()
    try:
        labdns.nsupdate_add(lab, "rfc-alias.test", "chain-end.rfc-alias.test", value)
        assert value in labdns.resolve_txt(lab["LAB_RESOLVER"], "_acme-challenge.chain.example.test")
    finally:
        labdns.nsupdate_delete(lab, "rfc-alias.test", "chain-end.rfc-alias.test", value)


def test_pebble_and_postgres_answer(lab):
    directory = requests.get(lab["LAB_ACME_DIR"], verify=lab["LAB_ACME_TLS_CA"], timeout=10)
    assert directory.status_code == 200 and "newOrder" in directory.json()
    root = labdns.pebble_root(lab)
    assert root.startswith("-----BEGIN CERTIFICATE-----")
    assert Path(lab["LAB_ACME_ROOT"]).read_text().strip() == root.strip()
    with psycopg2.connect(lab["LAB_PG_URL"], connect_timeout=5) as conn:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            assert cur.fetchone()[0].startswith("15")
    conn.close()


def _pg_answers(url):
    try:
        psycopg2.connect(url, connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


def test_postgres_can_be_stopped_and_started(lab):
    ctl = lab["LAB_PG_CTL"]
    subprocess.run([ctl, "stop"], check=True, timeout=60, capture_output=True)
    try:
        assert not _pg_answers(lab["LAB_PG_URL"])
    finally:
        subprocess.run([ctl, "start"], check=True, timeout=60, capture_output=True)
    assert _pg_answers(lab["LAB_PG_URL"])


def _lo_addresses():
    out = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines() if " inet " in line}


def _second_lab_up(lab, directory, extra_env):
    """A lab on the first free NET of SECOND_NETS (another session may hold one)."""
    for net in SECOND_NETS:
        if net == lab["LAB_NET"]:
            continue
        try:
            return labdns.lab_up(directory, net, extra_env=extra_env)
        except RuntimeError as error:
            if "in use" not in str(error):
                raise
    pytest.skip(f"every NET of {SECOND_NETS} is in use")


def test_second_lab_runs_beside_the_first(lab):
    """A second lab on another NET: answers (with an extra stub zone pointing at the
    first lab's PowerDNS, as a fake provider would publish one), and its 'down' removes
    its folder and address and leaves the first lab working."""
    extra_zone = f"extra-{uuid.uuid4().hex[:8]}.test."
    labdns._pdns(lab, "POST", "/zones", json={
        "name": extra_zone, "kind": "Native", "nameservers": [f"ns1.{extra_zone}"]})
    directory = labdns.lab_tmpdir()
    try:
        value = token()
        labdns.pdns_add(lab, f"x.{extra_zone}", value)
        second = _second_lab_up(lab, directory, extra_env={
            "LAB_EXTRA_STUBS": f"{extra_zone}={lab['LAB_PDNS']}:53",
            "LAB_CERT_VALIDITY": "3600"})
        net = second["LAB_NET"]
        assert net != lab["LAB_NET"] and second["LAB_BIND"] == net + ".2"
        assert net + ".2" in _lo_addresses()
        assert second["LAB_DIR"] == str(Path(directory).resolve())
        assert labdns.cname(second["LAB_BIND"], "_acme-challenge.www.example.test") == \
            "www.example.test.rfc-alias.test."
        assert labdns.resolve_txt(second["LAB_RESOLVER"], f"x.{extra_zone}") == [value]
        assert requests.get(second["LAB_ACME_DIR"], verify=second["LAB_ACME_TLS_CA"],
                            timeout=10).status_code == 200
        assert _pg_answers(second["LAB_PG_URL"])
        # The two labs are separate: a value in one is not in the other.
        mine = token()
        labdns.nsupdate_add(second, "rfc-alias.test", "www.example.test.rfc-alias.test", mine)
        assert mine not in labdns.resolve_txt(lab["LAB_RESOLVER"], "_acme-challenge.www.example.test")
    finally:
        labdns.lab_down(directory)
        labdns._pdns(lab, "DELETE", f"/zones/{extra_zone}")
    assert not Path(directory).exists()
    assert net + ".2" not in _lo_addresses()
    assert lab["LAB_BIND"] in _lo_addresses()
    # The first lab is untouched.
    assert labdns.cname(lab["LAB_BIND"], "_acme-challenge.www.example.test") == \
        "www.example.test.rfc-alias.test."
    value = token()
    try:
        labdns.pdns_add(lab, "api.example.test.pdns-alias.test", value)
        assert value in labdns.resolve_txt(lab["LAB_RESOLVER"], "_acme-challenge.api.example.test")
    finally:
        labdns.pdns_delete(lab, "api.example.test.pdns-alias.test", value)
