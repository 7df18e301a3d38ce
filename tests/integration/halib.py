"""Helpers for the high-availability tests (tests/lab/lab up --ha; tests/lab/ha): the
Patroni cluster's control (leader, kill, switchover, wait until healthy), a database
on the cluster or behind PgBouncer, and the namespaced "hosts"."""
import subprocess
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

HA_KEYS = ("LAB_HA_CTL", "LAB_HA_PG_URL")


def need_ha(lab):
    if not all(k in lab for k in HA_KEYS):
        pytest.skip("needs the lab's HA part (tests/lab/lab run --ha)")


def with_db(url, name):
    """url with its database (the path) replaced, its query kept."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


def ctl(lab, *args, timeout=240):
    p = subprocess.run([lab["LAB_HA_CTL"], args[0], lab["LAB_HA_DIR"], *args[1:]]
                       if args[0] != "host" else
                       [lab["LAB_HA_CTL"], "host", args[1], lab["LAB_HA_DIR"], *args[2:]],
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        pytest.fail(f"tests/lab/ha {' '.join(args)}: {p.returncode} {p.stderr}")
    return p.stdout.strip()


def connect(url, timeout=3):
    sep = "&" if "?" in url else "?"
    c = psycopg2.connect(f"{url}{sep}connect_timeout={timeout}")
    c.autocommit = True
    return c


def retry_sql(url, sql, args=(), timeout=60):
    """Runs sql on url, retrying while the cluster has no primary; returns the rows."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = connect(url)
            try:
                with c.cursor() as cur:
                    cur.execute(sql, args)
                    return cur.fetchall() if cur.description else []
            finally:
                c.close()
        except psycopg2.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Database:
    """A fresh database at server_url (an admin URL, database postgres); dropped on close."""

    def __init__(self, admin_url, replicas=()):
        self.admin_url = admin_url
        self.name = "t_" + uuid.uuid4().hex[:12]
        retry_sql(admin_url, f"CREATE DATABASE {self.name}")
        # libpq tries the next host of a list when a server is unreachable or read-only,
        # but not after a FATAL from it: the database must exist on every node (the
        # standby has it once it replayed the CREATE) before a client connects.
        deadline = time.monotonic() + 30
        for ip in replicas:
            while True:
                try:
                    connect(f"postgresql://postgres@{ip}:5432/{self.name}").close()
                    break
                except psycopg2.Error:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def url(self, base=None):
        return with_db(base or self.admin_url, self.name)

    def close(self):
        retry_sql(self.admin_url, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
