"""A fake Google Cloud DNS (API v1) and Google OAuth 2.0 token endpoint for the
integration tests.

It speaks the calls certfleet's gcloud provider makes, with Google's JSON:

  POST /token        grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and
                     assertion=<JWT> (a form): the JWT must be RS256, signed by the
                     service account's private key (verified with its public key,
                     python3-cryptography), iss its client_email, aud this token
                     URI, a scope, and iat/exp now and at most an hour later.
                     Otherwise 400 {"error": "invalid_grant", "error_description":
                     "Invalid JWT Signature."} (or what else is wrong), as Google
                     answers. Success: {"access_token", "expires_in": 3599,
                     "token_type": "Bearer"}.
  GET  /dns/v1/projects/{p}/managedZones?dnsName=            the zones of that name
  GET  /dns/v1/projects/{p}/managedZones/{z}/rrsets?name=&type=
  POST /dns/v1/projects/{p}/managedZones/{z}/changes         {additions, deletions}:
        every deletion must match the current rrset exactly (412 conditionNotMet),
        an addition may not meet an existing rrset (409 alreadyExists); all or none
  GET  /dns/v1/projects/{p}/managedZones/{z}/changes/{id}    "pending" for the
        first `pending_polls` polls, then "done"

Every API call needs "Authorization: Bearer <a token this fake issued>": else
401 {"error": {"code": 401, "message": "Request had invalid authentication
credentials...", "status": "UNAUTHENTICATED"}}. Another project is 403
PERMISSION_DENIED; an unknown zone 404 NOT_FOUND.

So that a CA sees the values, a change PUBLISHES the rrsets it touched into the
lab's PowerDNS (zone gc-alias.test) when it becomes "done": a provider that never
polls the change never gets its value seen. The managed zones: "gc-alias" (public,
gc-alias.test.), a private one of the same dnsName, and "other" (other.test.).

Knobs: pending_polls; before_change, a callable run (lock held) before the next
change is applied: a concurrent writer.

Use in a test:
    with GcloudFake(lab) as fake:
        ... fake.key_json (the service account key file), fake.endpoint ...
        fake.values("x.gc-alias.test"), fake.changes, fake.requests

Standalone: python3 gcloud_fake.py --env LAB_DIR/env (prints the settings as JSON).
"""

import base64
import json
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import common  # noqa: E402  (tests/integration/fakes/common.py)

PROJECT = "certfleet-lab"
ZONE, DNS_NAME = "gc-alias", "gc-alias.test."
API = "/dns/v1"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _err(status, state, message, reason="invalid"):
    return status, {"error": {"code": status, "message": message,
                              "errors": [{"message": message, "domain": "global",
                                          "reason": reason}], "status": state}}


def _name(n):
    n = n.lower()
    return n if n.endswith(".") else n + "."


def _txt_decode(text):
    """The value a TXT rrdata (zone-file text, decimal escapes) stands for, or None."""
    out, i, n = bytearray(), 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        if text[i] != '"':
            return None
        i += 1
        while i < n and text[i] != '"':
            if text[i] == "\\":
                if re.match(r"\d{3}", text[i + 1:i + 4]):
                    out.append(int(text[i + 1:i + 4]))
                    i += 4
                    continue
                i += 1
            out += text[i].encode()
            i += 1
        if i >= n:
            return None
        i += 1
    return out.decode("utf-8", "replace")


class _Handler(common.QuietHandler):
    server_version = "gcloud-fake"

    def _serve(self, method):
        raw = self.read_body()
        status, doc = self.server.fake.handle(method, self.path, dict(self.headers.items()),
                                              raw)
        self.send_json(status, doc)

    def do_GET(self):  # noqa: N802
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")


class GcloudFake(common.FakeServer):
    def __init__(self, lab, host="127.0.0.1", port=0, pending_polls=1):
        super().__init__(_Handler, host, port)
        self.lab = lab
        self.pending_polls = pending_polls
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = key.public_key()
        self.email = f"certfleet@{PROJECT}.iam.gserviceaccount.com"
        self.key_id = secrets.token_hex(20)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        self.key = {"type": "service_account", "project_id": PROJECT,
                    "private_key_id": self.key_id, "private_key": pem,
                    "client_email": self.email, "client_id": str(secrets.randbits(64)),
                    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                    "token_uri": self.base_url + "/token"}
        self.zones = {  # name -> {dnsName, visibility}; the private twin is listed first
            "gc-alias-private": {"dnsName": DNS_NAME, "visibility": "private"},
            ZONE: {"dnsName": DNS_NAME, "visibility": "public"},
            "other": {"dnsName": "other.test.", "visibility": "public"},
        }
        self.rrsets = {z: {} for z in self.zones}  # zone -> {name: {"ttl", "rrdatas"}}
        self.tokens = set()
        self.before_change = None  # a callable run (lock held) before the next change
        self.changes = {}   # id -> {"zone", "polls", "status", "additions", "deletions"}
        self.requests = []  # (method, path, status)
        self._lock = threading.Lock()

    @property
    def key_json(self):
        return json.dumps(self.key)

    @property
    def endpoint(self):
        return self.base_url + API

    def other_key_json(self):
        """A key file of the same account whose private key is another one (a key
        that was rotated out): the JWT it signs does not verify."""
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = other.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode()
        return json.dumps(dict(self.key, private_key=pem))

    def values(self, name):
        with self._lock:
            rr = self.rrsets[ZONE].get(_name(name))
            return sorted(_txt_decode(d) for d in rr["rrdatas"]) if rr else []

    def set_values(self, name, values):
        """Writes the TXT rrset directly, as another client would (lock held or from
        before_change), and publishes it."""
        n = _name(name)
        if values:
            self.rrsets[ZONE][n] = {"ttl": 60, "rrdatas": [f'"{v}"' for v in values]}
        else:
            self.rrsets[ZONE].pop(n, None)
        common.publish_txt(self.lab, n, [f'"{v}"' for v in values], content=lambda x: x)

    def calls(self, method, pattern):
        return [r for r in self.requests if r[0] == method and re.search(pattern, r[1])]

    # ---- dispatch ----

    def handle(self, method, target, headers, raw):
        with self._lock:
            url = urlsplit(target)
            try:
                if url.path == "/token" and method == "POST":
                    status, doc = self._token(raw)
                else:
                    status, doc = self._api(method, url, headers, raw)
            except Exception as e:  # noqa: BLE001 (PowerDNS down: an internal error)
                status, doc = _err(500, "INTERNAL", str(e)[:200], "backendError")
            self.requests.append((method, url.path, status))
            return status, doc

    def _token(self, raw):
        form = dict(parse_qsl(raw.decode()))
        if form.get("grant_type") != GRANT:
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "Invalid grant_type: " + form.get("grant_type",
                                                                                "")}
        parts = form.get("assertion", "").split(".")
        if len(parts) != 3:
            return 400, {"error": "invalid_request", "error_description": "Invalid JWT"}
        try:
            header, claims = json.loads(_b64d(parts[0])), json.loads(_b64d(parts[1]))
            sig = _b64d(parts[2])
        except ValueError:
            return 400, {"error": "invalid_request", "error_description": "Invalid JWT"}
        if header.get("alg") != "RS256":
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: alg"}
        try:
            self.public_key.verify(sig, (parts[0] + "." + parts[1]).encode(),
                                   padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        now = time.time()
        if claims.get("iss") != self.email:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: iss"}
        if claims.get("aud") != self.key["token_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: aud"}
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (abs(iat - now) < 300 and 0 < exp - iat <= 3600):
            return 400, {"error": "invalid_grant", "error_description":
                         "Invalid JWT: Token must be a short-lived token (60 minutes) and in "
                         "a reasonable timeframe. Check your iat and exp values in the JWT "
                         "claim."}
        if "ndev.clouddns.readwrite" not in claims.get("scope", "") and \
                "cloud-platform" not in claims.get("scope", ""):
            return 400, {"error": "invalid_scope", "error_description": "no DNS scope"}
        token = "ya29." + secrets.token_urlsafe(40)
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def _api(self, method, url, headers, raw):
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return _err(401, "UNAUTHENTICATED", "Request had invalid authentication "
                        "credentials. Expected OAuth 2 access token, login cookie or other "
                        "valid authentication credential.", "authError")
        q = dict(parse_qsl(url.query))
        m = re.fullmatch(API + r"/projects/([^/]+)/managedZones(?:/([^/]+)(/.*)?)?", url.path)
        if m is None:
            return _err(404, "NOT_FOUND", "not found", "notFound")
        project, zone, rest = m.groups()
        if project != PROJECT:
            return _err(403, "PERMISSION_DENIED", f"Forbidden: the caller has no permission "
                        f"on project {project}", "forbidden")
        if zone is None and method == "GET":
            dn = q.get("dnsName")
            return 200, {"managedZones": [
                {"name": z, "dnsName": v["dnsName"], "visibility": v["visibility"],
                 "kind": "dns#managedZone"}
                for z, v in self.zones.items() if dn is None or v["dnsName"] == _name(dn)]}
        if zone not in self.zones:
            return _err(404, "NOT_FOUND", f"The 'parameters.managedZone' resource named "
                        f"'{zone}' does not exist.", "notFound")
        if rest == "/rrsets" and method == "GET":
            name, rtype = q.get("name"), q.get("type")
            out = [{"kind": "dns#resourceRecordSet", "name": n, "type": "TXT",
                    "ttl": rr["ttl"], "rrdatas": list(rr["rrdatas"])}
                   for n, rr in sorted(self.rrsets[zone].items())
                   if (name is None or _name(name) == n) and rtype in (None, "TXT")]
            return 200, {"rrsets": out}
        if rest == "/changes" and method == "POST":
            return self._change(zone, raw)
        m = re.fullmatch(r"/changes/([^/]+)", rest or "")
        if m and method == "GET":
            ch = self.changes.get(m.group(1))
            if ch is None or ch["zone"] != zone:
                return _err(404, "NOT_FOUND", f"The 'parameters.changeId' resource named "
                            f"'{m.group(1)}' does not exist.", "notFound")
            ch["polls"] += 1
            if ch["status"] == "pending" and ch["polls"] > self.pending_polls:
                ch["status"] = "done"
                for n in ch["names"]:
                    rr = self.rrsets[zone].get(n)
                    common.publish_txt(self.lab, n, rr["rrdatas"] if rr else [],
                                       content=lambda x: x)
            return 200, self._change_doc(m.group(1))
        return _err(404, "NOT_FOUND", f"no operation {method} {url.path}", "notFound")

    def _change(self, zone, raw):
        try:
            body = json.loads(raw)
        except ValueError:
            return _err(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        adds, dels = body.get("additions", []), body.get("deletions", [])
        if self.before_change is not None:
            hook, self.before_change = self.before_change, None
            hook(self)
        if not adds and not dels:
            return _err(400, "INVALID_ARGUMENT", "The 'entity.change' parameter is required "
                        "but was missing.", "required")
        state = {n: dict(rr) for n, rr in self.rrsets[zone].items()}
        dns_name = self.zones[zone]["dnsName"]
        for i, d in enumerate(dels):
            cur = state.get(_name(d.get("name", "")))
            if d.get("type") != "TXT" or cur is None or cur["ttl"] != d.get("ttl") or \
                    sorted(cur["rrdatas"]) != sorted(d.get("rrdatas", [])):
                return _err(412, "FAILED_PRECONDITION", f"Precondition not met for "
                            f"'entity.change.deletions[{i}]'", "conditionNotMet")
            del state[_name(d["name"])]
        for i, a in enumerate(adds):
            name = _name(a.get("name", ""))
            if not (name == dns_name or name.endswith("." + dns_name)):
                return _err(400, "INVALID_ARGUMENT", f"Invalid value for "
                            f"'entity.change.additions[{i}].name': '{name}'", "invalid")
            datas = a.get("rrdatas", [])
            if a.get("type") != "TXT" or not isinstance(a.get("ttl"), int) or not datas or \
                    any(_txt_decode(d) is None for d in datas):
                return _err(400, "INVALID_ARGUMENT", f"Invalid value for "
                            f"'entity.change.additions[{i}]'", "invalid")
            if name in state:
                return _err(409, "ALREADY_EXISTS", f"The resource 'entity.change.additions[{i}]' "
                            f"named '{name} (TXT)' already exists", "alreadyExists")
            state[name] = {"ttl": a["ttl"], "rrdatas": list(datas)}
        self.rrsets[zone] = state
        cid = str(len(self.changes) + 1)
        self.changes[cid] = {"zone": zone, "polls": 0, "status": "pending", "additions": adds,
                             "deletions": dels,
                             "names": {_name(x["name"]) for x in adds + dels}}
        return 200, self._change_doc(cid)

    def _change_doc(self, cid):
        ch = self.changes[cid]
        return {"kind": "dns#change", "id": cid, "status": ch["status"],
                "additions": ch["additions"], "deletions": ch["deletions"],
                "startTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}


def main():
    _args, lab, host, port = common.standalone("A fake Google Cloud DNS for the lab.")
    fake = GcloudFake(lab, host, port).start()
    common.serve(fake, {"service_account_key": fake.key_json, "endpoint": fake.endpoint})


if __name__ == "__main__":
    main()
