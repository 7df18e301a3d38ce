"""Helpers for the fleet-operations tests (renewal, revocation, metrics, webhooks):
a lab with a short certificate lifetime, waits on job rows, a strict Prometheus
text-format parser, and a webhook receiver that checks signatures and can fail on
purpose."""
import hashlib
import hmac
import http.server
import json
import re
import threading
import time

import pytest

import labdns

# ---- a lab whose Pebble issues short-lived certificates ------------------------------


def short_lab(net, validity):
    """A fixture body: a lab on NET whose certificates live `validity` seconds."""
    directory = labdns.lab_tmpdir()
    try:
        env = labdns.lab_up(directory, net, extra_env={"LAB_CERT_VALIDITY": str(validity)})
    except Exception:
        labdns.lab_down(directory)
        raise
    return directory, env


# ---- jobs ---------------------------------------------------------------------------


def wait_for(cond, timeout, what, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def jobs_of(fleet, cert_id, kind=None):
    """[(id, kind, state, created_at epoch, data)] of a certificate, oldest first."""
    return fleet.sql("SELECT id::text, kind, state, extract(epoch FROM created_at)::float8, "
                     "data FROM jobs WHERE certificate_id = %s AND (%s::text IS NULL OR "
                     "kind = %s) ORDER BY created_at", (cert_id, kind, kind))


def version_row(fleet, cert_id, version):
    rows = fleet.sql("SELECT serial, extract(epoch FROM not_before)::float8, "
                     "extract(epoch FROM not_after)::float8, cert_pem FROM certificate_versions "
                     "WHERE certificate_id = %s AND version = %s", (cert_id, version))
    return rows[0] if rows else None


# ---- Prometheus text format 0.0.4 ------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(rf"^({_NAME})(\{{(?:{_LABEL})(?:,{_LABEL})*\}})? "
                     r"(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$")
_LABELS = re.compile(rf'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_metrics(text):
    """Parses the exposition strictly: every line is a HELP, a TYPE or a sample of
    the metric family last TYPEd; returns {name: [(labels dict, value)]} with
    histogram series under their own names (_bucket, _sum, _count). Also runs
    prometheus_client's parser when the Debian package is installed."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families, out, current = {}, {}, None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in families, f"line {n}: {name} TYPEd twice"
            families[name] = kind
            current = name
            continue
        m = _SAMPLE.match(line)
        assert m, f"line {n} is not a sample: {line!r}"
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name) if current and \
            families.get(current) == "histogram" else name
        assert base == current, f"line {n}: {name} outside its family ({current})"
        labels = dict(_LABELS.findall(m.group(2) or ""))
        out.setdefault(name, []).append((labels, float(m.group(3))))
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:  # python3-prometheus-client is optional
        return out
    parsed = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert parsed == set(out), f"prometheus_client reads other series: {parsed ^ set(out)}"
    return out


def value(metrics, name, **labels):
    """The value of the one sample of name with these labels (0 when absent)."""
    hits = [v for lab, v in metrics.get(name, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(hits) <= 1, f"{name}{labels}: {len(hits)} samples"
    return hits[0] if hits else 0.0


# ---- webhook receiver -------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST (headers, body, arrival
    time, whether its signature verified with secret) and answers the first
    fail_first attempts of each event (X-Certfleet-Delivery) with 500, then 200."""

    def __init__(self, secret, fail_first=0, port=0):
        self.secret = secret.encode()
        self.fail_first = fail_first
        self.calls = []
        self.lock = threading.Lock()
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                event_id = self.headers.get("X-Certfleet-Delivery")
                with rcv.lock:
                    n = sum(c["headers"].get("X-Certfleet-Delivery") == event_id
                            for c in rcv.calls)
                    status = 500 if n < rcv.fail_first else 200
                    rcv.calls.append({"headers": dict(self.headers), "body": body,
                                      "at": time.monotonic(), "status": status,
                                      "valid": rcv.verify(self.headers, body)})
                out = b'{"ok":true}' if status == 200 else b"try again"
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self._t = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def verify(self, headers, body):
        """The documented scheme: sha256=hex(HMAC-SHA256(secret, timestamp "." body)),
        with a timestamp no older than five minutes."""
        ts = headers.get("X-Certfleet-Timestamp", "")
        sig = headers.get("X-Certfleet-Signature", "")
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            return False
        want = "sha256=" + hmac.new(self.secret, ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, sig)

    def events(self, event=None):
        with self.lock:
            return [json.loads(c["body"]) for c in self.calls if c["status"] == 200 and
                    (event is None or c["headers"].get("X-Certfleet-Event") == event)]

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
