"""The worker pool against the lab: certificates made over the API are issued by
workers that claim jobs from PostgreSQL; several processes share one database; a
process killed mid-issuance is replaced by another that continues the same order;
permanent faults fail at once with a clear summary, transient ones are retried; the
TXT budget holds across workers. Every test checks that no TXT value is left."""
import signal
import subprocess
import time

import pytest

import labdns
from service import db_url  # noqa: F401 (fixture)
from workerlib import (RFC, LiveWatcher, LyingResolver, check_version, fleet,  # noqa: F401
                       new_orders, open_sealed, pem_of)

STEPS = ["claim", "preflight", "account", "order", "authorizations", "present", "propagate",
         "respond", "validate", "cleanup", "finalize", "download", "store"]


def no_txt_left(lab, *fqdns):
    for f in fqdns:
        assert labdns.txt(lab["LAB_BIND"], f) == [], f"TXT left at {f}"


def test_issue_over_the_api(fleet, lab):
    # polling is off (an hour): only the NOTIFY of the new job wakes the workers
    fleet.start(CERTFLEET_WORKERS=2, CERTFLEET_POLL_SECONDS=3600)
    fleet.provider()
    target = f"example.test.{RFC}"
    t0 = time.monotonic()
    job = fleet.certificate("web", ["*.example.test", "example.test"], target)
    assert fleet.wait([job], timeout=30)[job] == "issued", fleet.timeline(job)
    assert time.monotonic() - t0 < 10, "the job was not picked up on NOTIFY"
    check_version(fleet, "web", ["*.example.test", "example.test"])
    j = fleet.job(job)
    assert j["attempt"] == 1 and j["failures"] == 0 and j["problem"] is None
    assert '"key"' not in j["data"], "the job kept its copy of the key"
    ev = fleet.events(job)
    steps = [e[1] for e in ev]
    assert [s for s in STEPS if s in steps] == STEPS, steps
    assert steps.index("respond") > max(i for i, s in enumerate(steps) if s == "present")
    assert len(new_orders(ev)) == 1 and j["order_url"] in new_orders(ev)[0][2]
    assert fleet.sql("SELECT status, current_version FROM certificates") == [("valid", 1)]
    assert fleet.sql("SELECT state, count(*) FROM dns_records GROUP BY state") == [("removed", 2)]
    no_txt_left(lab, target)
    # the account key is sealed for its row, and it is not the certificate's key
    (url, email, sealed, acct_url), = fleet.sql(
        "SELECT directory_url, email, key_sealed, account_url FROM acme_accounts")
    assert acct_url and email == "ops@example.test"
    acct = open_sealed(bytes(sealed), f"acme_accounts:{url}:{email}")
    assert b"PRIVATE KEY" in acct
    _, key = check_version(fleet, "web", ["*.example.test", "example.test"])
    assert pem_of(key) != acct
    # the API shows the outcome
    r = fleet.api.get(f"/v1/jobs/{job}")
    assert r.status_code == 200 and r.json()["state"] == "issued"
    assert [e["step"] for e in r.json()["events"]] == steps


def test_twenty_certificates_four_workers(fleet, lab):
    # the 20 jobs are queued first (by a serve without workers), then 4 workers start
    fleet.start(CERTFLEET_WORKERS=0)
    fleet.provider()
    jobs = {fleet.certificate(f"h{n}", [f"h{n}.example.test"], f"h{n}.example.test.{RFC}"): n
            for n in range(1, 21)}
    t0 = time.monotonic()
    fleet.start(CERTFLEET_WORKERS=4)
    states = fleet.wait(list(jobs), timeout=180)
    wall = time.monotonic() - t0
    assert set(states.values()) == {"issued"}, fleet.timeline(*jobs)
    print(f"\n20 certificates, 4 workers: {wall:.2f} s (serve start included)")
    for job, n in jobs.items():
        check_version(fleet, f"h{n}", [f"h{n}.example.test"])
        assert len(new_orders(fleet.events(job))) == 1
    owners = {r[0] for r in fleet.sql("SELECT DISTINCT split_part(message, ' ', 3) "
                                       "FROM job_events WHERE step = 'claim'")}
    assert len(owners) == 4, f"not every worker took a job: {owners}"
    no_txt_left(lab, *(f"h{n}.example.test.{RFC}" for n in jobs.values()))


def test_two_processes_share_the_work(fleet, lab):
    a = fleet.start(CERTFLEET_WORKERS=2)
    b = fleet.start(CERTFLEET_WORKERS=2)
    fleet.provider()
    jobs = {fleet.certificate(f"h{n}", [f"h{n}.example.test"], f"h{n}.example.test.{RFC}"): n
            for n in range(21, 33)}
    assert set(fleet.wait(list(jobs), timeout=180).values()) == {"issued"}
    pids = set()
    urls = set()
    for job in jobs:
        ev = fleet.events(job)
        claims = [e for e in ev if e[1] == "claim"]
        assert len(claims) == 1 and {e[0] for e in ev} == {1}, f"job {job} ran twice: {ev}"
        orders = new_orders(ev)
        assert len(orders) == 1, ev
        urls.add(orders[0][2].split()[1])
        pids.add(claims[0][2].split()[2].split(":")[1])
        assert fleet.job(job)["order_url"] == orders[0][2].split()[1]
    assert len(urls) == len(jobs), "two jobs share an order"
    assert pids == {str(a.proc.pid), str(b.proc.pid)}, f"one process did all the work: {pids}"
    no_txt_left(lab, *(f"h{n}.example.test.{RFC}" for n in jobs.values()))


def dead_resolver(lab):
    """An address in the lab's net where nothing answers DNS."""
    return f"{lab['LAB_NET']}.99"


def test_kill_9_mid_issuance(fleet, lab):
    # A waits for propagation at a resolver that never answers: it sits in
    # 'propagate' with its values written, until it is killed.
    a = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_LEASE_SECONDS=5,
                    CERTFLEET_PROPAGATION="resolvers", CERTFLEET_PROPAGATION_TIMEOUT=600,
                    CERTFLEET_RESOLVERS=f"{lab['LAB_RESOLVER']},{dead_resolver(lab)}")
    fleet.provider()
    target = f"example.test.{RFC}"
    job = fleet.certificate("web", ["*.example.test", "example.test"], target)
    fleet.wait_event(job, lambda e: e[1] == "present" and e[2].endswith("values written"))
    assert len(labdns.txt(lab["LAB_BIND"], target)) == 2
    b = fleet.start(CERTFLEET_WORKERS=2, CERTFLEET_LEASE_SECONDS=5)
    time.sleep(0.5)
    assert fleet.job(job)["state"] == "running" and fleet.job(job)["step"] == "propagate"
    a.proc.kill()
    a.proc.wait()
    t0 = time.monotonic()
    assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)
    print(f"\nresumed and issued {time.monotonic() - t0:.2f} s after kill -9")
    ev = fleet.events(job)
    j = fleet.job(job)
    assert j["attempt"] == 2
    claim2 = [e for e in ev if e[1] == "claim" and e[0] == 2][0][2]
    assert f":{b.proc.pid}:" in claim2 and "expired" in claim2 and f":{a.proc.pid}:" in claim2
    assert len(new_orders(ev)) <= 2 and len({e[2] for e in new_orders(ev)}) == len(new_orders(ev))
    assert len(new_orders(ev)) == 1, "the order was not continued"
    check_version(fleet, "web", ["*.example.test", "example.test"])
    no_txt_left(lab, target)
    assert fleet.sql("SELECT DISTINCT state FROM dns_records") == [("removed",)]


def test_lost_lease_is_fenced(fleet, lab):
    """A keeps its job in 'propagate'; its lease is made to expire (as if A had
    stalled past it) and B claims the job: from then on A writes nothing, not even
    its cleanup, and B finishes the same order."""
    a = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_PROPAGATION="resolvers",
                    CERTFLEET_PROPAGATION_TIMEOUT=600,
                    CERTFLEET_RESOLVERS=f"{lab['LAB_RESOLVER']},{dead_resolver(lab)}")
    fleet.provider()
    target = f"www.example.test.{RFC}"
    job = fleet.certificate("www", ["www.example.test"], target)
    fleet.wait_event(job, lambda e: e[1] == "present" and e[2].endswith("values written"))
    b = fleet.start(CERTFLEET_WORKERS=1)
    deadline = time.monotonic() + 20
    while fleet.job(job)["attempt"] == 1 and time.monotonic() < deadline:
        fleet.sql("UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
                  "WHERE id = %s AND attempt = 1; SELECT pg_notify('certfleet_jobs', '')", (job,))
        time.sleep(0.2)
    assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
    (taken,), = fleet.sql("SELECT min(id) FROM job_events WHERE job_id = %s AND attempt = 2",
                          (job,))
    late = fleet.sql("SELECT step, message FROM job_events WHERE job_id = %s AND attempt = 1 "
                     "AND id > %s", (job, taken))
    assert late == [], f"attempt 1 wrote after it lost the job: {late}"
    claim2 = [e[2] for e in fleet.events(job) if e[1] == "claim" and e[0] == 2]
    assert claim2 and f":{b.proc.pid}:" in claim2[0] and "expired" in claim2[0]
    time.sleep(4)  # A notices at its next lease renewal or wait chunk
    assert "job.lost" in a.output() or "lease_lost" in a.output(), a.output()[-3000:]
    assert a.proc.poll() is None, "A died"
    assert len(new_orders(fleet.events(job))) == 1
    no_txt_left(lab, target)


def test_orphan_values_are_cleaned(fleet, lab):
    """Live values whose job is gone (deleted mid-way) or finished (its cleanup
    failed) are removed by the janitor of an idle worker."""
    api_only = fleet.start(CERTFLEET_WORKERS=0)
    fleet.provider()
    values = [(f"orphan{i}.{RFC}", f"orphan-value-{i}") for i in range(3)]
    for fqdn, value in values:
        labdns.nsupdate_add(lab, RFC, fqdn, value)
        fleet.sql("INSERT INTO dns_records (provider, fqdn, value, state) "
                  "VALUES ('lab-bind', %s, %s, 'present')", (fqdn, value))
    assert labdns.txt(lab["LAB_BIND"], values[0][0]) == [values[0][1]]
    fleet.start(CERTFLEET_WORKERS=1)
    deadline = time.monotonic() + 30
    while fleet.sql("SELECT count(*) FROM dns_records WHERE state <> 'removed'")[0][0]:
        assert time.monotonic() < deadline, fleet.sql("SELECT * FROM dns_records")
        time.sleep(0.2)
    no_txt_left(lab, *(f for f, _ in values))
    assert api_only.proc.poll() is None


def test_sigterm_releases_the_job(fleet, lab):
    a = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_SHUTDOWN_GRACE=8,
                    CERTFLEET_PROPAGATION="resolvers", CERTFLEET_PROPAGATION_TIMEOUT=600,
                    CERTFLEET_RESOLVERS=f"{lab['LAB_RESOLVER']},{dead_resolver(lab)}")
    fleet.provider()
    target = f"www.example.test.{RFC}"
    job = fleet.certificate("www", ["www.example.test"], target)
    fleet.wait_event(job, lambda e: e[1] == "present" and e[2].endswith("values written"))
    t0 = time.monotonic()
    assert a.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 8, "the worker did not let go within the grace period"
    j = fleet.job(job)
    assert j["state"] == "queued" and j["step"] == "propagate", j
    assert any(e[2].startswith("released") for e in fleet.events(job))
    fleet.start(CERTFLEET_WORKERS=1)
    assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
    assert len(new_orders(fleet.events(job))) == 1
    check_version(fleet, "www", ["www.example.test"])
    no_txt_left(lab, target)


def test_sigterm_without_grace_expires_the_lease(fleet, lab):
    """With no grace the busy worker is left behind: its lease expires at once (an
    event says so), the process exits 0, and another one resumes the job."""
    a = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_SHUTDOWN_GRACE=0,
                    CERTFLEET_PROPAGATION="resolvers", CERTFLEET_PROPAGATION_TIMEOUT=600,
                    CERTFLEET_RESOLVERS=f"{lab['LAB_RESOLVER']},{dead_resolver(lab)}")
    fleet.provider()
    target = f"www.example.test.{RFC}"
    job = fleet.certificate("www", ["www.example.test"], target)
    fleet.wait_event(job, lambda e: e[1] == "propagate" or e[2].endswith("values written"))
    time.sleep(0.3)
    assert a.stop(signal.SIGTERM) == 0
    assert "workers left behind" in a.output()
    j = fleet.job(job)
    assert j["state"] == "running" and j["step"] == "propagate", j
    assert [e for e in fleet.events(job) if e[1] == "shutdown"], fleet.timeline(job)
    t0 = time.monotonic()
    fleet.start(CERTFLEET_WORKERS=1)
    assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
    assert time.monotonic() - t0 < 5, "the lease was not expired at shutdown"
    assert len(new_orders(fleet.events(job))) == 1
    no_txt_left(lab, target)


def test_wrong_tsig_secret_fails_at_once(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider(secret="d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCB3cm9uZyE=")
    target = f"www.example.test.{RFC}"
    job = fleet.certificate("www", ["www.example.test"], target)
    assert fleet.wait([job])[job] == "failed"
    j = fleet.job(job)
    assert j["failures"] == 0 and j["attempt"] == 1, "a permanent error was retried"
    assert j["problem"]["step"] == "present"
    assert "BADSIG" in j["problem"]["detail"] and target in j["problem"]["detail"], j["problem"]
    steps = [e[1] for e in fleet.events(job)]
    assert "deactivate" in steps and steps[-1] == "present"
    assert fleet.sql("SELECT status, current_version FROM certificates") == [("failed", None)]
    assert fleet.sql("SELECT state FROM dns_records") == [("failed",)]
    no_txt_left(lab, target)
    r = fleet.api.get(f"/v1/jobs/{job}")
    assert r.json()["state"] == "failed" and "BADSIG" in r.text


def test_missing_cname_fails_before_ordering(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    job = fleet.certificate("nocname", ["nocname.example.test"],
                            f"nocname.example.test.{RFC}")
    assert fleet.wait([job])[job] == "failed"
    j = fleet.job(job)
    assert j["problem"]["step"] == "preflight" and j["order_url"] is None
    assert "_acme-challenge.nocname.example.test" in j["problem"]["detail"], j["problem"]
    assert new_orders(fleet.events(job)) == []


def test_invalid_authorization_fails_with_the_cas_problem(fleet, lab):
    """The service's resolver says _acme-challenge.wrong CNAMEs to our alias; the
    CA's says elsewhere.test: the preflight passes, the CA finds no value, the
    authorization is invalid: the job fails at once, with the CA's problem document
    in the event and a summary in jobs.problem, authorizations deactivated and the
    value removed."""
    target = f"wrong.example.test.{RFC}"
    with LyingResolver(lab["LAB_RESOLVER"],
                       {"_acme-challenge.wrong.example.test": target}) as liar:
        fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RESOLVERS=liar.address)
        fleet.provider()
        job = fleet.certificate("wrong", ["wrong.example.test"], target)
        assert fleet.wait([job])[job] == "failed", fleet.timeline(job)
    j = fleet.job(job)
    assert j["failures"] == 0 and j["problem"]["step"] == "validate", j["problem"]
    ca = j["problem"]["ca_problem"]
    assert ca["type"].startswith("urn:ietf:params:acme:error:"), ca
    assert "authorization of wrong.example.test" in j["problem"]["detail"]
    failed = [e for e in fleet.events(job) if e[2].startswith("failed:")]
    assert len(failed) == 1 and failed[0][3] == ca, "the CA's document is not in the event"
    steps = [e[1] for e in fleet.events(job)]
    assert steps.index("respond") < steps.index("deactivate") < steps.index("cleanup")
    assert fleet.sql("SELECT state FROM dns_records") == [("removed",)]
    assert fleet.sql("SELECT status FROM certificates") == [("failed",)]
    no_txt_left(lab, target)


def test_ca_down_is_retried_until_it_is_back(fleet, lab):
    ctl = lab["LAB_PEBBLE_CTL"]
    subprocess.run([ctl, "stop"], check=True, capture_output=True)
    try:
        # a CA without an answer pauses its issuer (issue 11): the job waits for the
        # pause, with backoff capped at 2 s, and no attempt counts as a failure
        fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RETRY_MAX_SECONDS=2,
                    CERTFLEET_ISSUER_BACKOFF_MAX=2)
        fleet.provider()
        target = f"www.example.test.{RFC}"
        job = fleet.certificate("www", ["www.example.test"], target)
        fleet.wait_event(job, lambda e: e[1] == "issuer" and "paused until" in e[2]
                         and "no answer" in e[2], timeout=90)
        assert fleet.job(job)["state"] in ("waiting", "running")
        (paused,), = fleet.sql("SELECT pause_streak FROM issuers WHERE name = 'default'")
        assert paused >= 1
    finally:
        subprocess.run([ctl, "start"], check=True, capture_output=True)
    assert fleet.wait([job], timeout=120)[job] == "issued", fleet.timeline(job)
    waits = [e for e in fleet.events(job) if e[1] == "issuer"]
    assert len(waits) >= 1 and all("paused until" in e[2] for e in waits), waits
    assert fleet.job(job)["failures"] == 0
    check_version(fleet, "www", ["www.example.test"])
    no_txt_left(lab, target)


def test_txt_budget_holds_across_workers(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=4, CERTFLEET_TXT_BUDGET=2)
    fleet.start(CERTFLEET_WORKERS=2, CERTFLEET_TXT_BUDGET=2)
    fleet.provider()
    shared = f"shared.{RFC}"
    with LiveWatcher(fleet, shared) as w:
        jobs = [fleet.certificate(f"s{n}", [f"s{n}.example.test"], shared)
                for n in range(1, 6)]
        states = fleet.wait(jobs, timeout=180)
    assert set(states.values()) == {"issued"}, fleet.timeline(*jobs)
    assert w.samples >= 10
    assert w.max_rows <= 2 and w.max_dns <= 2, (w.max_rows, w.max_dns)
    # exact, from the rows: each value was live from its insert to its removal
    rows = fleet.sql("SELECT created_at, removed_at FROM dns_records WHERE fqdn = %s", (shared,))
    assert len(rows) == 5 and all(r[1] for r in rows)
    live, most = 0, 0
    for _, delta in sorted([(c, 1) for c, _ in rows] + [(r, -1) for _, r in rows]):
        live += delta
        most = max(most, live)
    assert most == 2, f"{most} values live at once"
    waits = [e for j in jobs for e in fleet.events(j) if "waiting for TXT budget" in e[2]]
    assert waits, "no job waited for the budget"
    assert f"waiting for TXT budget at {shared} (2 live, budget 2)" in waits[0][2]
    for n in range(1, 6):
        check_version(fleet, f"s{n}", [f"s{n}.example.test"])
    no_txt_left(lab, shared)
