"""A fake Azure DNS (ARM record sets, api-version 2018-05-01), Microsoft identity
platform token endpoint and managed-identity endpoint (IMDS), for the
integration tests.

It speaks the calls certfleet's azure provider makes, with Azure's JSON:

  POST /{tenant}/oauth2/v2.0/token   client credentials (a form: grant_type,
        client_id, client_secret, scope "<management>/.default"). A wrong secret
        is 401 {"error": "invalid_client", "error_description": "AADSTS7000215:
        Invalid client secret provided. ...", "error_codes": [7000215], ...}; an
        unknown tenant 400 AADSTS90002, an unknown client 400 AADSTS700016.
  GET  /metadata/identity/oauth2/token?api-version=2018-02-01&resource=
        the managed identity's token; without "Metadata: true" 400
        invalid_request. expires_in comes as a string, as IMDS sends it.
  GET  /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/dnsZones
  GET|PUT|DELETE .../dnsZones/{zone}/TXT/{relative}?api-version=2018-05-01
        record sets {"id", "name", "type", "etag", "properties": {"TTL", "fqdn",
        "TXTRecords": [{"value": [strings of at most 255]}]}}; a PUT or DELETE
        with If-Match of another etag, or If-None-Match: * on an existing set,
        is 412 PreconditionFailed. PUT answers 201 (created) or 200; DELETE 200,
        or 204 when there was nothing.

Every management call needs "Authorization: Bearer <a token this fake issued>":
otherwise 401 {"error": {"code": "InvalidAuthenticationToken", ...}}. Another
subscription is 404 SubscriptionNotFound, another resource group 404
ResourceGroupNotFound, an api-version other than 2018-05-01 400.

So that a CA sees the values, every PUT and DELETE PUBLISHES the record set into
the lab's PowerDNS (zone az-alias.test) before it is answered.

Use in a test:
    with AzureFake(lab) as fake:
        ... fake.settings() (the provider's settings), fake.values(name),
        fake.requests, fake.token_requests ...

Standalone: python3 azure_fake.py --env LAB_DIR/env (prints the settings as JSON).
"""

import json
import re
import secrets
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fakes import common  # noqa: E402  (tests/integration/fakes/common.py)

ZONE = "az-alias.test"
API_VERSION = "2018-05-01"


def _arm_err(status, code, message):
    return status, {"error": {"code": code, "message": message}}


def _aad_err(status, error, code, text):
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    return status, {"error": error,
                    "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\n"
                                         f"Correlation ID: {corr}\r\nTimestamp: "
                                         f"{time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}",
                    "error_codes": [code], "trace_id": trace, "correlation_id": corr}


def _pdns_content(value):
    """VALUE as PowerDNS TXT content: quoted strings of at most 255 bytes."""
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


class _Handler(common.QuietHandler):
    server_version = "azure-fake"

    def _serve(self, method):
        raw = self.read_body()
        status, doc = self.server.fake.handle(method, self.path, dict(self.headers.items()),
                                              raw)
        if doc is None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_json(status, doc)

    def do_GET(self):  # noqa: N802
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_PUT(self):  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")


class AzureFake(common.FakeServer):
    def __init__(self, lab, host="127.0.0.1", port=0):
        super().__init__(_Handler, host, port)
        self.lab = lab
        self.tenant = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        self.client_secret = "Xy8Q~" + secrets.token_urlsafe(30)
        self.subscription = str(uuid.uuid4())
        self.resource_group = "dns-rg"
        self.zones = [ZONE, "other.test"]
        self.rrsets = {z: {} for z in self.zones}  # zone -> {relative: {"etag", "ttl", "values"}}
        self.tokens = set()
        self.before_write = None  # a callable run (lock held) before the next PUT/DELETE
        self.requests = []        # (method, path, status)
        self.token_requests = []  # ("client_credentials" | "msi", status)
        self._lock = threading.Lock()

    def settings(self, **extra):
        return {"subscription_id": self.subscription, "resource_group": self.resource_group,
                "tenant_id": self.tenant, "client_id": self.client_id,
                "client_secret": self.client_secret, "management_endpoint": self.base_url,
                "login_endpoint": self.base_url, **extra}

    def msi_settings(self, **extra):
        return {"subscription_id": self.subscription, "resource_group": self.resource_group,
                "use_managed_identity": "true", "management_endpoint": self.base_url,
                "identity_endpoint": self.base_url + "/metadata/identity/oauth2/token",
                **extra}

    @staticmethod
    def _rel(name):
        name = name.rstrip(".").lower()
        return "@" if name == ZONE else name[:-len(ZONE) - 1]

    def values(self, name):
        with self._lock:
            rr = self.rrsets[ZONE].get(self._rel(name))
            return sorted("".join(r["value"]) for r in rr["records"]) if rr else []

    def set_values(self, name, values):
        """Writes the record set directly (as another client would; lock held or from
        before_write): a new etag, published."""
        rel = self._rel(name)
        if values:
            self.rrsets[ZONE][rel] = {"etag": str(uuid.uuid4()), "ttl": 60,
                                      "records": [{"value": [v]} for v in values]}
        else:
            self.rrsets[ZONE].pop(rel, None)
        self._publish(ZONE, rel)

    def calls(self, method, pattern):
        return [r for r in self.requests if r[0] == method and re.search(pattern, r[1])]

    # ---- dispatch ----

    def handle(self, method, target, headers, raw):
        with self._lock:
            url = urlsplit(target)
            h = {k.lower(): v for k, v in headers.items()}
            try:
                status, doc = self._dispatch(method, url, h, raw)
            except Exception as e:  # noqa: BLE001 (PowerDNS down: an internal error)
                status, doc = _arm_err(500, "InternalServerError", str(e)[:200])
            self.requests.append((method, url.path, status))
            return status, doc

    def _dispatch(self, method, url, h, raw):
        q = dict(parse_qsl(url.query))
        m = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", url.path)
        if m and method == "POST":
            status, doc = self._token(unquote(m.group(1)), dict(parse_qsl(raw.decode())))
            self.token_requests.append(("client_credentials", status))
            return status, doc
        if url.path == "/metadata/identity/oauth2/token" and method == "GET":
            status, doc = self._msi(q, h)
            self.token_requests.append(("msi", status))
            return status, doc
        auth = h.get("authorization", "")
        if not auth:
            return _arm_err(401, "AuthenticationFailed",
                            "Authentication failed. The 'Authorization' header is missing.")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return _arm_err(401, "InvalidAuthenticationToken", "The access token is invalid.")
        m = re.fullmatch(r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/"
                         r"Microsoft\.Network/dnsZones(?:/([^/]+)/TXT/([^/]+))?", url.path)
        if m is None:
            return _arm_err(404, "NotFound", f"no route {method} {url.path}")
        if q.get("api-version") != API_VERSION:
            return _arm_err(400, "InvalidApiVersionParameter",
                            f"The api-version '{q.get('api-version')}' is invalid.")
        sub, rg, zone, rel = m.groups()
        if sub != self.subscription:
            return _arm_err(404, "SubscriptionNotFound", f"The subscription '{sub}' could not "
                            "be found.")
        if rg.lower() != self.resource_group:
            return _arm_err(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not "
                            "be found.")
        base = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnsZones"
        if zone is None and method == "GET":
            return 200, {"value": [{"id": f"{base}/{z}", "name": z,
                                    "type": "Microsoft.Network/dnszones", "location": "global",
                                    "properties": {"numberOfRecordSets": len(self.rrsets[z])}}
                                   for z in self.zones]}
        zone, rel = unquote(zone).lower(), unquote(rel).lower()
        if zone not in self.zones:
            return _arm_err(404, "ResourceNotFound", f"The Resource 'Microsoft.Network/"
                            f"dnszones/{zone}' under resource group '{rg}' was not found.")
        cur = self.rrsets[zone].get(rel)
        doc = lambda rr: {  # noqa: E731
            "id": f"{base}/{zone}/TXT/{rel}", "name": rel, "type": "Microsoft.Network/dnszones/TXT",
            "etag": rr["etag"], "properties": {
                "TTL": rr["ttl"], "fqdn": (zone if rel == "@" else f"{rel}.{zone}") + ".",
                "provisioningState": "Succeeded", "TXTRecords": rr["records"]}}
        if method == "GET":
            if cur is None:
                return _arm_err(404, "NotFound", f"The resource record '{rel}' does not exist "
                                f"in resource group '{rg}' of subscription '{sub}'.")
            return 200, doc(cur)
        if method not in ("PUT", "DELETE"):
            return _arm_err(405, "MethodNotAllowed", method)
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook(self)
            cur = self.rrsets[zone].get(rel)
        if_match, if_none = h.get("if-match"), h.get("if-none-match")
        if (if_match is not None and (cur is None or if_match != cur["etag"])) or \
                (if_none == "*" and cur is not None):
            return _arm_err(412, "PreconditionFailed", f"The condition '{if_match or if_none}' "
                            f"in the {'If-Match' if if_match else 'If-None-Match'} header was "
                            f"not satisfied. The current was "
                            f"'{cur['etag'] if cur else 'n/a'}'.")
        if method == "DELETE":
            if cur is None:
                return 204, None
            del self.rrsets[zone][rel]
            self._publish(zone, rel)
            return 200, None
        try:
            props = json.loads(raw)["properties"]
            ttl, records = props["TTL"], props["TXTRecords"]
            assert isinstance(ttl, int) and records
            assert all(r["value"] and all(isinstance(s, str) and len(s.encode()) <= 255
                                          for s in r["value"]) for r in records)
        except (ValueError, KeyError, TypeError, AssertionError):
            return _arm_err(400, "BadRequest", "The request body is not a valid TXT record set.")
        self.rrsets[zone][rel] = {"etag": str(uuid.uuid4()), "ttl": ttl, "records": records}
        self._publish(zone, rel)
        return (201 if cur is None else 200), doc(self.rrsets[zone][rel])

    def _token(self, tenant, form):
        if tenant != self.tenant:
            return _aad_err(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check "
                            "to make sure you have the correct tenant ID and are signing into "
                            "the correct cloud.")
        if form.get("grant_type") != "client_credentials":
            return _aad_err(400, "unsupported_grant_type", 70003, "The app requested an "
                            "unsupported grant type.")
        if form.get("client_id") != self.client_id:
            return _aad_err(400, "unauthorized_client", 700016, f"Application with identifier "
                            f"'{form.get('client_id')}' was not found in the directory.")
        if form.get("client_secret") != self.client_secret:
            return _aad_err(401, "invalid_client", 7000215, "Invalid client secret provided. "
                            "Ensure the secret being sent in the request is the client secret "
                            "value, not the client secret ID, for a secret added to app "
                            f"'{self.client_id}'.")
        if form.get("scope") != self.base_url + "/.default":
            return _aad_err(400, "invalid_scope", 1002012, f"The provided value for scope "
                            f"{form.get('scope')} is not valid.")
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(40)
        self.tokens.add(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                     "access_token": token}

    def _msi(self, q, h):
        if h.get("metadata") != "true":
            return 400, {"error": "invalid_request",
                         "error_description": "Required metadata header not specified"}
        if q.get("resource") != self.base_url + "/":
            return 400, {"error": "invalid_resource",
                         "error_description": "AADSTS500011: The resource principal named "
                                              f"{q.get('resource')} was not found."}
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(40)
        self.tokens.add(token)
        now = int(time.time())
        return 200, {"access_token": token, "expires_in": "86399",
                     "expires_on": str(now + 86399), "not_before": str(now),
                     "resource": q["resource"], "token_type": "Bearer"}

    def _publish(self, zone, rel):
        rr = self.rrsets[zone].get(rel)
        name = zone if rel == "@" else f"{rel}.{zone}"
        common.publish_txt(self.lab, name, ["".join(r["value"]) for r in rr["records"]]
                           if rr else [], content=_pdns_content)


def main():
    _args, lab, host, port = common.standalone("A fake Azure DNS for the lab.")
    fake = AzureFake(lab, host, port).start()
    common.serve(fake, fake.settings())


if __name__ == "__main__":
    main()
