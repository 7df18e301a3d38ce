"""The alias check, table-driven against the lab's zones (tests/lab/README.md):
`certfleet alias check` (its table parsed, and its --json checked against
api/openapi.yaml) and `POST /v1/aliases/check` (every answer checked against
api/openapi.yaml by the Api client) give, for each case, the same verdict, target,
writability and exact zone-file lines to delete and to create.

Cases: a correct alias (one hop, two hops, "auto"), a missing CNAME, a CNAME to
the wrong target, a loop, a TXT shadowing the CNAME, a wildcard CNAME answering
for the record, a target the provider cannot write (rfc2136: BIND refuses updates
of elsewhere.test; powerdns: no PowerDNS zone holds an rfc-alias.test name), and a
CNAME where no alias is configured. Then what only one side has: the two views of
the chain, a wildcard and its apex sharing one record, a managed certificate's
stored definition, input errors, and resolvers that do not answer.
"""
import json
import subprocess
import uuid

import pytest

from openapi import Api, validate_schema
from service import Serve, clean_env, db_url, run  # noqa: F401 (fixture)

RFC = "rfc-alias.test"
PDNS = "pdns-alias.test"


def cname(record, target):
    return f"{record}. CNAME {target}."


# id: (name, dns_alias, provider, verdict, target, writable, delete, create)
CASES = {
    "correct": ("www.example.test", f"www.example.test.{RFC}", "bind", "ok",
                f"www.example.test.{RFC}", True, [], []),
    "correct_two_hops": ("chain.example.test", f"chain-end.{RFC}", "bind", "ok",
                         f"chain-end.{RFC}", True, [], []),
    "correct_auto_powerdns": ("api.example.test", "auto", "pdns", "ok",
                              f"api.example.test.{PDNS}", True, [], []),
    "missing": ("nocname.example.test", f"nocname.example.test.{RFC}", "bind", "missing",
                f"nocname.example.test.{RFC}", True, [],
                [cname("_acme-challenge.nocname.example.test", f"nocname.example.test.{RFC}")]),
    "wrong_target": ("wrong.example.test", f"wrong.example.test.{RFC}", "bind", "wrong_target",
                     f"wrong.example.test.{RFC}", True,
                     [cname("_acme-challenge.wrong.example.test",
                            "wrong.example.test.elsewhere.test")],
                     [cname("_acme-challenge.wrong.example.test", f"wrong.example.test.{RFC}")]),
    "loop": ("loop.example.test", f"loop.example.test.{RFC}", "bind", "loop",
             f"loop.example.test.{RFC}", True,
             [cname("_acme-challenge.loop.example.test", "loop-b.example.test")],
             [cname("_acme-challenge.loop.example.test", f"loop.example.test.{RFC}")]),
    "shadowing_txt": ("shadow.example.test", f"shadow.example.test.{RFC}", "bind", "shadowed",
                      f"shadow.example.test.{RFC}", True,
                      ['_acme-challenge.shadow.example.test. TXT "stale"'],
                      [cname("_acme-challenge.shadow.example.test",
                             f"shadow.example.test.{RFC}")]),
    "wildcard_cname": ("x.wild.example.test", f"x.wild.example.test.{RFC}", "bind",
                       "wildcard_cname", f"x.wild.example.test.{RFC}", True, [],
                       [cname("_acme-challenge.x.wild.example.test",
                              f"x.wild.example.test.{RFC}")]),
    "wildcard_cname_auto": ("y.wild.example.test", "auto", "bind", "wildcard_cname",
                            f"somewhere.{RFC}", True, [],
                            [cname("_acme-challenge.y.wild.example.test", f"somewhere.{RFC}")]),
    "unwritable_rfc2136": ("wrong.example.test", "auto", "bind", "unwritable",
                           "wrong.example.test.elsewhere.test", False, [], []),
    "unwritable_powerdns": ("www.example.test", "auto", "pdns", "unwritable",
                            f"www.example.test.{RFC}", False, [], []),
    "cname_without_alias": ("www.example.test", None, None, "wrong_target",
                            "_acme-challenge.www.example.test", None,
                            [cname("_acme-challenge.www.example.test",
                                   f"www.example.test.{RFC}")], []),
}


def provider_cli_args(lab, which):
    if which == "bind":
        return ["--provider", "rfc2136", "--provider-setting", f"server={lab['LAB_BIND']}",
                "--provider-setting", f"tsig_name={lab['LAB_TSIG_NAME']}",
                "--provider-setting", f"tsig_algorithm={lab['LAB_TSIG_ALG']}",
                "--provider-setting", f"tsig_secret={lab['LAB_TSIG_SECRET']}"]
    if which == "pdns":
        return ["--provider", "powerdns", "--provider-setting", f"api_url={lab['LAB_PDNS_API']}",
                "--provider-setting", f"api_key={lab['LAB_PDNS_KEY']}"]
    return []


def alias_check(certfleet, lab, names, alias=None, provider=None, extra=(), resolver=None):
    args = [certfleet, "alias", "check", *names, "--resolver", resolver or lab["LAB_RESOLVER"]]
    if alias is not None:
        args += ["--alias", alias]
    args += provider_cli_args(lab, provider) + list(extra)
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def parse_table(stdout):
    """{name: {verdict, writable, target, delete: [...], create: [...], lines: {...}}}
    from the CLI's table and the blocks after it."""
    lines = stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERDICT", "WRITABLE", "TARGET"], stdout
    rows, i = {}, 1
    while i < len(lines) and lines[i].strip():
        name, verdict, writable, target = lines[i].split()
        rows[name] = {"verdict": verdict, "writable": writable, "target": target,
                      "delete": [], "create": [], "lines": {}}
        i += 1
    current = None
    for line in lines[i:]:
        if line and not line.startswith(" "):
            current = rows[line.split(":", 1)[0]]
            current["detail"] = line
        elif line.startswith("  ") and current is not None:
            label, _, value = line.strip().partition(":")
            value = value.strip()
            if label in ("delete", "create"):
                current[label].append(value)
            else:
                current["lines"][label] = value
    return rows


@pytest.fixture(scope="module")
def svc(certfleet, lab):
    """A serve without workers whose resolver is the lab's, with two providers:
    lab-bind (rfc2136 on BIND) and lab-pdns (powerdns)."""
    from service import admin_conn, with_dbname
    name = "t_" + uuid.uuid4().hex[:12]
    c = admin_conn(lab)
    with c.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    c.close()
    url = with_dbname(lab["LAB_PG_URL"], name)
    try:
        env = clean_env(CERTFLEET_DATABASE_URL=url, CERTFLEET_WORKERS=0,
                        CERTFLEET_RESOLVERS=lab["LAB_RESOLVER"])
        run(certfleet, ["migrate"], env, check=True)
        token = run(certfleet, ["token", "create", "--role", "admin", "--name", "admin"], env,
                    check=True).stdout.strip()
        with Serve(certfleet, env) as s:
            api = Api(s, token, url, env)
            for pname, ptype, settings in [
                ("lab-bind", "rfc2136", {"server": lab["LAB_BIND"],
                                         "tsig_name": lab["LAB_TSIG_NAME"],
                                         "tsig_algorithm": lab["LAB_TSIG_ALG"],
                                         "tsig_secret": lab["LAB_TSIG_SECRET"]}),
                ("lab-pdns", "powerdns", {"api_url": lab["LAB_PDNS_API"],
                                          "api_key": lab["LAB_PDNS_KEY"]})]:
                r = api.post("/v1/providers", json={"name": pname, "type": ptype,
                                                    "settings": settings})
                assert r.status_code == 201, r.text
            yield api
    finally:
        c = admin_conn(lab)
        with c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.close()


@pytest.mark.parametrize("case", list(CASES))
def test_cli(certfleet, lab, case):
    name, alias, provider, verdict, target, writable, delete, create = CASES[case]
    p = alias_check(certfleet, lab, [name], alias, provider)
    assert p.returncode == (0 if verdict == "ok" else 1), p.stdout + p.stderr
    row = parse_table(p.stdout)[name]
    assert row["verdict"] == verdict, p.stdout
    assert row["target"] == target, p.stdout
    assert row["writable"] == {True: "yes", False: "no", None: "-"}[writable], p.stdout
    assert row["delete"] == delete and row["create"] == create, p.stdout
    assert row["lines"]["record"].startswith(f"_acme-challenge.{name} "), p.stdout
    assert row["lines"]["resolvers"].startswith(f"_acme-challenge.{name}"), p.stdout
    assert row["lines"]["authoritative"].startswith(f"_acme-challenge.{name} [example.test @"), \
        p.stdout
    for secret in (lab["LAB_TSIG_SECRET"], lab["LAB_PDNS_KEY"]):
        assert secret not in p.stdout + p.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_api(svc, lab, case):
    name, alias, provider, verdict, target, writable, delete, create = CASES[case]
    body = {"domains": [name], "dns_alias": alias}
    if provider is not None:
        body["provider"] = {"bind": "lab-bind", "pdns": "lab-pdns"}[provider]
    r = svc.post("/v1/aliases/check", json=body)  # checked against openapi.yaml
    assert r.status_code == 200, r.text
    (res,) = r.json()["results"]
    validate_schema("AliasCheckResult", res)
    assert (res["name"], res["verdict"], res["target"], res["writable"]) == \
        (name, verdict, target, writable), res
    assert res["fix"] == {"delete": delete, "create": create}, res
    assert res["record"] == f"_acme-challenge.{name}"
    assert res["provider"] == body.get("provider")
    assert res["resolver_chain"][0] == res["record"]
    hop0 = res["authoritative_chain"][0]
    assert hop0["name"] == res["record"] and hop0["zone"] == "example.test", hop0
    assert hop0["wildcard"] == (verdict == "wildcard_cname"), hop0
    if writable is False:
        assert res["writable_detail"] and res["writable_detail"] in res["detail"]
    for secret in (lab["LAB_TSIG_SECRET"], lab["LAB_PDNS_KEY"]):
        assert secret not in r.text


def test_both_views_of_a_two_hop_chain(certfleet, lab):
    p = alias_check(certfleet, lab, ["chain.example.test"], f"chain-end.{RFC}", "bind",
                    extra=["--json"])
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    validate_schema("AliasCheckResults", doc)
    (res,) = doc["results"]
    names = ["_acme-challenge.chain.example.test", "chain-mid.example.test", f"chain-end.{RFC}"]
    assert res["resolver_chain"] == names
    hops = res["authoritative_chain"]
    assert [h["name"] for h in hops] == names
    assert [h["zone"] for h in hops] == ["example.test", "example.test", RFC]
    assert [h["cname"] for h in hops] == names[1:] + [None]
    for h in hops:  # asked at the zone's own server, which answered authoritatively
        (srv,) = h["servers"]
        assert srv["server"] == f"{lab['LAB_BIND']}:53" and srv["authoritative"], h
        assert h["consistent"] and not h["wildcard"]
    assert res["provider"] == "rfc2136" and res["writable"] is True


def test_api_powerdns_hop_is_asked_at_powerdns(svc, lab):
    r = svc.post("/v1/aliases/check", json={"domains": ["p7.example.test"],
                                            "dns_alias": "auto", "provider": "lab-pdns"})
    (res,) = r.json()["results"]
    assert res["verdict"] == "ok", res
    hop1 = res["authoritative_chain"][1]
    assert hop1["zone"] == PDNS and hop1["servers"][0]["server"] == f"{lab['LAB_PDNS']}:53"


def test_wildcard_and_apex_share_one_record(svc):
    r = svc.post("/v1/aliases/check", json={
        "domains": ["*.example.test", "example.test", "www.example.test"],
        "dns_alias": {"*.example.test": f"example.test.{RFC}",
                      "example.test": f"example.test.{RFC}",
                      "www.example.test": f"www.example.test.{PDNS}"},
        "provider": {"*.example.test": "lab-bind", "example.test": "lab-bind",
                     "www.example.test": "lab-pdns"}})
    assert r.status_code == 200, r.text
    wild, apex, www = r.json()["results"]
    assert wild["name"] == "*.example.test" and apex["name"] == "example.test"
    assert wild["record"] == apex["record"] == "_acme-challenge.example.test"
    assert wild["verdict"] == apex["verdict"] == "ok" and wild["writable"] is True
    # www's CNAME goes to rfc-alias.test; the map says PowerDNS, which has the zone
    assert www["verdict"] == "wrong_target" and www["provider"] == "lab-pdns"
    assert www["writable"] is True, www
    assert www["fix"]["create"] == [cname("_acme-challenge.www.example.test",
                                          f"www.example.test.{PDNS}")]


def test_a_managed_certificates_definition(svc):
    r = svc.post("/v1/certificates", json={
        "id": "shadowed", "domains": ["shadow.example.test", "www.example.test"],
        "dns_alias": {"shadow.example.test": f"shadow.example.test.{RFC}",
                      "www.example.test": f"www.example.test.{RFC}"},
        "provider": "lab-bind"})
    assert r.status_code == 201, r.text
    r = svc.post("/v1/aliases/check", json={"certificate": "shadowed"})
    assert r.status_code == 200, r.text
    assert [(x["name"], x["verdict"], x["provider"]) for x in r.json()["results"]] == [
        ("shadow.example.test", "shadowed", "lab-bind"), ("www.example.test", "ok", "lab-bind")]
    r = svc.post("/v1/aliases/check", json={"certificate": "nope"})
    assert r.status_code == 404


@pytest.mark.parametrize("body,field", [
    ({}, "domains"),
    ({"domains": []}, "domains"),
    ({"domains": ["bad..name"]}, "domains[0]"),
    ({"domains": ["www.example.test"], "colour": "x"}, "colour"),
    ({"domains": ["www.example.test"], "provider": "nope"}, "provider"),
    ({"domains": ["www.example.test"], "dns_alias": {"other.example.test": "x.test"}},
     "dns_alias"),
    ({"domains": ["www.example.test"], "dns_alias": 5}, "dns_alias"),
    ({"certificate": "web", "domains": ["www.example.test"]}, "certificate"),
])
def test_api_input_errors(svc, body, field):
    r = svc.post("/v1/aliases/check", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field, r.json()


def test_api_needs_an_admin_token(svc):
    host = svc.token_create("host", "web-01")
    r = svc.post("/v1/aliases/check", json={"domains": ["www.example.test"]}, token=host)
    assert r.status_code == 403
    r = svc.post("/v1/aliases/check", json={"domains": ["www.example.test"]}, token=None)
    assert r.status_code == 401


def test_resolvers_that_do_not_answer(certfleet, lab):
    dead = f"{lab['LAB_NET']}.99"
    p = alias_check(certfleet, lab, ["www.example.test"], f"www.example.test.{RFC}",
                    extra=["--json"], resolver=dead)
    assert p.returncode == 1, p.stderr
    (res,) = json.loads(p.stdout)["results"]
    assert res["verdict"] == "error" and res["resolver_error"] and res["authoritative_error"]
    assert dead in res["detail"], res


def test_cli_usage(certfleet, lab):
    p = subprocess.run([certfleet, "alias", "check"], capture_output=True, text=True)
    assert p.returncode == 2 and "NAME" in p.stderr
    p = subprocess.run([certfleet, "alias", "check", "www.example.test", "--alias", "a=b",
                        "--alias", "nonsense", "--resolver", lab["LAB_RESOLVER"]],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "NAME=FQDN" in p.stderr, p.stderr
    p = alias_check(certfleet, lab, ["www.example.test"], extra=["--provider", "nope"])
    assert p.returncode == 1 and "no provider type" in p.stderr


@pytest.mark.parametrize("name,verdict,delete", [
    # "auto" with no CNAME: no target at all, so the provider's zone proposes one
    ("nocname.example.test", "missing", []),
    # the chain ends in PowerDNS's zone, which this rfc2136 provider cannot write
    ("api.example.test", "unwritable",
     ["_acme-challenge.api.example.test. CNAME api.example.test.pdns-alias.test."]),
])
def test_the_providers_zone_gives_the_line_to_create(certfleet, lab, name, verdict, delete):
    p = alias_check(certfleet, lab, [name], "auto", "bind",
                    extra=["--provider-setting", f"zone={RFC}", "--json"])
    doc = json.loads(p.stdout)
    validate_schema("AliasCheckResults", doc)
    (res,) = doc["results"]
    assert res["verdict"] == verdict, res
    assert res["fix"]["create"] == [f"_acme-challenge.{name}. CNAME {name}.{RFC}."], res
    assert res["fix"]["delete"] == delete, res
    assert f"{name}.{RFC}." in res["detail"]


def test_api_check_runs_off_the_http_threads_with_a_deadline(certfleet, lab, db_url):
    """One HTTP thread, resolvers that swallow every question: while a check of many
    names waits on DNS, the same serve keeps answering other requests at once, and
    the check itself is answered 504 at its overall deadline
    (CERTFLEET_ALIAS_CHECK_TIMEOUT), not after 2 s per question per name."""
    import socket
    import threading
    import time
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # receives, never answers
    try:
        env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_WORKERS=0,
                        CERTFLEET_HTTP_THREADS=1, CERTFLEET_ALIAS_CHECK_TIMEOUT=3,
                        CERTFLEET_RESOLVERS=f"127.0.0.1:{silent.getsockname()[1]}")
        run(certfleet, ["migrate"], env, check=True)
        token = run(certfleet, ["token", "create", "--role", "admin", "--name", "admin"], env,
                    check=True).stdout.strip()
        with Serve(certfleet, env) as s:
            api = Api(s, token, db_url, env)
            names = [f"n{i}.example.test" for i in range(8)]
            answer = {}

            def check():
                t0 = time.monotonic()
                answer["r"] = api.post("/v1/aliases/check", json={"domains": names})
                answer["s"] = time.monotonic() - t0

            t = threading.Thread(target=check)
            t.start()
            time.sleep(0.3)  # the check is under way (its DNS takes seconds)
            slowest = 0.0
            while t.is_alive():
                t0 = time.monotonic()
                assert s.get("/healthz", timeout=10).status_code == 200
                assert api.get("/v1/whoami").status_code == 200
                slowest = max(slowest, time.monotonic() - t0)
                time.sleep(0.1)
            t.join()
            r = answer["r"]
            assert r.status_code == 504, r.text
            assert r.headers["Content-Type"].startswith("application/problem+json")
            assert "CERTFLEET_ALIAS_CHECK_TIMEOUT" in r.json()["detail"]
            assert 2.5 < answer["s"] < 8, answer["s"]
            assert slowest < 1.0, f"other requests waited {slowest:.1f} s behind the check"
    finally:
        silent.close()
