"""Roles for people (issue 14, README "Roles"): operator and viewer tokens.

Which role reaches which route is test_hosts_matrix.py's (every route x every
role against api/openapi.yaml's x-certfleet-roles) and test_api_openapi.py's (the
route table equals the document). This file checks what the handlers add:

- only an admin token creates operator and viewer tokens (over the API or with
  `certfleet token create --role operator|viewer`); a keys, operator or viewer
  token gets 403 naming `role`, and nothing is written;
- an operator runs a certificate (create, change, read its job, issue, delete)
  under the admin's key-grant rules: it may not change `hosts` or `admin_keys`
  (403 naming the field), fetches nothing, and its acts are audited under its
  token;
- a viewer reads certificates, versions and jobs and runs alias checks, and is
  refused every change;
- the database refuses a role it does not know (migration 0012)."""
import psycopg2
import pytest

from hostlib import start_hosts_api
from service import db_url, run  # noqa: F401 (fixture)


@pytest.fixture
def people(certfleet, db_url, lab):
    api, serve = start_hosts_api(certfleet, db_url)
    api.bind_provider(lab)
    try:
        api.operator = api.token_create("operator", "ops-person")
        api.viewer = api.token_create("viewer", "view-person")
        yield api
    finally:
        serve.__exit__(None, None, None)


def rows(api):
    (row,) = api.sql("SELECT (SELECT string_agg(id || ':' || name || ':' || role, ' ' "
                     "ORDER BY id) FROM tokens), (SELECT count(*) FROM audit_events), "
                     "(SELECT string_agg(id || ':' || array_to_string(hosts, ',') || ':' || "
                     "admin_keys || ':' || array_to_string(domains, ','), ' ' ORDER BY id) "
                     "FROM certificates), (SELECT count(*) FROM jobs)")
    return row


def test_the_cli_makes_operator_and_viewer_tokens(people):
    for token, role in ((people.operator, "operator"), (people.viewer, "viewer")):
        r = people.get("/v1/whoami", token=token)
        assert r.status_code == 200 and r.json()["role"] == role, r.text
    p = people.token_create("root", "nobody", check=False)
    assert p.returncode != 0 and "operator, viewer" in p.stderr, p.stderr
    listed = {t["name"]: t["role"] for t in people.get("/v1/tokens").json()["tokens"]}
    assert listed["ops-person"] == "operator" and listed["view-person"] == "viewer"


def test_only_an_admin_token_creates_operator_and_viewer_tokens(people):
    before = rows(people)
    for who in (people.keys_token, people.operator, people.viewer):
        for role in ("operator", "viewer", "admin"):
            r = people.post("/v1/tokens", json={"name": "someone", "role": role}, token=who)
            assert r.status_code == 403, r.text
            # keys: the handler names the field; operator/viewer: no token route at all
            assert r.json().get("field") == "role" or "needs a token of the role" in \
                r.json()["detail"], r.text
    assert rows(people) == before
    for role in ("operator", "viewer"):
        r = people.post("/v1/tokens", json={"name": f"new-{role}", "role": role})
        assert r.status_code == 201, r.text
        r2 = people.get("/v1/whoami", token=r.json()["token"])
        assert r2.json()["role"] == role
    (n,) = people.sql("SELECT count(*) FROM audit_events WHERE action = 'token.create' AND "
                      "actor = 'test-admin' AND detail->>'role' IN ('operator', 'viewer')")[0]
    assert n == 2


def test_an_operator_runs_certificates_but_grants_no_key(people):
    op = people.operator
    r = people.post("/v1/certificates", token=op, json={
        "id": "ops-cert", "domains": ["ops.example.test"], "provider": "lab-bind"})
    assert r.status_code == 201, r.text
    r = people.patch("/v1/certificates/ops-cert", token=op, json={"renew_fraction": 0.5})
    assert r.status_code == 200 and r.json()["renew_fraction"] == 0.5, r.text
    before = rows(people)
    for field, value in (("hosts", ["web-01"]), ("admin_keys", True)):
        r = people.patch("/v1/certificates/ops-cert", token=op, json={field: value})
        assert r.status_code == 403 and r.json()["field"] == field, r.text
    r = people.post("/v1/certificates", token=op, json={
        "id": "both", "domains": ["b.example.test"], "provider": "lab-bind",
        "hosts": ["web-01"], "admin_keys": True})
    assert r.status_code == 403 and r.json()["field"] == "admin_keys", r.text
    for part in ("privkey.pem", "bundle", "cert.pem"):
        assert people.fetch("ops-cert", part, token=op).status_code == 403
    assert rows(people) == before
    # its acts name its token
    (tid,) = people.sql("SELECT id FROM tokens WHERE name = 'ops-person'")[0]
    acts = people.sql("SELECT action FROM audit_events WHERE actor = 'ops-person' AND "
                      "token_id = %s ORDER BY id", (tid,))
    assert [a for (a,) in acts] == ["certificate.create", "certificate.update"]
    # the job it queued shows to it, and it deletes the certificate once the job ended
    jobs = people.get("/v1/jobs", token=op).json()
    assert any(j["certificate"] == "ops-cert" for j in jobs["jobs"]), jobs
    people.sql("UPDATE jobs SET state = 'failed', finished_at = now() "
               "WHERE certificate_id = 'ops-cert'")
    r = people.post("/v1/certificates/ops-cert/issue", token=op)
    assert r.status_code == 202, r.text
    people.sql("UPDATE jobs SET state = 'failed', finished_at = now() "
               "WHERE certificate_id = 'ops-cert'")
    assert people.delete("/v1/certificates/ops-cert", token=op).status_code == 204


def test_a_viewer_reads_and_changes_nothing(people):
    people.certificate("seen", [])
    v = people.viewer
    assert people.get("/v1/certificates/seen", token=v).status_code == 200
    assert people.get("/v1/certificates/seen/versions", token=v).status_code == 200
    assert people.get("/v1/jobs", token=v).status_code == 200
    r = people.post("/v1/aliases/check", token=v, json={
        "domains": ["www.example.test"], "dns_alias": "www.example.test.rfc-alias.test"})
    assert r.status_code == 200, r.text
    before = rows(people)
    refused = [people.patch("/v1/certificates/seen", token=v, json={"renew_fraction": 0.5}),
               people.delete("/v1/certificates/seen", token=v),
               people.post("/v1/certificates/seen/issue", token=v),
               people.post("/v1/certificates", token=v, json={
                   "id": "x", "domains": ["x.example.test"], "provider": "lab-bind"}),
               people.get("/v1/audit", token=v), people.get("/v1/providers", token=v),
               people.get("/v1/issuers", token=v), people.get("/v1/tokens", token=v),
               people.fetch("seen", "privkey.pem", token=v)]
    for r in refused:
        assert r.status_code == 403, (r.request.method, r.request.url, r.text)
        assert "the role viewer" in r.json()["detail"], r.text
    assert rows(people) == before


def test_the_database_refuses_an_unknown_role(people):
    with pytest.raises(psycopg2.errors.CheckViolation):
        people.sql("INSERT INTO tokens (id, name, role, secret_hmac) "
                   "VALUES ('0123456789ab', 'x', 'root', decode(repeat('00', 32), 'hex'))")
