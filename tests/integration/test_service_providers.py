"""Every DNS provider through the SERVICE: a provider configured with POST
/v1/providers, a certificate with POST /v1/certificates, and serve's workers issue
it from Pebble (the job reaches 'issued'; the stored version is a real
certificate for exactly the names, chained to Pebble's root, whose sealed key
opens and matches). rfc2136 and powerdns write to the lab's BIND and PowerDNS;
acmedns, cloudflare and route53 to their fakes (started here, as the CLI-level
tests do; the service reaches them over http:// on loopback, which those
providers allow), which publish into the lab's PowerDNS so Pebble sees the
values; exec runs fakes/exec_nsupdate.sh.

Each provider issues a wildcard and its apex: two values at one name, both
written before either challenge is answered, so had one write dropped the other
value the CA would have failed that authorization. Then: one certificate whose
names use two providers at once (BIND through rfc2136, PowerDNS through powerdns)
in ONE order; ten certificates sharing one PowerDNS name, issued at once by two
serve processes with four workers each (the per-target write lock keeps every
value: no job retries or fails); and acme-dns's two-value limit across replicas
(a third value at one acme-dns name waits; a job that alone needs three fails,
saying why).
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))

import labdns  # noqa: E402
from acmedns_fake import AcmeDnsFake  # noqa: E402
from cloudflare_fake import CloudflareFake  # noqa: E402
from route53_fake import Route53Fake  # noqa: E402
from service import db_url  # noqa: E402,F401 (fixture)
from workerlib import (LyingResolver, bind_settings, check_version, fleet,  # noqa: E402,F401
                       new_orders)

HOOK = Path(__file__).resolve().parent / "fakes" / "exec_nsupdate.sh"
RFC, PDNS = "rfc-alias.test", "pdns-alias.test"
SECRETS = {"tsig_secret", "api_key", "password", "api_token", "secret_access_key"}
DNS_STEPS = ("present", "propagate", "respond", "validate", "cleanup")


def add_provider(fleet, name, ptype, settings):
    r = fleet.api.post("/v1/providers", json={"name": name, "type": ptype,
                                              "settings": settings})
    assert r.status_code == 201, r.text
    for k in SECRETS & set(settings):  # a secret never comes back
        assert settings[k] not in r.text and k in r.json()["secrets"]


def pdns_settings(lab):
    return {"api_url": lab["LAB_PDNS_API"], "api_key": lab["LAB_PDNS_KEY"]}


def presents(fleet, job):
    """(fqdn, value, provider) of each present event of the job."""
    out = []
    for _a, step, msg, _p, _d in fleet.events(job):
        if step == "present" and " TXT " in msg and " via " in msg:
            fqdn, rest = msg.split(" TXT ", 1)
            out.append((fqdn, rest.split('"')[1], rest.split(" via ")[1].split()[0]))
    return out


def issue_pair(fleet, cid, base, target, provider, timeout=120):
    """Issues *.BASE + BASE through PROVIDER with alias TARGET and checks that both
    values went to TARGET before either challenge was answered, in one order."""
    names = [f"*.{base}", base]
    job = fleet.certificate(cid, names, target, provider=provider)
    assert fleet.wait([job], timeout=timeout)[job] == "issued", fleet.timeline(job)
    check_version(fleet, cid, names)
    ev = fleet.events(job)
    steps = [e[1] for e in ev]
    p = presents(fleet, job)
    assert [(f, prov) for f, _v, prov in p] == [(target, provider)] * 2, p
    assert len({v for _f, v, _p in p}) == 2, "the same value twice"
    last_present = max(i for i, s in enumerate(steps) if s == "present")
    assert last_present < steps.index("respond") < steps.index("validate") < \
        steps.index("cleanup"), steps
    assert "2 authorizations valid" in ev[steps.index("validate")][2]
    j = fleet.job(job)
    assert j["attempt"] == 1 and j["failures"] == 0 and len(new_orders(ev)) == 1, \
        fleet.timeline(job)
    return job, [v for _f, v, _p in p]


def test_rfc2136(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=2)
    add_provider(fleet, "lab-bind", "rfc2136", bind_settings(lab))
    target = f"h281.example.test.{RFC}"
    issue_pair(fleet, "h281", "h281.example.test", target, "lab-bind")
    assert labdns.txt(lab["LAB_BIND"], target) == []
    assert fleet.sql("SELECT DISTINCT state FROM dns_records") == [("removed",)]


def test_powerdns(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=2)
    add_provider(fleet, "lab-pdns", "powerdns", pdns_settings(lab))
    target = f"p42.example.test.{PDNS}"
    issue_pair(fleet, "p42", "p42.example.test", target, "lab-pdns")
    assert labdns.txt(lab["LAB_PDNS"], target) == []


def test_exec(fleet, lab, tmp_path):
    # serve runs only programs directly inside CERTFLEET_EXEC_DIR (root-owned, 0755)
    exec_dir = tmp_path / "exec"
    exec_dir.mkdir(mode=0o755)
    exec_dir.chmod(0o755)
    hook = exec_dir / HOOK.name
    hook.write_bytes(HOOK.read_bytes())
    hook.chmod(0o755)
    fleet.start(CERTFLEET_WORKERS=2, CERTFLEET_EXEC_DIR=str(exec_dir))
    add_provider(fleet, "lab-exec", "exec", {
        "command": str(hook), "server": lab["LAB_BIND"], "zone": RFC,
        "tsig_name": lab["LAB_TSIG_NAME"], "tsig_algorithm": lab["LAB_TSIG_ALG"],
        "tsig_secret": lab["LAB_TSIG_SECRET"]})
    target = f"h282.example.test.{RFC}"
    issue_pair(fleet, "h282", "h282.example.test", target, "lab-exec")
    assert labdns.txt(lab["LAB_BIND"], target) == []
    assert lab["LAB_TSIG_SECRET"] not in fleet.logs()


def test_acmedns(fleet, lab):
    with AcmeDnsFake(lab) as fake:
        account = fake.add_account("acme5")
        fleet.start(CERTFLEET_WORKERS=2)
        add_provider(fleet, "lab-acmedns", "acmedns", {
            "api_url": fake.url, "username": account["username"],
            "password": account["password"], "fulldomain": account["fulldomain"]})
        _job, values = issue_pair(fleet, "acme5", "acme5.example.test", account["fulldomain"],
                                  "lab-acmedns")
        # acme-dns cannot delete: the two values stay until newer ones replace them
        assert sorted(fake.values("acme5")) == sorted(values)
        assert labdns.txt(lab["LAB_PDNS"], account["fulldomain"]) == sorted(values)
    assert account["password"] not in fleet.logs()


def test_cloudflare(fleet, lab):
    with CloudflareFake(lab) as fake:
        fleet.start(CERTFLEET_WORKERS=2)
        add_provider(fleet, "lab-cf", "cloudflare", {"api_token": fake.token,
                                                     "api_url": fake.api_url})
        target = "cf5.example.test.cf-alias.test"
        issue_pair(fleet, "cf5", "cf5.example.test", target, "lab-cf")
        assert len(fake.calls("POST", "/dns_records")) == 2
        assert len(fake.calls("DELETE")) == 2
        assert fake.contents(target) == [] and labdns.txt(lab["LAB_PDNS"], target) == []
    assert fake.token not in fleet.logs()


def test_route53(fleet, lab):
    with Route53Fake(lab) as fake:
        fleet.start(CERTFLEET_WORKERS=2)
        add_provider(fleet, "lab-r53", "route53", {
            "access_key_id": fake.access_key_id, "secret_access_key": fake.secret_access_key,
            "endpoint": fake.endpoint})
        target = "r53-5.example.test.r53-alias.test"
        issue_pair(fleet, "r53-5", "r53-5.example.test", target, "lab-r53")
        assert fake.rrset(target) is None and labdns.txt(lab["LAB_PDNS"], target) == []
        assert all(code == "" for *_x, code in fake.requests), fake.requests
    assert fake.secret_access_key not in fleet.logs()


def test_two_providers_in_one_order(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=2)
    add_provider(fleet, "lab-bind", "rfc2136", bind_settings(lab))
    add_provider(fleet, "lab-pdns", "powerdns", pdns_settings(lab))
    www, api = f"www.example.test.{RFC}", f"api.example.test.{PDNS}"
    r = fleet.api.post("/v1/certificates", json={
        "id": "mixed", "domains": ["www.example.test", "api.example.test"],
        "dns_alias": {"www.example.test": www, "api.example.test": api},
        "provider": {"www.example.test": "lab-bind", "api.example.test": "lab-pdns"},
        "key_type": "ec256", "hosts": []})
    assert r.status_code == 201, r.text
    job = r.json()["job"]["id"]
    assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
    check_version(fleet, "mixed", ["www.example.test", "api.example.test"])
    ev = fleet.events(job)
    assert len(new_orders(ev)) == 1, "not one order"
    assert sorted((f, prov) for f, _v, prov in presents(fleet, job)) == \
        [(api, "lab-pdns"), (www, "lab-bind")]
    steps = [e[1] for e in ev]
    assert "2 authorizations valid" in ev[steps.index("validate")][2]
    assert labdns.txt(lab["LAB_BIND"], www) == [] and labdns.txt(lab["LAB_PDNS"], api) == []


def test_one_powerdns_name_two_replicas(fleet, lab):
    """Ten certificates (wildcard + apex each: twenty values) CNAMEd to one PowerDNS
    name, issued at once by two serve processes with four workers each. PowerDNS
    replaces whole rrsets, so without the per-target write lock concurrent writers
    drop each other's values; here every value stays: every job is issued with one
    order and no retry, and each value was served at once."""
    shared = f"shared.{PDNS}"
    fleet.start(CERTFLEET_WORKERS=0)
    add_provider(fleet, "lab-pdns", "powerdns", pdns_settings(lab))
    jobs = {fleet.certificate(f"pp{n}", [f"*.pp{n}.example.test", f"pp{n}.example.test"],
                              shared, provider="lab-pdns"): n for n in range(1, 11)}
    # A lost value would never be served: fail fast instead of waiting 120 s. At most
    # six values live at once: Pebble asks over UDP without EDNS and does not retry
    # over TCP, so from eight 43-character values on, the answer it gets is truncated
    # and empty ("No TXT records found"), whatever PowerDNS holds.
    settings = dict(CERTFLEET_WORKERS=4, CERTFLEET_PROPAGATION_TIMEOUT=15, CERTFLEET_TXT_BUDGET=6)
    a = fleet.start(**settings)
    b = fleet.start(**settings)
    states = fleet.wait(list(jobs), timeout=240)
    assert set(states.values()) == {"issued"}, fleet.timeline(*jobs)
    pids = set()
    for job, n in jobs.items():
        j = fleet.job(job)
        ev = fleet.events(job)
        # a lost value is a propagation that times out (retried) or an invalid
        # authorization (the job fails); claims beyond the first are budget waits,
        # and a CA hiccup elsewhere (a badNonce streak) is not this test's business
        assert len(new_orders(ev)) == 1, fleet.timeline(job)
        assert not [e for e in ev if "transient failure" in e[2] and e[1] in DNS_STEPS], \
            fleet.timeline(job)
        if j["failures"]:
            print(f"\n{job}: {j['failures']} transient failure(s) outside the DNS steps")
        assert [f for f, _v, _p in presents(fleet, job)] == [shared] * 2
        prop = [e for e in ev if e[1] == "propagate"]
        assert prop and prop[-1][4] < 10000, f"a value took {prop[-1][4]} ms to be served"
        pids.add([e for e in ev if e[1] == "claim"][0][2].split()[2].split(":")[1])
        check_version(fleet, f"pp{n}", [f"*.pp{n}.example.test", f"pp{n}.example.test"])
    assert pids == {str(a.proc.pid), str(b.proc.pid)}, "one process did all the work"
    # the values really were live together (the rows' intervals)
    rows = fleet.sql("SELECT created_at, removed_at FROM dns_records WHERE fqdn = %s",
                     (shared,))
    assert len(rows) == 20 and all(r[1] for r in rows)
    live = most = 0
    for _t, delta in sorted([(c, 1) for c, _ in rows] + [(r, -1) for _, r in rows]):
        live += delta
        most = max(most, live)
    print(f"\n20 values at {shared}: at most {most} live at once")
    assert 4 <= most <= 6, f"{most} values live at once (budget 6)"
    assert labdns.txt(lab["LAB_PDNS"], shared) == []


def test_acmedns_limit_across_replicas(fleet, lab):
    """acme-dns keeps two values per name: three certificates whose names need
    three values at one acme-dns name at once (a wildcard and its apex, and the
    apex twice more) never have more than two live there; the third waits."""
    with AcmeDnsFake(lab) as fake:
        account = fake.add_account("acme6")
        fleet.start(CERTFLEET_WORKERS=0)
        add_provider(fleet, "lab-acmedns", "acmedns", {
            "api_url": fake.url, "username": account["username"],
            "password": account["password"], "fulldomain": account["fulldomain"]})
        full = account["fulldomain"]
        jobs = [fleet.certificate("a", ["*.acme6.example.test", "acme6.example.test"], full,
                                  provider="lab-acmedns"),
                fleet.certificate("b", ["acme6.example.test"], full, provider="lab-acmedns"),
                fleet.certificate("c", ["acme6.example.test"], full, provider="lab-acmedns")]
        fleet.start(CERTFLEET_WORKERS=2)
        fleet.start(CERTFLEET_WORKERS=2)
        states = fleet.wait(jobs, timeout=180)
        assert set(states.values()) == {"issued"}, fleet.timeline(*jobs)
        rows = fleet.sql("SELECT created_at, removed_at FROM dns_records WHERE fqdn = %s",
                         (full,))
        live = most = 0
        for _t, delta in sorted([(c, 1) for c, _ in rows] + [(r, -1) for _, r in rows]):
            live += delta
            most = max(most, live)
        assert most <= 2, f"{most} values live at once at one acme-dns name"
        # The CA may reuse a valid authorization for a later order (fewer than three
        # values), and a pause of the issuer serialises the jobs (Pebble answers two
        # replicas' simultaneous newAccount for one key with a 500 now and then, which
        # pauses the issuer for every worker): then no job needs to wait for the budget.
        paused = any(e[1] == "issuer" for j in jobs for e in fleet.events(j))
        if len(rows) >= 3 and not paused:
            waits = [e for j in jobs for e in fleet.events(j)
                     if "waiting for TXT budget at " + full in e[2]]
            assert waits, fleet.timeline(*jobs)
            assert "the most its DNS provider keeps at one name" in waits[0][2], waits[0]
        for cid, names in [("a", ["*.acme6.example.test", "acme6.example.test"]),
                           ("b", ["acme6.example.test"]), ("c", ["acme6.example.test"])]:
            check_version(fleet, cid, names)


def test_acmedns_job_that_alone_needs_three_values(fleet, lab):
    """Three names whose challenge records all lead to one acme-dns account (the
    service's resolver says so) need three values there at once: the job fails at
    once, saying why, before writing anything."""
    with AcmeDnsFake(lab) as fake:
        account = fake.add_account("acme7")
        full = account["fulldomain"]
        with LyingResolver(lab["LAB_RESOLVER"],
                           {"_acme-challenge.acme8.example.test": full}) as liar:
            fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RESOLVERS=liar.address)
            add_provider(fleet, "lab-acmedns", "acmedns", {
                "api_url": fake.url, "username": account["username"],
                "password": account["password"], "fulldomain": full})
            job = fleet.certificate("three", ["*.acme7.example.test", "acme7.example.test",
                                              "acme8.example.test"], full,
                                    provider="lab-acmedns")
            assert fleet.wait([job])[job] == "failed", fleet.timeline(job)
        j = fleet.job(job)
        assert j["failures"] == 0 and j["problem"]["step"] == "present", j
        assert (f"3 TXT values are needed at {full} at once, but DNS provider lab-acmedns "
                "keeps at most 2 values per name") in j["problem"]["detail"], j["problem"]
        assert fake.updates == [] and fleet.sql("SELECT count(*) FROM dns_records") == [(0,)]
