"""No anonymous client can starve the fetch path (issue 12), and the smaller items of
the same review: per-address and total connection limits, an absolute request deadline
that trickling bytes do not move, answers decided from the headers before any body is
read, the negative cache of unknown token ids with its per-address budget (counted in
pg_stat_statements: a flood of fake ids does not reach the database per request and
does not evict real rows), /readyz cached for a second, a pool acquire that times out
into a 503 problem, 503 bodies without libpq's connection details, who may read
/metrics and when it shows certificate ids, and invalid UTF-8 in a path or header.

Clients bind to their own loopback source addresses (all of 127/8 is local) so that
"another address" is real to the server."""
import http.client
import json
import secrets
import socket
import threading
import time

import psycopg2
import pytest
import requests

from openapi import _start
from service import Serve, db_url, poll  # noqa: F401 (fixture)

PROBLEM = "application/problem+json"


def src(lab, n):
    """A loopback source address of the lab's NET that no server listens on."""
    return f"{lab['LAB_NET']}.{n}"


def get_from(serve, ip, path, token=None, timeout=10):
    """GET path from source address ip: (status, headers, body)."""
    host, port = serve.url.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=timeout, source_address=(ip, 0))
    try:
        h = {"Authorization": f"Bearer {token}"} if token else {}
        c.request("GET", path, headers=h)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def connect_from(serve, ip):
    host, port = serve.url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10, source_address=(ip, 0))
    return s


def closed_by_server(s, timeout):
    """True when the server closes s (EOF or reset) within timeout seconds, having
    sent nothing."""
    s.settimeout(timeout)
    try:
        data = s.recv(4096)
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    assert data == b"", f"the server answered: {data[:200]!r}"
    return True


def fake_token():
    return f"cf_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"


def stats_sql(url, like):
    """Calls of this database's statements whose text matches like (pg_stat_statements,
    schema lab_stats)."""
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute("SELECT coalesce(sum(calls), 0) FROM lab_stats.pg_stat_statements s "
                    "JOIN pg_database d ON d.oid = s.dbid "
                    "WHERE d.datname = current_database() AND s.query ILIKE %s", (like,))
        n = cur.fetchone()[0]
    c.close()
    return int(n)


TOKEN_LOOKUP = "%FROM tokens WHERE id%"


@pytest.fixture
def start(certfleet, db_url):  # noqa: F811
    """start(**settings): serve on a fresh database with an admin token (s.admin);
    listen_ip picks the listening address. Stopped after the test."""
    running = []

    def go(listen_ip="127.0.0.1", **settings):
        env, token = _start(certfleet, db_url, **settings)
        s = Serve(certfleet, env, listen_ip=listen_ip).__enter__()
        running.append(s)
        s.admin, s.db_url, s.env = token, db_url, env
        return s
    yield go
    for s in running:
        s.__exit__(None, None, None)


def host_token(s, name="web-01"):
    from service import run
    return run(s.certfleet, ["token", "create", "--role", "host", "--name", name], s.env,
               check=True).stdout.strip()


# ---- connections ----

def test_connection_limit_per_address(start, lab):
    svc = start(CERTFLEET_MAX_CONNECTIONS_PER_IP=4)
    a, b = src(lab, 101), src(lab, 102)
    held = [connect_from(svc, a) for _ in range(4)]
    for h in held:
        h.sendall(b"GET /healthz HTTP/1.1\r\n")  # headers never finished
    try:
        extra = connect_from(svc, a)
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            pass
        assert closed_by_server(extra, 5), "the 5th connection from one address was served"
        extra.close()
        # another address is served meanwhile
        st, _, body = get_from(svc, b, "/healthz")
        assert st == 200 and json.loads(body)["status"] == "alive"
    finally:
        for h in held:
            h.close()
    # the address is served again once its connections are gone
    poll(lambda: get_from(svc, a, "/healthz")[0] == 200, what="address served again")


def test_total_connection_limit(start, lab):
    # at the limit, libmicrohttpd stops accepting: a further connection waits in the
    # listen backlog, unanswered, until one of the others is gone
    svc = start(CERTFLEET_MAX_CONNECTIONS=3)
    held = [connect_from(svc, src(lab, 120 + i)) for i in range(3)]
    for h in held:
        h.sendall(b"GET /healthz HTTP/1.1\r\n")
    extra = connect_from(svc, src(lab, 125))
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    extra.settimeout(2)
    try:
        with pytest.raises(socket.timeout):
            data = extra.recv(4096)
            pytest.fail(f"a 4th connection was served: {data[:100]!r}")
        for h in held:
            h.close()
        held = []
        extra.settimeout(10)
        assert extra.recv(4096).startswith(b"HTTP/1.1 200"), "not served once a slot freed"
    finally:
        extra.close()
        for h in held:
            h.close()


def test_trickling_client_is_cut_at_the_deadline(start, lab):
    svc = start(CERTFLEET_REQUEST_TIMEOUT=2)
    s = connect_from(svc, src(lab, 103))
    t0 = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\n")
    cut_at = None
    s.settimeout(0.4)
    while time.monotonic() - t0 < 8:
        try:
            s.sendall(b"X-a: b\r\n")  # a header line every 0.4 s: never idle
            data = s.recv(4096)
            assert data == b"", f"the server answered: {data[:200]!r}"
            cut_at = time.monotonic() - t0
            break
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            cut_at = time.monotonic() - t0
            break
    s.close()
    assert cut_at is not None, "a client trickling headers kept its connection for 8 s"
    assert 1.5 <= cut_at <= 4, cut_at
    assert "connection(s) cut" in poll(lambda: "connection(s) cut" in svc.output()
                                       and svc.output(), what="the cut's log line")
    # a keep-alive client that gets its answers in time is not cut
    with requests.Session() as sess:
        for _ in range(4):
            assert sess.get(svc.url + "/healthz", timeout=5).status_code == 200
            time.sleep(0.9)  # 3.6 s in all on one connection, each request answered


# ---- decided from the headers, before any body ----

def raw_request(svc, lab, head, body_part=b"", n=104):
    s = connect_from(svc, src(lab, n))
    s.sendall(head + body_part)
    s.settimeout(5)
    t0 = time.monotonic()
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < data.find(b"\r\n\r\n") + 4 + \
                int(dict(l.split(b": ", 1) for l in data.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]
                         if b": " in l).get(b"Content-Length", b"0")):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    finally:
        s.close()
    took = time.monotonic() - t0
    assert data, "no answer before the body was sent"
    head_b, _, body = data.partition(b"\r\n\r\n")
    status = int(head_b.split(b" ")[1])
    headers = {k.lower(): v for k, v in (l.decode().split(": ", 1)
                                          for l in head_b.split(b"\r\n")[1:])}
    return status, headers, body, took


def test_body_on_a_get_route_refused_at_once(start, lab):
    svc = start()
    st, h, body, took = raw_request(
        svc, lab, b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n",
        b"x" * 1000)
    assert st == 400 and h["content-type"] == PROBLEM
    assert json.loads(body)["field"] == "body"
    assert took < 2
    st, h, body, _ = raw_request(
        svc, lab, b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"10\r\n0123456789abcdef\r\n")
    assert st == 400 and json.loads(body)["field"] == "body"


def test_bearer_checked_before_the_body(start, lab):
    svc = start()
    # 1 MB announced, 1 kB sent: the answer comes without the rest
    head = (b"POST /v1/certificates HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n")
    for auth in (b"", b"Authorization: Bearer not-a-token\r\n",
                 b"Authorization: Basic YTpi\r\n"):
        st, h, body, took = raw_request(svc, lab, head + auth + b"\r\n", b"{" + b" " * 1000)
        assert st == 401 and h["content-type"] == PROBLEM, body
        assert took < 2
    # an unknown path is answered without its body too
    st, _, body, _ = raw_request(svc, lab, b"POST /v1/nothing-here HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: 1000000\r\n\r\n", b"x" * 100)
    assert st == 404 and json.loads(body)["status"] == 404


# ---- unknown token ids ----

def test_fake_token_flood_does_not_reach_the_database(start, lab):
    svc = start()
    host = host_token(svc)
    # the real host's row is cached (its first fetch records the use, whose NOTIFY
    # drops the row once; then a fetch costs no look-up; 404: no such certificate)

    def fetch_is_cached():
        n = stats_sql(svc.db_url, TOKEN_LOOKUP)
        assert get_from(svc, src(lab, 110), "/v1/certificates/web/cert.pem", host)[0] == 404
        return stats_sql(svc.db_url, TOKEN_LOOKUP) == n
    poll(fetch_is_cached, what="the host's token row cached")
    before = stats_sql(svc.db_url, TOKEN_LOOKUP)
    flooder = src(lab, 111)
    codes = {}
    host_, port = svc.url.split("//")[1].split(":")
    c = http.client.HTTPConnection(host_, int(port), timeout=10, source_address=(flooder, 0))
    n = 600
    for _ in range(n):
        c.request("GET", "/v1/certificates/web/cert.pem",
                  headers={"Authorization": f"Bearer {fake_token()}"})
        r = c.getresponse()
        r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
    c.close()
    lookups = stats_sql(svc.db_url, TOKEN_LOOKUP) - before
    assert set(codes) <= {401, 429} and codes.get(429, 0) > 0, codes
    # the address's budget: a burst, then a few a second; never one per request
    assert lookups <= 100 + 20 * 10, (lookups, codes)
    assert lookups < n / 2, (lookups, codes)
    # one fake id repeated: looked up once
    fake = fake_token()
    before = stats_sql(svc.db_url, TOKEN_LOOKUP)
    for _ in range(50):
        st, _, body = get_from(svc, src(lab, 112), "/v1/whoami", fake)
        assert st == 401 and json.loads(body)["detail"] == "the token is not valid"
    assert stats_sql(svc.db_url, TOKEN_LOOKUP) - before <= 1
    # the real row was not evicted: its next fetch costs no look-up; another address
    # is not refused for the flooder's budget
    before = stats_sql(svc.db_url, TOKEN_LOOKUP)
    st, _, _ = get_from(svc, src(lab, 113), "/v1/certificates/web/cert.pem", host)
    assert st == 404
    assert stats_sql(svc.db_url, TOKEN_LOOKUP) == before
    m = requests.get(svc.url + "/metrics", timeout=10).text
    assert 'certfleet_unknown_tokens_total{result="refused"}' in m


def test_a_token_created_after_its_id_was_refused_works(start, lab):
    svc = start()
    # ids are drawn by the service: fake the rare case by creating a token, learning
    # its id, deleting the row, asking (the id is now known absent), then restoring it;
    # the restore's NOTIFY must drop the id from the negative cache
    host = host_token(svc, "web-02")
    tid = host.split("_")[1]
    with psycopg2.connect(svc.db_url) as c, c.cursor() as cur:
        cur.execute("CREATE TABLE saved AS SELECT * FROM tokens WHERE id = %s", (tid,))
        cur.execute("DELETE FROM tokens WHERE id = %s", (tid,))
    c.close()
    assert get_from(svc, src(lab, 114), "/v1/whoami", host)[0] == 401
    with psycopg2.connect(svc.db_url) as c, c.cursor() as cur:
        cur.execute("INSERT INTO tokens SELECT * FROM saved")
    c.close()
    poll(lambda: get_from(svc, src(lab, 114), "/v1/certificates/x/cert.pem", host)[0] == 404,
         what="the restored token accepted")


# ---- /readyz, the pool, 503 bodies ----

def test_readyz_is_cached_for_a_second(start):
    svc = start()
    before = stats_sql(svc.db_url, "%max(version)%schema_migrations%")
    t0 = time.monotonic()
    for _ in range(40):
        r = requests.get(svc.url + "/readyz", timeout=5)
        assert r.status_code == 200 and r.json()["status"] == "ready"
    took = time.monotonic() - t0
    asked = stats_sql(svc.db_url, "%max(version)%schema_migrations%") - before
    assert asked <= int(took) + 2, (asked, took)


def test_pool_exhaustion_answers_503(start, lab):
    svc = start(CERTFLEET_DB_POOL=1, CERTFLEET_DB_ACQUIRE_TIMEOUT_MS=300)
    admin = svc.admin
    hold = psycopg2.connect(svc.db_url)
    cur = hold.cursor()
    cur.execute("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE")  # the lookup will wait
    blocked = {}

    def first():
        try:
            blocked["r"] = requests.get(svc.url + "/v1/certificates", timeout=20,
                                        headers={"Authorization": f"Bearer {admin}"})
        except requests.RequestException as e:
            blocked["r"] = e
    t = threading.Thread(target=first)
    t.start()
    try:
        poll(lambda: stats_waiting(lab, svc.db_url), what="the first request waiting on the lock")
        t0 = time.monotonic()
        r = requests.get(svc.url + "/v1/certificates", timeout=10,
                         headers={"Authorization": f"Bearer {admin}"})
        took = time.monotonic() - t0
        assert r.status_code == 503 and r.headers["Content-Type"] == PROBLEM, r.text
        assert r.json()["type"].endswith("/database-unavailable")
        assert r.headers.get("Retry-After") == "1"
        assert took < 3
        assert "5432" not in r.text and lab["LAB_NET"] not in r.text
    finally:
        hold.rollback()
        hold.close()
        t.join()
    assert blocked["r"].status_code == 200


def stats_waiting(lab, url):
    name = url.rsplit("/", 1)[1]
    with psycopg2.connect(lab["LAB_PG_URL"]) as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND wait_event_type = 'Lock'", (name,))
        n = cur.fetchone()[0]
    c.close()
    return n > 0


def test_503_bodies_carry_no_libpq_details(start, lab):
    svc = start()
    name = svc.db_url.rsplit("/", 1)[1]
    fake = fake_token()
    with psycopg2.connect(lab["LAB_PG_URL"]) as c, c.cursor() as cur:
        c.autocommit = True
        cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    c.close()
    try:
        def answer_503(path, **kw):  # a list: a Response of status >= 400 is falsy
            r = requests.get(svc.url + path, timeout=10, **kw)
            return [r] if r.status_code == 503 else None
        r = poll(lambda: answer_503("/readyz"), what="/readyz 503")[0]
        assert r.headers["Content-Type"] == PROBLEM
        w = poll(lambda: answer_503("/v1/whoami", headers={"Authorization": f"Bearer {fake}"}),
                 what="/v1/whoami 503")[0]
        for resp in (r, w):
            text = resp.text
            for leak in ("5432", lab["LAB_NET"], "connection to server", "FATAL", name):
                assert leak not in text, (leak, text)
            assert resp.json()["status"] == 503
        # the details are in the log, for the operator
        assert "not currently accepting connections" in svc.output() or \
            "FATAL" in svc.output()
    finally:
        with psycopg2.connect(lab["LAB_PG_URL"]) as c, c.cursor() as cur:
            c.autocommit = True
            cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        c.close()


# ---- /metrics ----

def test_metrics_need_an_admin_token_off_loopback(start, lab):
    svc = start(listen_ip="0.0.0.0")
    url = svc.url.replace("0.0.0.0", "127.0.0.1") + "/metrics"
    r = requests.get(url, timeout=10)
    assert r.status_code == 401 and r.headers["Content-Type"] == PROBLEM
    r = requests.get(url, timeout=10, headers={"Authorization": f"Bearer {host_token(svc)}"})
    assert r.status_code == 403
    r = requests.get(url, timeout=10, headers={"Authorization": f"Bearer {svc.admin}"})
    assert r.status_code == 200 and "certfleet_database_up 1" in r.text


def test_metrics_auth_none_is_explicit(start):
    svc = start(listen_ip="0.0.0.0", CERTFLEET_METRICS_AUTH="none")
    r = requests.get(svc.url.replace("0.0.0.0", "127.0.0.1") + "/metrics", timeout=10)
    assert r.status_code == 200


def add_issued_certificate(url, cid):
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute("INSERT INTO certificates (id, domains, provider, key_type) "
                    "VALUES (%s, '{x.example.test}', '\"p\"', 'ec256')", (cid,))
        cur.execute("INSERT INTO certificate_versions (certificate_id, version, serial, "
                    "not_before, not_after, cert_pem, chain_pem, key_sealed, etag) VALUES "
                    "(%s, 1, '01', now(), now() + interval '10 days', 'c', 'c', '\\x00', 'e')",
                    (cid,))
        cur.execute("UPDATE certificates SET current_version = 1 WHERE id = %s", (cid,))
    c.close()


def test_metrics_show_certificate_ids_only_with_detail(start, certfleet):
    svc = start(CERTFLEET_METRICS_CACHE=0)
    add_issued_certificate(svc.db_url, "secret-project-x")
    r = requests.get(svc.url + "/metrics", timeout=10)  # loopback: no token needed
    assert r.status_code == 200
    assert "secret-project-x" not in r.text
    assert "certfleet_certificates_current 1" in r.text
    soonest = [l for l in r.text.splitlines()
               if l.startswith("certfleet_certificate_expiry_min_seconds ")]
    assert soonest and 9 * 86400 < float(soonest[0].split()[1]) <= 10 * 86400
    env = dict(svc.env, CERTFLEET_METRICS_DETAIL="true")
    env.pop("CERTFLEET_LISTEN", None)
    with Serve(certfleet, env) as s2:
        r = requests.get(s2.url + "/metrics", timeout=10)
        assert 'certfleet_certificate_expiry_seconds{certificate="secret-project-x"}' in r.text


# ---- invalid UTF-8 ----

def test_invalid_utf8_path_gets_a_404_with_a_body_and_a_log_line(start, lab):
    svc = start(CERTFLEET_LOG_LEVEL="debug")
    r = requests.get(svc.url + "/v1/%FF%FEno-such", timeout=10,
                     headers={"X-Odd": b"\xff\xfe".decode("latin-1")})
    assert r.status_code == 404 and r.headers["Content-Type"] == PROBLEM
    assert r.json()["status"] == 404 and "no-such" in r.json()["detail"]
    rid = r.headers["X-Request-Id"]
    line = poll(lambda: [json.loads(l) for l in svc.output().splitlines()
                         if rid in l and '"http.request"' in l], what="the request's log line")
    assert " 404 " in line[0]["msg"] and "no-such" in line[0]["msg"]
    # a token route with an invalid UTF-8 bearer: a 401 with its body
    r = requests.get(svc.url + "/v1/whoami", timeout=10,
                     headers={"Authorization": b"Bearer cf_\xff\xfe".decode("latin-1")})
    assert r.status_code == 401 and r.json()["status"] == 401
