"""The admin API against a real serve (no workers) and the lab's PostgreSQL:
providers (secrets sealed, never returned, bound to their row), certificates (the row
and the first job in one transaction, NOTIFY on commit, one active job at most),
jobs with their timelines, PATCH, DELETE, and the audit trail. Every answer is
checked against api/openapi.yaml by the `Api` client (openapi.py)."""
import base64
import select
import threading

import psycopg2
import psycopg2.extras
import pytest

from openapi import api, api_module  # noqa: F401 (fixtures)
from service import db_url  # noqa: F401 (fixture)


def bind_settings(lab, **extra):
    return {"server": lab["LAB_BIND"], "tsig_name": lab["LAB_TSIG_NAME"],
            "tsig_algorithm": lab["LAB_TSIG_ALG"], "tsig_secret": lab["LAB_TSIG_SECRET"],
            **extra}


def make_provider(api, lab, name="lab-bind", **extra):
    r = api.post("/v1/providers", json={"name": name, "type": "rfc2136",
                                        "settings": bind_settings(lab, **extra)})
    assert r.status_code == 201, r.text
    return r.json()


def cert_doc(cid="web", **over):
    doc = {"id": cid, "domains": ["*.example.test", "example.test"],
           "dns_alias": "example.test.rfc-alias.test", "provider": "lab-bind",
           "key_type": "ec256", "hosts": ["web-01"]}
    doc.update(over)
    return doc


def jobs_of(api, cid):
    return api.sql("SELECT id::text, kind, state, step, attempt, run_after <= now(), "
                   "lease_owner FROM jobs WHERE certificate_id = %s ORDER BY created_at", (cid,))


# ---- providers ----

def test_provider_create_show_list_delete(api, lab):
    p = make_provider(api, lab)
    assert p["name"] == "lab-bind" and p["type"] == "rfc2136"
    assert p["settings"] == {"server": lab["LAB_BIND"], "tsig_name": lab["LAB_TSIG_NAME"],
                             "tsig_algorithm": lab["LAB_TSIG_ALG"]}
    assert p["secrets"] == ["tsig_secret"] and p["secrets_valid"] is True
    for r in (api.get("/v1/providers/lab-bind"), api.get("/v1/providers")):
        assert r.status_code == 200
        assert lab["LAB_TSIG_SECRET"] not in r.text
    assert [x["name"] for x in api.get("/v1/providers").json()["providers"]] == ["lab-bind"]
    assert api.delete("/v1/providers/lab-bind").status_code == 204
    assert api.get("/v1/providers/lab-bind").status_code == 404
    assert api.delete("/v1/providers/lab-bind").status_code == 404
    assert api.get("/v1/providers/Not_A_Slug").status_code == 404


def test_provider_without_secrets_and_duplicate_name(api, lab):
    r = api.post("/v1/providers", json={"name": "plain", "type": "rfc2136",
                                        "settings": {"server": lab["LAB_BIND"], "ttl": "30"}})
    assert r.status_code == 201, r.text
    assert r.json()["secrets"] == [] and r.json()["secrets_valid"] is True
    before = api.counts()
    r = api.post("/v1/providers", json={"name": "plain", "type": "rfc2136",
                                        "settings": {"server": lab["LAB_BIND"]}})
    assert r.status_code == 409 and r.json()["field"] == "name"
    assert "plain" in r.json()["detail"]
    assert api.counts() == before


def test_provider_secret_is_sealed_not_stored_in_clear(api, lab):
    make_provider(api, lab)
    secret = lab["LAB_TSIG_SECRET"]
    raw_secret = base64.b64decode(secret)
    (row_text, settings, sealed), = api.sql(
        "SELECT row_to_json(p)::text, settings::text, secrets_sealed FROM dns_providers p")
    assert secret not in row_text and "tsig_secret" not in settings
    blob = bytes(sealed)
    assert blob[0] == 1 and len(blob) > 29  # version byte, nonce, ciphertext, tag
    assert secret.encode() not in blob and raw_secret not in blob
    # nor anywhere else in the database: audit events, idempotency records
    (dump,), = api.sql("SELECT concat_ws(' ', (SELECT string_agg(row_to_json(a)::text, ' ') "
                       "FROM audit_events a), (SELECT string_agg(row_to_json(i)::text, ' ') "
                       "FROM idempotency_keys i))")
    assert secret not in (dump or "")
    assert "tsig_secret" in dump  # the audit event names the secret setting, not its value


def test_swapped_ciphertext_does_not_open(api, lab):
    make_provider(api, lab, name="one")
    make_provider(api, lab, name="two", tsig_name="other-key")
    api.sql("UPDATE dns_providers SET secrets_sealed = CASE name "
            "WHEN 'one' THEN (SELECT secrets_sealed FROM dns_providers WHERE name = 'two') "
            "ELSE (SELECT secrets_sealed FROM dns_providers WHERE name = 'one') END")
    for name in ("one", "two"):
        p = api.get(f"/v1/providers/{name}").json()
        assert p["secrets_valid"] is False and p["secrets"] == []
    # a flipped bit fails too
    api.sql("UPDATE dns_providers SET secrets_sealed = "
            "set_byte(secrets_sealed, 20, get_byte(secrets_sealed, 20) # 1) WHERE name = 'one'")
    assert api.get("/v1/providers/one").json()["secrets_valid"] is False


def test_provider_in_use_cannot_be_deleted(api, lab):
    make_provider(api, lab)
    make_provider(api, lab, name="other")
    assert api.post("/v1/certificates", json=cert_doc()).status_code == 201
    assert api.post("/v1/certificates", json=cert_doc(
        "mapped", provider={"*.example.test": "other", "example.test": "other"})).status_code == 201
    for name, users in (("lab-bind", ["web"]), ("other", ["mapped"])):
        before = api.counts()
        r = api.delete(f"/v1/providers/{name}")
        assert r.status_code == 409, r.text
        assert r.json()["certificates"] == users and users[0] in r.json()["detail"]
        assert api.counts() == before
    assert api.delete("/v1/certificates/mapped").status_code == 204
    assert api.delete("/v1/providers/other").status_code == 204


# ---- certificates and jobs ----

def test_create_writes_the_certificate_and_one_queued_job_and_notifies(api, lab):
    make_provider(api, lab)
    listener = psycopg2.connect(api.db_url)
    listener.autocommit = True
    with listener.cursor() as cur:
        cur.execute("LISTEN certfleet_jobs")
    try:
        r = api.post("/v1/certificates", json=cert_doc(
            domains=["*.Example.TEST.", "example.test"]))
        assert r.status_code == 201, r.text
        c = r.json()
        assert c["id"] == "web" and c["domains"] == ["*.example.test", "example.test"]
        assert c["status"] == "pending" and c["current_version"] is None
        assert c["job"]["state"] == "queued"
        job_id = c["job"]["id"]
        assert jobs_of(api, "web") == [(job_id, "issue", "queued", "account", 0, True, None)]
        ready = select.select([listener], [], [], 10)
        assert ready[0], "no NOTIFY certfleet_jobs within 10 s"
        listener.poll()
        assert [n.payload for n in listener.notifies] == [job_id]
        assert [n.channel for n in listener.notifies] == ["certfleet_jobs"]
    finally:
        listener.close()
    (domains, alias, provider, key_type, hosts), = api.sql(
        "SELECT domains, dns_alias, provider, key_type, hosts FROM certificates")
    assert domains == ["*.example.test", "example.test"]
    assert alias == "example.test.rfc-alias.test" and provider == "lab-bind"
    assert key_type == "ec256" and hosts == ["web-01"]
    got = api.get("/v1/certificates/web").json()
    assert {k: got[k] for k in ("id", "domains", "dns_alias", "provider", "hosts")} == \
        {k: c[k] for k in ("id", "domains", "dns_alias", "provider", "hosts")}
    assert [x["id"] for x in api.get("/v1/certificates").json()["certificates"]] == ["web"]
    assert api.get("/v1/certificates/nope").status_code == 404


def test_alias_and_provider_maps_and_defaults(api, lab):
    make_provider(api, lab)
    make_provider(api, lab, name="second")
    doc = {"id": "multi", "domains": ["*.Example.test", "example.test", "www.example.test"],
           "dns_alias": {"*.example.test": "Example.test.rfc-alias.test.",
                         "EXAMPLE.test": "example.test.rfc-alias.test",
                         "www.example.test": "www.example.test.rfc-alias2.test"},
           "provider": {"*.example.test": "lab-bind", "example.test": "lab-bind",
                        "www.example.test": "second"}}
    r = api.post("/v1/certificates", json=doc)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["dns_alias"] == {"*.example.test": "example.test.rfc-alias.test",
                              "example.test": "example.test.rfc-alias.test",
                              "www.example.test": "www.example.test.rfc-alias2.test"}
    assert c["provider"]["www.example.test"] == "second"
    assert c["key_type"] == "ec256" and c["hosts"] == []  # defaults
    r = api.post("/v1/certificates", json={"id": "auto", "domains": ["auto.example.test"],
                                           "dns_alias": "auto", "provider": "lab-bind",
                                           "key_type": "rsa2048"})
    assert r.status_code == 201 and r.json()["dns_alias"] == "auto"
    r = api.post("/v1/certificates", json={"id": "none", "domains": ["x.example.test"],
                                           "dns_alias": None, "provider": "lab-bind"})
    assert r.status_code == 201 and r.json()["dns_alias"] is None


def test_id_taken_is_409_and_changes_nothing(api, lab):
    make_provider(api, lab)
    assert api.post("/v1/certificates", json=cert_doc()).status_code == 201
    before = api.counts()
    r = api.post("/v1/certificates", json=cert_doc(domains=["other.example.test"]))
    assert r.status_code == 409 and r.json()["field"] == "id" and "web" in r.json()["detail"]
    assert api.counts() == before


def test_issue_while_a_job_is_active_is_409_naming_it(api, lab):
    make_provider(api, lab)
    first = api.post("/v1/certificates", json=cert_doc()).json()["job"]["id"]
    before = api.counts()
    r = api.post("/v1/certificates/web/issue")
    assert r.status_code == 409 and r.json()["job"]["id"] == first
    assert first in r.json()["detail"]
    assert api.counts() == before
    for state in ("running", "waiting"):
        api.sql("UPDATE jobs SET state = %s", (state,))
        r = api.post("/v1/certificates/web/issue")
        assert r.status_code == 409 and r.json()["job"]["id"] == first
    # the worker finishes the job: a new issuance may be queued
    api.sql("UPDATE jobs SET state = 'issued', finished_at = now()")
    r = api.post("/v1/certificates/web/issue", json={})
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert job["id"] != first and job["state"] == "queued" and job["kind"] == "issue"
    assert job["step"] == "account" and job["attempt"] == 0 and job["events"] == []
    assert [j[2] for j in jobs_of(api, "web")] == ["issued", "queued"]
    assert api.post("/v1/certificates/nope/issue").status_code == 404
    r = api.post("/v1/certificates/web/issue", json={"force": True})
    assert r.status_code == 400 and r.json()["field"] == "force"


def test_concurrent_issue_requests_queue_one_job(api, lab):
    make_provider(api, lab)
    api.post("/v1/certificates", json=cert_doc())
    api.sql("UPDATE jobs SET state = 'failed'")
    results = []

    def issue():
        results.append(api.post("/v1/certificates/web/issue", check=False).status_code)

    threads = [threading.Thread(target=issue) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [202] + [409] * 5
    assert [j[2] for j in jobs_of(api, "web")].count("queued") == 1


@pytest.mark.parametrize("method,path,status", [("POST", "/v1/certificates/web/issue", 202),
                                                ("DELETE", "/v1/certificates/web", 204)])
def test_no_deadlock_with_a_worker_finishing_the_job(api, lab, method, path, status):
    """A worker finishes a job by updating it and then locking its certificate
    (store/jobs_worker.c, cert_issued.c). A request that runs meanwhile must not hold
    the certificate while it waits for that job, or the two deadlock."""
    make_provider(api, lab)
    api.post("/v1/certificates", json=cert_doc())
    worker = psycopg2.connect(api.db_url)
    try:
        with worker.cursor() as cur:
            cur.execute("SET deadlock_timeout = '100ms'")
            cur.execute("UPDATE jobs SET state = 'issued', finished_at = now()")
            answers = []
            t = threading.Thread(target=lambda: answers.append(
                api.call(method, path, check=False)))
            t.start()
            t.join(0.5)  # the request now waits for the job the worker holds
            cur.execute("SELECT 1 FROM certificates WHERE id = 'web' FOR UPDATE")
            cur.execute("UPDATE certificates SET status = 'valid'")
        worker.commit()
        t.join(10)
        assert answers and answers[0].status_code == status, answers and answers[0].text
    finally:
        worker.close()


def test_job_with_events_and_problem(api, lab):
    make_provider(api, lab)
    job_id = api.post("/v1/certificates", json=cert_doc()).json()["job"]["id"]
    problem = {"type": "urn:ietf:params:acme:error:unauthorized", "detail": "no TXT",
               "subproblems": [{"type": "urn:ietf:params:acme:error:dns", "detail": None}]}
    api.sql("INSERT INTO job_events (job_id, attempt, step, message, duration_ms) "
            "VALUES (%s, 1, 'account', 'account ready', 12)", (job_id,))
    api.sql("INSERT INTO job_events (job_id, attempt, step, message, problem) "
            "VALUES (%s, 1, 'poll', 'the CA refused', %s)", (job_id, psycopg2.extras.Json(problem)))
    api.sql("UPDATE jobs SET state = 'failed', step = 'poll', attempt = 1, problem = %s",
            (psycopg2.extras.Json(problem),))
    j = api.get(f"/v1/jobs/{job_id}").json()
    assert j["id"] == job_id and j["certificate"] == "web" and j["state"] == "failed"
    assert j["attempt"] == 1 and j["problem"] == problem
    assert [(e["step"], e["message"]) for e in j["events"]] == [
        ("account", "account ready"), ("poll", "the CA refused")]
    assert j["events"][0]["duration_ms"] == 12 and "problem" not in j["events"][0]
    assert j["events"][1]["problem"] == problem and "duration_ms" not in j["events"][1]
    assert api.get("/v1/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get("/v1/jobs/not-a-uuid").status_code == 404


def test_jobs_list_filters(api, lab):
    make_provider(api, lab)
    a = api.post("/v1/certificates", json=cert_doc("a")).json()["job"]["id"]
    b = api.post("/v1/certificates", json=cert_doc("b")).json()["job"]["id"]
    api.sql("UPDATE jobs SET state = 'issued' WHERE id = %s", (a,))
    c = api.post("/v1/certificates/a/issue").json()["job"]["id"]
    ids = lambda q: [j["id"] for j in api.get("/v1/jobs" + q).json()["jobs"]]  # noqa: E731
    assert set(ids("")) == {a, b, c} and ids("")[0] == c  # newest first
    assert "events" not in api.get("/v1/jobs").json()["jobs"][0]
    assert set(ids("?certificate=a")) == {a, c}
    assert ids("?state=issued") == [a]
    assert set(ids("?state=queued")) == {b, c}
    assert ids("?certificate=a&state=queued") == [c]
    assert len(ids("?limit=1")) == 1
    assert ids("?certificate=zzz") == []
    for q, field in (("?state=finished", "state"), ("?limit=0", "limit"), ("?limit=x", "limit"),
                     ("?certificate=Bad_Id", "certificate")):
        r = api.get("/v1/jobs" + q)
        assert r.status_code == 400 and r.json()["field"] == field, q


def test_status_and_current_version_as_the_worker_leaves_them(api, lab):
    make_provider(api, lab)
    api.post("/v1/certificates", json=cert_doc())
    api.sql("INSERT INTO certificate_versions (certificate_id, version, serial, not_before, "
            "not_after, cert_pem, chain_pem, key_sealed, etag) VALUES ('web', 1, '0a1b', "
            "'2026-01-01T00:00:00Z', '2026-04-01T00:00:00.5Z', 'pem', '', '\\x01', 'e')")
    api.sql("UPDATE certificates SET status = 'valid', current_version = 1")
    c = api.get("/v1/certificates/web").json()
    assert c["status"] == "valid"
    assert c["current_version"] == {"version": 1, "serial": "0a1b",
                                    "not_before": "2026-01-01T00:00:00.000Z",
                                    "not_after": "2026-04-01T00:00:00.500Z"}
    assert api.get("/v1/certificates").json()["certificates"][0]["current_version"]["version"] == 1


def test_patch_changes_the_definition_validated_whole(api, lab):
    make_provider(api, lab)
    make_provider(api, lab, name="second")
    api.post("/v1/certificates", json=cert_doc())
    jobs_before = len(jobs_of(api, "web"))
    # (hosts and admin_keys are a keys token's to change: test_keys.py)
    r = api.patch("/v1/certificates/web", json={"hosts": ["web-01"], "key_type": "ec384"})
    assert r.status_code == 200, r.text
    assert r.json()["hosts"] == ["web-01"] and r.json()["key_type"] == "ec384"
    assert r.json()["domains"] == ["*.example.test", "example.test"]  # unchanged
    # domains and a map in one go; the merged result must be consistent
    r = api.patch("/v1/certificates/web", json={
        "domains": ["www.example.test"],
        "dns_alias": {"www.example.test": "www.example.test.rfc-alias.test"},
        "provider": "second", "id": "web"})
    assert r.status_code == 200, r.text
    assert r.json()["domains"] == ["www.example.test"] and r.json()["provider"] == "second"
    (domains,), = api.sql("SELECT domains FROM certificates")
    assert domains == ["www.example.test"]
    # null removes the alias (RFC 7396)
    assert api.patch("/v1/certificates/web", json={"dns_alias": None}).json()["dns_alias"] is None
    assert len(jobs_of(api, "web")) == jobs_before  # a PATCH queues nothing
    assert api.patch("/v1/certificates/nope", json={"hosts": []}).status_code == 404


BAD_PATCHES = [
    ({"id": "other"}, "id"),
    ({"colour": "red"}, "colour"),
    ({"domains": ["a..example.test"]}, "domains[0]"),
    ({"domains": ["other.example.test"]}, "dns_alias"),  # the alias map no longer covers
    ({"provider": None}, "provider"),
    ({"key_type": "dsa"}, "key_type"),
    ({"hosts": "web-01"}, "hosts"),
    ({"provider": "missing"}, "provider"),
    ([], "body"),
]


@pytest.mark.parametrize("patch,field", BAD_PATCHES, ids=[f for _, f in BAD_PATCHES])
def test_bad_patch_is_400_and_changes_nothing(api_module, lab, patch, field):
    api = api_module
    if not api.get("/v1/providers/lab-bind").ok:
        make_provider(api, lab)
        doc = cert_doc("patched", dns_alias={"*.example.test": "example.test.rfc-alias.test",
                                             "example.test": "example.test.rfc-alias.test"})
        assert api.post("/v1/certificates", json=doc).status_code == 201
    before = api.counts()
    row = api.sql("SELECT row_to_json(c)::text FROM certificates c WHERE id = 'patched'")
    r = api.patch("/v1/certificates/patched", json=patch)
    assert r.status_code == 400, r.text
    # a map member is named with its key ('dns_alias["example.test"]')
    assert r.json()["field"].startswith(field) and r.json()["detail"].startswith(field)
    assert api.counts() == before
    assert api.sql("SELECT row_to_json(c)::text FROM certificates c WHERE id = 'patched'") == row


def test_delete_certificate(api, lab):
    make_provider(api, lab)
    api.post("/v1/certificates", json=cert_doc("queued-one"))
    assert api.delete("/v1/certificates/queued-one").status_code == 204  # queued job goes too
    assert api.sql("SELECT count(*) FROM jobs") == [(0,)]
    api.post("/v1/certificates", json=cert_doc("busy"))
    for state in ("running", "waiting"):
        api.sql("UPDATE jobs SET state = %s", (state,))
        before = api.counts()
        r = api.delete("/v1/certificates/busy")
        assert r.status_code == 409 and r.json()["job"]["state"] == state
        assert api.counts() == before
    api.sql("UPDATE jobs SET state = 'failed'")
    assert api.delete("/v1/certificates/busy").status_code == 204
    assert api.sql("SELECT count(*) FROM certificates") == [(0,)]
    assert api.delete("/v1/certificates/busy").status_code == 404


def test_audit_trail(api, lab):
    make_provider(api, lab)
    job = api.post("/v1/certificates", json=cert_doc()).json()["job"]["id"]
    api.sql("UPDATE jobs SET state = 'issued'")
    job2 = api.post("/v1/certificates/web/issue").json()["job"]["id"]
    api.patch("/v1/certificates/web", json={"renew_fraction": 0.5})
    api.sql("UPDATE jobs SET state = 'issued'")
    api.delete("/v1/certificates/web")
    api.delete("/v1/providers/lab-bind")
    api.post("/v1/certificates", json=cert_doc("refused", key_type="nope"))  # writes nothing
    rows = api.sql("SELECT actor, action, target, address, detail FROM audit_events ORDER BY id")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("cli", "token.create", rows[0][2]),
        ("test-admin", "provider.create", "lab-bind"),
        ("test-admin", "certificate.create", "web"),
        ("test-admin", "certificate.issue", "web"),
        ("test-admin", "certificate.update", "web"),
        ("test-admin", "certificate.delete", "web"),
        ("test-admin", "provider.delete", "lab-bind"),
    ]
    assert all(r[3] == "127.0.0.1" for r in rows[1:])
    assert rows[1][4]["secrets"] == ["tsig_secret"] and "tsig_secret" not in rows[1][4]["settings"]
    assert rows[2][4] == {"domains": ["*.example.test", "example.test"], "job": job}
    assert rows[3][4] == {"job": job2}
    assert rows[4][4] == {"changed": ["renew_fraction"]}
    # each event names the token that acted by id too (the CLI's: none)
    ids = api.sql("SELECT token_id FROM audit_events ORDER BY id")
    assert ids == [(None,)] + [(api.token[3:15],)] * 6


def test_unknown_routes_and_methods(api):
    assert api.get("/v1/nothing").status_code == 404
    r = api.call("PUT", "/v1/certificates/web")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, PATCH, DELETE"
    r = api.post("/v1/jobs")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
