"""Alerts a person receives (issue 14): rules at /v1/alerts (admin; validation
naming the field; the channel's secret sealed and never returned); a failed
issuance mailed through a real SMTP server (aiosmtpd, STARTTLS with a self-signed
certificate given as the rule's ca_file, AUTH) once per certificate, cause and day
with the problem and the alias verdict; Slack- and Teams-shaped payloads and a signed
webhook; expiring with no renewal; an issuer paused by the CA's 429; the daily digest
once across two replicas; an SMTP server that is down (retried, delivered when it is
back); a wrong SMTP password (recorded, retried, no secret in logs or rows)."""
import datetime
import email
import email.policy
import ipaddress
import json
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opslib import Receiver, wait_for
from service import db_url, free_port  # noqa: F401 (fixture)
from test_ca_proxy import control, proxy  # noqa: F401 (fixture)
from workerlib import RFC, fleet  # noqa: F401 (fixture)

SMTP_USER, SMTP_PASSWORD = "certfleet", "smtp-pass-7f3a9c"
SLACK_SECRET_PATH = "/services/T000/B000/slack-url-secret-91d2"
TEAMS_SECRET_PATH = "/webhookb2/teams-url-secret-5e77"
HOOK_SECRET = "alert-hook-secret-0123456789"


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 (as the SMTP server's), its key; PEM paths + text."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.lab.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (tmp_path / "smtp.crt").write_text(pem)
    (tmp_path / "smtp.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(tmp_path / "smtp.crt"), str(tmp_path / "smtp.key"), pem


class Mailbox:
    """aiosmtpd on 127.0.0.1:port: STARTTLS required, AUTH required (after TLS),
    every accepted message kept; refused logins counted."""

    def __init__(self, tmp_path, port=None):
        import ssl
        crt, key, self.ca_pem = self_signed(tmp_path)
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(crt, key)
        self.port = port or free_port()
        self.messages, self.refused, self.lock = [], 0, threading.Lock()
        self.controller = None

    def _auth(self, server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login == SMTP_USER.encode() and
              auth_data.password == SMTP_PASSWORD.encode())
        if not ok:
            with self.lock:
                self.refused += 1
        # handled=False: aiosmtpd answers 535 itself (with True it would wait for
        # the handler to answer, and the client would hang)
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({
                "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                "tls": session.ssl is not None,
                "msg": email.message_from_bytes(envelope.original_content,
                                                policy=email.policy.default)})
        return "250 OK"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     tls_context=self.ctx, require_starttls=True,
                                     authenticator=self._auth, auth_required=True,
                                     auth_require_tls=True)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def got(self):
        with self.lock:
            return list(self.messages)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def mailbox(tmp_path):
    m = Mailbox(tmp_path)
    yield m
    m.stop()


def email_rule(fleet, mailbox, name="ops-mail", password=SMTP_PASSWORD, **extra):
    body = {"name": name, "events": ["issuance_failed"], "channel": {
        "type": "email", "smtp_url": mailbox.url, "from": "certfleet@example.test",
        "to": ["ops@example.test", "oncall@example.test"], "username": SMTP_USER,
        "password": password, "ca_file": mailbox.ca_pem}, **extra}
    r = fleet.api.post("/v1/alerts", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def alert_deliveries(fleet):
    return fleet.sql("SELECT d.url, d.state, d.attempts, d.last_status, d.last_error, "
                     "e.kind, e.subject FROM webhook_deliveries d JOIN alert_events e "
                     "ON e.id = d.alert_event ORDER BY d.id")


def waited(fleet, cond, timeout, what):
    """wait_for, and on a timeout the alert deliveries and the logs in the failure."""
    try:
        return wait_for(cond, timeout, what)
    except BaseException:
        print("alert deliveries:", alert_deliveries(fleet), "\n", fleet.logs())
        raise


def failing_cert(fleet, cid="nocname"):
    """A certificate whose alias CNAME is missing: its job fails at the preflight."""
    job = fleet.certificate(cid, [f"{cid}.example.test"], f"{cid}.example.test.{RFC}")
    assert fleet.wait([job])[job] == "failed"
    return job


def no_secret_anywhere(fleet, *secrets):
    logs = fleet.logs()
    rows = json.dumps(fleet.sql("SELECT name, channel::text FROM alert_rules") +
                      fleet.sql("SELECT url, coalesce(last_error, ''), payload::text "
                                "FROM webhook_deliveries"))
    for s in secrets:
        assert s not in logs, f"{s!r} in the logs"
        assert s not in rows, f"{s!r} in the database"


# ---- the API ----

def test_rules_are_validated_and_secrets_never_returned(fleet, lab, mailbox):
    fleet.start(CERTFLEET_WORKERS=0)
    bad = [({"name": "x", "events": ["issuance_failed"], "channel": {"type": "pager"}},
            "channel.type"),
           ({"name": "x", "events": ["nope"], "channel": {"type": "slack",
                                                          "url": "https://h/x"}}, "events"),
           ({"name": "x", "events": ["digest"], "channel": {
               "type": "email", "smtp_url": "http://h", "from": "a@b", "to": ["c@d"]}},
            "channel.smtp_url"),
           ({"name": "x", "events": ["digest"], "channel": {
               "type": "email", "smtp_url": "smtp://h:25", "from": "a@b", "to": ["nope"]}},
            "channel.to"),
           ({"name": "x", "events": ["digest"], "digest_hour": 24, "channel": {
               "type": "slack", "url": "https://h/x"}}, "digest_hour"),
           ({"name": "x", "events": ["expiring"], "filters": {"issuer": "Bad Name"},
             "channel": {"type": "slack", "url": "https://h/x"}}, "filters.issuer"),
           ({"name": "x", "events": ["digest"], "channel": {"type": "webhook",
                                                           "url": "https://h/x"}},
            "channel.secret")]
    for body, field in bad:
        r = fleet.api.post("/v1/alerts", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert field in [e["field"] for e in r.json()["errors"]], (field, r.json())
    assert fleet.sql("SELECT count(*) FROM alert_rules") == [(0,)]
    rule = email_rule(fleet, mailbox, events=["issuance_failed", "rollout_paused"])
    ch = rule["channel"]
    assert ch["password_set"] is True and "password" not in ch and ch["username"] == SMTP_USER
    slack = fleet.api.post("/v1/alerts", json={
        "name": "chat", "events": ["digest"], "digest_hour": 9,
        "channel": {"type": "slack", "url": "https://hooks.example.test" + SLACK_SECRET_PATH,
                    "secret_set": True}})  # read-only members are dropped
    assert slack.status_code == 201, slack.text
    assert slack.json()["channel"] == {"type": "slack", "url_set": True}
    listed = fleet.api.get("/v1/alerts").json()["alerts"]
    assert [a["name"] for a in listed] == ["chat", "ops-mail"]
    assert SMTP_PASSWORD not in json.dumps(listed) and SLACK_SECRET_PATH not in json.dumps(listed)
    # a PATCH of the same channel type keeps the sealed secret; a new type needs one
    r = fleet.api.patch(f"/v1/alerts/{rule['id']}", json={"digest_hour": 7,
                                                          "channel": rule["channel"]})
    assert r.status_code == 200 and r.json()["channel"]["password_set"], r.text
    r = fleet.api.patch(f"/v1/alerts/{rule['id']}", json={"channel": {"type": "teams"}})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "channel.url", r.text
    r = fleet.api.patch(f"/v1/alerts/{rule['id']}", json={"name": "other"})
    assert r.status_code == 400
    no_secret_anywhere(fleet, SMTP_PASSWORD, SLACK_SECRET_PATH)
    assert fleet.api.delete(f"/v1/alerts/{slack.json()['id']}").status_code == 204
    assert fleet.api.get(f"/v1/alerts/{slack.json()['id']}").status_code == 404
    assert fleet.api.get("/v1/alerts/not-a-uuid").status_code == 404


# ---- email ----

def test_failed_issuance_is_mailed_once_with_the_problem_and_alias_verdict(fleet, lab,
                                                                           mailbox):
    mailbox.start()
    fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_ALERT_INTERVAL=1)
    fleet.provider()
    email_rule(fleet, mailbox)
    failing_cert(fleet)
    got = waited(fleet, mailbox.got, 30, "the alert mail")
    m = got[0]
    assert m["tls"] and m["from"] == "certfleet@example.test"
    assert sorted(m["to"]) == ["oncall@example.test", "ops@example.test"]
    assert m["msg"]["Subject"] == "certfleet: issuance of nocname failed"
    body = m["msg"].get_content()
    assert "_acme-challenge.nocname.example.test" in body, body
    assert "Step: preflight" in body and "Alias verdict: missing" in body, body
    assert f"nocname.example.test.{RFC}" in body, body  # the target to point at
    # a second failure of the same certificate the same day: no second mail
    r = fleet.api.post("/v1/certificates/nocname/issue", json={})
    assert r.status_code == 202, r.text
    job2 = r.json()["job"]["id"]
    assert fleet.wait([job2])[job2] == "failed"
    # the alert is written in the failed job's own transaction: had it fired, it
    # would be there now
    assert [(k, s) for (_, _, _, _, _, k, s) in alert_deliveries(fleet)] == \
        [("issuance_failed", "nocname")]
    wait_for(lambda: alert_deliveries(fleet)[0][1] == "delivered", 20, "delivered")
    assert len(mailbox.got()) == 1
    (url, state, attempts, status, err, _, _), = alert_deliveries(fleet)
    assert url == "mailto:ops@example.test,oncall@example.test"
    assert (state, attempts, status, err) == ("delivered", 1, 250, None)
    no_secret_anywhere(fleet, SMTP_PASSWORD)


def test_smtp_down_is_retried_and_delivered_when_it_comes_up(fleet, lab, mailbox):
    fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_ALERT_INTERVAL=1)
    fleet.provider()
    email_rule(fleet, mailbox)
    failing_cert(fleet)
    wait_for(lambda: (alert_deliveries(fleet) or [(0, 0, 0)])[0][2] >= 2, 30,
             "two failed attempts")
    (_, state, _, _, err, _, _), = alert_deliveries(fleet)
    assert state == "pending" and "email to ops@example.test" in err, err
    assert mailbox.got() == []
    mailbox.start()
    wait_for(lambda: alert_deliveries(fleet)[0][1] == "delivered", 60, "the retried mail")
    assert len(mailbox.got()) == 1


def test_a_wrong_smtp_password_is_recorded_retried_and_never_logged(fleet, lab, mailbox):
    wrong = "not-the-password-42"
    mailbox.start()
    serve = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_ALERT_INTERVAL=1)
    fleet.provider()
    rule = email_rule(fleet, mailbox, password=wrong)
    failing_cert(fleet)
    wait_for(lambda: (alert_deliveries(fleet) or [(0, 0, 0)])[0][2] >= 2, 30,
             "two refused attempts")
    (_, state, _, status, err, _, _), = alert_deliveries(fleet)
    assert state == "pending" and status == 535, (status, err)
    assert "Login denied" in err or "535" in err, err
    assert mailbox.refused >= 2 and mailbox.got() == []
    assert serve.proc.poll() is None
    r = fleet.api.get(f"/v1/alerts/{rule['id']}").json()
    assert r["deliveries"]["pending"] == 1 and r["deliveries"]["last_error"] == err
    no_secret_anywhere(fleet, wrong)
    # the corrected password is used by the next retry
    r = fleet.api.patch(f"/v1/alerts/{rule['id']}", json={"channel": {
        **rule["channel"], "password": SMTP_PASSWORD}})
    assert r.status_code == 200, r.text
    wait_for(lambda: alert_deliveries(fleet)[0][1] == "delivered", 60, "delivered")
    assert len(mailbox.got()) == 1
    no_secret_anywhere(fleet, wrong, SMTP_PASSWORD)


# ---- Slack, Teams, the signed webhook ----

def test_slack_teams_and_webhook_payloads(fleet, lab):
    with Receiver("unused") as chat, Receiver(HOOK_SECRET) as hook:
        fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_ALERT_INTERVAL=1)
        fleet.provider()
        for name, channel in (
                ("slack", {"type": "slack", "url": chat.url + SLACK_SECRET_PATH}),
                ("teams", {"type": "teams", "url": chat.url + TEAMS_SECRET_PATH}),
                ("teams-mc", {"type": "teams", "format": "messagecard",
                              "url": chat.url + TEAMS_SECRET_PATH + "/mc"}),
                ("hook", {"type": "webhook", "url": hook.url, "secret": HOOK_SECRET})):
            r = fleet.api.post("/v1/alerts", json={"name": name, "channel": channel,
                                                   "events": ["issuance_failed"]})
            assert r.status_code == 201, r.text
        failing_cert(fleet)
        wait_for(lambda: len(chat.calls) >= 3 and hook.calls, 30, "the four alerts")
        bodies = [json.loads(c["body"]) for c in chat.calls]
        slack = next(b for b in bodies if "blocks" in b)
        assert slack["text"] == "certfleet: issuance of nocname failed"
        assert [b["type"] for b in slack["blocks"]] == ["header", "section", "context"]
        assert slack["blocks"][1]["text"]["type"] == "mrkdwn"
        assert "*Alias verdict*: missing" in slack["blocks"][1]["text"]["text"]
        card = next(b for b in bodies if b.get("type") == "message")
        att = card["attachments"][0]
        assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert att["content"]["type"] == "AdaptiveCard" and att["content"]["version"]
        blocks = att["content"]["body"]
        assert blocks[0]["type"] == "TextBlock" and "nocname" in blocks[0]["text"]
        facts = {f["title"]: f["value"] for f in blocks[1]["facts"]}
        assert blocks[1]["type"] == "FactSet" and facts["Alias verdict"].startswith("missing")
        mc = next(b for b in bodies if b.get("@type") == "MessageCard")
        assert mc["@context"] == "https://schema.org/extensions" and mc["summary"]
        assert any(f["name"] == "Step" and f["value"] == "preflight"
                   for f in mc["sections"][0]["facts"])
        h = hook.calls[0]
        assert h["valid"] and h["headers"]["X-Certfleet-Event"] == "alert"
        ev = json.loads(h["body"])
        assert ev["alert"] == "issuance_failed" and ev["rule"] == "hook"
        assert ev["problem"]["alias_check"]["verdict"] == "missing", ev
        assert h["headers"]["X-Certfleet-Delivery"] == ev["id"]
    urls = sorted(u for (u, *_) in alert_deliveries(fleet))
    assert urls == sorted(["slack:slack", "teams:teams", "teams:teams-mc", hook.url])
    no_secret_anywhere(fleet, SLACK_SECRET_PATH, TEAMS_SECRET_PATH, HOOK_SECRET)


# ---- expiring, issuer paused, digest ----

def test_expiring_with_no_renewal_fires_once(fleet, lab):
    with Receiver(HOOK_SECRET) as hook:
        # no scheduler: nothing renews the certificate
        fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_ALERT_INTERVAL=1,
                    CERTFLEET_RENEW_INTERVAL=0)
        fleet.provider()
        for cid, name in (("soon", "h31"), ("later", "h32")):
            job = fleet.certificate(cid, [f"{name}.example.test"],
                                    f"{name}.example.test.{RFC}")
            assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
        r = fleet.api.post("/v1/alerts", json={
            "name": "exp", "events": ["expiring"], "expiring_within_days": 5,
            "channel": {"type": "webhook", "url": hook.url, "secret": HOOK_SECRET}})
        assert r.status_code == 201, r.text
        # "soon" now ends in two days (Pebble's certificates last longer than 5)
        fleet.sql("UPDATE certificate_versions SET not_after = now() + interval '2 days' "
                  "WHERE certificate_id = 'soon'")
        ev = json.loads(wait_for(lambda: hook.calls, 30, "the expiring alert")[0]["body"])
        assert ev["alert"] == "expiring" and ev["certificate"] == "soon", ev
        assert ev["days_left"] in (1, 2) and ev["last_job"]["state"] == "issued"
    assert [(k, s) for (*_, k, s) in alert_deliveries(fleet)] == [("expiring", "soon")]


def test_issuer_paused_fires(fleet, lab, proxy):
    with Receiver(HOOK_SECRET) as hook:
        control(proxy, "PATCH", "/config",
                {"limits": {"orders": {"count": 1, "per_seconds": 15}}})
        fleet.start(CERTFLEET_WORKERS=2, CERTFLEET_ALERT_INTERVAL=1)
        fleet.provider()
        r = fleet.api.post("/v1/alerts", json={
            "name": "ca", "events": ["issuer_paused"], "filters": {"issuer": "strict"},
            "channel": {"type": "webhook", "url": hook.url, "secret": HOOK_SECRET}})
        assert r.status_code == 201, r.text
        r = fleet.api.post("/v1/issuers", json={
            "name": "strict", "directory": lab["LAB_CAPROXY_DIR"], "email": "ops@example.test",
            "ca_file": open(lab["LAB_ACME_TLS_CA"]).read()})
        assert r.status_code == 201, r.text
        jobs = []
        for i in (1, 2, 3):
            r = fleet.api.post("/v1/certificates", json={
                "id": f"p{i}", "domains": [f"h{20 + i}.example.test"], "provider": "lab-bind",
                "dns_alias": {f"h{20 + i}.example.test": f"h{20 + i}.example.test.{RFC}"},
                "issuers": ["strict"]})
            assert r.status_code == 201, r.text
            jobs.append(r.json()["job"]["id"])
        ev = json.loads(wait_for(lambda: hook.calls, 90, "the issuer_paused alert")[0]["body"])
        assert ev["alert"] == "issuer_paused" and ev["issuer"] == "strict", ev
        assert "rate limited" in ev["reason"] and ev["paused_until"], ev
        fleet.wait(jobs, timeout=120)
    # once per issuer and day, however many pauses
    assert [(k, s) for (*_, k, s) in alert_deliveries(fleet)] == [("issuer_paused", "strict")]


def test_daily_digest_is_sent_once_across_two_replicas(fleet, lab):
    with Receiver(HOOK_SECRET) as hook:
        a = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_ALERT_INTERVAL=1)
        b = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_ALERT_INTERVAL=1)
        fleet.provider()
        failing_cert(fleet)
        r = fleet.api.post("/v1/alerts", json={
            "name": "daily", "events": ["digest"], "digest_hour": 0,
            "channel": {"type": "webhook", "url": hook.url, "secret": HOOK_SECRET}})
        assert r.status_code == 201, r.text
        ev = json.loads(wait_for(lambda: hook.calls, 30, "the digest")[0]["body"])
        assert ev["alert"] == "digest" and ev["day"], ev
        assert [x["certificate"] for x in ev["at_risk"]] == ["nocname"], ev
        assert ev["at_risk"][0]["last_job"]["problem"]["step"] == "preflight"
        # both replicas keep passing (each pass is logged): still one digest
        marks = [s.output().count("alerts.pass") for s in (a, b)]
        wait_for(lambda: all(s.output().count("alerts.pass") >= m + 3
                             for s, m in zip((a, b), marks)), 30, "three more passes each")
        assert len(hook.calls) == 1
    assert [(k, s) for (*_, k, s) in alert_deliveries(fleet)] == [("digest", "")]
