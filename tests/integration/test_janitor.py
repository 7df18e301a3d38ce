"""The stale-TXT janitor of the worker pool (service/worker/steps_dns.c): a TXT value
recorded in dns_records whose job has ended or is gone is removed on a schedule,
with retries after a doubling backoff; a value certfleet did not write is never
touched; a removal that keeps failing shows in the job's events and in the
fleet-wide numbers of the txt_cleanup_stats view (migration 0005), until the
janitor gives up on it (and says so).

The failing removals come from the exec provider with a small wrapper around
fakes/exec_nsupdate.sh whose cleanup refuses (exit 75, transient) as many times as
a counter file says.
"""
import time
from pathlib import Path

import labdns
from service import db_url  # noqa: F401 (fixture)
from workerlib import RFC, bind_settings, check_version, fleet  # noqa: F401

HOOK = Path(__file__).resolve().parent / "fakes" / "exec_nsupdate.sh"

FLAKY = """#!/bin/sh
# cleanup fails (exit 75) while the counter in $CERTFLEET_SETTING_FAIL_FILE is > 0
if [ "$1" = cleanup ] && [ -s "$CERTFLEET_SETTING_FAIL_FILE" ]; then
	n=$(cat "$CERTFLEET_SETTING_FAIL_FILE")
	if [ "$n" -gt 0 ]; then
		echo $((n - 1)) >"$CERTFLEET_SETTING_FAIL_FILE"
		echo "cleanup refused ($n left)" >&2
		exit 75
	fi
fi
exec {hook} "$@"
"""


def exec_dir(tmp_path):
    """The folder serve may run exec commands from (CERTFLEET_EXEC_DIR): root's,
    writable by no one else."""
    d = tmp_path / "exec"
    d.mkdir(mode=0o755, exist_ok=True)
    d.chmod(0o755)
    return str(d)


def flaky_provider(fleet, lab, tmp_path, failures):
    """An exec provider "flaky" (its script inside exec_dir) whose next FAILURES
    cleanups fail; returns the counter file."""
    script = tmp_path / "exec" / "flaky.sh"
    script.write_text(FLAKY.format(hook=HOOK))
    script.chmod(0o755)
    counter = tmp_path / "failures"
    counter.write_text(f"{failures}\n")
    r = fleet.api.post("/v1/providers", json={"name": "flaky", "type": "exec", "settings": {
        "command": str(script), "fail_file": str(counter), "server": lab["LAB_BIND"],
        "zone": RFC, "tsig_name": lab["LAB_TSIG_NAME"], "tsig_algorithm": lab["LAB_TSIG_ALG"],
        "tsig_secret": lab["LAB_TSIG_SECRET"]}})
    assert r.status_code == 201, r.text
    return counter


def janitor_events(fleet, job):
    return [m for _a, step, m, _p, _d in fleet.events(job) if step == "janitor"]


def stats(fleet):
    (row,) = fleet.sql("SELECT janitor_failures, failing, abandoned FROM txt_cleanup_stats")
    return dict(zip(("janitor_failures", "failing", "abandoned"), row))


def wait_for(cond, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_values_of_a_killed_job_are_removed_and_a_foreign_one_stays(fleet, lab):
    """A serve is killed (-9) with the two values of its job written; the job's
    certificate is then deleted, so no replica will resume the job. The janitor of
    another serve removes both values within its schedule, and the value someone
    else wrote at the same name (nsupdate) is still there."""
    target = f"h283.example.test.{RFC}"
    labdns.nsupdate_add(lab, RFC, target, "foreign-value")
    try:
        a = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_PROPAGATION="resolvers",
                        CERTFLEET_PROPAGATION_TIMEOUT=600,
                        CERTFLEET_RESOLVERS=f"{lab['LAB_RESOLVER']},{lab['LAB_NET']}.99")
        fleet.provider()
        job = fleet.certificate("h283", ["*.h283.example.test", "h283.example.test"], target)
        fleet.wait_event(job, lambda e: e[1] == "present" and e[2].endswith("values written"))
        assert len(labdns.txt(lab["LAB_BIND"], target)) == 3
        a.proc.kill()
        a.proc.wait()
        fleet.sql("DELETE FROM certificates WHERE id = 'h283'")  # its job goes with it
        assert fleet.sql("SELECT count(*) FROM dns_records WHERE job_id IS NULL "
                         "AND state IN ('pending','present')") == [(2,)]
        t0 = time.monotonic()
        fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_POLL_SECONDS=1)
        wait_for(lambda: fleet.sql("SELECT count(*) FROM dns_records WHERE state <> 'removed'")
                 == [(0,)], "the janitor")
        print(f"\norphans removed {time.monotonic() - t0:.2f} s after the janitor's serve "
              "started")
        assert time.monotonic() - t0 < 10
        assert labdns.txt(lab["LAB_BIND"], target) == ["foreign-value"]
        assert fleet.sql("SELECT count(*) FROM dns_records WHERE value = 'foreign-value'") == \
            [(0,)], "certfleet recorded a value it did not write"
        assert stats(fleet) == {"janitor_failures": 0, "failing": 0, "abandoned": 0}
        # and a janitor pass much later still leaves it alone
        time.sleep(2.5)
        assert labdns.txt(lab["LAB_BIND"], target) == ["foreign-value"]
    finally:
        labdns.nsupdate_delete(lab, RFC, target)


def test_failed_removals_are_retried_with_backoff(fleet, lab, tmp_path):
    """The job's own cleanup fails for both values (the certificate is issued
    anyway); the janitor's first try of each fails too, its retries succeed. Each
    outcome is an event of the job, and the failures are counted."""
    fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_POLL_SECONDS=1, CERTFLEET_EXEC_DIR=exec_dir(tmp_path))
    counter = flaky_provider(fleet, lab, tmp_path, failures=4)
    target = f"h284.example.test.{RFC}"
    names = ["*.h284.example.test", "h284.example.test"]
    job = fleet.certificate("h284", names, target, provider="flaky")
    assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
    check_version(fleet, "h284", names)
    assert any(m == "0 values removed, 2 failed" for _a, s, m, _p, _d in fleet.events(job)
               if s == "cleanup"), fleet.timeline(job)
    wait_for(lambda: fleet.sql("SELECT count(*) FROM dns_records WHERE state <> 'removed'")
             == [(0,)], "the janitor's retries")
    assert counter.read_text().strip() == "0"
    assert labdns.txt(lab["LAB_BIND"], target) == []
    ev = janitor_events(fleet, job)
    failed = [m for m in ev if "failed (try" in m]
    removed = [m for m in ev if m.startswith("removed the orphan TXT")]
    assert len(failed) == 2 and len(removed) == 2, ev
    assert all(f"at {target} failed (try 2 of 10; next in 1 s): " in m
               and "cleanup refused" in m for m in failed), failed
    assert all(f"at {target} (try 3)" in m for m in removed), removed
    # the retries waited for their backoff: each value's retry came after its failure
    rows = fleet.sql("SELECT janitor_failures, attempts, next_attempt_at FROM dns_records")
    assert sorted(r[:2] for r in rows) == [(1, 3), (1, 3)] and all(r[2] is None for r in rows)
    assert stats(fleet) == {"janitor_failures": 2, "failing": 0, "abandoned": 0}
    assert lab["LAB_TSIG_SECRET"] not in fleet.logs()


def test_a_removal_that_keeps_failing(fleet, lab, tmp_path):
    """A cleanup that never succeeds: every janitor try is an event of the job and
    counts in txt_cleanup_stats; after the last try the value is given up on (the
    event says to remove it by hand) and counted as abandoned."""
    fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_POLL_SECONDS=1, CERTFLEET_EXEC_DIR=exec_dir(tmp_path))
    flaky_provider(fleet, lab, tmp_path, failures=1000)
    target = f"h285.example.test.{RFC}"
    job = fleet.certificate("h285", ["h285.example.test"], target, provider="flaky")
    try:
        assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
        wait_for(lambda: len(janitor_events(fleet, job)) >= 2, "two janitor tries", 20)
        ev = janitor_events(fleet, job)
        assert [m.split("(try ")[1].split(";")[0] for m in ev[:2]] == ["2 of 10", "3 of 10"], ev
        assert "next in 1 s" in ev[0] and "next in 2 s" in ev[1], ev  # doubling
        s = stats(fleet)
        assert s["janitor_failures"] >= 2 and s["failing"] == 1 and s["abandoned"] == 0, s
        metrics = fleet.api.get("/metrics").text
        (line,) = [ln for ln in metrics.splitlines()
                   if ln.startswith("certfleet_txt_cleanup_failures_total ")]
        assert float(line.split()[1]) >= 2, line  # and in the metrics
        (err,), = fleet.sql("SELECT last_error FROM dns_records")
        assert "cleanup refused" in err
        # skip ahead to the last try
        fleet.sql("UPDATE dns_records SET attempts = 9, next_attempt_at = now()")
        wait_for(lambda: any(m.startswith("gave up") for m in janitor_events(fleet, job)),
                 "the janitor to give up", 20)
        last = janitor_events(fleet, job)[-1]
        assert last.startswith(f"gave up removing the TXT \"") and f"at {target} after 10 " \
            "tries; remove it by hand: " in last and "cleanup refused" in last, last
        assert fleet.sql("SELECT state FROM dns_records") == [("failed",)]
        s = stats(fleet)
        assert s["failing"] == 0 and s["abandoned"] == 1, s
        assert len(labdns.txt(lab["LAB_BIND"], target)) == 1  # still there: by hand
        # the job's timeline in the API shows it too
        r = fleet.api.get(f"/v1/jobs/{job}")
        assert any(e["step"] == "janitor" and e["message"].startswith("gave up")
                   for e in r.json()["events"])
        time.sleep(2.5)  # given up: not tried again
        assert janitor_events(fleet, job)[-1] == last
    finally:
        labdns.nsupdate_delete(lab, RFC, target)
