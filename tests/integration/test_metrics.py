"""GET /metrics: the Prometheus text format (0.0.4), parsed strictly (opslib) and by
prometheus_client's parser (Debian's python3-prometheus-client); the gauges from
the database and the counters of the process move with the jobs; route labels are
patterns, never raw paths; CERTFLEET_METRICS_AUTH=admin asks for an admin token.
Logs are JSON lines that carry the job id and the request id."""
import json

import requests

from opslib import parse_metrics, value
from service import db_url, run  # noqa: F401 (fixture)
from workerlib import RFC, fleet  # noqa: F401 (fixture)

CTYPE = "text/plain; version=0.0.4; charset=utf-8"


def scrape(serve, token=None, status=200):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    r = requests.get(serve.url + "/metrics", headers=h, timeout=10)
    assert r.status_code == status, r.text
    if status != 200:
        return r
    assert r.headers["Content-Type"] == CTYPE
    return parse_metrics(r.text)


def test_metrics_move_with_the_jobs(fleet, lab):
    s = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_METRICS_CACHE=0,
                    CERTFLEET_METRICS_DETAIL="true")
    fleet.provider()
    m0 = scrape(s)
    assert value(m0, "certfleet_database_up") == 1
    assert value(m0, "certfleet_jobs", state="issued") == 0
    assert value(m0, "certfleet_issuance_duration_seconds_count") == 0
    assert value(m0, "certfleet_scheduler_leader") == 1  # the only replica
    job = fleet.certificate("www", ["www.example.test"], f"www.example.test.{RFC}")
    assert fleet.wait([job])[job] == "issued", fleet.timeline(job)
    fleet.api.get(f"/v1/jobs/{job}")
    m1 = scrape(s)
    assert value(m1, "certfleet_jobs", state="issued") == 1
    assert value(m1, "certfleet_jobs", state="queued") == 0
    assert value(m1, "certfleet_issuance_duration_seconds_count") == 1
    assert 0 < value(m1, "certfleet_issuance_duration_seconds_sum") < 60
    buckets = [(float(lab["le"]), v) for lab, v in m1["certfleet_issuance_duration_seconds_bucket"]]
    assert buckets == sorted(buckets) and buckets[-1] == (float("inf"), 1)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets), "not cumulative"
    # Pebble's default lifetime is 5 years
    assert value(m1, "certfleet_certificate_expiry_seconds", certificate="www") > 4 * 365 * 86400
    # HTTP counters by route pattern, method and status
    assert value(m1, "certfleet_http_requests_total", route="/v1/certificates", method="POST",
                 code="201") == 1
    assert value(m1, "certfleet_http_requests_total", route="/v1/jobs/{id}", method="GET",
                 code="200") == 1
    assert value(m1, "certfleet_http_requests_total", route="/metrics", method="GET",
                 code="200") == 1
    routes = {lab["route"] for lab, _ in m1["certfleet_http_requests_total"]}
    assert not any(job in r for r in routes), routes
    requests.get(s.url + "/no/such/path", timeout=5)
    m2 = scrape(s)
    assert value(m2, "certfleet_http_requests_total", route="unmatched", method="GET",
                 code="404") == 1
    assert value(m2, "certfleet_http_requests_total", route="/metrics", method="GET",
                 code="200") == 2
    # live TXT values per target come from dns_records
    fleet.sql("INSERT INTO dns_records (provider, fqdn, value, state) VALUES "
              "('lab-bind', 'x.rfc-alias.test', 'v1', 'present'), "
              "('lab-bind', 'x.rfc-alias.test', 'v2', 'pending'), "
              "('lab-bind', 'x.rfc-alias.test', 'v3', 'removed')")
    assert value(scrape(s), "certfleet_dns_txt_live", target="x.rfc-alias.test") == 2
    fleet.sql("UPDATE dns_records SET state = 'removed'")


def test_dns_provider_errors_are_counted(fleet, lab):
    s = fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_METRICS_CACHE=0)
    fleet.provider(name="bad-bind", secret="d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCB3cm9uZyE=")
    job = fleet.certificate("www", ["www.example.test"], f"www.example.test.{RFC}",
                            provider="bad-bind")
    assert fleet.wait([job])[job] == "failed"
    m = scrape(s)
    assert value(m, "certfleet_dns_provider_errors_total", provider="bad-bind") >= 1
    assert value(m, "certfleet_jobs", state="failed") == 1


def test_metrics_cache_and_admin_auth(fleet, lab):
    s = fleet.start(CERTFLEET_WORKERS=0, CERTFLEET_METRICS_AUTH="admin",
                    CERTFLEET_METRICS_CACHE=3600)
    scrape(s, status=401)
    scrape(s, token="cf_000000000000_nope", status=401)
    host = run(fleet.certfleet, ["token", "create", "--role", "host", "--name", "web-01"],
               fleet.base, check=True).stdout.strip()
    scrape(s, token=host, status=403)
    m = scrape(s, token=fleet.token)
    assert value(m, "certfleet_jobs", state="queued") == 0
    fleet.provider()
    fleet.certificate("www", ["www.example.test"], f"www.example.test.{RFC}")
    # cached for an hour: the queued job is not seen yet, the HTTP counter is
    m = scrape(s, token=fleet.token)
    assert value(m, "certfleet_jobs", state="queued") == 0
    assert value(m, "certfleet_http_requests_total", route="/metrics", method="GET",
                 code="401") == 2


def test_logs_are_json_lines_with_job_and_request_ids(fleet, lab):
    s = fleet.start(CERTFLEET_WORKERS=1)
    fleet.provider()
    job = fleet.certificate("www", ["www.example.test"], f"www.example.test.{RFC}")
    assert fleet.wait([job])[job] == "issued"
    s.stop()
    lines = [json.loads(line) for line in s.output().splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "event", "msg"} <= set(x) for x in lines)
    claimed = [x for x in lines if x["event"] == "job.claimed"]
    assert claimed and all(x["job_id"] == job for x in claimed)
    assert any(x["event"] == "job.issued" and x["job_id"] == job for x in lines)
    reqs = [x for x in lines if x["event"] == "http.request"]
    assert reqs and all(x.get("request_id") for x in reqs)
    assert not any(x.get("job_id") for x in reqs), "a request line carries a job id"
