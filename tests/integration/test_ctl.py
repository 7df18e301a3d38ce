"""`certfleet ctl`, the admin command line over the API: every command run as the real
binary against a real `serve` (workers on the lab's Pebble and BIND), asserting on its
table output, its `-o json` content (compared with what the API itself answers) and its
exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 unauthorised/forbidden, 5 conflict,
6 a watched job failed or an alias is not ok."""
import json
import os
import re
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from openapi import api, spec  # noqa: F401 (fixture)
from service import admin_conn, db_url, poll, with_dbname  # noqa: F401 (fixture)
from workerlib import RFC, Fleet, bind_settings, check_version

TOKEN = re.compile(r"^cf_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


@pytest.fixture(scope="module")
def fleet_module(certfleet, lab):
    """One database and one serve with workers for the module (issuances take ~0.2 s)."""
    name = "t_" + uuid.uuid4().hex[:12]
    c = admin_conn(lab)
    with c.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    c.close()
    f = Fleet(certfleet, lab, with_dbname(lab["LAB_PG_URL"], name))
    try:
        f.start()
        f.provider()
        yield f
    finally:
        f.close()
        c = admin_conn(lab)
        with c.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.close()


class Ctl:
    """Runs `certfleet ctl` against a server with a token file of mode 0600."""

    def __init__(self, certfleet, server, token, tmp_path):
        self.certfleet, self.server = certfleet, server
        self.token_file = tmp_path / f"token-{uuid.uuid4().hex[:6]}"
        self.token_file.write_text(token + "\n")
        os.chmod(self.token_file, 0o600)

    def __call__(self, *args, env_only=False, stdin=None, timeout=120):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLEET_")}
        if env_only:
            env.update(CERTFLEET_SERVER=self.server, CERTFLEET_TOKEN_FILE=str(self.token_file))
            argv = [self.certfleet, "ctl", *args]
        else:
            argv = [self.certfleet, "ctl", "--server", self.server, "--token-file",
                    str(self.token_file), *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, input=stdin,
                              timeout=timeout)

    def json(self, *args):
        p = self(*args, "-o", "json")
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)


@pytest.fixture
def ctl(certfleet, fleet_module, tmp_path):
    return Ctl(certfleet, fleet_module.api.serve.url, fleet_module.token, tmp_path)


def rows(out):
    """A table as a list of lists of cells (split on two blanks or more)."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


def table(out):
    """A table as a list of dicts keyed by its header."""
    lines = rows(out)
    return [dict(zip(lines[0], r)) for r in lines[1:]]


def fields(out):
    """A "key: value" block as a dict."""
    return dict(re.match(r"^(\S+):\s+(.*)$", line).groups() for line in out.strip().splitlines())


def create(ctl, cid, *names, alias=None, extra=()):
    alias = alias or f"{names[0].lstrip('*.')}.{RFC}"
    p = ctl("cert", "create", cid, *[a for n in names for a in ("--domain", n)],
            "--dns-alias", alias, "--provider", "lab-bind", *extra)
    assert p.returncode == 0, p.stderr
    return re.search(r"job ([0-9a-f-]{36})", p.stdout).group(1)


# ---- the command line itself ----

def test_usage_errors_exit_2(certfleet, ctl):
    for args in ([], ["cert"], ["cert", "frobnicate"], ["nothing", "list"], ["cert", "get"],
                 ["cert", "get", "a", "b"], ["cert", "list", "--bogus"], ["job", "watch"],
                 ["cert", "list", "--limit", "zero"], ["-o", "yaml", "cert", "list"]):
        p = ctl(*args)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert p.stdout == "" and p.stderr, args
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLEET_")}
    p = subprocess.run([certfleet, "ctl", "cert", "list"], env=env, capture_output=True,
                       text=True)
    assert p.returncode == 2 and "CERTFLEET_SERVER" in p.stderr
    p = subprocess.run([certfleet, "ctl", "--help"], env=env, capture_output=True, text=True)
    assert p.returncode == 0 and "cert create" in p.stdout and "exit status" in p.stdout
    p = ctl("cert", "revoke", "--help")
    assert p.returncode == 0 and "--reason" in p.stdout


def test_environment_names_the_server_and_token(ctl):
    p = ctl("cert", "list", env_only=True)
    assert p.returncode == 0, p.stderr
    assert rows(p.stdout)[0][:3] == ["ID", "STATUS", "VERSION"]


def test_token_file_is_refused_like_an_ssh_key(ctl, tmp_path):
    for mode in (0o644, 0o640, 0o604, 0o620):
        os.chmod(ctl.token_file, mode)
        p = ctl("cert", "list")
        assert p.returncode == 1, (oct(mode), p.stderr)
        assert "chmod 600" in p.stderr and str(ctl.token_file) in p.stderr
        assert p.stdout == ""
    # owned by another user (a root-managed file handed over through a group): the
    # group may read it, others still may not
    os.chown(ctl.token_file, 65534, 0)
    os.chmod(ctl.token_file, 0o640)
    p = ctl("cert", "list")
    assert p.returncode == 0, p.stderr
    os.chmod(ctl.token_file, 0o644)
    assert ctl("cert", "list").returncode == 1
    os.chown(ctl.token_file, os.getuid(), os.getgid())
    os.chmod(ctl.token_file, 0o600)


def test_bad_token_exits_4_with_the_servers_detail(ctl, certfleet, fleet_module, tmp_path):
    bad = Ctl(certfleet, ctl.server, "cf_000000000000_" + "A" * 43, tmp_path)
    p = bad("cert", "list")
    assert p.returncode == 4 and p.stdout == ""
    assert "401" in p.stderr and "token is not valid" in p.stderr
    # a revoked token: refused from its next request on
    t = ctl("token", "create", "--name", "short-lived", "--role", "admin").stdout.strip()
    gone = Ctl(certfleet, ctl.server, t, tmp_path)
    assert gone("cert", "list").returncode == 0
    assert ctl("token", "revoke", "short-lived").returncode == 0
    p = gone("cert", "list")
    assert p.returncode == 4 and "401" in p.stderr
    # a host token on an admin route: 403
    host = subprocess.run([certfleet, "token", "create", "--role", "host", "--name", "web-77"],
                          env=fleet_module.base, capture_output=True, text=True)
    assert host.returncode == 0, host.stderr
    p = Ctl(certfleet, ctl.server, host.stdout.strip(), tmp_path)("provider", "list")
    assert p.returncode == 4 and "403" in p.stderr


def test_plain_http_to_another_host_is_refused(ctl, certfleet, tmp_path):
    p = subprocess.run([certfleet, "ctl", "--server", "http://192.0.2.1:8080",
                        "--token-file", str(ctl.token_file), "cert", "list"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "in clear" in p.stderr


# ---- certificates ----

def test_cert_create_from_file_is_what_the_api_creates(ctl, fleet_module, tmp_path):
    doc = {"domains": ["www.example.test"], "dns_alias": f"www.example.test.{RFC}",
           "provider": "lab-bind", "key_type": "ec384", "hosts": ["web-01", "web-02"],
           "renew_fraction": 0.5, "issuers": ["default"]}
    f = tmp_path / "cert.json"
    f.write_text(json.dumps({"id": "from-file", **doc}))
    out = ctl.json("cert", "create", "-f", str(f))
    assert out["job"]["state"] == "queued"
    r = fleet_module.api.post("/v1/certificates", json={"id": "from-api", **doc})
    assert r.status_code == 201, r.text
    volatile = ("id", "status", "current_version", "created_at", "updated_at", "job")
    mine = fleet_module.api.get("/v1/certificates/from-file").json()
    theirs = fleet_module.api.get("/v1/certificates/from-api").json()
    assert {k: v for k, v in mine.items() if k not in volatile} == \
           {k: v for k, v in theirs.items() if k not in volatile}
    assert mine["key_type"] == "ec384" and mine["hosts"] == ["web-01", "web-02"]
    # flags override the file member by member, and stdin works as -f -
    p = ctl("cert", "create", "from-stdin", "-f", "-", "--key-type", "rsa2048",
            "--host", "web-09", stdin=json.dumps(doc))
    assert p.returncode == 0, p.stderr
    got = fleet_module.api.get("/v1/certificates/from-stdin").json()
    assert got["key_type"] == "rsa2048" and got["hosts"] == ["web-09"]
    assert got["domains"] == ["www.example.test"] and got["renew_fraction"] == 0.5
    fleet_module.wait([out["job"]["id"]])


def test_cert_create_from_flags_and_watch_to_the_end(ctl, fleet_module):
    p = ctl("cert", "create", "shop", "--domain", "*.example.test", "--domain", "example.test",
            "--dns-alias", f"example.test.{RFC}", "--provider", "lab-bind", "--host", "web-01",
            "--watch")
    assert p.returncode == 0, p.stdout + p.stderr
    info = fields(p.stdout.split("certificate shop created")[0])
    assert info["id"] == "shop" and info["domains"] == "*.example.test, example.test"
    assert info["hosts"] == "web-01" and info["status"] == "pending"
    # the timeline, live: steps in order, and the end
    steps = [m.group(1) for m in re.finditer(r"^\s+\d\d:\d\d:\d\d\.\d{3}\s+(\S+)", p.stdout, re.M)]
    assert [s for s in ("preflight", "present", "propagate", "respond", "validate", "finalize",
                        "download") if s in steps] == ["preflight", "present", "propagate",
                                                        "respond", "validate", "finalize",
                                                        "download"], steps
    assert re.search(r"^job [0-9a-f-]{36} issued after", p.stdout, re.M)
    check_version(fleet_module, "shop", ["*.example.test", "example.test"])
    got = fields(ctl("cert", "get", "shop").stdout)
    (serial,), = fleet_module.sql("SELECT serial FROM certificate_versions "
                                  "WHERE certificate_id = 'shop'")
    assert got["status"] == "valid" and got["version"] == "1" and got["serial"] == serial
    assert 80 < int(got["days_left"]) <= 1826


def test_job_watch_follows_a_real_issuance(ctl, fleet_module):
    job = create(ctl, "watched", "www.example.test")
    p = ctl("job", "watch", job)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "finalize" in p.stdout and f"job {job} issued" in p.stdout
    # every event of the job printed exactly once, in order
    printed = re.findall(r"^\s+\d\d:\d\d:\d\d\.\d{3}\s+(\S+)", p.stdout, re.M)
    assert printed == [e[1] for e in fleet_module.events(job)]
    # the progress line (stderr is not a terminal: one line per change), unless the
    # job had already ended at the first look
    if not re.search(rf"^job {job[:8]}: step \S+", p.stderr, re.M):
        assert p.stderr == "", p.stderr
    check_version(fleet_module, "watched", ["www.example.test"])
    # -o json: the job as it ended, as the API has it
    out = ctl.json("job", "watch", job)
    assert out == fleet_module.api.get(f"/v1/jobs/{job}").json()


def test_job_watch_follows_the_job_live_from_queued(certfleet, lab, db_url, tmp_path):
    """The watch starts while no worker runs (the job waits, queued, and the progress
    line says so); then a serve with workers starts, and the watch follows the job
    through its steps to the end."""
    f = Fleet(certfleet, lab, db_url)
    try:
        f.start(CERTFLEET_WORKERS=0)
        f.provider()
        c = Ctl(certfleet, f.api.serve.url, f.token, tmp_path)
        job = create(c, "later", "www.example.test")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLEET_")}
        proc = subprocess.Popen([certfleet, "ctl", "--server", c.server, "--token-file",
                                 str(c.token_file), "job", "watch", job], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        progress = []
        reader = threading.Thread(target=lambda: progress.extend(proc.stderr), daemon=True)
        reader.start()
        try:
            poll(lambda: any("queued" in line for line in progress), timeout=30,
                 what="the progress line of a queued job")
            assert proc.poll() is None and f.job(job)["state"] == "queued"
            f.start()  # workers now
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=10)
        assert proc.returncode == 0, out + "".join(progress)
        assert re.match(rf"job {job[:8]}: step \S+.*, queued, attempt 0$", progress[0])
        printed = re.findall(r"^\s+\d\d:\d\d:\d\d\.\d{3}\s+(\S+)", out, re.M)
        assert printed == [e[1] for e in f.events(job)]
        assert f"job {job} issued after" in out
        check_version(f, "later", ["www.example.test"])
    finally:
        f.close()


def test_job_watch_exits_6_when_the_job_fails(ctl, fleet_module):
    job = create(ctl, "doomed", "nocname.example.test", alias=f"nocname.{RFC}")
    p = ctl("job", "watch", job)
    assert p.returncode == 6, p.stdout + p.stderr
    assert f"job {job} failed" in p.stdout
    assert "_acme-challenge.nocname.example.test. has no CNAME" in p.stdout
    assert "failed" in p.stderr
    assert fleet_module.job(job)["state"] == "failed"
    # job get: the same problem, and the timeline as a table
    g = ctl("job", "get", job)
    assert g.returncode == 0
    assert fields(g.stdout.split("\n\n")[0])["state"] == "failed"
    events = table(g.stdout.split("\n\n")[1])
    assert [e["STEP"] for e in events] == [e[1] for e in fleet_module.events(job)]


def test_cert_list_and_get_table_and_json(ctl, fleet_module):
    job = create(ctl, "listed", "www.example.test")
    fleet_module.wait([job])
    lst = table(ctl("cert", "list").stdout)
    row = next(r for r in lst if r["ID"] == "listed")
    assert row["DOMAINS"] == "www.example.test" and row["ISSUERS"] == "default"
    assert ctl.json("cert", "list") == fleet_module.api.get("/v1/certificates").json()
    assert ctl.json("cert", "get", "listed") == \
        fleet_module.api.get("/v1/certificates/listed").json()
    p = ctl("cert", "get", "no-such-cert")
    assert p.returncode == 3 and "no certificate called" in p.stderr and p.stdout == ""
    # --limit cuts the list; --expiring-within passes the filter on
    assert len(ctl.json("cert", "list", "--limit", "1")["certificates"]) == 1
    assert ctl.json("cert", "list", "--expiring-within", "1d")["certificates"] == []
    p = ctl("cert", "list", "--expiring-within", "soon")
    assert p.returncode == 1 and "expiring_within" in p.stderr


def test_cert_create_errors_name_the_field(ctl, fleet_module):
    before = fleet_module.sql("SELECT count(*) FROM certificates")
    p = ctl("cert", "create", "broken", "--domain", "bad..name", "--domain", "ok.example.test",
            "--provider", "lab-bind", "--key-type", "rsa1", "--renew-fraction", "lots")
    assert p.returncode == 1 and p.stdout == ""
    assert "400" in p.stderr and "field: domains[0]" in p.stderr
    assert "key_type" in p.stderr and "renew_fraction" in p.stderr
    assert fleet_module.sql("SELECT count(*) FROM certificates") == before
    p = ctl("cert", "create", "broken", "--domain", "a.example.test", "--provider", "lab-bind",
            "--dns-alias", "x.test", "--dns-alias", "a.example.test=y.test")
    assert p.returncode == 2 and "--dns-alias" in p.stderr
    p = ctl("cert", "create", "broken", "-f", "/nonexistent.json")
    assert p.returncode == 1 and "/nonexistent.json" in p.stderr
    create(ctl, "twice", "www.example.test")
    p = ctl("cert", "create", "twice", "--domain", "www.example.test", "--provider", "lab-bind")
    assert p.returncode == 5 and "already exists" in p.stderr and "field: id" in p.stderr


def test_cert_patch_issue_revoke_versions_delete(ctl, fleet_module):
    fleet_module.wait([create(ctl, "cycle", "www.example.test")])
    p = ctl("cert", "patch", "cycle", "--renew-fraction", "0.5", "--key-type", "rsa2048",
            "--issuer", "default")
    assert p.returncode == 0, p.stderr
    got = fields(p.stdout)
    assert got["renew_fraction"] == "0.5" and got["key_type"] == "rsa2048" and \
        got["issuers"] == "default"
    out = ctl.json("cert", "patch", "cycle", "--unset", "renew_fraction")
    assert out == fleet_module.api.get("/v1/certificates/cycle").json()
    assert abs(out["renew_fraction"] - 2 / 3) < 0.001
    p = ctl("cert", "patch", "cycle", "--key-type", "dsa")
    assert p.returncode == 1 and "field: key_type" in p.stderr
    # a new issuance, followed to its end
    p = ctl("cert", "issue", "cycle", "--watch")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"issuance of cycle queued: job [0-9a-f-]{36}", p.stdout)
    # revoke the current version (2) by default, then see it in versions
    p = ctl("cert", "revoke", "cycle", "--reason", "keyCompromise", "--watch")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "revocation of cycle version 2 queued" in p.stdout and " done after" in p.stdout
    vs = table(ctl("cert", "versions", "cycle").stdout)
    assert [v["VERSION"] for v in vs] == ["2", "1"]
    assert vs[0]["REASON"] == "1" and vs[0]["REVOKED"] != "-" and vs[0]["CURRENT"] == "yes"
    assert vs[1]["REVOKED"] == "-"
    assert ctl.json("cert", "versions", "cycle") == \
        fleet_module.api.get("/v1/certificates/cycle/versions").json()
    p = ctl("cert", "revoke", "cycle", "--version", "1", "--reason", "4")
    assert p.returncode == 0 and re.search(r"job ([0-9a-f-]{36}) queued", p.stdout)
    fleet_module.wait([re.search(r"job ([0-9a-f-]{36})", p.stdout).group(1)], states=("done",))
    assert fleet_module.sql("SELECT revocation_reason FROM certificate_versions WHERE "
                            "certificate_id = 'cycle' AND version = 1") == [(4,)]
    p = ctl("cert", "revoke", "cycle", "--version", "9")
    assert p.returncode == 3
    assert ctl("cert", "issue", "nope").returncode == 3
    p = ctl("cert", "delete", "cycle")
    assert p.returncode == 0 and "certificate cycle deleted" in p.stdout
    assert ctl("cert", "get", "cycle").returncode == 3
    assert ctl("cert", "delete", "cycle").returncode == 3


def test_cert_issue_while_a_job_is_active_is_a_conflict(ctl, certfleet, api, tmp_path):
    # a serve without workers: the first job stays queued
    api.post("/v1/providers", json={"name": "lab-bind", "type": "rfc2136",
                                    "settings": {"server": "127.0.0.1"}})
    c = Ctl(certfleet, api.serve.url, api.token, tmp_path)
    p = c("cert", "create", "busy", "--domain", "www.example.test", "--provider", "lab-bind")
    assert p.returncode == 0, p.stderr
    job = re.search(r"job ([0-9a-f-]{36}) queued", p.stdout).group(1)
    p = c("cert", "issue", "busy")
    assert p.returncode == 5 and f"job: {job}" in p.stderr
    p = c("cert", "revoke", "busy")
    assert p.returncode == 1 and "no issued version" in p.stderr
    p = c("job", "watch", job, "--timeout", "0.5")
    assert p.returncode == 1 and "still queued" in p.stderr


def test_cert_deployments(ctl, fleet_module):
    fleet_module.wait([create(ctl, "deployed", "www.example.test", extra=("--host", "web-01"))])
    p = ctl("cert", "deployments", "deployed")
    if "/v1/certificates/{id}/deployments" in spec()["paths"]:
        assert p.returncode == 0, p.stderr
        assert ctl.json("cert", "deployments", "deployed") == \
            fleet_module.api.get("/v1/certificates/deployed/deployments").json()
        assert ctl("cert", "deployments", "no-such").returncode == 3
    else:  # issue 13 adds the route; until then, a clear message
        assert p.returncode == 1 and p.stdout == ""
        assert "the server does not support deployments (404" in p.stderr


# ---- jobs ----

def test_job_list_and_get(ctl, fleet_module):
    job = create(ctl, "jobbed", "www.example.test")
    fleet_module.wait([job])
    lst = table(ctl("job", "list", "--certificate", "jobbed").stdout)
    assert [(r["ID"], r["CERTIFICATE"], r["KIND"], r["STATE"]) for r in lst] == \
        [(job, "jobbed", "issue", "issued")]
    assert ctl.json("job", "list", "--state", "issued", "--certificate", "jobbed") == \
        fleet_module.api.get("/v1/jobs?state=issued&certificate=jobbed").json()
    assert ctl.json("job", "list", "--state", "failed", "--certificate", "jobbed") == \
        {"jobs": []}
    p = ctl("job", "list", "--state", "sleeping")
    assert p.returncode == 1 and "field: state" in p.stderr
    assert ctl.json("job", "get", job) == fleet_module.api.get(f"/v1/jobs/{job}").json()
    assert ctl("job", "get", str(uuid.uuid4())).returncode == 3
    assert ctl("job", "watch", str(uuid.uuid4())).returncode == 3


# ---- aliases, providers, issuers, tokens, audit ----

def test_alias_check(ctl, fleet_module):
    p = ctl("alias", "check", "www.example.test", "--dns-alias", f"www.example.test.{RFC}",
            "--provider", "lab-bind")
    assert p.returncode == 0, p.stderr
    assert table(p.stdout) == [{"NAME": "www.example.test", "VERDICT": "ok", "WRITABLE": "yes",
                                "TARGET": f"www.example.test.{RFC}"}]
    p = ctl("alias", "check", "www.example.test", "shadow.example.test",
            "--dns-alias", f"www.example.test=www.example.test.{RFC}",
            "--dns-alias", f"shadow.example.test=shadow.example.test.{RFC}")
    assert p.returncode == 6, p.stderr
    assert 'delete: _acme-challenge.shadow.example.test. TXT "stale"' in p.stdout
    assert (f"create: _acme-challenge.shadow.example.test. CNAME shadow.example.test.{RFC}."
            in p.stdout)
    r = fleet_module.api.post("/v1/aliases/check", json={
        "domains": ["shadow.example.test"], "dns_alias": f"shadow.example.test.{RFC}"}).json()
    out = ctl("alias", "check", "shadow.example.test", "--dns-alias",
              f"shadow.example.test.{RFC}", "-o", "json")
    assert out.returncode == 6
    got = json.loads(out.stdout)
    assert [(x["verdict"], x["fix"]) for x in got["results"]] == \
        [(x["verdict"], x["fix"]) for x in r["results"]]
    create(ctl, "checked", "www.example.test")
    p = ctl("alias", "check", "--certificate", "checked")
    assert p.returncode == 0 and table(p.stdout)[0]["VERDICT"] == "ok"
    assert ctl("alias", "check", "--certificate", "nope").returncode == 3
    assert ctl("alias", "check").returncode == 2


def test_provider_add_list_delete(ctl, fleet_module, tmp_path):
    secret = fleet_module.lab["LAB_TSIG_SECRET"]
    sfile = tmp_path / "tsig"
    sfile.write_text(secret + "\n")
    s = bind_settings(fleet_module.lab)
    p = ctl("provider", "add", "bind-two", "--type", "rfc2136",
            "--provider-setting", f"server={s['server']}",
            "--provider-setting", f"tsig_name={s['tsig_name']}",
            "--provider-setting", f"tsig_algorithm={s['tsig_algorithm']}",
            "--provider-setting", f"tsig_secret=@{sfile}")
    assert p.returncode == 0, p.stderr
    got = fields(p.stdout)
    assert got["type"] == "rfc2136" and got["secrets"] == "tsig_secret"
    assert got["secrets_valid"] == "yes" and secret not in p.stdout
    lst = table(ctl("provider", "list").stdout)
    row = next(r for r in lst if r["NAME"] == "bind-two")
    assert row["TYPE"] == "rfc2136" and row["SECRETS"] == "tsig_secret"
    assert ctl.json("provider", "list") == fleet_module.api.get("/v1/providers").json()
    # the secret works: a certificate through the new provider issues
    p = ctl("cert", "create", "via-two", "--domain", "two.example.test", "--dns-alias",
            "two.example.test.rfc-alias2.test", "--provider", "bind-two", "--watch")
    assert p.returncode == 0, p.stdout + p.stderr
    # from a file, with an error naming the setting
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"type": "rfc2136", "settings": {"server": "not a server"}}))
    p = ctl("provider", "add", "bad-one", "-f", str(f))
    assert p.returncode == 1 and "server" in p.stderr and "400" in p.stderr
    p = ctl("provider", "add", "bind-two", "--type", "rfc2136", "--provider-setting",
            f"server={s['server']}")
    assert p.returncode == 5
    p = ctl("provider", "delete", "bind-two")
    assert p.returncode == 5 and "certificates: via-two" in p.stderr
    assert ctl("cert", "delete", "via-two").returncode == 0
    p = ctl("provider", "delete", "bind-two")
    assert p.returncode == 0 and "provider bind-two deleted" in p.stdout
    assert ctl("provider", "delete", "bind-two").returncode == 3


def test_issuer_list_and_get(ctl, fleet_module):
    lst = table(ctl("issuer", "list").stdout)
    default = next(r for r in lst if r["NAME"] == "default")
    assert default["DIRECTORY"] == fleet_module.lab["LAB_ACME_DIR"]
    assert ctl.json("issuer", "list") == fleet_module.api.get("/v1/issuers").json()
    got = fields(ctl("issuer", "get", "default").stdout.split("\n\n")[0])
    assert got["email"] == "ops@example.test" and got["paused_until"] == "-"
    out = ctl.json("issuer", "get", "default")
    assert out["name"] == "default" and out["directory"] == fleet_module.lab["LAB_ACME_DIR"]
    assert ctl("issuer", "get", "nope").returncode == 3


def test_token_create_list_revoke(ctl, certfleet, tmp_path):
    p = ctl("token", "create", "--name", "ops-bot", "--role", "admin", "--expires", "30d")
    assert p.returncode == 0, p.stderr
    tok = p.stdout.strip()
    assert TOKEN.match(tok) and "only time" in p.stderr and tok not in p.stderr
    tid = tok.split("_")[1]
    other = Ctl(certfleet, ctl.server, tok, tmp_path)
    assert other("cert", "list").returncode == 0
    lst = table(ctl("token", "list").stdout)
    row = next(r for r in lst if r["ID"] == tid)
    assert row["NAME"] == "ops-bot" and row["ROLE"] == "admin" and row["REVOKED"] == "-"
    assert row["EXPIRES"] != "-"
    assert tok not in ctl("token", "list").stdout
    listed = ctl.json("token", "list")["tokens"]
    assert any(t["id"] == tid for t in listed)
    out = ctl.json("token", "create", "--name", "ops-bot", "--role", "admin")
    assert TOKEN.match(out["token"]) and out["name"] == "ops-bot"
    p = ctl("token", "revoke", "ops-bot", "--id", tid)
    assert p.returncode == 0 and f"revoked 1 token(s) of ops-bot: {tid}" in p.stdout
    assert other("cert", "list").returncode == 4
    assert ctl.json("token", "revoke", "ops-bot") == {"revoked": [out["id"]]}
    assert ctl("token", "revoke", "ops-bot").returncode == 3
    p = ctl("token", "create", "--name", "x y", "--role", "admin")
    assert p.returncode == 1 and "name" in p.stderr
    assert ctl("token", "create", "--name", "x").returncode == 2


def test_audit(ctl, fleet_module):
    create(ctl, "audited", "www.example.test")
    lst = table(ctl("audit", "--action", "certificate.create").stdout)
    row = next(r for r in lst if r["TARGET"] == "audited")
    assert row["ACTOR"] == "admin" and row["ADDRESS"] == "127.0.0.1"
    out = ctl.json("audit", "--action", "certificate.create")
    assert out == fleet_module.api.get("/v1/audit?action=certificate.create").json()
    assert len(ctl.json("audit", "--limit", "2")["events"]) == 2
    assert ctl.json("audit", "--actor", "nobody-at-all")["events"] == []
    p = ctl("audit", "--since", "yesterday")
    assert p.returncode == 1 and "since" in p.stderr


# ---- paged lists ----

class PagedServer:
    """A stand-in for a serve whose list routes page their answers (a "next" cursor,
    null on the last page), recording every request it gets."""

    def __init__(self, n):
        self.items = [{"id": f"c{i:03d}", "status": "valid", "domains": [f"h{i}.example.test"],
                       "hosts": [], "issuers": ["default"], "current_version": None}
                      for i in range(n)]
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                outer.requests.append((u.path, q, self.headers.get("Authorization")))
                start = int(q.get("cursor", "0"))
                size = min(int(q.get("limit", "3")), 3)
                page = outer.items[start:start + size]
                nxt = str(start + size) if start + size < len(outer.items) else None
                body = json.dumps({"certificates": page, "next": nxt}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_lists_follow_the_next_cursor(certfleet, tmp_path):
    srv = PagedServer(8)
    try:
        c = Ctl(certfleet, srv.url, "cf_0123456789ab_" + "B" * 43, tmp_path)
        out = c.json("cert", "list", "--expiring-within", "30d")
        assert [x["id"] for x in out["certificates"]] == [f"c{i:03d}" for i in range(8)]
        assert "next" not in out
        # three pages, each repeating the filter, the cursors in order, the bearer on each
        assert [(p, q.get("cursor"), q.get("expiring_within")) for p, q, _ in srv.requests] == \
            [("/v1/certificates", None, "30d"), ("/v1/certificates", "3", "30d"),
             ("/v1/certificates", "6", "30d")]
        assert all(a == "Bearer cf_0123456789ab_" + "B" * 43 for _, _, a in srv.requests)
        srv.requests.clear()
        p = c("cert", "list", "--limit", "4")
        assert p.returncode == 0, p.stderr
        assert [r["ID"] for r in table(p.stdout)] == ["c000", "c001", "c002", "c003"]
        assert [(q.get("cursor"), q.get("limit")) for _, q, _ in srv.requests] == \
            [(None, "4"), ("3", "1")]
    finally:
        srv.close()


# ---- HTTPS ----

def test_https_with_a_ca_file(certfleet, db_url, tmp_path):
    from hostlib import Pki, start_hosts_api
    cert, key, ca = Pki().write_tls(str(tmp_path))
    api, serve = start_hosts_api(certfleet, db_url, tls=(cert, key, ca))
    try:
        c = Ctl(certfleet, serve.url, api.token, tmp_path)
        p = c("token", "list")  # the system's trust does not know the test CA
        assert p.returncode == 1 and p.stdout == "" and "certificate" in p.stderr.lower()
        p = c("--ca-file", ca, "token", "list")
        assert p.returncode == 0, p.stderr
        assert table(p.stdout)[0]["NAME"] == "test-admin"
    finally:
        serve.__exit__(None, None, None)
