"""The API as api/openapi.yaml describes it, for the integration tests.

`validate(method, template, response)` checks one `requests` response against the
document: its status is documented for the operation, its Content-Type is one the
document lists, and its JSON body matches the schema (JSON Schema 2020-12, with
python3-jsonschema). `Api` is a small client for a running `certfleet serve` that
runs that check on EVERY answer it gets, so each test that talks to the API also
checks the document. The fixtures `api` (one fresh database + serve per test) and
`api_module` (one per test module) start `serve` with CERTFLEET_WORKERS=0, so the
jobs the API queues stay as it wrote them.
"""
import functools
import re
import uuid
from pathlib import Path

import jsonschema
import psycopg2
import pytest
import requests
import yaml

from service import Serve, admin_conn, clean_env, run, with_dbname

SPEC_PATH = Path(__file__).resolve().parents[2] / "api" / "openapi.yaml"


@functools.lru_cache(maxsize=None)
def spec():
    with open(SPEC_PATH) as f:
        return yaml.safe_load(f)


def _deref(obj):
    """Follows a local $ref ("#/components/...") of a response or parameter object."""
    while isinstance(obj, dict) and "$ref" in obj:
        node = spec()
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


@functools.lru_cache(maxsize=None)
def _templates():
    """(compiled regex, template) for every path of the document."""
    out = []
    for t in spec()["paths"]:
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)) + "$"
        out.append((re.compile(rx), t))
    return out


def template_for(path):
    """The path template of the document that a concrete path matches, or None."""
    path = path.split("?", 1)[0]
    for rx, t in _templates():
        if rx.match(path):
            return t
    return None


def schema_validator(schema):
    resolver = jsonschema.RefResolver.from_schema(spec())
    return jsonschema.Draft202012Validator(
        schema, resolver=resolver, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def validate_schema(name, instance):
    """Validates instance against components/schemas/NAME."""
    schema_validator({"$ref": f"#/components/schemas/{name}"}).validate(instance)


def validate(method, template, response):
    """Asserts that response is what the document says (method, template) answers."""
    ops = spec()["paths"][template]
    op = ops.get(method.lower())
    assert op is not None, f"{method} {template} is not in openapi.yaml"
    status = str(response.status_code)
    responses = op["responses"]
    doc = responses.get(status) or responses.get(status[0] + "XX") or responses.get("default")
    assert doc is not None, (f"{method} {template}: status {status} is not documented "
                             f"(body: {response.text[:300]})")
    doc = _deref(doc)
    content = doc.get("content")
    if not content:
        assert response.content == b"", f"{method} {template} {status}: expected no body"
        return
    ctype = response.headers.get("Content-Type", "").split(";")[0].strip()
    assert ctype in content, f"{method} {template} {status}: Content-Type {ctype!r} not in {list(content)}"
    schema = content[ctype]["schema"]
    is_json = ctype == "application/json" or ctype.endswith("+json")
    try:
        schema_validator(schema).validate(response.json() if is_json else response.text)
    except jsonschema.ValidationError as e:
        pytest.fail(f"{method} {template} {status}: the body does not match openapi.yaml: "
                    f"{e.message} at {list(e.absolute_path)}\nbody: {response.text[:1000]}")


def check_response(response):
    """Validates any answer of the service: against its operation when the path is in
    the document, otherwise (unknown route) as a problem document."""
    method = response.request.method
    path = requests.utils.urlparse(response.request.url).path
    template = template_for(path)
    if template is not None and method.lower() in spec()["paths"][template]:
        validate(method, template, response)
    else:
        assert response.status_code in (404, 405), response.status_code
        assert response.headers["Content-Type"] == "application/problem+json"
        validate_schema("Problem", response.json())
    return response


class Api:
    """A client of one running serve, authenticated with token; every answer is
    checked against openapi.yaml."""

    def __init__(self, serve, token, db_url, env):
        self.serve = serve
        self.token = token
        self.db_url = db_url
        self.env = env

    def call(self, method, path, token="default", json=None, data=None, headers=None,
             check=True):
        h = dict(headers or {})
        if token == "default":
            token = self.token
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        r = self.serve.request(method, path, json=json, data=data, headers=h)
        if check:
            check_response(r)
        return r

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.call("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def sql(self, query, args=()):
        """Runs one statement on the service's database; returns the rows (or [])."""
        with psycopg2.connect(self.db_url) as c, c.cursor() as cur:
            cur.execute(query, args)
            rows = cur.fetchall() if cur.description else []
        c.close()
        return rows

    def counts(self):
        """Row counts of the tables a refused request must not touch."""
        return dict(self.sql(
            "SELECT 'certificates', count(*) FROM certificates UNION ALL "
            "SELECT 'jobs', count(*) FROM jobs UNION ALL "
            "SELECT 'dns_providers', count(*) FROM dns_providers UNION ALL "
            "SELECT 'audit_events', count(*) FROM audit_events UNION ALL "
            "SELECT 'idempotency_keys', count(*) FROM idempotency_keys"))

    def token_create(self, role, name, *extra, check=True):
        """`certfleet token create`; returns the token (stdout)."""
        p = run(self.serve.certfleet, ["token", "create", "--role", role, "--name", name, *extra],
                self.env, check=check)
        return p.stdout.strip() if p.returncode == 0 else p


def _start(certfleet, db_url, **settings):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_WORKERS=0, **settings)
    run(certfleet, ["migrate"], env, check=True)
    token = run(certfleet, ["token", "create", "--role", "admin", "--name", "test-admin"], env,
                check=True).stdout.strip()
    return env, token


@pytest.fixture
def api(certfleet, db_url):
    """A fresh database, an admin token and a serve without workers, for one test."""
    env, token = _start(certfleet, db_url)
    with Serve(certfleet, env) as s:
        yield Api(s, token, db_url, env)


@pytest.fixture(scope="module")
def api_module(certfleet, lab):
    """Like api, shared by the tests of one module (its own database)."""
    name = "t_" + uuid.uuid4().hex[:12]
    c = admin_conn(lab)
    with c.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    c.close()
    url = with_dbname(lab["LAB_PG_URL"], name)
    try:
        env, token = _start(certfleet, url)
        with Serve(certfleet, env) as s:
            yield Api(s, token, url, env)
    finally:
        c = admin_conn(lab)
        with c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.close()
