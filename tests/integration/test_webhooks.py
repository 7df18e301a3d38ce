"""Webhooks: the events issued, failed, expiring_soon and revoked are POSTed to every
URL of CERTFLEET_WEBHOOK_URLS with X-Certfleet-Signature: sha256=HMAC(secret,
timestamp "." body) and X-Certfleet-Timestamp; a receiver that fails is retried
with growing waits until it answers 2xx; every delivery is recorded in
webhook_deliveries, so a restarted service resumes what was not delivered."""
import time

from opslib import Receiver, wait_for
from service import db_url, free_port  # noqa: F401 (fixture)
from workerlib import RFC, fleet  # noqa: F401 (fixture)

SECRET = "webhook-test-secret"


def deliveries(fleet, event=None):
    return fleet.sql("SELECT url, state, attempts, last_status, delivered_at IS NOT NULL, "
                     "event_id::text FROM webhook_deliveries WHERE %s::text IS NULL OR "
                     "event = %s ORDER BY id", (event, event))


def test_events_are_signed_and_failing_receivers_retried(fleet, lab):
    with Receiver(SECRET) as good, Receiver(SECRET, fail_first=3) as flaky:
        fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_WEBHOOK_URLS=f"{good.url}, {flaky.url}",
                    CERTFLEET_WEBHOOK_SECRET=SECRET, CERTFLEET_RENEW_INTERVAL=1,
                    CERTFLEET_EXPIRING_SOON=10 * 365 * 86400)
        fleet.provider()
        job = fleet.certificate("www", ["www.example.test"], f"www.example.test.{RFC}")
        assert fleet.wait([job])[job] == "issued"
        ev = wait_for(lambda: good.events("issued"), 20, "the issued event")[0]
        assert ev["certificate"] == "www" and ev["event"] == "issued" and ev["version"] == 1
        assert ev["job"] == job and ev["kind"] == "issue" and ev["serial"] and ev["not_after"]
        call = good.calls[0]
        assert call["valid"], call["headers"]
        assert call["headers"]["X-Certfleet-Delivery"] == ev["id"]
        assert call["headers"]["Content-Type"] == "application/json"
        # the flaky receiver: three 500s, then delivered, with growing waits
        wait_for(lambda: flaky.events("issued"), 30, "the retried delivery")
        issued = [c for c in flaky.calls if c["headers"]["X-Certfleet-Event"] == "issued"]
        assert [c["status"] for c in issued] == [500, 500, 500, 200]
        assert all(c["valid"] for c in issued)
        gaps = [b["at"] - a["at"] for a, b in zip(issued, issued[1:])]
        assert gaps[0] >= 0.7 and gaps[1] >= 1.4 and gaps[2] >= 2.9, gaps  # 1, 2, 4 s -25%
        assert len({c["headers"]["X-Certfleet-Timestamp"] for c in issued}) >= 2, \
            "every attempt is signed with its own time"
        rows = {r[0]: r for r in deliveries(fleet, "issued")}
        assert rows[good.url][1:5] == ("delivered", 1, 200, True)
        assert rows[flaky.url][1:5] == ("delivered", 4, 200, True)
        assert rows[good.url][5] == rows[flaky.url][5] == ev["id"]
        # expiring_soon (the horizon is ten years here), once per version
        exp = wait_for(lambda: good.events("expiring_soon"), 20, "expiring_soon")
        assert exp[0]["certificate"] == "www" and exp[0]["version"] == 1
        # revoked
        r = fleet.api.post("/v1/certificates/www/versions/1/revoke", json={"reason": 4})
        assert r.status_code == 202
        rev = wait_for(lambda: good.events("revoked"), 30, "the revoked event")[0]
        assert rev["version"] == 1 and rev["reason"] == 4
        # failed
        job = fleet.certificate("nocname", ["nocname.example.test"],
                                f"nocname.example.test.{RFC}")
        assert fleet.wait([job])[job] == "failed"
        fail = wait_for(lambda: good.events("failed"), 20, "the failed event")[0]
        assert fail["certificate"] == "nocname" and fail["step"] == "preflight"
        assert "_acme-challenge.nocname.example.test" in fail["detail"]
        time.sleep(2)
        assert len(good.events("expiring_soon")) == 1
        assert all(c["valid"] for c in good.calls)


def test_a_restart_resumes_deliveries(fleet, lab):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    s = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_WEBHOOK_URLS=url,
                    CERTFLEET_WEBHOOK_SECRET=SECRET)
    fleet.provider()
    job = fleet.certificate("www", ["www.example.test"], f"www.example.test.{RFC}")
    assert fleet.wait([job])[job] == "issued"
    # nobody listens yet: the attempts fail and are recorded
    wait_for(lambda: deliveries(fleet)[0][2] >= 2, 20, "two failed attempts")
    (_, state, attempts, status, done, _), = deliveries(fleet)
    assert state == "pending" and status is None and not done
    assert s.stop() == 0
    with Receiver(SECRET, port=port) as rcv:
        fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_WEBHOOK_URLS=url,
                    CERTFLEET_WEBHOOK_SECRET=SECRET)
        ev = wait_for(lambda: rcv.events("issued"), 30, "the resumed delivery")[0]
        assert ev["certificate"] == "www" and rcv.calls[0]["valid"]
    (_, state, attempts2, status, done, _), = deliveries(fleet)
    assert (state, status, done) == ("delivered", 200, True) and attempts2 > attempts


def test_bad_webhook_settings_stop_the_service(fleet, lab):
    from service import Serve, run  # noqa: F401
    import subprocess
    env = dict(fleet.base, CERTFLEET_WORKERS="1", CERTFLEET_WEBHOOK_URLS="ftp://x/y",
               CERTFLEET_WEBHOOK_SECRET=SECRET, CERTFLEET_LISTEN=f"127.0.0.1:{free_port()}")
    p = subprocess.run([fleet.certfleet, "serve"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0 and "CERTFLEET_WEBHOOK_URLS" in p.stderr, p.stderr
    env.update(CERTFLEET_WEBHOOK_URLS="http://127.0.0.1:9/hook", CERTFLEET_WEBHOOK_SECRET="")
    p = subprocess.run([fleet.certfleet, "serve"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0 and "CERTFLEET_WEBHOOK_SECRET" in p.stderr, p.stderr


def test_userinfo_refused_and_query_redacted(fleet, lab):
    import subprocess
    password = "pw-" + "9" * 20
    env = dict(fleet.base, CERTFLEET_WORKERS="1", CERTFLEET_WEBHOOK_SECRET=SECRET,
               CERTFLEET_LISTEN=f"127.0.0.1:{free_port()}",
               CERTFLEET_WEBHOOK_URLS=f"http://127.0.0.1:9/ok,http://ops:{password}@127.0.0.1:9/h")
    p = subprocess.run([fleet.certfleet, "serve"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0, p.stderr
    assert "CERTFLEET_WEBHOOK_URLS: URL 2 holds user information" in p.stderr, p.stderr
    assert password not in p.stderr
    # a token in the query: every log line and recorded error shows it redacted
    token = "tok-" + "8" * 24
    port = free_port()
    fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_WEBHOOK_SECRET=SECRET,
                CERTFLEET_WEBHOOK_URLS=f"http://127.0.0.1:{port}/hook?token={token}#frag")
    fleet.provider()
    # a certificate whose challenge record is missing: the job fails at once, and its
    # 'failed' event goes to a receiver that is not there (connection refused)
    job = fleet.certificate("nocname", ["nocname.example.test"], f"nocname.example.test.{RFC}")
    assert fleet.wait([job], timeout=60)[job] == "failed", fleet.timeline(job)
    wait_for(lambda: fleet.sql("SELECT 1 FROM webhook_deliveries WHERE attempts >= 1 AND "
                               "last_error IS NOT NULL"), 30, "a failed delivery")
    wait_for(lambda: "webhook.retry" in fleet.logs(), 30, "the retry log line")
    logs = fleet.logs()
    assert token not in logs, [ln for ln in logs.splitlines() if token in ln]
    assert f"http://127.0.0.1:{port}/hook?***" in logs
    (err,), = fleet.sql("SELECT last_error FROM webhook_deliveries")
    assert token not in err and "hook?***" in err, err
