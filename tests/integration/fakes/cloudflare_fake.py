"""A fake Cloudflare API v4 (DNS records only) for the integration tests.

It speaks the calls certfleet's cloudflare provider makes, under /client/v4, with
Cloudflare's envelope {"success", "errors": [{"code", "message"}], "messages",
"result", "result_info": {"page", "per_page", "count", "total_count",
"total_pages"}} on every answer:

  GET    /zones?name=NAME                      the zones named exactly NAME
  POST   /zones/{zone_id}/dns_records          create; 400 code 81058 "An identical
                                               record already exists." for the same
                                               type, name and content
  GET    /zones/{zone_id}/dns_records?type=&name=&content=&page=&per_page=
                                               list, paginated (per_page is capped
                                               at max_per_page)
  DELETE /zones/{zone_id}/dns_records/{id}     404 code 81044 "Record does not
                                               exist." when unknown

Every request must carry "Authorization: Bearer <token>": otherwise 403 with code
10000 "Authentication error". An unknown zone id is 404 code 7003. Knobs:
max_per_page (Cloudflare's cap, made small to exercise pagination),
honor_content_filter (False: ignore ?content=, as a server that dropped the legacy
filter would, so a client must page and match by itself), and fail_next, a list
of (status, code, message) answers to give before serving normally.

Only TXT records are kept. So that a CA sees them, every create and delete
PUBLISHES the name's current TXT contents as its rrset in the lab's PowerDNS
(zone cf-alias.test, which the lab's Unbound serves; the rrset is deleted when
the last record goes), before the HTTP answer is sent.

Use in a test:
    with CloudflareFake(lab) as fake:
        ... fake.api_url, fake.token ...
        fake.contents("x.cf-alias.test"), fake.requests

Standalone (for the demo or by hand):
    python3 cloudflare_fake.py --env LAB_DIR/env
prints the api_url and token as JSON and serves until interrupted.
"""

import json
import secrets
import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import common  # noqa: E402  (tests/integration/fakes/common.py)

ZONE = "cf-alias.test"
PREFIX = "/client/v4"


def _envelope(result=None, errors=(), result_info=None):
    doc = {"success": not errors, "errors": [{"code": c, "message": m} for c, m in errors],
           "messages": [], "result": result}
    if result_info is not None:
        doc["result_info"] = result_info
    return doc


def _in_zone(name, zone):
    return name == zone or name.endswith("." + zone)


class _Handler(common.QuietHandler):
    server_version = "cloudflare-fake"
    max_body = 64 * 1024

    def _serve(self, method):
        fake = self.server.fake
        raw = self.read_body()
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        status, doc = fake.handle(method, url.path, query, raw,
                                  self.headers.get("Authorization", ""))
        self.send_json(status, doc)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")


class CloudflareFake(common.FakeServer):
    """The server, in a thread of the test process. Records are dicts shaped like
    Cloudflare's DNS record objects."""

    def __init__(self, lab, zones=(ZONE,), host="127.0.0.1", port=0, max_per_page=100,
                 honor_content_filter=True):
        super().__init__(_Handler, host, port)
        self.lab = lab
        self.token = secrets.token_urlsafe(30)
        self.zones = {uuid.uuid4().hex: {"name": z, "status": "active"} for z in zones}
        self.records = {}       # id -> record, in creation order
        self.requests = []      # (method, path, query dict, status) of every request
        self.max_per_page = max_per_page
        self.honor_content_filter = honor_content_filter
        self.fail_next = []     # (status, code, message) to answer first
        self._lock = threading.Lock()

    @property
    def api_url(self):
        return self.base_url + PREFIX

    def contents(self, name):
        """The contents of the TXT records at NAME, in creation order."""
        with self._lock:
            return [r["content"] for r in self.records.values() if r["name"] == name]

    def calls(self, method, suffix=""):
        """The (path, query) of the requests with METHOD whose path ends with SUFFIX."""
        with self._lock:
            return [(p, q) for m, p, q, _ in self.requests if m == method and p.endswith(suffix)]

    # ---- the API ----

    def handle(self, method, path, query, raw, authorization):
        with self._lock:
            try:
                status, doc = self._dispatch(method, path, query, raw, authorization)
            except Exception as e:  # noqa: BLE001 (PowerDNS down: an internal error)
                status, doc = 500, _envelope(errors=[(10001, f"internal: {str(e)[:200]}")])
            self.requests.append((method, path, query, status))
            return status, doc

    def _dispatch(self, method, path, query, raw, authorization):
        if self.fail_next:
            status, code, message = self.fail_next.pop(0)
            return status, _envelope(errors=[(code, message)])
        if not secrets.compare_digest(authorization.encode(), f"Bearer {self.token}".encode()):
            return 403, _envelope(errors=[(10000, "Authentication error")])
        if not path.startswith(PREFIX + "/"):
            return 404, _envelope(errors=[(7000, "No route for that URI")])
        parts = path[len(PREFIX) + 1:].split("/")
        if parts == ["zones"] and method == "GET":
            return self._list_zones(query)
        if len(parts) < 3 or parts[0] != "zones" or parts[2] != "dns_records":
            return 404, _envelope(errors=[(7000, "No route for that URI")])
        zone_id = parts[1]
        if zone_id not in self.zones:
            return 404, _envelope(errors=[(7003, "Could not route to /zones/" + zone_id +
                                           ", perhaps your object identifier is invalid?")])
        if len(parts) == 3 and method == "POST":
            return self._create(zone_id, raw)
        if len(parts) == 3 and method == "GET":
            return self._list_records(zone_id, query)
        if len(parts) == 4 and method == "DELETE":
            return self._delete(zone_id, parts[3])
        return 405, _envelope(errors=[(10405, "Method not allowed")])

    def _page(self, items, query):
        try:
            page = max(1, int(query.get("page", "1")))
            per_page = max(1, min(int(query.get("per_page", "100")), self.max_per_page))
        except ValueError:
            return None
        total = len(items)
        pages = max(1, (total + per_page - 1) // per_page)
        chunk = items[(page - 1) * per_page:page * per_page]
        return chunk, {"page": page, "per_page": per_page, "count": len(chunk),
                       "total_count": total, "total_pages": pages}

    def _list_zones(self, query):
        name = query.get("name")
        zones = [{"id": i, "name": z["name"], "status": z["status"]}
                 for i, z in self.zones.items() if name is None or z["name"] == name.lower()]
        paged = self._page(zones, query)
        if paged is None:
            return 400, _envelope(errors=[(1001, "Invalid page or per_page")])
        return 200, _envelope(paged[0], result_info=paged[1])

    def _create(self, zone_id, raw):
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, _envelope(errors=[(9207, "Request body is invalid.")])
        zone = self.zones[zone_id]["name"]
        name = str(body.get("name", "")).lower().rstrip(".")
        content, ttl = body.get("content"), body.get("ttl", 1)
        if body.get("type") != "TXT":
            return 400, _envelope(errors=[(9000, "the fake keeps TXT records only")])
        if not _in_zone(name, zone):
            return 400, _envelope(errors=[(9005, f"{name} is not in zone {zone}")])
        if not isinstance(content, str) or not content or len(content) > 2048:
            return 400, _envelope(errors=[(9009, "content must be 1-2048 characters")])
        if not isinstance(ttl, int) or (ttl != 1 and not 30 <= ttl <= 86400):
            return 400, _envelope(errors=[(9020, "Invalid TTL. Must be between 30 and "
                                                 "86400 seconds, or 1 for Automatic.")])
        for r in self.records.values():
            if r["zone_id"] == zone_id and r["name"] == name and r["content"] == content:
                return 400, _envelope(errors=[(81058, "An identical record already exists.")])
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        record = {"id": uuid.uuid4().hex, "zone_id": zone_id, "zone_name": zone, "name": name,
                  "type": "TXT", "content": content, "proxiable": False, "proxied": False,
                  "ttl": ttl, "locked": False, "meta": {}, "created_on": now,
                  "modified_on": now}
        self.records[record["id"]] = record
        self._publish(name)
        return 200, _envelope(record)

    def _list_records(self, zone_id, query):
        def keep(r):
            return (r["zone_id"] == zone_id
                    and query.get("type", r["type"]) == r["type"]
                    and query.get("name", r["name"]).lower().rstrip(".") == r["name"]
                    and (not self.honor_content_filter
                         or query.get("content", r["content"]) == r["content"]))
        paged = self._page([r for r in self.records.values() if keep(r)], query)
        if paged is None:
            return 400, _envelope(errors=[(1001, "Invalid page or per_page")])
        return 200, _envelope(paged[0], result_info=paged[1])

    def _delete(self, zone_id, record_id):
        record = self.records.get(record_id)
        if record is None or record["zone_id"] != zone_id:
            return 404, _envelope(errors=[(81044, "Record does not exist.")])
        del self.records[record_id]
        self._publish(record["name"])
        return 200, _envelope({"id": record_id})

    def _publish(self, name):
        """Replaces the TXT rrset of NAME in PowerDNS with the contents the fake holds
        (deletes it when there are none). Called with the lock held, so PowerDNS sees
        the changes in order."""
        common.publish_txt(self.lab, name, (r["content"] for r in self.records.values()
                                            if r["name"] == name))


def main():
    _args, lab, host, port = common.standalone(__doc__.split("\n")[0])
    fake = CloudflareFake(lab, host=host, port=port).start()
    common.serve(fake, {"api_url": fake.api_url, "api_token": fake.token})


if __name__ == "__main__":
    main()
