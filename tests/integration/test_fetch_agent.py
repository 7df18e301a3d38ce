"""`certfleet fetch`, the host agent: it installs a certificate and its key with atomic
writes (no reader ever sees a partial file, not even while the agent is killed with
SIGKILL mid-write, over and over), runs the reload command exactly once per change
(and again after a failed reload, until it succeeds), answers 0 unchanged / 10
changed / 3 reload failed / 1 error, and fetches a certificate that a worker issued
from Pebble."""
import os
import random
import shutil
import signal
import stat
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import labdns
from hostlib import (Pki, log_lines, seed_version, start_hosts_api, tmpdir, wait_log,
                     write_token_file)
from service import db_url, run  # noqa: F401 (fixture)
from workerlib import RFC, fleet  # noqa: F401 (fixture)

FILES = ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem")


@pytest.fixture(scope="module")
def pki():
    return Pki()


class Host:
    """A serve with certificate "web" (hosts: [web-01]) and a host's folder."""

    def __init__(self, certfleet, api, serve, pki):
        self.certfleet, self.api, self.serve, self.pki = certfleet, api, serve, pki
        self.dir = tmpdir()
        self.out = os.path.join(self.dir, "tls")
        self.token_file = write_token_file(self.dir, api.host_token("web-01"))
        self.reloads = os.path.join(self.dir, "reloads")

    def new_version(self, **kw):
        """Seeds a version and waits until serve has dropped its cached entry."""
        n = len(log_lines(self.serve, "cache.invalidate", "certificate:web (notify)"))
        v = seed_version(self.api.db_url, "web", self.pki, **kw)
        wait_log(self.serve, "cache.invalidate", "certificate:web (notify)", count=n + 1)
        return v

    def argv(self, *extra, reload=True):
        a = [self.certfleet, "fetch", "--server", self.serve.url, "--token-file",
             self.token_file, "--certificate", "web", "--out", self.out]
        if reload:
            a += ["--reload", f"echo reloaded >> {self.reloads}"]
        return a + list(extra)

    def run(self, *extra, reload=True, timeout=60):
        return subprocess.run(self.argv(*extra, reload=reload), capture_output=True, text=True,
                              timeout=timeout)

    def reload_count(self):
        if not os.path.exists(self.reloads):
            return 0
        with open(self.reloads) as f:
            return len(f.read().splitlines())

    def files(self):
        out = {}
        for name in FILES:
            with open(os.path.join(self.out, name)) as f:
                out[name] = f.read()
        return out


def want_files(v):
    return {"cert.pem": v["cert"], "chain.pem": v["chain"],
            "fullchain.pem": v["cert"] + v["chain"], "privkey.pem": v["key"]}


@pytest.fixture
def host(certfleet, db_url, lab, pki):
    api, serve = start_hosts_api(certfleet, db_url)
    h = None
    try:
        api.bind_provider(lab)
        api.certificate("web", ["web-01"])
        h = Host(certfleet, api, serve, pki)
        yield h
    finally:
        serve.__exit__(None, None, None)
        if h is not None:
            shutil.rmtree(h.dir, ignore_errors=True)


def test_install_then_unchanged_then_new_version(host):
    v1 = host.new_version()
    p = host.run()
    assert p.returncode == 10, p.stdout + p.stderr
    assert "version 1 installed" in p.stdout and "reload" in p.stdout
    assert host.files() == want_files(v1)
    modes = {n: stat.S_IMODE(os.stat(os.path.join(host.out, n)).st_mode) for n in FILES}
    assert modes == {"cert.pem": 0o644, "chain.pem": 0o644, "fullchain.pem": 0o644,
                     "privkey.pem": 0o600}
    assert host.reload_count() == 1
    fetches = len(host.api.sql("SELECT 1 FROM audit_events WHERE action = "
                               "'certificate.fetch_key'"))
    # unchanged: a conditional request, 304, no reload, no key sent
    for _ in range(3):
        p = host.run()
        assert p.returncode == 0 and "unchanged (version 1)" in p.stdout, p.stdout + p.stderr
    assert host.reload_count() == 1
    assert len(host.api.sql("SELECT 1 FROM audit_events WHERE action = "
                            "'certificate.fetch_key'")) == fetches
    assert host.run("--quiet").stdout == ""
    # a new version: installed, reloaded once
    v2 = host.new_version()
    p = host.run()
    assert p.returncode == 10 and "version 2 installed" in p.stdout, p.stdout + p.stderr
    assert host.files() == want_files(v2) and host.reload_count() == 2
    assert host.run().returncode == 0 and host.reload_count() == 2
    # a file removed by hand: the next run puts it back and reloads
    os.unlink(os.path.join(host.out, "privkey.pem"))
    assert host.run().returncode == 10 and host.files() == want_files(v2)
    assert host.reload_count() == 3
    # nothing but the four files, the state and the lock in the folder
    assert sorted(os.listdir(host.out)) == sorted(
        FILES + (".certfleet-fetch.json", ".certfleet-fetch.lock"))


def test_failed_reload_is_retried_until_it_succeeds(host):
    host.new_version()
    gate = os.path.join(host.dir, "gate")
    cmd = f"test -f {gate} && echo reloaded >> {host.reloads}"
    p = host.run("--reload", cmd, reload=False)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "exited 1" in p.stderr and "installed" in p.stderr
    assert os.path.exists(os.path.join(host.out, "privkey.pem"))
    p = host.run("--reload", cmd, reload=False)  # still failing: still pending
    assert p.returncode == 3
    open(gate, "w").close()
    p = host.run("--reload", cmd, reload=False)
    assert p.returncode == 10 and host.reload_count() == 1, p.stdout + p.stderr
    p = host.run("--reload", cmd, reload=False)
    assert p.returncode == 0 and host.reload_count() == 1
    # a reload killed by a signal is reported as such
    host.new_version()
    p = host.run("--reload", "kill -TERM $$", reload=False)
    assert p.returncode == 3 and "signal 15" in p.stderr


def test_errors_and_usage(host, lab):
    host.new_version()
    assert host.run("--bogus").returncode == 2
    p = subprocess.run([host.certfleet, "fetch", "--server", host.serve.url],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "usage" in p.stderr
    # a wrong token: 401, with the server's reason
    bad = write_token_file(host.dir, "cf_000000000000_" + "A" * 43, name="bad")
    p = subprocess.run(host.argv()[:5] + [bad] + host.argv()[6:], capture_output=True,
                       text=True)
    assert p.returncode == 1 and "401" in p.stderr and "not valid" in p.stderr, p.stderr
    # a certificate this host may not fetch: 404
    p = subprocess.run([a if a != "web" else "nope" for a in host.argv()], capture_output=True,
                       text=True)
    assert p.returncode == 1 and "404" in p.stderr
    # the token file must not be readable by everyone
    os.chmod(host.token_file, 0o644)
    p = host.run()
    assert p.returncode == 1 and "readable by every user" in p.stderr
    os.chmod(host.token_file, 0o600)
    # plain http to anything but loopback would send the token in clear
    p = subprocess.run([a if a != host.serve.url else "http://192.0.2.1:8080"
                        for a in host.argv()], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "plain http" in p.stderr
    # nobody answering
    p = subprocess.run([a if a != host.serve.url else "http://127.0.0.1:1" for a in host.argv()],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "127.0.0.1" in p.stderr
    assert not os.path.exists(os.path.join(host.out, "privkey.pem"))
    assert host.reload_count() == 0
    # the secret never shows in the agent's messages
    with open(host.token_file) as f:
        assert f.read().strip()[16:] not in p.stderr


def test_owner_and_one_run_at_a_time(host):
    host.new_version()
    p = host.run("--owner", "nobody:nogroup")
    assert p.returncode == 10, p.stderr
    for name in FILES:
        st = os.stat(os.path.join(host.out, name))
        assert (st.st_uid, st.st_gid) == (65534, 65534), name
    assert host.run("--owner", "no-such-user").returncode == 1
    # the folder's lock: a second agent while one holds it fails at once
    import fcntl
    with open(os.path.join(host.out, ".certfleet-fetch.lock")) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        p = host.run()
        assert p.returncode == 1 and "another certfleet fetch" in p.stderr


class Watcher:
    """Reads the four files in a loop; every read must be exactly one of the complete
    versions' texts (a torn, truncated or missing file is a failure)."""

    def __init__(self, out, versions):
        self.out = out
        self.allowed = {n: {want_files(v)[n] for v in versions} for n in FILES}
        self.reads = 0
        self.bad = []
        self.seen = {n: set() for n in FILES}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for n in FILES:
                try:
                    with open(os.path.join(self.out, n)) as f:
                        text = f.read()
                except OSError as e:
                    self.bad.append(f"{n}: {e}")
                    continue
                self.reads += 1
                if text in self.allowed[n]:
                    self.seen[n].add(hash(text))
                else:
                    self.bad.append(f"{n}: {len(text)} bytes, not a complete version")

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def test_atomic_writes_under_repeated_sigkill(host, pki):
    # a long chain makes each file large, so that kills land while files are written
    filler = pki.int.public_bytes(serialization.Encoding.PEM).decode() * 150
    v1 = host.new_version(chain_extra=filler)
    v2 = host.new_version(chain_extra=filler)
    versions = {1: v1, 2: v2}
    assert host.run(reload=False).returncode == 10  # the folder starts complete (v2)
    t0 = time.monotonic()
    host.api.sql("UPDATE certificates SET current_version = 1 WHERE id = 'web'")
    assert host.run(reload=False).returncode == 10
    full_run = time.monotonic() - t0
    killed = mid_write = runs = 0
    current = 1
    rng = random.Random(5)
    with Watcher(host.out, [v1, v2]) as w:
        while runs < 300 and (mid_write < 5 or runs < 40):
            runs += 1
            current = 3 - current
            n = len(log_lines(host.serve, "cache.invalidate", "certificate:web (notify)"))
            host.api.sql("UPDATE certificates SET current_version = %s WHERE id = 'web'",
                         (current,))
            wait_log(host.serve, "cache.invalidate", "certificate:web (notify)", count=n + 1)
            before = host.files()
            proc = subprocess.Popen(host.argv(reload=False), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, full_run * 1.2))
            proc.send_signal(signal.SIGKILL)
            if proc.wait() == -signal.SIGKILL:
                killed += 1
                # a temporary file of this very process: killed while writing it
                leftovers = [f for f in os.listdir(host.out)
                             if f.endswith(f".tmp-{proc.pid}")]
                # or between two files: some changed, others not yet
                have = host.files()
                mixed = have != before and have != want_files(versions[current])
                if leftovers or mixed:
                    mid_write += 1
    print(f"\n{runs} runs, {killed} killed, {mid_write} killed while writing, "
          f"{w.reads} reads by the watcher")
    assert not w.bad, w.bad[:5]
    assert killed >= runs // 4 and mid_write >= 1, (runs, killed, mid_write)
    assert all(len(w.seen[n]) == len(w.allowed[n]) for n in FILES), \
        "the watcher did not see every version of every file"
    # the next complete run finishes the job and cleans up what the killed ones left
    p = host.run(reload=False)
    assert p.returncode in (0, 10), p.stderr
    assert host.files() == want_files(versions[current])
    assert not [f for f in os.listdir(host.out) if ".tmp-" in f]


def test_fetches_a_certificate_issued_by_the_worker(fleet, lab, certfleet):
    fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_LOG_LEVEL="debug")
    fleet.provider()
    api = fleet.api
    r = api.post("/v1/certificates", json={
        "id": "web", "domains": ["*.example.test", "example.test"],
        "dns_alias": f"example.test.{RFC}", "provider": "lab-bind", "hosts": ["web-01"]})
    assert r.status_code == 201, r.text
    job = r.json()["job"]["id"]
    keys = run(certfleet, ["token", "create", "--role", "keys", "--name", "grants"], api.env,
               check=True).stdout.strip()
    r = api.post("/v1/tokens", json={"name": "web-01", "role": "host"}, token=keys)
    d = tmpdir()
    try:
        token_file = write_token_file(d, r.json()["token"])
        out = os.path.join(d, "tls")
        argv = [certfleet, "fetch", "--server", fleet.serves[0].url, "--token-file", token_file,
                "--certificate", "web", "--out", out, "--reload", f"echo x >> {d}/reloads"]
        # asked before the worker is done, the certificate has no version yet (and the
        # cache keeps that until the version's NOTIFY)
        first = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert first.returncode in (1, 10), first.stderr
        assert fleet.wait([job], timeout=120)[job] == "issued", fleet.timeline(job)
        # two NOTIFYs: the certificate's creation, the version's commit
        wait_log(fleet.serves[0], "cache.invalidate", "certificate:web (notify)", count=2)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert p.returncode == (0 if first.returncode == 10 else 10), p.stdout + p.stderr
        if first.returncode == 1:
            assert "not-issued" in first.stderr
        with open(os.path.join(out, "fullchain.pem")) as f:
            leaf = x509.load_pem_x509_certificate(f.read().encode())
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert sorted(sans.value.get_values_for_type(x509.DNSName)) == \
            ["*.example.test", "example.test"]
        with open(os.path.join(out, "privkey.pem"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert key.public_key().public_bytes(*spki) == leaf.public_key().public_bytes(*spki)
        with open(os.path.join(d, "root.pem"), "w") as f:
            f.write(labdns.pebble_root(lab))
        v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "root.pem"),
                            "-untrusted", os.path.join(out, "chain.pem"),
                            os.path.join(out, "cert.pem")], capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
        assert subprocess.run(argv, capture_output=True, text=True).returncode == 0
        with open(os.path.join(d, "reloads")) as f:
            assert f.read() == "x\n"  # once, whichever run installed it
        # the issuance and the key fetch are in the audit trail
        events = {(e["actor"], e["action"]) for e in api.get("/v1/audit").json()["events"]}
        assert ("worker", "certificate.issued") in events
        assert ("web-01", "certificate.fetch_key") in events
        issued = api.get("/v1/audit?action=certificate.issued").json()["events"][0]
        assert issued["detail"]["job"] == job and issued["detail"]["version"] == 1
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- a folder that others could write: refused; links planted at every name ----

def _snapshot(path):
    """What must not change about a file outside the folder: its bytes, mode, owner and
    ctime (any write, chmod or chown moves it)."""
    st = os.lstat(path)
    with open(path, "rb") as f:
        return f.read(), st.st_mode, st.st_uid, st.st_gid, st.st_ctime_ns


def test_folder_writable_by_others_or_owned_by_another_user_is_refused(host):
    host.new_version()
    os.makedirs(host.out, mode=0o755)
    for mode, words in ((0o775, "writable by its group"), (0o757, "chmod go-w"),
                        (0o1777, "chmod go-w")):
        os.chmod(host.out, mode)
        p = host.run()
        assert p.returncode == 1 and words in p.stderr, (oct(mode), p.stderr)
        assert os.listdir(host.out) == [], "the agent wrote into a folder others can write"
    os.chmod(host.out, 0o755)
    os.chown(host.out, 65534, 65534)
    p = host.run()
    assert p.returncode == 1 and "belongs to uid 65534" in p.stderr, p.stderr
    assert os.listdir(host.out) == []
    assert host.reload_count() == 0
    os.chown(host.out, 0, 0)
    p = host.run()
    assert p.returncode == 10, p.stderr


def test_links_planted_at_every_name_lead_nowhere(host):
    v1 = host.new_version()
    outside = os.path.join(host.dir, "outside")
    os.makedirs(outside)
    os.makedirs(host.out, mode=0o755)
    names = list(FILES) + [".certfleet-fetch.json"]
    # old-style and random-looking temporary names, as a killed run would leave them
    tmp_names = [f".{n}.tmp-{x}" for n in names for x in ("12345", "0011223344556677")]
    victims = {}
    for name in names + tmp_names:
        target = os.path.join(outside, name.lstrip(".") + ".victim")
        with open(target, "w") as f:
            f.write("secret outside the folder: " + name + "\n")
        os.chmod(target, 0o600)
        os.symlink(target, os.path.join(host.out, name))
        victims[target] = _snapshot(target)
    p = host.run("--owner", "nobody:nogroup")
    assert p.returncode == 10, p.stdout + p.stderr
    for target, snap in victims.items():
        assert _snapshot(target) == snap, f"{target} was touched through a link"
    assert sorted(os.listdir(outside)) == sorted(os.path.basename(t) for t in victims)
    for name in names:
        st = os.lstat(os.path.join(host.out, name))
        assert stat.S_ISREG(st.st_mode), f"{name} is still a link"
    for name in FILES:
        st = os.lstat(os.path.join(host.out, name))
        assert (st.st_uid, st.st_gid) == (65534, 65534), name
    assert host.files() == want_files(v1)
    assert not [f for f in os.listdir(host.out) if ".tmp-" in f], os.listdir(host.out)
    assert "secret outside" not in p.stdout + p.stderr

    # a link at the lock: refused, and the link's (missing) target is not created
    lock = os.path.join(host.out, ".certfleet-fetch.lock")
    os.unlink(lock)
    lock_target = os.path.join(outside, "lock-victim")
    os.symlink(lock_target, lock)
    host.new_version()
    p = host.run()
    assert p.returncode == 1 and ".certfleet-fetch.lock" in p.stderr, p.stderr
    assert not os.path.exists(lock_target), "the lock was created through a link"
    assert host.files() == want_files(v1), "files were written without the lock"
    # a link to an existing file at the lock: the file is neither opened for writing nor
    # locked (its mtime and ctime stay)
    with open(lock_target, "w") as f:
        f.write("x")
    snap = _snapshot(lock_target)
    p = host.run()
    assert p.returncode == 1 and _snapshot(lock_target) == snap


# ---- a version revoked for keyCompromise: 410, exit status 5 ----

def test_revoked_version_410_exits_5(host):
    import http.server
    import json as _json
    seen = []

    class Gone(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((self.path, self.headers.get("Authorization", "")))
            body = _json.dumps({
                "type": "https://certfleet.dev/problems/revoked",
                "title": "revoked", "status": 410,
                "detail": "version 3 of web was revoked (keyCompromise); its replacement "
                          "is being issued"}).encode()
            self.send_response(410)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Gone)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        argv = [url if a == host.serve.url else a for a in host.argv()]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    finally:
        srv.shutdown()
        srv.server_close()
    assert seen and seen[0][0] == "/v1/certificates/web/bundle"
    assert p.returncode == 5, (p.returncode, p.stdout, p.stderr)
    assert "410" in p.stderr and "revoked (keyCompromise)" in p.stderr, p.stderr
    assert host.reload_count() == 0
    assert not [f for f in os.listdir(host.out) if f.endswith(".pem")]
    usage = subprocess.run([host.certfleet, "fetch"], capture_output=True, text=True)
    assert "5 revoked" in usage.stderr, usage.stderr


def test_revoked_for_key_compromise_by_the_real_server_exits_5(host):
    """The server side (h_fetch.c) answers 410 key-compromised for a current version
    revoked for keyCompromise: the agent says so, exits 5, keeps the installed files,
    and installs the replacement once it lands."""
    v1 = host.new_version()
    assert host.run().returncode == 10
    n = len(log_lines(host.serve, "cache.invalidate", "certificate:web (notify)"))
    host.api.sql("UPDATE certificate_versions SET revoked_at = now(), revocation_reason = 1 "
                 "WHERE certificate_id = 'web' AND version = %s", (v1["version"],))
    wait_log(host.serve, "cache.invalidate", "certificate:web (notify)", count=n + 1)
    p = host.run()
    assert p.returncode == 5, (p.returncode, p.stdout, p.stderr)
    assert "410" in p.stderr and "key-compromised" in p.stderr, p.stderr
    assert "revoked for keyCompromise" in p.stderr, p.stderr
    assert host.files() == want_files(v1) and host.reload_count() == 1
    v2 = host.new_version()
    p = host.run()
    assert p.returncode == 10 and host.files() == want_files(v2), p.stdout + p.stderr
