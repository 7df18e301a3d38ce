"""api/openapi.yaml: it lints clean (Redocly CLI, recommended-strict: every finding
is an error), and it documents exactly the routes of service/http/routes.c, each
/v1 route with the bearer scheme and a 401, and /healthz and /readyz without one.
(That every answer matches its schema is checked by every API test, through the
validating client in openapi.py.)"""
import re
import subprocess
from pathlib import Path

import openapi
from openapi import api  # noqa: F401 (fixture)
from service import db_url  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
ROUTE = re.compile(r'\{"(GET|POST|PATCH|DELETE|PUT)",\s*"([^"]+)",\s*(CF_AUTH_\w+)')


def routes():
    return [(m.group(1), m.group(2), m.group(3))
            for m in ROUTE.finditer((ROOT / "service/http/routes.c").read_text())]


def test_openapi_lints_clean():
    p = subprocess.run([str(ROOT / "tests/tools/lint-openapi")], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "is valid" in p.stdout + p.stderr


def test_every_route_is_documented_and_nothing_else():
    table = {(m, p) for m, p, _ in routes()}
    assert len(table) >= 15
    documented = {(m.upper(), p) for p, ops in openapi.spec()["paths"].items()
                  for m in ops if m in ("get", "post", "patch", "delete", "put")}
    assert table == documented


def test_auth_of_every_route_matches_the_document():
    for method, path, auth in routes():
        op = openapi.spec()["paths"][path][method.lower()]
        if auth == "CF_AUTH_NONE":
            assert op.get("security") == [], path
        else:
            assert "security" not in op, path  # the global bearerAuth applies
            assert "401" in op["responses"], path
            if auth == "CF_AUTH_ADMIN":
                assert "403" in op["responses"], path


def test_health_answers_match(api):
    for path in ("/healthz", "/readyz"):
        r = api.get(path, token=None)  # validated by the client
        assert r.status_code == 200
