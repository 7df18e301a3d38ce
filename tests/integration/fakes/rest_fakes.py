"""Fakes of the records APIs of the second wave of DNS providers, for the integration
tests: DigitalOcean v2, Hetzner DNS v1, OVH v1, Gandi LiveDNS v5, Linode v4, deSEC v1,
and lego's HTTPREQ convention. One small class per API on one shared base.

Each fake speaks the calls certfleet's provider makes, in the API's documented wire
format (paths, bodies, status codes, error bodies), checks authentication the way the
real API does (a wrong credential gets that API's status and error body; OVH checks the
application key, the consumer key, the timestamp against its own clock and the
signature), and PUBLISHES the TXT values it holds at a name into the lab's PowerDNS
(zone P-alias.test, which the lab's Unbound serves) before it answers, so that Pebble
validates through it for real. OVH publishes on POST .../refresh only, as OVH does.

What every fake keeps for the tests:
  values(name)   the TXT values held at NAME (unquoted), in creation order
  requests       (monotonic time, method, path, query dict, status) of every request
  fail_next      [(status, body)] answered first, before anything else

Use in a test:
    with DesecFake(lab) as fake:
        ... fake.api_url, fake.token ... fake.values("x.desec-alias.test")

Standalone:  python3 rest_fakes.py --env LAB_DIR/env --api desec
prints the settings as JSON and serves until interrupted.
"""

import base64
import fnmatch
import hashlib
import hmac
import itertools
import json
import secrets
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import common  # noqa: E402  (tests/integration/fakes/common.py)


def unquote_txt(content):
    """The value zone-file TXT text (one or more "..." strings, \\X and \\DDD escapes)
    stands for; content without a leading quote is the value itself."""
    if not content.startswith('"'):
        return content
    out, i, quoted = bytearray(), 0, False
    raw = content.encode()
    while i < len(raw):
        c = raw[i]
        if c == 0x22:
            quoted = not quoted
        elif c == 0x5C and i + 1 < len(raw):
            if raw[i + 1:i + 4].isdigit() and len(raw[i + 1:i + 4]) == 3:
                out.append(int(raw[i + 1:i + 4]))
                i += 3
            else:
                out.append(raw[i + 1])
                i += 1
        elif quoted:
            out.append(c)
        i += 1
    return out.decode(errors="replace")


class _Handler(common.QuietHandler):
    server_version = "rest-fake"

    def _serve(self):
        fake = self.server.fake
        raw = self.read_body()
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        status, headers, body = fake.handle(self.command, self.path, url.path, query,
                                            self.headers, raw)
        if body is None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(body, bytes)
                         else "text/plain")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815


class RestFake(common.FakeServer):
    """The shared base: a store of TXT contents per name, the request log, fail_next,
    and publishing. Subclasses set PREFIX (the API's path prefix), KIND (the zone is
    KIND-alias.test), QUOTED (contents are zone-file text) and write route()."""

    PREFIX = ""
    KIND = ""
    QUOTED = False

    def __init__(self, lab, zones=None, host="127.0.0.1", port=0):
        super().__init__(_Handler, host, port)
        self.lab = lab
        self.token = secrets.token_urlsafe(30)
        self.zones = list(zones or [f"{self.KIND}-alias.test"])
        self.store = {}     # fqdn -> [{"id", "content", "ttl"}] in creation order
        self.requests = []  # (monotonic time, method, path, query, status)
        self.fail_next = []
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()

    @property
    def api_url(self):
        return self.base_url + self.PREFIX

    def values(self, name):
        """The values held at NAME, unquoted, in creation order."""
        with self._lock:
            return [unquote_txt(r["content"]) for r in self.store.get(name.lower(), [])]

    def calls(self, method, contains=""):
        with self._lock:
            return [(p, q) for _, m, p, q, _ in self.requests if m == method and contains in p]

    # ---- the request cycle ----

    def handle(self, method, raw_path, path, query, headers, raw):
        with self._lock:
            try:
                if self.fail_next:
                    status, body = self.fail_next.pop(0)
                    out = (status, {}, body)
                else:
                    out = self.route(method, raw_path, path, query, headers, raw)
            except Exception as e:  # noqa: BLE001 (PowerDNS down: the API's 500)
                out = (500, {}, {"message": f"internal: {str(e)[:200]}"})
            self.requests.append((time.monotonic(), method, path, query, out[0]))
            return out

    def route(self, method, raw_path, path, query, headers, raw):
        raise NotImplementedError

    # ---- helpers for the subclasses (called with the lock held) ----

    def parts(self, path):
        """The path below PREFIX as a list of unquoted segments, or None."""
        if not path.startswith(self.PREFIX + "/"):
            return None
        return [unquote(p) for p in path[len(self.PREFIX) + 1:].split("/")]

    def zone_of(self, name):
        name = name.lower().rstrip(".")
        return next((z for z in self.zones if name == z or name.endswith("." + z)), None)

    @staticmethod
    def fqdn(sub, zone):
        return zone if sub in ("", "@") else f"{sub}.{zone}".lower()

    @staticmethod
    def sub(fqdn, zone):
        return "" if fqdn == zone else fqdn[:-len(zone) - 1]

    def add(self, fqdn, content, ttl):
        rec = {"id": next(self._ids), "content": content, "ttl": ttl}
        self.store.setdefault(fqdn, []).append(rec)
        self.publish(fqdn)
        return rec

    def find(self, rid):
        for fqdn, recs in self.store.items():
            for r in recs:
                if str(r["id"]) == str(rid):
                    return fqdn, r
        return None, None

    def drop(self, rid):
        fqdn, rec = self.find(rid)
        if rec is None:
            return False
        self.store[fqdn].remove(rec)
        if not self.store[fqdn]:
            del self.store[fqdn]
        self.publish(fqdn)
        return True

    def replace(self, fqdn, contents, ttl):
        if contents:
            self.store[fqdn] = [{"id": next(self._ids), "content": c, "ttl": ttl}
                                for c in contents]
        else:
            self.store.pop(fqdn, None)
        self.publish(fqdn)

    def publish(self, fqdn):
        """Replaces NAME's TXT rrset in PowerDNS with the values held (deletes it when
        there are none)."""
        common.publish_txt(self.lab, fqdn, [unquote_txt(r["content"])
                                            for r in self.store.get(fqdn, [])])

    def body(self, raw):
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None


# ---- DigitalOcean API v2 ----

class DigitalOceanFake(RestFake):
    """GET /v2/domains/{zone}; GET|POST /v2/domains/{zone}/records (?type=&name= with the
    full name, page, per_page); DELETE /v2/domains/{zone}/records/{id}. A bad bearer
    token: 401 {"id": "Unauthorized", "message": "Unable to authenticate you"}."""

    PREFIX = "/v2"
    KIND = "do"

    NOT_FOUND = {"id": "not_found",
                 "message": "The resource you were accessing could not be found."}

    def route(self, method, raw_path, path, query, headers, raw):
        if headers.get("Authorization", "") != f"Bearer {self.token}":
            return 401, {}, {"id": "Unauthorized", "message": "Unable to authenticate you"}
        p = self.parts(path)
        if not p or p[0] != "domains" or len(p) < 2 or p[1] not in self.zones:
            return 404, {}, self.NOT_FOUND
        zone = p[1]
        if len(p) == 2 and method == "GET":
            return 200, {}, {"domain": {"name": zone, "ttl": 1800, "zone_file": ""}}
        if p[2:] == ["records"] and method == "GET":
            return self._list(zone, query)
        if p[2:] == ["records"] and method == "POST":
            return self._create(zone, self.body(raw))
        if len(p) == 4 and p[2] == "records" and method == "DELETE":
            return (204, {}, None) if self.drop(p[3]) else (404, {}, self.NOT_FOUND)
        return 405, {}, {"id": "method_not_allowed", "message": "Method Not Allowed"}

    def _rec(self, fqdn, zone, r):
        return {"id": r["id"], "type": "TXT", "name": self.sub(fqdn, zone) or "@",
                "data": r["content"], "priority": None, "port": None, "ttl": r["ttl"],
                "weight": None, "flags": None, "tag": None}

    def _list(self, zone, query):
        recs = [self._rec(f, zone, r) for f, rs in self.store.items() if self.zone_of(f) == zone
                for r in rs if query.get("name", f) == f and query.get("type", "TXT") == "TXT"]
        page, per = int(query.get("page", 1)), min(int(query.get("per_page", 20)), 200)
        return 200, {}, {"domain_records": recs[(page - 1) * per:page * per], "links": {},
                         "meta": {"total": len(recs)}}

    def _create(self, zone, b):
        if not isinstance(b, dict) or b.get("type") != "TXT" or not b.get("data"):
            return 422, {}, {"id": "unprocessable_entity", "message": "Data needs to be set"}
        if not isinstance(b.get("ttl"), int) or b["ttl"] < 30:
            return 422, {}, {"id": "unprocessable_entity",
                             "message": "Ttl must be greater than or equal to 30"}
        fqdn = self.fqdn(b.get("name", "@"), zone)
        rec = self.add(fqdn, b["data"], b["ttl"])
        return 201, {}, {"domain_record": self._rec(fqdn, zone, rec)}


# ---- Hetzner DNS API v1 ----

class HetznerFake(RestFake):
    """GET /api/v1/zones?name=; GET /api/v1/records?zone_id= (page, per_page, with
    meta.pagination); POST /api/v1/records; DELETE /api/v1/records/{id}. Auth-API-Token
    missing or wrong: 401 {"message": "Invalid authentication credentials"}."""

    PREFIX = "/api/v1"
    KIND = "hetzner"

    def __init__(self, lab, **kw):
        super().__init__(lab, **kw)
        self.zone_ids = {z: uuid.uuid4().hex[:22] for z in self.zones}
        self.max_per_page = 100

    def route(self, method, raw_path, path, query, headers, raw):
        if headers.get("Auth-API-Token", "") != self.token:
            return 401, {}, {"message": "Invalid authentication credentials"}
        p = self.parts(path)
        if p == ["zones"] and method == "GET":
            zones = [{"id": i, "name": z, "ttl": 86400, "status": "verified"}
                     for z, i in self.zone_ids.items() if query.get("name", z) == z]
            if not zones:
                return 404, {}, {"zones": [], "error": {"message": "zone not found",
                                                        "code": 404}}
            return 200, {}, {"zones": zones, "meta": self._meta(1, 100, len(zones))}
        if p == ["records"] and method == "GET":
            return self._list(query)
        if p == ["records"] and method == "POST":
            return self._create(self.body(raw))
        if p and len(p) == 2 and p[0] == "records" and method == "DELETE":
            if self.drop(p[1]):
                return 200, {}, {}
            return 404, {}, {"record": {}, "error": {"message": "record not found",
                                                     "code": 404}}
        return 404, {}, {"message": "not found"}

    @staticmethod
    def _meta(page, per, total):
        return {"pagination": {"page": page, "per_page": per,
                               "last_page": max(1, (total + per - 1) // per),
                               "total_entries": total}}

    def _zone_by_id(self, zid):
        return next((z for z, i in self.zone_ids.items() if i == zid), None)

    def _rec(self, fqdn, zone, r):
        return {"id": str(r["id"]), "type": "TXT", "name": self.sub(fqdn, zone) or "@",
                "value": r["content"], "zone_id": self.zone_ids[zone], "ttl": r["ttl"]}

    def _list(self, query):
        zone = self._zone_by_id(query.get("zone_id"))
        if zone is None:
            return 404, {}, {"records": [], "error": {"message": "zone not found",
                                                      "code": 404}}
        recs = [self._rec(f, zone, r) for f, rs in self.store.items()
                if self.zone_of(f) == zone for r in rs]
        page = int(query.get("page", 1))
        per = min(int(query.get("per_page", 100)), self.max_per_page)
        return 200, {}, {"records": recs[(page - 1) * per:page * per],
                         "meta": self._meta(page, per, len(recs))}

    def _create(self, b):
        zone = self._zone_by_id((b or {}).get("zone_id"))
        if zone is None or b.get("type") != "TXT" or not b.get("value") or "name" not in b:
            return 422, {}, {"record": {}, "error": {"message": "invalid record",
                                                     "code": 422}}
        fqdn = self.fqdn(b["name"], zone)
        rec = self.add(fqdn, b["value"], b.get("ttl", 86400))
        return 200, {}, {"record": self._rec(fqdn, zone, rec)}


# ---- Linode API v4 ----

class LinodeFake(RestFake):
    """GET /v4/domains (paged: data, page, pages, results); GET|POST
    /v4/domains/{id}/records; DELETE /v4/domains/{id}/records/{rid}. A bad bearer token:
    401 {"errors": [{"reason": "Invalid Token"}]}."""

    PREFIX = "/v4"
    KIND = "linode"

    def __init__(self, lab, **kw):
        super().__init__(lab, **kw)
        # other domains of the account first, so that the walk must page
        self.domain_ids = {f"other{i}.test": 5000 + i for i in range(3)}
        self.domain_ids.update({z: 9000 + i for i, z in enumerate(self.zones)})
        self.max_page_size = 500

    def route(self, method, raw_path, path, query, headers, raw):
        if headers.get("Authorization", "") != f"Bearer {self.token}":
            return 401, {}, {"errors": [{"reason": "Invalid Token"}]}
        p = self.parts(path)
        if p == ["domains"] and method == "GET":
            return self._page([{"id": i, "domain": d, "type": "master", "status": "active"}
                               for d, i in self.domain_ids.items()], query)
        zone = None
        if p and len(p) >= 3 and p[0] == "domains" and p[2] == "records":
            zone = next((d for d, i in self.domain_ids.items() if str(i) == p[1]), None)
        if zone is None:
            return 404, {}, {"errors": [{"reason": "Not found"}]}
        if len(p) == 3 and method == "GET":
            return self._page([self._rec(f, zone, r) for f, rs in self.store.items()
                               if self.zone_of(f) == zone for r in rs], query)
        if len(p) == 3 and method == "POST":
            return self._create(zone, self.body(raw))
        if len(p) == 4 and method == "DELETE":
            if self.drop(p[3]):
                return 200, {}, {}
            return 404, {}, {"errors": [{"reason": "Not found"}]}
        return 405, {}, {"errors": [{"reason": "Method Not Allowed"}]}

    def _page(self, items, query):
        page = int(query.get("page", 1))
        size = max(25, min(int(query.get("page_size", 100)), self.max_page_size))
        pages = max(1, (len(items) + size - 1) // size)
        return 200, {}, {"data": items[(page - 1) * size:page * size], "page": page,
                         "pages": pages, "results": len(items)}

    def _rec(self, fqdn, zone, r):
        return {"id": r["id"], "type": "TXT", "name": self.sub(fqdn, zone),
                "target": r["content"], "ttl_sec": r["ttl"], "priority": 0, "weight": 0,
                "port": 0, "service": None, "protocol": None, "tag": None}

    def _create(self, zone, b):
        if not isinstance(b, dict) or b.get("type") != "TXT" or not b.get("target"):
            return 400, {}, {"errors": [{"reason": "target is required", "field": "target"}]}
        ttl = b.get("ttl_sec", 0)
        if not isinstance(ttl, int) or (ttl and ttl < 300):
            return 400, {}, {"errors": [{"reason": "Invalid TTL", "field": "ttl_sec"}]}
        fqdn = self.fqdn(b.get("name", ""), zone)
        return 200, {}, self._rec(fqdn, zone, self.add(fqdn, b["target"], ttl))


# ---- Gandi LiveDNS v5 ----

def _gandi_error(code, message, cause, obj):
    return {"code": code, "message": message, "object": obj, "cause": cause}


class GandiFake(RestFake):
    """GET /v5/livedns/domains/{fqdn}; GET|PUT|DELETE
    /v5/livedns/domains/{fqdn}/records/{name}/TXT with {"rrset_values", "rrset_ttl"}
    (values as zone-file text). A bad bearer token: 401 {"code", "message", "object":
    "HTTPUnauthorized", "cause": "Unauthorized"}."""

    PREFIX = "/v5/livedns"
    KIND = "gandi"
    QUOTED = True

    NOT_FOUND = _gandi_error(404, "The resource could not be found.", "Not Found",
                             "HTTPNotFound")

    def route(self, method, raw_path, path, query, headers, raw):
        if headers.get("Authorization", "") != f"Bearer {self.token}":
            return 401, {}, _gandi_error(
                401, "The server could not verify that you authorized to access the "
                "document you requested.", "Unauthorized", "HTTPUnauthorized")
        p = self.parts(path)
        if not p or p[0] != "domains" or len(p) < 2 or p[1] not in self.zones:
            return 404, {}, self.NOT_FOUND
        zone = p[1]
        if len(p) == 2 and method == "GET":
            return 200, {}, {"fqdn": zone, "automatic_snapshots": True,
                             "domain_records_href": f"{self.api_url}/domains/{zone}/records"}
        if len(p) != 5 or p[2] != "records" or p[4] != "TXT":
            return 404, {}, self.NOT_FOUND
        fqdn = self.fqdn(p[3], zone)
        if method == "GET":
            recs = self.store.get(fqdn)
            if not recs:
                return 404, {}, self.NOT_FOUND
            return 200, {}, {"rrset_name": p[3], "rrset_type": "TXT",
                             "rrset_ttl": recs[0]["ttl"],
                             "rrset_values": [r["content"] for r in recs]}
        if method == "PUT":
            b = self.body(raw)
            vals, ttl = (b or {}).get("rrset_values"), (b or {}).get("rrset_ttl", 10800)
            if not isinstance(ttl, int) or ttl < 300:
                return 400, {}, dict(_gandi_error(400, "Validation error", "Bad Request",
                                                  "HTTPBadRequest"),
                                     errors=[{"location": "body", "name": "rrset_ttl",
                                              "description": "Must be at least 300."}])
            if not isinstance(vals, list) or not vals:
                return 400, {}, _gandi_error(400, "rrset_values: required", "Bad Request",
                                             "HTTPBadRequest")
            self.replace(fqdn, vals, ttl)
            return 201, {}, {"message": "DNS Record Created"}
        if method == "DELETE":
            if fqdn not in self.store:
                return 404, {}, self.NOT_FOUND
            self.replace(fqdn, [], 0)
            return 204, {}, None
        return 405, {}, _gandi_error(405, "Method not allowed", "Method Not Allowed",
                                     "HTTPMethodNotAllowed")


# ---- deSEC API v1 ----

class DesecFake(RestFake):
    """GET /api/v1/domains/{zone}/; GET /api/v1/domains/{zone}/rrsets/{subname}/TXT/
    ("@" at the apex); PATCH /api/v1/domains/{zone}/rrsets/ with a list of {"subname",
    "type", "ttl", "records"} (an empty records list deletes). A bad token: 401
    {"detail": "Invalid token."}. The first `throttle` requests get 429 {"detail":
    "Request was throttled. ..."} with Retry-After: retry_after (seconds)."""

    PREFIX = "/api/v1"
    KIND = "desec"
    QUOTED = True

    def __init__(self, lab, throttle=0, retry_after=1, **kw):
        super().__init__(lab, **kw)
        self.throttle, self.retry_after = throttle, retry_after
        self.minimum_ttl = 3600

    def route(self, method, raw_path, path, query, headers, raw):
        if self.throttle > 0:
            self.throttle -= 1
            return 429, {"Retry-After": str(self.retry_after)}, {
                "detail": f"Request was throttled. Expected available in "
                          f"{self.retry_after} seconds."}
        if headers.get("Authorization", "") != f"Token {self.token}":
            return 401, {}, {"detail": "Invalid token."}
        p = self.parts(path)
        if not p or p[0] != "domains" or len(p) < 3 or p[1] not in self.zones:
            return 404, {}, {"detail": "Not found."}
        zone = p[1]
        if p[2:] == [""] and method == "GET":
            return 200, {}, {"name": zone, "minimum_ttl": self.minimum_ttl,
                             "created": "2026-01-01T00:00:00Z"}
        if p[2:] == ["rrsets", ""] and method in ("PATCH", "PUT"):
            return self._bulk(zone, self.body(raw))
        if len(p) == 6 and p[2] == "rrsets" and p[4] == "TXT" and method == "GET":
            fqdn = self.fqdn(p[3], zone)
            if fqdn not in self.store:
                return 404, {}, {"detail": "Not found."}
            return 200, {}, self._rrset(zone, fqdn)
        return 404, {}, {"detail": "Not found."}

    def _rrset(self, zone, fqdn):
        recs = self.store[fqdn]
        return {"domain": zone, "subname": self.sub(fqdn, zone), "name": fqdn + ".",
                "type": "TXT", "records": [r["content"] for r in recs], "ttl": recs[0]["ttl"],
                "created": "2026-01-01T00:00:00Z", "touched": "2026-01-01T00:00:00Z"}

    def _bulk(self, zone, body):
        if not isinstance(body, list):
            return 400, {}, {"non_field_errors": ["Expected a list of items."]}
        for item in body:
            if not isinstance(item, dict) or item.get("type") != "TXT":
                return 400, {}, [{"type": ["This field is required."]}]
            if item.get("records") and item.get("ttl", 0) < self.minimum_ttl:
                return 400, {}, [{"ttl": [f"Ensure this value is greater than or equal to "
                                          f"{self.minimum_ttl}."]}]
        out = []
        for item in body:
            fqdn = self.fqdn(item.get("subname", ""), zone)
            self.replace(fqdn, list(item.get("records") or []), item.get("ttl", 3600))
            if fqdn in self.store:
                out.append(self._rrset(zone, fqdn))
        return 200, {}, out


# ---- OVH API v1 ----

def _ovh_error(status, code, message):
    return status, {}, {"errorCode": code, "httpCode": f"{status} "
                        + {400: "Bad Request", 403: "Forbidden"}[status], "message": message}


class OvhFake(RestFake):
    """GET /1.0/auth/time (unsigned); GET /1.0/domain/zone/{zone};
    GET|POST /1.0/domain/zone/{zone}/record (?fieldType=&subDomain=: a list of ids);
    GET|DELETE /1.0/domain/zone/{zone}/record/{id}; POST /1.0/domain/zone/{zone}/refresh.
    Every other call is signed: X-Ovh-Application (else 403 INVALID_KEY), X-Ovh-Consumer
    (else 403 INVALID_CREDENTIAL), X-Ovh-Timestamp within `window` s of the fake's own
    clock, which runs `clock_offset` s off the real one (else 400 QUERY_TIME_OUT), and
    X-Ovh-Signature "$1$" + SHA1_hex(AS+CK+METHOD+URL+BODY+TSTAMP joined by "+") (else
    400 INVALID_SIGNATURE), and within the consumer key's access `rules` (method, path
    pattern; else 403 NOT_GRANTED_CALL). Records reach PowerDNS on refresh only, as at
    OVH."""

    PREFIX = "/1.0"
    KIND = "ovh"

    def __init__(self, lab, clock_offset=0, window=180, **kw):
        super().__init__(lab, **kw)
        self.app_key = secrets.token_hex(8)
        self.app_secret = secrets.token_hex(16)
        self.consumer_key = secrets.token_hex(16)
        self.token = self.consumer_key
        self.clock_offset, self.window = clock_offset, window
        self.refreshes = 0
        self.time_calls = 0
        self.dirty = set()
        # the consumer key's access rules: the narrowest the README documents
        self.rules = [(m, p) for z in self.zones
                      for m, p in (("GET", f"/domain/zone/{z}"), ("GET", f"/domain/zone/{z}/*"),
                                   ("POST", f"/domain/zone/{z}/*"),
                                   ("DELETE", f"/domain/zone/{z}/*"))]

    def now(self):
        return int(time.time()) + self.clock_offset

    def route(self, method, raw_path, path, query, headers, raw):
        p = self.parts(path)
        if p == ["auth", "time"] and method == "GET":
            self.time_calls += 1
            return 200, {}, self.now()
        denied = self._check(method, raw_path, headers, raw)
        if denied:
            return denied
        if not any(m == method and fnmatch.fnmatchcase(path[len(self.PREFIX):], pattern)
                   for m, pattern in self.rules):
            return _ovh_error(403, "NOT_GRANTED_CALL", "This call has not been granted")
        if not p or p[:2] != ["domain", "zone"] or len(p) < 3 or p[2] not in self.zones:
            return 404, {}, {"class": "Client::NotFound",
                             "message": "This service does not exist"}
        zone, rest = p[2], p[3:]
        if rest == [] and method == "GET":
            return 200, {}, {"name": zone, "dnssecSupported": True, "hasDnsAnycast": False,
                             "nameServers": [f"ns1.{zone}"]}
        if rest == ["refresh"] and method == "POST":
            self.refreshes += 1
            for fqdn in sorted(f for f in self.dirty if self.zone_of(f) == zone):
                RestFake.publish(self, fqdn)
                self.dirty.discard(fqdn)
            return 200, {}, None
        if rest == ["record"] and method == "GET":
            return 200, {}, [r["id"] for f, rs in self.store.items() if self.zone_of(f) == zone
                             for r in rs if query.get("fieldType", "TXT") == "TXT"
                             and self.sub(f, zone) == query.get("subDomain", self.sub(f, zone))]
        if rest == ["record"] and method == "POST":
            return self._create(zone, self.body(raw))
        if len(rest) == 2 and rest[0] == "record":
            fqdn, rec = self.find(rest[1])
            if rec is None or self.zone_of(fqdn) != zone:
                return 404, {}, {"class": "Client::NotFound", "message":
                                 f"The requested object (id = {rest[1]}) does not exist"}
            if method == "GET":
                return 200, {}, self._rec(fqdn, zone, rec)
            if method == "DELETE":
                self.drop(rest[1])
                return 200, {}, None
        return 404, {}, {"class": "Client::NotFound", "message": "Got an invalid (or empty) URL"}

    def publish(self, fqdn):
        """OVH publishes a zone's changes at POST .../refresh only: until then they are
        held back."""
        self.dirty.add(fqdn)

    def _check(self, method, raw_path, headers, raw):
        if headers.get("X-Ovh-Application", "") != self.app_key:
            return _ovh_error(403, "INVALID_KEY", "Invalid application key")
        if headers.get("X-Ovh-Consumer", "") != self.consumer_key:
            return _ovh_error(403, "INVALID_CREDENTIAL", "This credential is not valid")
        try:
            ts = int(headers.get("X-Ovh-Timestamp", ""))
        except ValueError:
            ts = None
        if ts is None or abs(ts - self.now()) > self.window:
            return _ovh_error(400, "QUERY_TIME_OUT", "Query out of time")
        text = "+".join([self.app_secret, self.consumer_key, method, self.base_url + raw_path,
                         raw.decode(errors="replace"), str(ts)])
        want = "$1$" + hashlib.sha1(text.encode()).hexdigest()
        if not hmac.compare_digest(headers.get("X-Ovh-Signature", ""), want):
            return _ovh_error(400, "INVALID_SIGNATURE", "Invalid signature")
        return None

    def _rec(self, fqdn, zone, r):
        return {"id": r["id"], "zone": zone, "subDomain": self.sub(fqdn, zone),
                "fieldType": "TXT", "target": r["content"], "ttl": r["ttl"]}

    def _create(self, zone, b):
        if not isinstance(b, dict) or b.get("fieldType") != "TXT" or not b.get("target"):
            return 400, {}, {"class": "Client::BadRequest",
                             "message": "[target] Missing parameter"}
        fqdn = self.fqdn(b.get("subDomain", ""), zone)
        return 200, {}, self._rec(fqdn, zone, self.add(fqdn, b["target"], b.get("ttl", 0)))


# ---- lego's HTTPREQ ----

class HttpreqFake(RestFake):
    """POST /dns/present and /dns/cleanup with {"fqdn": "name.", "value"}: adds the value
    beside the others, removes exactly it (200 also when it is gone). With username and
    password set, basic auth is required: else 401 with WWW-Authenticate."""

    PREFIX = "/dns"
    KIND = "httpreq"

    def __init__(self, lab, username=None, password=None, **kw):
        super().__init__(lab, **kw)
        self.username, self.password = username, password

    def route(self, method, raw_path, path, query, headers, raw):
        if self.username is not None:
            want = "Basic " + base64.b64encode(
                f"{self.username}:{self.password}".encode()).decode()
            if not hmac.compare_digest(headers.get("Authorization", ""), want):
                return 401, {"WWW-Authenticate": 'Basic realm="httpreq"'}, b"Unauthorized\n"
        p = self.parts(path)
        if method != "POST" or p not in (["present"], ["cleanup"]):
            return 404, {}, b"404 page not found\n"
        b = self.body(raw)
        fqdn, value = (b or {}).get("fqdn"), (b or {}).get("value")
        if not isinstance(fqdn, str) or not fqdn.endswith(".") or not isinstance(value, str):
            return 400, {}, b"fqdn (with its final dot) and value are required\n"
        name = fqdn[:-1].lower()
        if self.zone_of(name) is None:
            return 400, {}, f"no zone for {fqdn}\n".encode()
        held = [r for r in self.store.get(name, []) if r["content"] == value]
        if p == ["present"] and not held:
            self.add(name, value, 60)
        for r in held if p == ["cleanup"] else []:
            self.drop(r["id"])
        return 200, {}, b""


APIS = {"digitalocean": DigitalOceanFake, "hetzner": HetznerFake, "linode": LinodeFake,
        "gandi": GandiFake, "desec": DesecFake, "ovh": OvhFake, "httpreq": HttpreqFake}


def settings_of(provider, fake):
    """The certfleet settings that reach FAKE as PROVIDER."""
    if provider == "ovh":
        return {"application_key": fake.app_key, "application_secret": fake.app_secret,
                "consumer_key": fake.consumer_key, "api_url": fake.api_url}
    if provider == "httpreq":
        s = {"endpoint": fake.api_url}
        if fake.username is not None:
            s.update(username=fake.username, password=fake.password)
        return s
    return {"api_token": fake.token, "api_url": fake.api_url}


def main():
    def more(parser):
        parser.add_argument("--api", choices=sorted(APIS), required=True)
    args, lab, host, port = common.standalone(__doc__.split("\n")[0], more)
    fake = APIS[args.api](lab, host=host, port=port).start()
    common.serve(fake, settings_of(args.api, fake))


if __name__ == "__main__":
    main()
