"""api/openapi.yaml: it lints clean (Redocly CLI, recommended-strict: every finding
is an error), and it documents exactly the routes of service/http/routes.c, each
/v1 route with the bearer scheme and a 401, and /healthz and /readyz without one;
each operation's x-certfleet-roles is the set of roles its route takes in the
table (README "Roles"), so a route without a decision, or a decision the document
does not state, fails here. (test_hosts_matrix.py calls every route with a token of
every role against these lists.)
(That every answer matches its schema is checked by every API test, through the
validating client in openapi.py.)"""
import subprocess
from pathlib import Path

import openapi
import routetable
from openapi import api  # noqa: F401 (fixture)
from service import db_url  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "post", "patch", "delete", "put")


def routes():
    return routetable.routes()


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
    for method, path, roles in routes():
        op = openapi.spec()["paths"][path][method.lower()]
        if not roles:
            assert op.get("security") == [], path
        else:
            assert "security" not in op, path  # the global bearerAuth applies
            assert "401" in op["responses"], path
            if roles != set(routetable.ROLES):
                assert "403" in op["responses"], path


def test_every_operation_states_its_roles_as_the_table_does():
    table = {(m, p): roles for m, p, roles in routes()}
    assert len(table) == len(routes()), "a route is in the table twice"
    declared = {}
    for path, ops in openapi.spec()["paths"].items():
        for m, op in ops.items():
            if m not in METHODS:
                continue
            assert "x-certfleet-roles" in op, f"{m.upper()} {path}: no x-certfleet-roles"
            roles = op["x-certfleet-roles"]
            assert isinstance(roles, list) and len(set(roles)) == len(roles), path
            assert set(roles) <= set(routetable.ROLES), f"{m.upper()} {path}: {roles}"
            declared[(m.upper(), path)] = frozenset(roles)
    wrong = [f"{m} {p}: routes.c {sorted(table.get((m, p), ()))}, openapi "
             f"{sorted(declared.get((m, p), ()))}"
             for m, p in sorted(set(table) | set(declared))
             if table.get((m, p)) != declared.get((m, p))]
    assert not wrong, "roles differ:\n" + "\n".join(wrong)


def test_the_role_enums_name_every_role():
    schemas = openapi.spec()["components"]["schemas"]
    for name in ("TokenCreate", "TokenFields", "Whoami"):
        assert set(schemas[name]["properties"]["role"]["enum"]) == set(routetable.ROLES), name


def test_the_roles_parser_refuses_what_it_cannot_read(tmp_path, monkeypatch):
    """A route whose roles name something that is not a role must not read as
    'no roles' (a public route)."""
    src = tmp_path / "service" / "http"
    src.mkdir(parents=True)
    (src / "routes.c").write_text('const cf_route cf_routes[] = {\n'
                                  '\t{"GET", "/v1/x", CF_AUTH_ADMIN, cf_h_x, 0},\n};\n')
    monkeypatch.setattr(routetable, "ROOT", tmp_path)
    try:
        routetable.routes()
    except ValueError as e:
        assert "CF_AUTH_ADMIN" in str(e)
    else:
        raise AssertionError("an unknown roles expression was accepted")


def test_health_answers_match(api):
    for path in ("/healthz", "/readyz"):
        r = api.get(path, token=None)  # validated by the client
        assert r.status_code == 200
