"""What the fake DNS APIs of the integration tests share (acmedns_fake.py,
cloudflare_fake.py, route53_fake.py).

- FakeServer: a ThreadingHTTPServer on a loopback address (a free port unless one is
  given), served from a daemon thread of the test process; start()/stop() or a `with`
  block. The request handler reaches the fake as self.server.fake.
- QuietHandler: a request handler that logs nothing (pytest shows failures, not
  traffic), reads a request body up to a cap, and answers with a body.
- publish_txt(lab, fqdn, values): what makes a fake's records visible to the CA:
  replaces the TXT rrset of FQDN in the lab's PowerDNS (whose zones the lab's Unbound
  serves), or deletes it when there are no values.
- standalone(): the command line of a fake run by hand or by the demo (--env, --listen),
  and serve(): print its settings as JSON and serve until interrupted.

Each fake keeps its own wire format (paths, bodies, status codes, headers); only this
scaffolding is common.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import labdns  # noqa: E402  (tests/integration, for the PowerDNS helpers)


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that logs nothing. max_body caps what read_body() reads."""

    max_body = 64 * 1024

    def log_message(self, fmt, *args):  # quiet: pytest shows failures, not traffic
        pass

    def read_body(self):
        """The request body (at most max_body bytes of it), b"" when there is none."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, self.max_body)) if length else b""

    def send_body(self, status, content_type, body):
        """Answers STATUS with BODY (bytes) of CONTENT_TYPE and its Content-Length."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, doc):
        self.send_body(status, "application/json", json.dumps(doc).encode())


class FakeServer:
    """A fake's HTTP server, in a thread of the test process: HANDLER (a QuietHandler
    subclass) serves HOST:PORT (port 0: a free one)."""

    def __init__(self, handler, host="127.0.0.1", port=0):
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        """http://HOST:PORT of the server, without a trailing slash."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def publish_txt(lab, fqdn, values, content=labdns.pdns_txt_content):
    """Replaces the TXT rrset of FQDN in the lab's PowerDNS with VALUES, each made
    PowerDNS TXT content by CONTENT (default: one quoted string), duplicates dropped,
    order kept; deletes the rrset when there are none. Raises when PowerDNS does not
    take it (a fake answers that as its API's internal error)."""
    wanted = list(dict.fromkeys(content(v) for v in values))
    labdns.pdns_txt_replace(lab, fqdn, lambda _current: wanted)


def standalone(description, add_arguments=None):
    """The command line of a fake run by hand: --env (the lab's env file) and --listen
    HOST:PORT, plus what ADD_ARGUMENTS(parser) adds. Returns (args, lab, host, port)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--env", required=True, help="the lab's env file (LAB_DIR/env)")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (0: any port)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    return args, labdns.load_env(args.env), host, int(port)


def serve(fake, settings):
    """Prints SETTINGS (what a client needs to reach the started FAKE) as JSON and
    serves until interrupted."""
    print(json.dumps(settings, indent=2), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
