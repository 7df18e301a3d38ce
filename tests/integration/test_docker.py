"""The container entrypoint (docker/entrypoint.sh), run as a plain script since no
Docker engine runs here: it migrates the database, then becomes the service (same
PID, so SIGTERM reaches certfleet serve); other commands go to the binary as they
are. The Dockerfile's build steps are the tested scripts (scripts/deps build,
scripts/build), checked by reading it."""
import subprocess
from pathlib import Path

import psycopg2

from service import Serve, clean_env, db_url, poll, run  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "docker" / "entrypoint.sh"


def test_entrypoint_migrates_then_serves(certfleet, db_url):
    env = clean_env(CERTFLEET_DATABASE_URL=db_url, CERTFLEET_BIN=certfleet)
    with Serve(certfleet, env, argv=[str(ENTRY)]) as s:  # no arguments = serve
        assert s.get("/readyz").status_code == 200  # migrated before serving
        with psycopg2.connect(db_url) as c, c.cursor() as cur:
            cur.execute("SELECT count(*) FROM schema_migrations")
            assert cur.fetchone()[0] >= 1
        out = s.output()
        assert out.index("migrate: applied") < out.index("serve.started")
        # exec: the entrypoint's PID is now certfleet serve itself
        cmdline = Path(f"/proc/{s.proc.pid}/cmdline").read_bytes().split(b"\0")
        assert Path(cmdline[0].decode()).name == "certfleet" and cmdline[1] == b"serve"
        assert s.stop() == 0


def test_entrypoint_passes_other_commands(certfleet):
    p = subprocess.run([str(ENTRY), "version"], env=clean_env(CERTFLEET_BIN=certfleet),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("certfleet ")


def test_entrypoint_stops_when_migration_fails(certfleet):
    env = clean_env(CERTFLEET_BIN=certfleet,
                    CERTFLEET_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    p = subprocess.run([str(ENTRY)], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "cannot connect" in p.stderr


def test_dockerfile_uses_the_tested_scripts():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert "scripts/deps build" in text and "scripts/build build" in text
    assert "deps runtime" in text and "USER certfleet" in text
    assert "FROM debian:12-slim AS build" in text
