"""Issuers (issue 11, the service side) against the lab's unruly CA: /v1/issuers with
its validation and a sealed EAB key that is never returned; budgets that make jobs
wait instead of meeting the CA's 429; a 429 that pauses the issuer for every worker of
two replicas; fallback to the backup Pebble; a 503 storm; processing finalize; reused
authorizations; the duplicate-set 409; a certificate paused after repeated failed
validations, and resumed; profiles; ARI renewals outside the budget.

Every answer of the API is checked against api/openapi.yaml (workerlib's Api). The CA
proxy is reset before and after each test (the `proxy` fixture of test_ca_proxy)."""
import re
import time

import pytest
import requests

from service import db_url  # noqa: F401 (fixture)
from test_acme_account import eab_lab  # noqa: F401 (fixture)
from test_ca_proxy import control, proxy  # noqa: F401 (fixture)
from workerlib import RFC, fleet, open_sealed  # noqa: F401 (fixture)

EAB_KEY = "c2VjcmV0LWhtYWMta2V5LW9mLTMyLWJ5dGVzLWxvbmctLS0"


def issuer(fleet, name, directory, **extra):
    body = {"name": name, "directory": directory, "ca_file": open(
        fleet.lab["LAB_ACME_TLS_CA"]).read(), "email": "ops@example.test", **extra}
    r = fleet.api.post("/v1/issuers", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def cert(fleet, cid, names, issuers=None, **extra):
    body = {"id": cid, "domains": names, "dns_alias": {n: f"{n}.{RFC}" for n in names},
            "provider": "lab-bind", **extra}
    if issuers is not None:
        body["issuers"] = issuers
    r = fleet.api.post("/v1/certificates", json=body)
    assert r.status_code == 201, r.text
    return r.json()["job"]["id"]


def version(fleet, cid, v=1):
    r = fleet.api.get(f"/v1/certificates/{cid}/versions")
    assert r.status_code == 200, r.text
    return next(x for x in r.json()["versions"] if x["version"] == v)


def proxy_config(base, **cfg):
    control(base, "PATCH", "/config", cfg)


def new_orders_at(base):
    return sum(control(base, "GET", "/counters")["orders_by_account"].values())


# ---- the API ----

def test_issuer_crud_validation_and_the_eab_key_is_never_returned(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=0)
    fleet.provider()
    r = fleet.api.get("/v1/issuers")
    assert r.status_code == 200
    default, = r.json()["issuers"]
    assert default["name"] == "default" and default["directory"] == lab["LAB_ACME_DIR"]
    assert default["ca_file"] == open(lab["LAB_ACME_TLS_CA"]).read()
    assert default["email"] == "ops@example.test" and default["state"]["paused"] is None
    ca = open(lab["LAB_ACME_TLS_CA"]).read()
    good = {"name": "le", "directory": lab["LAB_CAPROXY_DIR"], "ca_file": ca,
            "email": "ops@example.test", "eab": {"kid": "kid-1", "hmac_key": EAB_KEY},
            "profile": "tlsserver", "renewals_exempt": True,
            "limits": {"orders": {"count": 300, "per_seconds": 10800},
                       "certificates_per_domain": {"count": 50, "per_seconds": 604800},
                       "duplicate_sets": {"count": 5, "per_seconds": 604800},
                       "failed_authorizations_per_name": {"count": 5, "per_seconds": 3600}}}
    bad = [({"name": "Bad Name"}, "name"),
           ({"directory": "http://insecure/dir"}, "directory"),
           ({"ca_file": "not a pem"}, "ca_file"),
           ({"email": "no-at-sign"}, "email"),
           ({"eab": {"kid": "k"}}, "eab.hmac_key"),
           ({"eab": {"kid": "k", "hmac_key": "!!"}}, "eab.hmac_key"),
           ({"limits": {"orders": {"count": 0, "per_seconds": 60}}}, "limits.orders.count"),
           ({"limits": {"orders": {"count": 3}}}, "limits.orders"),
           ({"limits": {"weekly": {"count": 3, "per_seconds": 60}}}, "limits.weekly"),
           ({"renewals_exempt": "yes"}, "renewals_exempt"),
           ({"colour": "blue"}, "colour")]
    for change, field in bad:
        r = fleet.api.post("/v1/issuers", json={**good, **change})
        assert r.status_code == 400, (change, r.text)
        assert r.json()["field"] == field, (change, r.json())
        assert EAB_KEY not in r.text
    assert fleet.sql("SELECT count(*) FROM issuers") == [(1,)], "a refused POST wrote"
    r = fleet.api.post("/v1/issuers", json=good)
    assert r.status_code == 201, r.text
    le = r.json()
    assert le["eab"] == {"kid": "kid-1", "hmac_key_set": True} and EAB_KEY not in r.text
    assert le["limits"] == good["limits"] and le["profile"] == "tlsserver"
    assert le["state"]["budgets"]["orders"] == {"count": 300, "per_seconds": 10800, "used": 0,
                                                "left": 300, "next_at": None}
    assert fleet.api.post("/v1/issuers", json=good).status_code == 409
    # sealed for its row, and nowhere in the clear
    (blob,), = fleet.sql("SELECT eab_hmac_sealed FROM issuers WHERE name = 'le'")
    assert open_sealed(bytes(blob), "issuers:le:eab").decode() == EAB_KEY
    (dump,), = fleet.sql("SELECT row_to_json(i)::text FROM issuers i WHERE name = 'le'")
    assert EAB_KEY not in dump
    for path in ("/v1/issuers", "/v1/issuers/le", "/v1/audit"):
        r = fleet.api.get(path)
        assert r.status_code == 200 and EAB_KEY not in r.text
    # PATCH: a merge; the sealed key stays unless eab is given; eab null drops it
    r = fleet.api.patch("/v1/issuers/le", json={"limits": {"orders": {"count": 10,
                                                                      "per_seconds": 60}}})
    assert r.status_code == 200, r.text
    assert r.json()["limits"] == {"orders": {"count": 10, "per_seconds": 60}}
    assert r.json()["eab"] == {"kid": "kid-1", "hmac_key_set": True}
    assert fleet.api.patch("/v1/issuers/le", json={"name": "other"}).status_code == 400
    r = fleet.api.patch("/v1/issuers/le", json={"eab": {"kid": "kid-2"}})
    assert r.status_code == 400 and r.json()["field"] == "eab.hmac_key"
    r = fleet.api.patch("/v1/issuers/le", json={"eab": None})
    assert r.status_code == 200 and r.json()["eab"] is None
    assert fleet.sql("SELECT eab_hmac_sealed FROM issuers WHERE name = 'le'") == [(None,)]
    # certificates name issuers that exist, in order; the default is ["default"]
    r = fleet.api.post("/v1/certificates", json={
        "id": "c1", "domains": ["www.example.test"], "provider": "lab-bind",
        "issuers": ["le", "nope"]})
    assert r.status_code == 400 and r.json()["field"] == "issuers[1]", r.text
    assert "nope" in r.json()["detail"]
    cert(fleet, "c1", ["www.example.test"], ["le", "default"], profile="tlsserver")
    cert(fleet, "c2", ["two.example.test"])
    r = fleet.api.get("/v1/certificates/c1")
    assert r.json()["issuers"] == ["le", "default"] and r.json()["profile"] == "tlsserver"
    assert fleet.api.get("/v1/certificates/c2").json()["issuers"] == ["default"]
    r = fleet.api.patch("/v1/certificates/c2", json={"issuers": ["le"]})
    assert r.status_code == 200 and r.json()["issuers"] == ["le"]
    r = fleet.api.delete("/v1/issuers/le")
    assert r.status_code == 409 and r.json()["certificates"] == ["c1", "c2"], r.text
    issuer(fleet, "spare", lab["LAB_BACKUP_ACME_DIR"])
    assert fleet.api.delete("/v1/issuers/spare").status_code == 204
    assert fleet.api.get("/v1/issuers/spare").status_code == 404
    actions = [a for a, in fleet.sql("SELECT action FROM audit_events WHERE action LIKE "
                                     "'issuer.%%' ORDER BY id")]
    assert actions == ["issuer.create", "issuer.update", "issuer.update", "issuer.create",
                       "issuer.delete"]


# ---- budgets, pauses, fallback ----

def test_budget_waits_instead_of_meeting_the_cas_limit(fleet, lab, proxy):
    # the CA allows 2 orders per 20 s; the issuer's budget says the same
    proxy_config(proxy, limits={"orders": {"count": 2, "per_seconds": 20}})
    fleet.start(CERTFLEET_WORKERS=3, CERTFLEET_FALLBACK_AFTER=3600)
    fleet.provider()
    issuer(fleet, "capped", lab["LAB_CAPROXY_DIR"],
           limits={"orders": {"count": 2, "per_seconds": 20}})
    jobs = [cert(fleet, f"b{i}", [f"h{i}.example.test"], ["capped"]) for i in (1, 2, 3)]
    t0 = time.monotonic()
    states = fleet.wait(jobs, timeout=90)
    assert set(states.values()) == {"issued"}, fleet.timeline(*jobs)
    assert time.monotonic() - t0 >= 15, "the third order did not wait for the budget"
    waits = [e for j in jobs for e in fleet.events(j) if e[1] == "issuer"]
    assert waits, fleet.timeline(*jobs)
    assert re.fullmatch(r"waiting for orders budget at capped: 2 per 20s used, next at "
                        r"\d\d:\d\d:\d\d", waits[0][2]), waits[0][2]
    counters = control(proxy, "GET", "/counters")
    assert new_orders_at(proxy) == 3, counters
    assert counters["rate_limited"] == 0, counters
    r = fleet.api.get("/v1/issuers/capped")
    assert r.json()["state"]["last_hour"]["orders"] == 3
    assert r.json()["state"]["budgets"]["orders"]["used"] >= 1


def test_429_pauses_the_issuer_for_every_replica(fleet, lab, proxy):
    # the CA allows 1 order per 15 s; certfleet is not told (no limits): it meets the 429
    proxy_config(proxy, limits={"orders": {"count": 1, "per_seconds": 15}})
    fleet.start(CERTFLEET_WORKERS=2)
    fleet.start(CERTFLEET_WORKERS=2)
    fleet.provider()
    issuer(fleet, "strict", lab["LAB_CAPROXY_DIR"])
    jobs = [cert(fleet, f"p{i}", [f"h{10 + i}.example.test"], ["strict"]) for i in (1, 2, 3)]
    states = fleet.wait(jobs, timeout=120)
    assert set(states.values()) == {"issued"}, fleet.timeline(*jobs)
    log = control(proxy, "GET", "/requests")["requests"] if isinstance(
        control(proxy, "GET", "/requests"), dict) else control(proxy, "GET", "/requests")
    refused = [r for r in log if r["status"] == 429]
    assert refused, "the CA never said 429: the test tests nothing"
    # each 429 pauses the issuer for its Retry-After (whole seconds, the 15 s of the
    # bucket's refill at most): no request of either replica before its end, but
    # those already on the wire when the 429 came (within 1 s); so at most one 429
    # per pause, at most one per job
    for first in refused:
        quiet = [r for r in log if first["time"] + 1.0 < r["time"] < first["time"] + 12.0]
        assert quiet == [], (first, quiet)
    assert len(refused) <= len(jobs), refused
    paused = [e for j in jobs for e in fleet.events(j)
              if e[1] == "issuer" and "paused until" in e[2]]
    assert paused, fleet.timeline(*jobs)
    assert all(f for (f,) in fleet.sql("SELECT failures = 0 FROM jobs"))


def test_fallback_to_the_backup_ca_records_the_issuer(fleet, lab, proxy):
    control(proxy, "POST", "/faults", {"endpoint": "newOrder", "kind": "503",
                                       "retry_after": 120})
    fleet.start(CERTFLEET_WORKERS=2, CERTFLEET_FALLBACK_AFTER=10)
    fleet.provider()
    issuer(fleet, "primary", lab["LAB_CAPROXY_DIR"])
    issuer(fleet, "backup", lab["LAB_BACKUP_ACME_DIR"])
    job = cert(fleet, "fb", ["h21.example.test"], ["primary", "backup"])
    assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)
    steps = [(s, m) for _, s, m, _, _ in fleet.events(job)]
    moves = [m for s, m in steps if s == "fallback"]
    assert len(moves) >= 1 and "moving from issuer primary to backup" in moves[0], steps
    v = version(fleet, "fb")
    assert v["issuer"] == "backup", v
    r = fleet.api.get("/v1/issuers/primary").json()
    assert r["state"]["paused"] is not None and r["state"]["last_hour"]["failures"] >= 1
    assert "503" in r["state"]["paused"]["reason"]
    assert r["state"]["paused"]["problem"]["type"].endswith("serverInternal")
    assert fleet.job(job)["failures"] == 0


def test_a_503_storm_pauses_with_backoff_and_every_job_issues(fleet, lab, proxy):
    control(proxy, "POST", "/faults", {"endpoint": "*", "kind": "503", "count": 6,
                                       "retry_after": 1})
    fleet.start(CERTFLEET_WORKERS=3, CERTFLEET_ISSUER_BACKOFF_MAX=4)
    fleet.provider()
    issuer(fleet, "stormy", lab["LAB_CAPROXY_DIR"])
    jobs = [cert(fleet, f"s{i}", [f"h{30 + i}.example.test"], ["stormy"]) for i in (1, 2, 3)]
    states = fleet.wait(jobs, timeout=120)
    assert set(states.values()) == {"issued"}, fleet.timeline(*jobs)
    fired = control(proxy, "GET", "/counters")["faults_fired"]
    assert sum(n for k, n in fired.items() if k.endswith(":503")) == 6, fired
    assert all(f == 0 for (f,) in fleet.sql("SELECT failures FROM jobs"))
    r = fleet.api.get("/v1/issuers/stormy").json()
    assert r["state"]["last_hour"]["failures"] >= 1


def test_processing_finalize_is_polled(fleet, lab, proxy):
    control(proxy, "POST", "/faults", {"endpoint": "finalize", "kind": "processing",
                                       "retry_after": 1, "polls": 2})
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    issuer(fleet, "slow", lab["LAB_CAPROXY_DIR"])
    job = cert(fleet, "pf", ["h41.example.test"], ["slow"])
    assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)
    assert control(proxy, "GET", "/counters")["faults_fired"].get("order:processing", 0) >= 1
    assert version(fleet, "pf")["issuer"] == "slow"


def test_reused_authorizations_skip_dns(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    issuer(fleet, "reuse", lab["LAB_REUSE_ACME_DIR"])
    job = cert(fleet, "ru", ["h42.example.test"], ["reuse"])
    assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)
    r = fleet.api.post("/v1/certificates/ru/issue")
    assert r.status_code == 202, r.text
    job2 = r.json()["job"]["id"]
    assert fleet.wait([job2], timeout=60)[job2] == "issued", fleet.timeline(job2)
    ev = fleet.events(job2)
    auth = [m for _, s, m, _, _ in ev if s == "authorizations"]
    assert auth == ["0 to validate, 1 already valid"], fleet.timeline(job2)
    # no TXT value is written or waited for: the DNS steps pass through empty
    assert [m for _, s, m, _, _ in ev if s == "present"] in ([], ["0 values written"]), \
        fleet.timeline(job2)
    assert fleet.sql("SELECT count(*) FROM dns_records WHERE job_id = %s", (job2,)) == [(0,)]
    assert version(fleet, "ru", 2)["issuer"] == "reuse"


def test_duplicate_set_limit_answers_409_unless_forced(fleet, lab):
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    issuer(fleet, "dup", lab["LAB_ACME_DIR"],
           limits={"duplicate_sets": {"count": 1, "per_seconds": 3600}})
    job = cert(fleet, "dup1", ["h43.example.test"], ["dup"])
    assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)
    r = fleet.api.post("/v1/certificates/dup1/issue")
    assert r.status_code == 409, r.text
    p = r.json()
    assert p["type"].endswith("duplicate-set-limit") and p["limit"] == "duplicate_sets"
    assert p["issuer"] == "dup" and p["issued"] == 1 and p["count"] == 1
    assert "duplicate_sets" in p["detail"] and "force=true" in p["detail"]
    r = fleet.api.post("/v1/certificates/dup1/issue?force=true")
    assert r.status_code == 202, r.text
    job2 = r.json()["job"]["id"]
    assert fleet.wait([job2], timeout=60)[job2] == "issued", fleet.timeline(job2)


def test_repeated_failed_validations_pause_the_certificate_until_resumed(fleet, lab):
    from workerlib import LyingResolver
    target = f"wrong.example.test.{RFC}"
    with LyingResolver(lab["LAB_RESOLVER"],
                       {"_acme-challenge.wrong.example.test": target}) as liar:
        fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RESOLVERS=liar.address,
                    CERTFLEET_VALIDATION_PAUSE_AFTER=2,
                    CERTFLEET_WEBHOOK_URLS="http://127.0.0.1:9/hook",
                    CERTFLEET_WEBHOOK_SECRET="s3cret-for-the-test-hooks")
        fleet.provider()
        issuer(fleet, "val", lab["LAB_ACME_DIR"], limits={
            "failed_authorizations_per_name": {"count": 2, "per_seconds": 3600}})
        r = fleet.api.post("/v1/certificates", json={
            "id": "wrong", "domains": ["wrong.example.test"], "dns_alias": target,
            "provider": "lab-bind", "issuers": ["val"]})
        assert r.status_code == 201, r.text
        job = r.json()["job"]["id"]
        assert fleet.wait([job])[job] == "failed", fleet.timeline(job)
        problem = fleet.job(job)["problem"]
        assert problem["name"] == "wrong.example.test", problem
        # the service's resolver (the liar) sees the right CNAME: the verdict says so,
        # which tells the operator the CA's view differs from the service's
        # (insecure: the liar sets no AD flag, so the chain reads as unsigned, which is
        # still a right chain)
        assert problem["alias_check"]["verdict"] in ("ok", "insecure"), problem
        assert "_acme-challenge.wrong.example.test" in problem["alias_check"]["detail"]
        assert fleet.api.get("/v1/certificates/wrong").json()["status"] == "failed"
        r = fleet.api.post("/v1/certificates/wrong/issue")
        assert r.status_code == 202, r.text
        job2 = r.json()["job"]["id"]
        assert fleet.wait([job2])[job2] == "failed", fleet.timeline(job2)
        assert fleet.job(job2)["problem"]["certificate_paused"] is True
        assert fleet.api.get("/v1/certificates/wrong").json()["status"] == "paused"
        events = [e for (e,) in fleet.sql("SELECT event FROM webhook_deliveries "
                                          "ORDER BY id")]
        assert events.count("failed") == 2 and events.count("paused") == 1, events
        r = fleet.api.post("/v1/certificates/wrong/issue")
        assert r.status_code == 409 and "resume" in r.json()["detail"], r.text
        # resume lifts it; the name's failed-authorization budget (2 per hour) is
        # spent, so the new job waits instead of ordering
        orders = fleet.sql("SELECT count(*) FROM issuer_usage WHERE limit_name = "
                           "'orders_sent'")[0][0]
        r = fleet.api.post("/v1/certificates/wrong/resume")
        assert r.status_code == 202, r.text
        job3 = r.json()["job"]["id"]
        assert fleet.api.get("/v1/certificates/wrong").json()["status"] == "pending"
        e = fleet.wait_event(job3, lambda e: e[1] == "issuer")
        assert re.match(r'waiting for failed_authorizations_per_name budget at val for '
                        r'"wrong.example.test": 2 per 1h used, next at ', e[2]), e
        assert fleet.job(job3)["state"] == "waiting"
        assert fleet.sql("SELECT count(*) FROM issuer_usage WHERE limit_name = "
                         "'orders_sent'")[0][0] == orders
        r = fleet.api.post("/v1/certificates/wrong/resume")
        assert r.status_code == 409, r.text


def test_profiles_are_checked_against_the_directory_and_sent_in_new_order(fleet, lab, proxy):
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    issuer(fleet, "prof", lab["LAB_CAPROXY_DIR"])
    issuer(fleet, "plain", lab["LAB_BACKUP_ACME_DIR"])  # offers no profiles
    r = fleet.api.post("/v1/certificates", json={
        "id": "pr", "domains": ["h44.example.test"], "provider": "lab-bind",
        "dns_alias": f"h44.example.test.{RFC}", "issuers": ["prof"], "profile": "bogus"})
    assert r.status_code == 400 and r.json()["field"] == "profile", r.text
    assert "classic, shortlived, tlsserver" in r.json()["detail"], r.text
    many = [f"h{i}.example.test" for i in range(100, 126)]
    r = fleet.api.post("/v1/certificates", json={
        "id": "big", "domains": many, "provider": "lab-bind", "dns_alias": "auto",
        "issuers": ["prof"], "profile": "tlsserver"})
    assert r.status_code == 400 and r.json()["field"] == "domains", r.text
    assert "at most 25 names" in r.json()["detail"]
    job = cert(fleet, "pr", ["h44.example.test"], ["prof", "plain"], profile="shortlived")
    assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)
    orders = control(proxy, "GET", "/orders")
    orders = orders["orders"] if isinstance(orders, dict) else orders
    assert [o["profile"] for o in orders] == ["shortlived"], orders
    assert version(fleet, "pr")["profile"] == "shortlived"
    r = fleet.api.patch("/v1/certificates/pr", json={"profile": "nope"})
    assert r.status_code == 400 and r.json()["field"] == "profile", r.text
    r = fleet.api.patch("/v1/certificates/pr", json={"profile": "tlsserver"})
    assert r.status_code == 200 and r.json()["profile"] == "tlsserver", r.text


def test_ari_renewals_take_no_budget_unit(fleet, lab, proxy):
    from test_ca_proxy import cert_id
    from cryptography import x509
    proxy_config(proxy, ari_retry_after=1)
    # the default issuer is the proxy: the scheduler asks its renewalInfo
    fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RENEW_INTERVAL=1,
                CERTFLEET_ACME_DIRECTORY=lab["LAB_CAPROXY_DIR"])
    fleet.provider()
    r = fleet.api.patch("/v1/issuers/default", json={
        "limits": {"orders": {"count": 1, "per_seconds": 3600}}, "renewals_exempt": True})
    assert r.status_code == 200, r.text
    job = cert(fleet, "ari", ["h45.example.test"])
    assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)
    (pem,), = fleet.sql("SELECT cert_pem FROM certificate_versions WHERE certificate_id = "
                        "'ari' AND version = 1")
    cid = cert_id(x509.load_pem_x509_certificate(pem.encode()))
    control(proxy, "PUT", f"/renewal-info/{cid}", {"now": True})
    deadline = time.monotonic() + 60
    while not fleet.sql("SELECT 1 FROM certificate_versions WHERE certificate_id = 'ari' "
                        "AND version = 2"):
        assert time.monotonic() < deadline, fleet.logs()
        time.sleep(0.2)
    orders = control(proxy, "GET", "/orders")
    orders = orders["orders"] if isinstance(orders, dict) else orders
    assert [o["replaces"] for o in orders] == [None, cid], orders
    assert orders[1]["exempt"] is True
    budget = fleet.api.get("/v1/issuers/default").json()["state"]["budgets"]["orders"]
    assert budget["used"] == 1 and budget["left"] == 0, budget
    assert control(proxy, "GET", "/counters")["rate_limited"] == 0
    (kind,), = fleet.sql("SELECT kind FROM jobs WHERE certificate_id = 'ari' ORDER BY "
                         "created_at DESC LIMIT 1")
    assert kind == "renew"


def test_eab_account_is_registered_on_first_use_and_reused(certfleet, eab_lab):
    """An issuer with External Account Binding (the lab's EAB Pebble): its account is
    registered with the binding by the first job and reused by the next."""
    import uuid
    from service import admin_conn, with_dbname
    from workerlib import Fleet
    name = "t_" + uuid.uuid4().hex[:12]
    c = admin_conn(eab_lab)
    with c.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    c.close()
    f = Fleet(certfleet, eab_lab, with_dbname(eab_lab["LAB_PG_URL"], name))
    try:
        f.start(CERTFLEET_WORKERS=1)
        f.provider()
        issuer(f, "zerossl", eab_lab["LAB_EAB_ACME_DIR"],
               eab={"kid": eab_lab["LAB_EAB_KID"], "hmac_key": eab_lab["LAB_EAB_HMAC_KEY"]})
        jobs = []
        for i in (1, 2):
            jobs.append(cert(f, f"e{i}", [f"h{50 + i}.example.test"], ["zerossl"]))
            assert f.wait(jobs[-1:], timeout=60)[jobs[-1]] == "issued", f.timeline(*jobs)
        rows = f.sql("SELECT account_url FROM acme_accounts WHERE directory_url = %s",
                     (eab_lab["LAB_EAB_ACME_DIR"],))
        assert len(rows) == 1 and rows[0][0], rows
        assert version(f, "e2")["issuer"] == "zerossl"
        r = f.api.get("/v1/issuers/zerossl")
        assert eab_lab["LAB_EAB_HMAC_KEY"] not in r.text
    finally:
        f.close()
        c = admin_conn(eab_lab)
        with c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.close()


def test_certificates_per_registered_domain_budget(fleet, lab):
    """h61.example.test and h62.example.test share the registered domain example.test
    (the Public Suffix List's default rule for .test): one unit each of the same
    budget, so the second certificate waits without ordering."""
    fleet.start(CERTFLEET_WORKERS=2, CERTFLEET_FALLBACK_AFTER=3600)
    fleet.provider()
    issuer(fleet, "perdomain", lab["LAB_ACME_DIR"],
           limits={"certificates_per_domain": {"count": 1, "per_seconds": 3600}})
    first = cert(fleet, "d1", ["h61.example.test"], ["perdomain"])
    assert fleet.wait([first], timeout=60)[first] == "issued", fleet.timeline(first)
    second = cert(fleet, "d2", ["h62.example.test"], ["perdomain"])
    e = fleet.wait_event(second, lambda e: e[1] == "issuer")
    assert re.fullmatch(r'waiting for certificates_per_domain budget at perdomain for '
                        r'"example.test": 1 per 1h used, next at \d\d:\d\d:\d\d', e[2]), e
    assert fleet.job(second)["state"] == "waiting" and fleet.job(second)["order_url"] is None
    b = fleet.api.get("/v1/issuers/perdomain").json()["state"]["budgets"]
    assert b["certificates_per_domain"]["used"] == 1 and b["certificates_per_domain"]["left"] == 0
    assert b["certificates_per_domain"]["next_at"] is not None


def test_two_replicas_register_one_account_without_pausing_the_issuer(fleet, lab, proxy):
    """Two replicas start at once against a fresh issuer: one newAccount reaches the
    CA (Pebble answers 500 to simultaneous ones of one key, which paused the issuer);
    the other worker waits for the registration lock and uses the stored account."""
    control(proxy, "POST", "/faults", {"endpoint": "newAccount", "kind": "latency",
                                       "ms": 1500})
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    issuer(fleet, "fresh", lab["LAB_CAPROXY_DIR"])
    jobs = [cert(fleet, f"a{i}", [f"h{60 + i}.example.test"], ["fresh"]) for i in (1, 2)]
    states = fleet.wait(jobs, timeout=120)
    assert set(states.values()) == {"issued"}, fleet.timeline(*jobs)
    log = control(proxy, "GET", "/requests")
    log = log["requests"] if isinstance(log, dict) else log
    assert len([r for r in log if r["endpoint"] == "newAccount"]) == 1, log
    rows = fleet.sql("SELECT account_url FROM acme_accounts WHERE directory_url = %s",
                     (lab["LAB_CAPROXY_DIR"],))
    assert len(rows) == 1 and rows[0][0], rows
    paused = [e for j in jobs for e in fleet.events(j) if "paused until" in e[2]]
    assert paused == [], fleet.timeline(*jobs)
    assert fleet.api.get("/v1/issuers/fresh").json()["state"]["paused"] is None


def test_concurrent_503s_pause_once_at_the_first_backoff_step(fleet, lab, proxy):
    """Four newOrder requests in flight at once all get a 503: the issuer's streak
    rises once and the pause is the first backoff step (1 s, the Retry-After), not
    escalated and extended by every 503 of requests sent before the pause began."""
    n = 4
    control(proxy, "POST", "/faults", {"endpoint": "newOrder", "kind": "latency",
                                       "ms": 3000, "count": n})
    control(proxy, "POST", "/faults", {"endpoint": "newOrder", "kind": "503",
                                       "count": n, "retry_after": 1})
    fleet.start(CERTFLEET_WORKERS=n, CERTFLEET_ISSUER_BACKOFF_MAX=60)
    fleet.provider()
    issuer(fleet, "burst", lab["LAB_CAPROXY_DIR"])
    jobs = [cert(fleet, f"b{i}", [f"h{70 + i}.example.test"], ["burst"]) for i in range(n)]
    states = fleet.wait(jobs, timeout=120)
    assert set(states.values()) == {"issued"}, fleet.timeline(*jobs)
    log = control(proxy, "GET", "/requests")
    log = log["requests"] if isinstance(log, dict) else log
    orders = [r for r in log if r["endpoint"] == "newOrder"]
    failed = [r for r in orders if r["status"] == 503]
    assert len(failed) == n and orders[:n] == failed, orders
    # one pause of 1 s (streak 0 -> 1); escalated per 503 it would have been 8 s
    out = "\n".join(s.output() for s in fleet.serves)
    paused = [ln for ln in out.splitlines() if "issuer burst paused for" in ln]
    assert len(paused) == 1, paused
    assert re.search(r"paused for [01]\.\d s", paused[0]), paused
    assert orders[n]["time"] - failed[-1]["time"] < 4.0, orders
    assert all(f == 0 for (f,) in fleet.sql("SELECT failures FROM jobs"))


def test_due_certificate_behind_waiting_renewals_gets_its_job_in_one_pass(fleet, lab):
    """More due certificates with a renewal already waiting than a pass looks at
    (CERTFLEET_RENEW_BATCH=2) do not starve the due one behind them: they are no
    candidates, so one pass queues its renewal."""
    fleet.start(CERTFLEET_WORKERS=2, CERTFLEET_RENEW_INTERVAL=0)
    fleet.provider()
    ids = ["a1", "a2", "a3", "z"]
    for i, cid in enumerate(ids):  # one after the other: z expires last
        job = cert(fleet, cid, [f"h{80 + i}.example.test"])
        assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)
    # every one due now (a plan the scheduler keeps: same version and fraction, ARI
    # not to be asked for an hour); a1..a3 have a renewal waiting for an hour
    fleet.sql("INSERT INTO renewal_plans (certificate_id, version, source, renew_fraction,"
              " renew_at, ari_next_fetch) SELECT id, current_version, 'fraction',"
              " renew_fraction, now() - interval '1 minute', now() + interval '1 hour'"
              " FROM certificates")
    fleet.sql("INSERT INTO jobs (certificate_id, kind, step, state, run_after) SELECT id,"
              " 'renew', 'preflight', 'waiting', now() + interval '1 hour' FROM"
              " certificates WHERE id <> 'z'")
    assert fleet.sql("SELECT count(*) FROM jobs WHERE state = 'waiting'") == [(3,)]
    # a scheduler with a pass of 2 (the waiting jobs stay as they are for an hour)
    fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_RENEW_INTERVAL=1, CERTFLEET_RENEW_BATCH=2)
    deadline = time.monotonic() + 20
    while not fleet.sql("SELECT 1 FROM jobs WHERE certificate_id = 'z' AND kind = 'renew'"):
        assert time.monotonic() < deadline, "\n".join(
            ln for ln in fleet.serves[-1].output().splitlines() if "scheduler" in ln)
        time.sleep(0.2)
    assert fleet.sql("SELECT count(*) FROM jobs WHERE kind = 'renew'") == [(4,)]
