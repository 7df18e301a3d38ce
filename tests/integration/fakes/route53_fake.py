"""A fake Amazon Route 53 (REST-XML API 2013-04-01) for the integration tests.

It speaks the calls certfleet's route53 provider makes, with Route 53's XML:

  GET  /2013-04-01/hostedzonesbyname?dnsname=&maxitems=   zones in Route 53's
        order (labels reversed), from dnsname on
  GET  /2013-04-01/hostedzone/{Id}/rrset?name=&type=&maxitems=
        rrsets in Route 53's order from (name, type) on: the first one listed may
        be another name, which is how "none" looks
  POST /2013-04-01/hostedzone/{Id}/rrset/                  ChangeResourceRecordSets:
        CREATE, DELETE (the TTL and the value set must match exactly), UPSERT; the
        whole batch or nothing; <InvalidChangeBatch> otherwise
  GET  /2013-04-01/change/{Id}                             GetChange: PENDING for
        the first `pending_polls` polls, then INSYNC

Every request must carry a valid AWS Signature Version 4 (service route53, region
us-east-1): the fake recomputes the canonical request, the string to sign and the
signature from what it received and the secret it knows (its own implementation
of the algorithm, independent of providers/sigv4.c), and answers 403
<ErrorResponse> SignatureDoesNotMatch when they differ, InvalidClientTokenId for
an unknown access key or a missing/wrong session token, and RequestExpired for a
date more than 15 minutes off.

So that a CA sees the values, a change PUBLISHES, when it becomes INSYNC, the
current TXT rrsets of the names it touched into the lab's PowerDNS (zone
r53-alias.test, served by the lab's Unbound; an rrset that is gone is deleted
there). A provider that never polls GetChange therefore never gets its value
seen. The hosted zones: r53-alias.test (public), a private zone of the same name
listed before it, and other.test.

Knobs: pending_polls, never_insync, fail_next (a list of (status, code, message)
errors to answer first), before_change (a callable run, with the fake's lock
held, before the next ChangeResourceRecordSets is applied: a concurrent writer).

Use in a test:
    with Route53Fake(lab) as fake:
        ... fake.endpoint, fake.access_key_id, fake.secret_access_key ...
        fake.values("x.r53-alias.test"), fake.changes, fake.requests

Standalone: python3 route53_fake.py --env LAB_DIR/env (prints the settings as JSON).
"""

import hashlib
import hmac
import re
import secrets
import sys
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import common  # noqa: E402  (tests/integration/fakes/common.py)

NS = "https://route53.amazonaws.com/doc/2013-04-01/"
API = "/2013-04-01"
ZONE = "r53-alias.test."
AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                     r"\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$")


# ---- SigV4, as the server side computes it ----------------------------------------

def _enc(s, safe="-_.~"):
    return quote(s, safe=safe)


def canonical_request(method, raw_path, raw_query, headers, signed, body):
    """HEADERS: list of (name, value) as received. Route 53 is not S3: the URI is the
    received path encoded once more (equal to it when it holds no '%')."""
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        pairs.append((_enc(unquote(name)), _enc(unquote(value))))
    query = "&".join(f"{n}={v}" for n, v in sorted(pairs))
    lines = []
    for name in signed:
        values = [v for n, v in headers if n.lower() == name]
        lines.append(name + ":" + ",".join(" ".join(v.split()) for v in values))
    return "\n".join([method, _enc(raw_path or "/", safe="-_.~/"), query, "\n".join(lines) + "\n",
                      ";".join(signed), hashlib.sha256(body).hexdigest()])


def signature(secret, date, region, service, amz_date, creq):
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


# ---- TXT text in Route 53's form (octal escapes) ------------------------------------

def txt_decode(text):
    """The bytes a Route 53 TXT Value stands for, or None when malformed (unquoted
    strings, an unterminated quote, a string over 255 bytes)."""
    out, i, n = bytearray(), 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        if text[i] != '"':
            return None
        i += 1
        start = len(out)
        while i < n and text[i] != '"':
            if text[i] == "\\":
                if re.match(r"[0-3][0-7]{2}", text[i + 1:i + 4]):
                    out.append(int(text[i + 1:i + 4], 8))
                    i += 4
                    continue
                i += 1
                if i >= n:
                    return None
            out += text[i].encode()
            i += 1
        if i >= n or len(out) - start > 255:
            return None
        i += 1
    return bytes(out)


def _pdns_content(value):
    """VALUE (bytes) as PowerDNS TXT content: quoted strings of at most 255 bytes,
    '"' and '\\' escaped, other bytes outside printable ASCII as decimal \\DDD."""
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [b""]
    out = []
    for chunk in chunks:
        text = "".join(chr(b) if 0x20 <= b < 0x7f and b not in b'"\\' else
                       ("\\" + chr(b) if b in b'"\\' else f"\\{b:03d}") for b in chunk)
        out.append('"' + text + '"')
    return " ".join(out)


def _name(n):
    n = n.lower()
    return n if n.endswith(".") else n + "."


def _order_key(name):
    return list(reversed(name.rstrip(".").split(".")))


def _error(status, code, message, typ="Sender"):
    return status, (f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{NS}"><Error><Type>{typ}</Type>'
                    f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
                    f"<RequestId>{secrets.token_hex(16)}</RequestId></ErrorResponse>")


def _invalid_batch(messages):
    body = "".join(f"<Message>{escape(m)}</Message>" for m in messages)
    return 400, (f'<?xml version="1.0"?>\n<InvalidChangeBatch xmlns="{NS}"><Messages>{body}'
                 f"</Messages><RequestId>{secrets.token_hex(16)}</RequestId></InvalidChangeBatch>")


class _Handler(common.QuietHandler):
    server_version = "route53-fake"
    max_body = 256 * 1024

    def _serve(self, method):
        raw = self.read_body()
        status, text = self.server.fake.handle(method, self.path, list(self.headers.items()),
                                               raw)
        self.send_body(status, "text/xml", text.encode())

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")


class Route53Fake(common.FakeServer):
    """The server, in a thread of the test process."""

    def __init__(self, lab, host="127.0.0.1", port=0, session_token=None, pending_polls=1):
        super().__init__(_Handler, host, port)
        self.lab = lab
        self.access_key_id = "AKIA" + secrets.token_hex(8).upper()
        self.secret_access_key = secrets.token_urlsafe(30)
        self.session_token = session_token
        self.pending_polls, self.never_insync = pending_polls, False
        self.fail_next, self.before_change = [], None
        self.zone_id = "Z1PUBLIC" + secrets.token_hex(5).upper()
        self.zones = {  # the private twin sorts first, so a client must skip it
            "Z0PRIVATE" + secrets.token_hex(5).upper(): {"name": ZONE, "private": True},
            self.zone_id: {"name": ZONE, "private": False},
            "Z2OTHER" + secrets.token_hex(5).upper(): {"name": "other.test.", "private": False},
        }
        # zone id -> {(name, type): {"ttl", "values"}}; SOA and NS like a real zone
        soa = "ns-1.awsdns.test. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
        self.rrsets = {z: {(v["name"], "SOA"): {"ttl": 900, "values": [soa]},
                           (v["name"], "NS"): {"ttl": 172800, "values": ["ns-1.awsdns.test."]}}
                       for z, v in self.zones.items()}
        self.changes = {}     # change id -> {"polls", "status", "names", "actions"}
        self.requests = []    # (method, path, status, error code) of every request
        self._lock = threading.Lock()

    @property
    def endpoint(self):
        return self.base_url

    def values(self, name):
        """The TXT values (decoded, str) at NAME in the public zone, in rrset order."""
        with self._lock:
            rr = self.rrsets[self.zone_id].get((_name(name), "TXT"))
            return [txt_decode(v).decode() for v in rr["values"]] if rr else []

    def rrset(self, name):
        with self._lock:
            rr = self.rrsets[self.zone_id].get((_name(name), "TXT"))
            return dict(rr, values=list(rr["values"])) if rr else None

    def set_rrset(self, name, ttl, values, publish=True):
        """Writes a TXT rrset directly (VALUES: str, quoted here), as another client
        would; call with the lock held or from before_change."""
        key = (_name(name), "TXT")
        if values:
            self.rrsets[self.zone_id][key] = {"ttl": ttl, "values": [
                '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]}
        else:
            self.rrsets[self.zone_id].pop(key, None)
        if publish:
            self._publish(key[0])

    # ---- the API ----

    def handle(self, method, target, headers, raw):
        with self._lock:
            url = urlsplit(target)
            try:
                status, text = self._check_signature(method, url, headers, raw)
                if status == 200:
                    status, text = self._dispatch(method, url, raw)
            except Exception as e:  # noqa: BLE001 (PowerDNS down: an internal error)
                status, text = _error(500, "InternalFailure", str(e)[:200], "Receiver")
            code = re.search(r"<Code>([^<]*)</Code>|<(InvalidChangeBatch)", text)
            self.requests.append((method, url.path, status,
                                  (code.group(1) or code.group(2)) if code and status != 200
                                  else ""))
            return status, text

    def _check_signature(self, method, url, headers, raw):
        h = {n.lower(): v for n, v in headers}
        m = AUTH_RE.match(h.get("authorization", ""))
        if m is None:
            return _error(403, "IncompleteSignature", "Authorization header requires "
                          "Credential, SignedHeaders and Signature (AWS4-HMAC-SHA256)")
        akid, date, region, service, signed, sig = m.groups()
        signed = signed.split(";")
        if akid != self.access_key_id:
            return _error(403, "InvalidClientTokenId",
                          "The security token included in the request is invalid.")
        if region != "us-east-1" or service != "route53":
            return _error(403, "SignatureDoesNotMatch", f"Credential should be scoped to a "
                          f"valid region and service, not '{region}/{service}'.")
        if "host" not in signed or "x-amz-date" not in signed or signed != sorted(signed):
            return _error(403, "SignatureDoesNotMatch", "host and x-amz-date must be signed, "
                          "in order")
        amz_date = h.get("x-amz-date", "")
        try:
            when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return _error(403, "IncompleteSignature", "bad X-Amz-Date")
        if amz_date[:8] != date or abs(time.time() - when.timestamp()) > 900:
            return _error(403, "RequestExpired", "Request has expired or is not yet valid.")
        if self.session_token is not None and (
                "x-amz-security-token" not in signed
                or h.get("x-amz-security-token") != self.session_token):
            return _error(403, "InvalidClientTokenId",
                          "The security token included in the request is invalid.")
        creq = canonical_request(method, url.path, url.query, headers, signed, raw)
        want = signature(self.secret_access_key, date, region, service, amz_date, creq)
        if not hmac.compare_digest(want, sig):
            return _error(403, "SignatureDoesNotMatch", "The request signature we calculated "
                          "does not match the signature you provided. Check your AWS Secret "
                          "Access Key and signing method. Consult the service documentation "
                          "for details.")
        return 200, ""

    def _dispatch(self, method, url, raw):
        if self.fail_next:
            return _error(*self.fail_next.pop(0))
        query = {}
        for part in url.query.split("&") if url.query else []:
            name, _, value = part.partition("=")
            query[unquote(name)] = unquote(value)
        p = url.path
        if p == API + "/hostedzonesbyname" and method == "GET":
            return self._zones_by_name(query)
        m = re.fullmatch(API + r"/hostedzone/([A-Za-z0-9]+)/rrset(/?)", p)
        if m and m.group(1) not in self.zones:
            return _error(404, "NoSuchHostedZone", f"No hosted zone found with ID: {m.group(1)}")
        if m and method == "GET" and not m.group(2):
            return self._list_rrsets(m.group(1), query)
        if m and method == "POST" and m.group(2):
            return self._change(m.group(1), raw)
        m = re.fullmatch(API + r"/change/([A-Za-z0-9]+)", p)
        if m and method == "GET":
            return self._get_change(m.group(1))
        return _error(404, "UnknownOperation", f"no operation {method} {p}")

    def _zones_by_name(self, query):
        start = _name(query.get("dnsname", ".")) if query.get("dnsname") else None
        maxitems = int(query.get("maxitems", "100"))
        zones = sorted(self.zones.items(), key=lambda z: (_order_key(z[1]["name"]), z[0]))
        if start:
            zones = [z for z in zones if _order_key(z[1]["name"]) >= _order_key(start)]
        shown, rest = zones[:maxitems], zones[maxitems:]
        items = "".join(
            f"<HostedZone><Id>/hostedzone/{i}</Id><Name>{z['name']}</Name>"
            f"<CallerReference>fake-{i}</CallerReference><Config><Comment>fake</Comment>"
            f"<PrivateZone>{'true' if z['private'] else 'false'}</PrivateZone></Config>"
            f"<ResourceRecordSetCount>{len(self.rrsets[i])}</ResourceRecordSetCount>"
            f"</HostedZone>" for i, z in shown)
        more = (f"<NextDNSName>{rest[0][1]['name']}</NextDNSName>"
                f"<NextHostedZoneId>{rest[0][0]}</NextHostedZoneId>" if rest else "")
        return 200, (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListHostedZonesByNameResponse '
                     f'xmlns="{NS}"><HostedZones>{items}</HostedZones>'
                     f"{'<DNSName>' + escape(start) + '</DNSName>' if start else ''}"
                     f"<IsTruncated>{'true' if rest else 'false'}</IsTruncated>{more}"
                     f"<MaxItems>{maxitems}</MaxItems></ListHostedZonesByNameResponse>")

    def _list_rrsets(self, zone_id, query):
        maxitems = int(query.get("maxitems", "300"))
        items = sorted(self.rrsets[zone_id].items(), key=lambda kv: (_order_key(kv[0][0]),
                                                                     kv[0][1]))
        if "name" in query:
            start = (_order_key(_name(query["name"])), query.get("type", ""))
            items = [kv for kv in items if (_order_key(kv[0][0]), kv[0][1]) >= start]
        shown, rest = items[:maxitems], items[maxitems:]
        sets = "".join(
            f"<ResourceRecordSet><Name>{escape(n)}</Name><Type>{t}</Type><TTL>{rr['ttl']}</TTL>"
            "<ResourceRecords>" + "".join(f"<ResourceRecord><Value>{escape(v)}</Value>"
                                          "</ResourceRecord>" for v in rr["values"]) +
            "</ResourceRecords></ResourceRecordSet>" for (n, t), rr in shown)
        more = (f"<NextRecordName>{escape(rest[0][0][0])}</NextRecordName>"
                f"<NextRecordType>{rest[0][0][1]}</NextRecordType>" if rest else "")
        return 200, (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListResourceRecordSetsResponse '
                     f'xmlns="{NS}"><ResourceRecordSets>{sets}</ResourceRecordSets>'
                     f"<IsTruncated>{'true' if rest else 'false'}</IsTruncated>{more}"
                     f"<MaxItems>{maxitems}</MaxItems></ListResourceRecordSetsResponse>")

    def _change(self, zone_id, raw):
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as e:
            return _error(400, "InvalidInput", f"Could not parse the request body: {e}")
        if root.tag != f"{{{NS}}}ChangeResourceRecordSetsRequest":
            return _error(400, "InvalidInput", f"unexpected root element {root.tag}")
        if self.before_change is not None:
            hook, self.before_change = self.before_change, None
            hook(self)
        zone = self.zones[zone_id]["name"]
        state = {k: dict(v, values=list(v["values"])) for k, v in self.rrsets[zone_id].items()}
        errors, names, actions = [], set(), []
        for ch in root.iterfind(f"{{{NS}}}ChangeBatch/{{{NS}}}Changes/{{{NS}}}Change"):
            action = ch.findtext(f"{{{NS}}}Action")
            rs = ch.find(f"{{{NS}}}ResourceRecordSet")
            name = _name(rs.findtext(f"{{{NS}}}Name", ""))
            rtype = rs.findtext(f"{{{NS}}}Type")
            ttl = rs.findtext(f"{{{NS}}}TTL")
            values = [v.text or "" for v in rs.iterfind(
                f"{{{NS}}}ResourceRecords/{{{NS}}}ResourceRecord/{{{NS}}}Value")]
            label = f"[name='{name}', type='{rtype}']"
            actions.append((action, name, rtype, ttl, values))
            if name != zone and not name.endswith("." + zone):
                errors.append(f"RRSet with DNS name {name} is not permitted in zone {zone}")
                continue
            if rtype != "TXT" or ttl is None or not ttl.isdigit() or not values:
                errors.append(f"Invalid request {label}: TXT with a TTL and values only here")
                continue
            decoded = [txt_decode(v) for v in values]
            if None in decoded:
                errors.append(f"Invalid Resource Record: FATAL problem: "
                              f"InvalidCharacterString encountered at {values}")
                continue
            if len(set(decoded)) != len(decoded):
                errors.append(f"Duplicate Resource Record: {label}")
                continue
            cur = state.get((name, "TXT"))
            if action == "CREATE" and cur is not None:
                errors.append(f"Tried to create resource record set {label} but it already "
                              "exists")
            elif action == "DELETE" and cur is None:
                errors.append(f"Tried to delete resource record set {label} but it was not "
                              "found")
            elif action == "DELETE" and (cur["ttl"] != int(ttl) or sorted(
                    txt_decode(v) for v in cur["values"]) != sorted(decoded)):
                errors.append(f"Tried to delete resource record set {label} but the values "
                              "provided do not match the current values")
            elif action == "DELETE":
                del state[(name, "TXT")]
            elif action in ("CREATE", "UPSERT"):
                state[(name, "TXT")] = {"ttl": int(ttl), "values": values}
            else:
                errors.append(f"Invalid action {action}")
            names.add(name)
        if not actions:
            return _error(400, "InvalidInput", "no changes in the batch")
        if errors:
            return _invalid_batch(errors)
        self.rrsets[zone_id] = state
        change_id = "C" + secrets.token_hex(8).upper()
        self.changes[change_id] = {"polls": 0, "status": "PENDING", "names": names,
                                   "actions": actions}
        return 200, self._change_info("ChangeResourceRecordSetsResponse", change_id)

    def _get_change(self, change_id):
        ch = self.changes.get(change_id)
        if ch is None:
            return _error(404, "NoSuchChange", f"A change with the specified change ID does "
                          f"not exist: {change_id}")
        ch["polls"] += 1
        if ch["status"] == "PENDING" and ch["polls"] > self.pending_polls and not self.never_insync:
            for name in sorted(ch["names"]):
                self._publish(name)
            ch["status"] = "INSYNC"
        return 200, self._change_info("GetChangeResponse", change_id)

    def _change_info(self, root, change_id):
        ch = self.changes[change_id]
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}"><ChangeInfo>'
                f"<Id>/change/{change_id}</Id><Status>{ch['status']}</Status>"
                f"<SubmittedAt>{datetime.now(timezone.utc).isoformat()}</SubmittedAt>"
                f"<Comment>certfleet</Comment></ChangeInfo></{root}>")

    def _publish(self, name):
        """Replaces the TXT rrset of NAME in PowerDNS with the public zone's current
        values (deletes it when there are none). Called with the lock held."""
        rr = self.rrsets[self.zone_id].get((name, "TXT"))
        common.publish_txt(self.lab, name, rr["values"] if rr else [],
                           content=lambda v: _pdns_content(txt_decode(v)))


def main():
    _args, lab, host, port = common.standalone(__doc__.split("\n")[0])
    fake = Route53Fake(lab, host=host, port=port).start()
    common.serve(fake, {"endpoint": fake.endpoint, "access_key_id": fake.access_key_id,
                        "secret_access_key": fake.secret_access_key,
                        "hosted_zone_id": fake.zone_id})


if __name__ == "__main__":
    main()
