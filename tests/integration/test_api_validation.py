"""Bad input to the admin API: every case gets 400 application/problem+json whose
"detail" names the field at fault (and "field" is that field), and the row counts
of certificates, jobs, dns_providers and audit_events do not change. One serve and
one database serve the whole module (api_module); each case compares the counts
before and after itself."""
import pytest

from openapi import api_module  # noqa: F401 (fixture)

ALIAS = "example.test.rfc-alias.test"


def base():
    return {"id": "good", "domains": ["*.example.test", "example.test"], "dns_alias": ALIAS,
            "provider": "p-one", "key_type": "ec256", "hosts": ["web-01"]}


def without(key):
    d = base()
    del d[key]
    return d


def with_(**kw):
    d = base()
    d.update(kw)
    return d


def pair_map(a, b):
    return {"*.example.test": a, "example.test": b}


LONG_LABEL = "a" * 64 + ".example.test"
LONG_NAME = ".".join(["a" * 50] * 5) + ".test"  # 254 + 5 > 253
TOO_MANY = [f"h{i}.example.test" for i in range(101)]  # CERTFLEET_MAX_NAMES is 100

# (case id, body: dict/list/str (str = raw text), expected field)
CERT_CASES = [
    ("id-uppercase", with_(id="Web"), "id"),
    ("id-underscore", with_(id="web_1"), "id"),
    ("id-too-long", with_(id="a" * 64), "id"),
    ("id-leading-hyphen", with_(id="-web"), "id"),
    ("id-missing", without("id"), "id"),
    ("id-not-string", with_(id=5), "id"),
    ("domains-missing", without("domains"), "domains"),
    ("domains-empty", with_(domains=[]), "domains"),
    ("domains-not-array", with_(domains="example.test"), "domains"),
    ("domain-not-string", with_(domains=[1], dns_alias=None), "domains[0]"),
    ("domain-empty-label", with_(domains=["a..example.test"], dns_alias=None), "domains[0]"),
    ("domain-one-label", with_(domains=["localhost"], dns_alias=None), "domains[0]"),
    ("domain-label-too-long", with_(domains=[LONG_LABEL], dns_alias=None), "domains[0]"),
    ("domain-name-too-long", with_(domains=[LONG_NAME], dns_alias=None), "domains[0]"),
    ("wildcard-not-leftmost", with_(domains=["www.*.example.test"]), "domains[0]"),
    ("wildcard-partial-label", with_(domains=["*www.example.test"]), "domains[0]"),
    ("wildcard-twice", with_(domains=["*.*.example.test"]), "domains[0]"),
    ("domain-underscore", with_(domains=["_x.example.test"]), "domains[0]"),
    ("domain-non-ascii", with_(domains=["bücher.example.test"]), "domains[0]"),
    ("domain-ip-address", with_(domains=["192.0.2.1"]), "domains[0]"),
    ("domain-duplicate", with_(domains=["example.test", "EXAMPLE.test."]), "domains[1]"),
    ("too-many-names", with_(domains=TOO_MANY), "domains"),
    ("alias-not-a-name", with_(dns_alias="not an alias"), "dns_alias"),
    ("alias-one-label", with_(dns_alias="alias"), "dns_alias"),
    ("alias-wrong-type", with_(dns_alias=5), "dns_alias"),
    ("alias-map-extra-name", with_(dns_alias={**pair_map(ALIAS, ALIAS),
                                              "other.example.test": ALIAS}),
     'dns_alias["other.example.test"]'),
    ("alias-map-missing-name", with_(dns_alias={"example.test": ALIAS}), "dns_alias"),
    ("alias-map-split-record", with_(dns_alias=pair_map(ALIAS, "b." + ALIAS)), "dns_alias"),
    ("alias-map-bad-target", with_(dns_alias=pair_map(ALIAS, "bad..target")),
     'dns_alias["example.test"]'),
    ("alias-map-auto-value", with_(dns_alias=pair_map("auto", "auto")),
     'dns_alias["*.example.test"]'),
    ("alias-map-empty", with_(dns_alias={}), "dns_alias"),
    ("alias-map-key-twice", with_(dns_alias={**pair_map(ALIAS, ALIAS), "Example.Test": ALIAS}),
     'dns_alias["Example.Test"]'),
    ("provider-missing", without("provider"), "provider"),
    ("provider-unknown", with_(provider="nope"), "provider"),
    ("provider-not-slug", with_(provider="P One"), "provider"),
    ("provider-wrong-type", with_(provider=["p-one"]), "provider"),
    ("provider-map-missing-name", with_(provider={"example.test": "p-one"}), "provider"),
    ("provider-map-unknown", with_(domains=["example.test", "www.example.test"], dns_alias=None,
                                   provider={"example.test": "p-one",
                                             "www.example.test": "nope"}),
     'provider["www.example.test"]'),
    ("provider-map-split-record", with_(provider=pair_map("p-one", "p-two")), "provider"),
    ("provider-map-extra-name", with_(provider={**pair_map("p-one", "p-one"),
                                                "www.example.test": "p-one"}),
     'provider["www.example.test"]'),
    ("key-type-unknown", with_(key_type="ec521"), "key_type"),
    ("key-type-not-string", with_(key_type=256), "key_type"),
    ("hosts-not-array", with_(hosts="web-01"), "hosts"),
    ("host-invalid", with_(hosts=["Web_01"]), "hosts[0]"),
    ("host-duplicate", with_(hosts=["web-01", "web-01"]), "hosts[1]"),
    ("host-not-string", with_(hosts=[None]), "hosts[0]"),
    ("unknown-field", with_(colour="blue"), "colour"),
    ("body-not-object", [base()], "body"),
    ("body-empty", "", "body"),
    ("json-truncated", '{"id": "x",', "body"),
    ("json-trailing-garbage", '{"id": "x"} x', "body"),
    ("json-duplicate-key", '{"id": "a", "id": "b"}', "body"),
    ("json-not-utf8", b'{"id": "\xff"}', "body"),
]


@pytest.fixture(scope="module")
def cert_api(api_module, lab):
    for name in ("p-one", "p-two"):
        r = api_module.post("/v1/providers", json={
            "name": name, "type": "rfc2136", "settings": {"server": lab["LAB_BIND"]}})
        assert r.status_code == 201, r.text
    return api_module


def post(api, path, body):
    if isinstance(body, (str, bytes)):
        return api.post(path, data=body, headers={"Content-Type": "application/json"})
    return api.post(path, json=body)


def assert_refused(api, path, body, field):
    before = api.counts()
    r = post(api, path, body)
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    p = r.json()
    assert p["field"] == field, p
    assert p["detail"].startswith(field + ":"), p["detail"]
    assert field in [e["field"] for e in p["errors"]]
    assert api.counts() == before
    return p


def test_the_table_is_large_enough():
    assert len(CERT_CASES) >= 30


@pytest.mark.parametrize("body,field", [c[1:] for c in CERT_CASES], ids=[c[0] for c in CERT_CASES])
def test_bad_certificate(cert_api, body, field):
    assert_refused(cert_api, "/v1/certificates", body, field)


def test_the_base_document_is_good(cert_api):
    """The cases above differ from a valid document by their one fault."""
    r = cert_api.post("/v1/certificates", json=base())
    assert r.status_code == 201, r.text
    assert cert_api.delete("/v1/certificates/good").status_code == 204


def test_every_fault_is_listed(cert_api):
    p = assert_refused(cert_api, "/v1/certificates",
                       with_(id="Bad", key_type="x", hosts=["-h"], colour=1), "colour")
    assert {e["field"] for e in p["errors"]} == {"colour", "id", "key_type", "hosts[0]"}
    assert all(e["detail"].startswith(e["field"] + ":") for e in p["errors"])


def provider_base(lab, **settings):
    s = {"server": lab["LAB_BIND"], "tsig_name": "k", "tsig_secret": "c2VjcmV0LXZhbHVl"}
    s.update(settings)
    return {"name": "prov", "type": "rfc2136", "settings": {k: v for k, v in s.items()
                                                            if v is not None}}


PROVIDER_CASES = [
    ("name-missing", lambda b: b.pop("name"), "name"),
    ("name-not-slug", lambda b: b.update(name="Lab Bind"), "name"),
    ("type-missing", lambda b: b.pop("type"), "type"),
    ("type-unknown", lambda b: b.update(type="bind9"), "type"),
    ("settings-missing", lambda b: b.pop("settings"), "settings"),
    ("settings-not-object", lambda b: b.update(settings="server=x"), "settings"),
    ("setting-not-string", lambda b: b["settings"].update(ttl=60), "settings.ttl"),
    ("setting-unknown", lambda b: b["settings"].update(colour="x"), "settings.colour"),
    ("server-missing", lambda b: b["settings"].pop("server"), "settings.server"),
    ("server-bad-port", lambda b: b["settings"].update(server="127.0.0.1:99999"),
     "settings.server"),
    ("ttl-out-of-range", lambda b: b["settings"].update(ttl="0"), "settings.ttl"),
    ("tsig-algorithm-unknown", lambda b: b["settings"].update(tsig_algorithm="hmac-md5"),
     "settings.tsig_algorithm"),
    ("tsig-secret-not-base64", lambda b: b["settings"].update(tsig_secret="not*base64!"),
     "settings.tsig_secret"),
    ("tsig-secret-without-name", lambda b: b["settings"].pop("tsig_name"), "settings.tsig_name"),
    ("unknown-field", lambda b: b.update(enabled=True), "enabled"),
]


@pytest.mark.parametrize("mutate,field", [c[1:] for c in PROVIDER_CASES],
                         ids=[c[0] for c in PROVIDER_CASES])
def test_bad_provider(cert_api, lab, mutate, field):
    body = provider_base(lab)
    mutate(body)
    p = assert_refused(cert_api, "/v1/providers", body, field)
    assert "not*base64!" not in p["detail"]  # a secret value is never echoed


def test_the_provider_base_is_good(cert_api, lab):
    r = cert_api.post("/v1/providers", json=provider_base(lab))
    assert r.status_code == 201, r.text
    assert cert_api.delete("/v1/providers/prov").status_code == 204


def test_body_over_the_limit(cert_api):
    before = cert_api.counts()
    r = cert_api.post("/v1/certificates", data="x" * (1024 * 1024 + 10))
    assert r.status_code == 413
    assert cert_api.counts() == before
