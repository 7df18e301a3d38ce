"""Helpers for tests that run the certfleet binary as a service: a fresh database
per test, free ports, and a `serve` process that is started, polled until it
answers, and stopped with SIGTERM (its exit code and log kept for assertions)."""
import os
import signal
import socket
import subprocess
import time
import uuid

import psycopg2
import pytest
import requests


# A fixed master key for tests (base64 of 32 bytes); never a real deployment's.
TEST_MASTER_KEY = "q3Zl3o1mB1bL3yq1ZtUoJ2m2cTg4bW5xZ3VtaXR0ZXI="


def clean_env(**settings):
    """The process environment without any CERTFLEET_* variable, plus the test master
    key and the given settings (a value of None removes a setting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLEET_")}
    env["CERTFLEET_MASTER_KEY"] = TEST_MASTER_KEY
    for k, v in settings.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def poll(cond, timeout=20.0, interval=0.05, what="condition"):
    """Calls cond() until it returns a truthy value; fails the test on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except (requests.RequestException, OSError, psycopg2.Error) as e:
            last = e
        time.sleep(interval)
        interval = min(interval * 2, 0.5)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})")


def free_port(ip="127.0.0.1"):
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def admin_conn(lab):
    c = psycopg2.connect(lab["LAB_PG_URL"])
    c.autocommit = True
    return c


def with_dbname(url, name):
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def db_url(lab):
    """A new, empty database in the lab's PostgreSQL, dropped after the test."""
    name = "t_" + uuid.uuid4().hex[:12]
    c = admin_conn(lab)
    with c.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    c.close()
    yield with_dbname(lab["LAB_PG_URL"], name)
    c = admin_conn(lab)
    with c.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    c.close()


def run(certfleet, args, env, timeout=60, check=False):
    p = subprocess.run([certfleet, *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        pytest.fail(f"certfleet {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


class Serve:
    """A running `certfleet serve`. Use as a context manager."""

    def __init__(self, certfleet, env, listen_ip="127.0.0.1", args=(), argv=None):
        self.port = free_port(listen_ip)
        self.url = f"http://{listen_ip}:{self.port}"
        self.env = dict(env)
        self.env.setdefault("CERTFLEET_LISTEN", f"{listen_ip}:{self.port}")
        self.certfleet = certfleet
        self.argv = list(argv) if argv else [certfleet, "serve", *args]
        self.proc = None
        self.log_path = None

    def __enter__(self):
        import tempfile
        fd, self.log_path = tempfile.mkstemp(prefix="serve-", suffix=".log")
        self.log = os.fdopen(fd, "w+")
        self.proc = subprocess.Popen(self.argv, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        poll(lambda: self._alive_and_up(), what=f"serve on {self.url}")
        return self

    def _alive_and_up(self):
        if self.proc.poll() is not None:
            pytest.fail(f"serve exited {self.proc.returncode}: {self.output()}")
        return requests.get(self.url + "/healthz", timeout=2).status_code == 200

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def get(self, path, **kw):
        kw.setdefault("timeout", 10)
        return requests.get(self.url + path, **kw)

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 10)
        return requests.request(method, self.url + path, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("serve did not stop on SIGTERM")
        return self.proc.returncode

    def __exit__(self, *exc):
        self.stop()
        self.log.close()
        os.unlink(self.log_path)
