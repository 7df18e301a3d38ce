"""The foundation: `certfleet migrate` (idempotent, safe when run concurrently),
`certfleet serve` (/healthz, /readyz through a database outage, problem+json for
unknown routes, graceful SIGTERM) and the settings table (every required setting
missing or malformed exits non-zero naming the setting)."""
import subprocess

import psycopg2
import pytest

from service import Serve, clean_env, db_url, poll, run  # noqa: F401 (fixture)

CORE_TABLES = {"dns_providers", "acme_accounts", "certificates", "certificate_versions",
               "jobs", "job_events", "tokens", "dns_records", "audit_events",
               "idempotency_keys", "schema_migrations"}


def schema_snapshot(url):
    """Tables, columns and indexes of the public schema, and the migration rows."""
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute("""SELECT table_name, column_name, data_type, is_nullable
                       FROM information_schema.columns WHERE table_schema = 'public'
                       ORDER BY 1, 2""")
        cols = cur.fetchall()
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                    "ORDER BY 1")
        idx = cur.fetchall()
        cur.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY 1")
        mig = cur.fetchall()
    return cols, idx, mig


def tables(url):
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in cur.fetchall()}


def test_migrate_twice_second_run_changes_nothing(certfleet, db_url):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url)
    first = run(certfleet, ["migrate"], env, check=True)
    assert "applied 0001_core" in first.stdout
    assert CORE_TABLES <= tables(db_url)
    before = schema_snapshot(db_url)
    second = run(certfleet, ["migrate"], env, check=True)
    assert "applied" not in second.stdout
    assert "schema is current" in second.stdout
    assert schema_snapshot(db_url) == before


def test_two_migrate_processes_at_once(certfleet, db_url):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url)
    procs = [subprocess.Popen([certfleet, "migrate"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    applied = sum(o[0].count("applied 0001_core") for o in outs)
    assert applied == 1, outs
    cols, idx, mig = schema_snapshot(db_url)
    assert [m[1] for m in mig] == sorted({m[1] for m in mig})  # one row per file
    assert CORE_TABLES <= tables(db_url)


def test_migrate_refuses_an_edited_migration(certfleet, db_url, tmp_path):
    import pathlib
    src = pathlib.Path(__file__).resolve().parents[2] / "migrations"
    for f in src.glob("*.sql"):
        (tmp_path / f.name).write_text(f.read_text())
    env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_MIGRATIONS_DIR=tmp_path)
    run(certfleet, ["migrate"], env, check=True)
    first = sorted(tmp_path.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    p = run(certfleet, ["migrate"], env)
    assert p.returncode != 0
    assert "changed after it was applied" in p.stderr


def test_serve_health_ready_and_problems(certfleet, db_url):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url)
    run(certfleet, ["migrate"], env, check=True)
    with Serve(certfleet, env) as s:
        r = s.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "alive"
        r = s.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["schema_version"] >= 1
        r = s.get("/no/such/route")
        assert r.status_code == 404
        assert r.headers["Content-Type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == 404 and "/no/such/route" in body["detail"]
        assert body["type"].startswith("https://") and body["title"]
        r = s.request("POST", "/healthz", data="{}")
        assert r.status_code == 405
        assert r.headers["Content-Type"] == "application/problem+json"
        assert r.headers.get("X-Request-Id")


def test_body_over_the_limit_is_refused(certfleet, db_url):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_MAX_BODY=2048)
    with Serve(certfleet, env) as s:
        r = s.request("POST", "/healthz", data="x" * 5000)
        assert r.status_code == 413
        assert "CERTFLEET_MAX_BODY" in r.json()["detail"]


def test_readyz_503_until_migrated(certfleet, db_url):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url)
    with Serve(certfleet, env) as s:
        r = s.get("/readyz")
        assert r.status_code == 503
        assert r.headers["Content-Type"] == "application/problem+json"
        run(certfleet, ["migrate"], env, check=True)
        poll(lambda: s.get("/readyz").status_code == 200, what="ready after migrate")


def test_readyz_follows_the_database_down_and_back(certfleet, db_url, lab):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url)
    run(certfleet, ["migrate"], env, check=True)
    with Serve(certfleet, env) as s:
        assert s.get("/readyz").status_code == 200
        pid = s.proc.pid
        subprocess.run(f"{lab['LAB_PG_CTL']} stop", shell=True, check=True)
        try:
            poll(lambda: s.get("/readyz").status_code == 503, what="503 with database down")
            assert s.get("/healthz").status_code == 200  # alive, just not ready
        finally:
            subprocess.run(f"{lab['LAB_PG_CTL']} start", shell=True, check=True)
        poll(lambda: s.get("/readyz").status_code == 200, what="200 with database back")
        assert s.proc.pid == pid and s.proc.poll() is None  # no restart


def test_sigterm_stops_gracefully(certfleet, db_url):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url)
    with Serve(certfleet, env) as s:
        assert s.stop() == 0
        assert "serve.stopped" in s.output()


BAD_SETTINGS = [
    ("CERTFLEET_DATABASE_URL", None),  # missing
    ("CERTFLEET_DATABASE_URL", "host=x = y"),
    ("CERTFLEET_DATABASE_URL", "mysql://nope"),
    ("CERTFLEET_LISTEN", "localhost"),
    ("CERTFLEET_LISTEN", "127.0.0.1:99999"),
    ("CERTFLEET_LISTEN", "127.0.0.1:"),
    ("CERTFLEET_LISTEN", "db.example:8080"),
    ("CERTFLEET_WORKERS", "-1"),
    ("CERTFLEET_WORKERS", "four"),
    ("CERTFLEET_HTTP_THREADS", "0"),
    ("CERTFLEET_MAX_BODY", "12k"),
    ("CERTFLEET_DB_POOL", "1000"),
    ("CERTFLEET_LOG_LEVEL", "loud"),
    ("CERTFLEET_SHUTDOWN_GRACE", ""),
    ("CERTFLEET_MIGRATIONS_DIR", "/nonexistent/migrations"),
    ("CERTFLEET_MASTER_KEY", None),  # missing: serve refuses to start without one
    ("CERTFLEET_MASTER_KEY", "c2hvcnQ="),  # 5 bytes, not 32
    ("CERTFLEET_MASTER_KEY_FILE", "/nonexistent/key"),
    ("CERTFLEET_RESOLVERS", "not-an-ip"),
    ("CERTFLEET_PROPAGATION", "sometimes"),
    ("CERTFLEET_TXT_BUDGET", "0"),
]


@pytest.mark.parametrize("name,value", BAD_SETTINGS)
def test_bad_or_missing_setting_is_named(certfleet, name, value, db_url):
    settings = {"CERTFLEET_DATABASE_URL": db_url, "CERTFLEET_LISTEN": "127.0.0.1:1"}
    settings[name] = value
    if name == "CERTFLEET_MASTER_KEY_FILE":
        settings["CERTFLEET_MASTER_KEY"] = None
    p = run(certfleet, ["serve"], clean_env(**settings), timeout=20)
    assert p.returncode != 0
    assert name in p.stderr, p.stderr


def test_settings_file_and_environment_precedence(certfleet, db_url, tmp_path):
    cfg = tmp_path / "certfleet.conf"
    cfg.write_text(f"# a comment\nCERTFLEET_DATABASE_URL={db_url}\nCERTFLEET_LOG_LEVEL=debug\n")
    env = clean_env(CERTFLEET_CONFIG=cfg)
    run(certfleet, ["migrate"], env, check=True)
    with Serve(certfleet, env) as s:
        assert s.get("/readyz").status_code == 200
        poll(lambda: '"level":"debug"' in s.output(), what="a debug line (level from the file)")
    cfg.write_text(cfg.read_text() + "CERTFLEET_LISTN=127.0.0.1:1\n")
    p = run(certfleet, ["serve"], env, timeout=20)
    assert p.returncode != 0 and "CERTFLEET_LISTN" in p.stderr
    # the environment wins over the file
    cfg.write_text(f"CERTFLEET_DATABASE_URL={db_url}\nCERTFLEET_WORKERS=bad\n")
    p = run(certfleet, ["serve"], clean_env(CERTFLEET_CONFIG=cfg, CERTFLEET_WORKERS="nope",
                                           CERTFLEET_LISTEN="127.0.0.1:1"), timeout=20)
    assert p.returncode != 0 and "'nope'" in p.stderr
