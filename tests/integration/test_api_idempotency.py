"""Idempotency-Key on POSTs: the same key with the same request (method, path, body)
from the same token replays the stored answer, status and body, and writes nothing;
the same key with a different request is 422 and writes nothing; racing duplicates
take effect once; a refused request stores nothing, so its key can be used again."""
import threading

from openapi import api  # noqa: F401 (fixture)
from service import db_url  # noqa: F401 (fixture)


def provider(api, lab, name="lab-bind"):
    return {"name": name, "type": "rfc2136",
            "settings": {"server": lab["LAB_BIND"], "tsig_name": lab["LAB_TSIG_NAME"],
                         "tsig_secret": lab["LAB_TSIG_SECRET"]}}


def cert(cid="web", **over):
    d = {"id": cid, "domains": ["example.test"], "provider": "lab-bind"}
    d.update(over)
    return d


def key(k):
    return {"Idempotency-Key": k}


def test_same_key_same_body_replays_and_writes_nothing(api, lab):
    r1 = api.post("/v1/providers", json=provider(api, lab), headers=key("p-1"))
    assert r1.status_code == 201
    r1c = api.post("/v1/certificates", json=cert(), headers=key("c-1"))
    assert r1c.status_code == 201
    before = api.counts()
    for _ in range(2):
        r2 = api.post("/v1/certificates", json=cert(), headers=key("c-1"))
        assert r2.status_code == 201 and r2.content == r1c.content
        assert r2.headers["Idempotent-Replayed"] == "true"
        r2 = api.post("/v1/providers", json=provider(api, lab), headers=key("p-1"))
        assert r2.status_code == 201 and r2.content == r1.content
        assert lab["LAB_TSIG_SECRET"] not in r2.text
    assert api.counts() == before
    assert "Idempotent-Replayed" not in r1c.headers
    assert api.sql("SELECT count(*) FROM jobs") == [(1,)]


def test_same_key_different_request_is_422(api, lab):
    api.post("/v1/providers", json=provider(api, lab))
    assert api.post("/v1/certificates", json=cert(), headers=key("k")).status_code == 201
    before = api.counts()
    for path, body in (("/v1/certificates", cert("other")),      # another body
                       ("/v1/certificates", cert(hosts=[])),     # a different spelling
                       ("/v1/providers", provider(api, lab, "p2")),  # another path
                       ("/v1/certificates/web/issue", None)):
        r = api.post(path, json=body, headers=key("k"))
        assert r.status_code == 422, (path, r.text)
        assert r.json()["field"] == "Idempotency-Key"
        assert api.counts() == before
    assert api.get("/v1/certificates/other").status_code == 404


def test_keys_belong_to_their_token(api, lab):
    api.post("/v1/providers", json=provider(api, lab))
    other = api.token_create("admin", "second-admin")
    assert api.post("/v1/certificates", json=cert("a"), headers=key("shared")).status_code == 201
    r = api.post("/v1/certificates", json=cert("b"), headers=key("shared"), token=other)
    assert r.status_code == 201  # the other token's key space is its own
    r = api.post("/v1/certificates", json=cert("a"), headers=key("shared"), token=other)
    assert r.status_code == 422


def test_issue_with_a_key_queues_once(api, lab):
    api.post("/v1/providers", json=provider(api, lab))
    api.post("/v1/certificates", json=cert())
    api.sql("UPDATE jobs SET state = 'issued'")
    r1 = api.post("/v1/certificates/web/issue", headers=key("issue-1"))
    assert r1.status_code == 202
    api.sql("UPDATE jobs SET state = 'issued'")  # the worker is done with it
    r2 = api.post("/v1/certificates/web/issue", headers=key("issue-1"))
    assert r2.status_code == 202 and r2.content == r1.content
    assert api.sql("SELECT count(*) FROM jobs") == [(2,)]


def test_a_refused_request_stores_nothing(api, lab):
    api.post("/v1/providers", json=provider(api, lab))
    before = api.counts()
    r = api.post("/v1/certificates", json=cert(key_type="ec1"), headers=key("retry"))
    assert r.status_code == 400
    assert api.counts() == before
    r = api.post("/v1/certificates", json=cert(), headers=key("retry"))
    assert r.status_code == 201


def test_racing_duplicates_take_effect_once(api, lab):
    api.post("/v1/providers", json=provider(api, lab))
    answers = []

    def send():
        r = api.post("/v1/certificates", json=cert("raced"), headers=key("race"), check=False)
        answers.append((r.status_code, r.content))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a[0] for a in answers} == {201}
    assert len({a[1] for a in answers}) == 1
    assert api.sql("SELECT count(*) FROM certificates") == [(1,)]
    assert api.sql("SELECT count(*) FROM jobs") == [(1,)]
    assert api.sql("SELECT count(*) FROM idempotency_keys") == [(1,)]


def test_bad_keys(api, lab):
    before = api.counts()
    for bad in ("x" * 256, "tab\there"):
        r = api.post("/v1/providers", json=provider(api, lab), headers=key(bad))
        assert r.status_code == 400 and r.json()["field"] == "Idempotency-Key"
    assert api.counts() == before


def test_expired_record_is_forgotten(api, lab):
    api.post("/v1/providers", json=provider(api, lab))
    assert api.post("/v1/certificates", json=cert("a"), headers=key("old")).status_code == 201
    api.sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    r = api.post("/v1/certificates", json=cert("b"), headers=key("old"))
    assert r.status_code == 201
