"""Every list of the API takes `limit` and `cursor`: pages in a fixed order, each at
most `limit` items, `next` (a cursor, absent on the last page) in the answer and a
Link rel="next" header that repeats the other query parameters. Walking the pages
gives exactly the full list, in order, without duplicates; an item inserted while
walking does not shift the pages (keyset, no offset); a cursor that is not one,
or a limit out of range, is a 400 naming the parameter. `hosts` is capped at
1,000 names."""
import re

import pytest

from hostlib import Pki, seed_version, start_hosts_api
from service import db_url  # noqa: F401 (fixture)


@pytest.fixture
def api(certfleet, db_url, lab):
    api, serve = start_hosts_api(certfleet, db_url, CERTFLEET_ACME_DIRECTORY=lab["LAB_ACME_DIR"],
                                 CERTFLEET_ACME_CA_FILE=lab["LAB_ACME_TLS_CA"])
    try:
        yield api
    finally:
        serve.__exit__(None, None, None)


def walk(api, path, member, limit, **query):
    """Every page of path with limit; returns (items, pages)."""
    items, pages, cursor = [], 0, None
    while True:
        params = dict(query, limit=limit)
        if cursor:
            params["cursor"] = cursor
        qs = "&".join(f"{k}={v}" for k, v in params.items())
        r = api.get(f"{path}?{qs}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body[member]) <= limit
        items += body[member]
        pages += 1
        cursor = body.get("next")
        link = r.headers.get("Link")
        if cursor is None:
            assert link is None, link
            return items, pages
        m = re.fullmatch(r'<([^>]*)>; rel="next"', link or "")
        assert m, link
        assert m.group(1).startswith(f"{path}?cursor={cursor}")
        for k, v in query.items():
            assert f"&{k}={v}" in m.group(1), (k, link)
        assert pages < 100


def same(full, paged, key):
    assert [key(x) for x in paged] == [key(x) for x in full]
    assert len({key(x) for x in paged}) == len(paged)


def test_every_list_pages(api, lab):
    pki = Pki()
    for i in range(5):
        api.bind_provider(lab, name=f"p{i}")
    for i in range(7):
        api.certificate(f"c{i}", ["web-01"], provider="p0")
        api.host_token(f"h{i}")
    for _ in range(5):
        seed_version(api.db_url, "c3", pki)
    cases = [("/v1/providers", "providers", lambda x: x["name"], {}),
             ("/v1/certificates", "certificates", lambda x: x["id"], {}),
             ("/v1/certificates", "certificates", lambda x: x["id"], {"expiring_within": "400d"}),
             ("/v1/tokens", "tokens", lambda x: x["id"], {}),
             ("/v1/jobs", "jobs", lambda x: x["id"], {}),
             ("/v1/jobs", "jobs", lambda x: x["id"], {"certificate": "c2"}),
             ("/v1/audit", "events", lambda x: x["id"], {}),
             ("/v1/audit", "events", lambda x: x["id"], {"action": "token.create"}),
             ("/v1/certificates/c3/versions", "versions", lambda x: x["version"], {}),
             ("/v1/issuers", "issuers", lambda x: x["name"], {})]
    for path, member, key, query in cases:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        r = api.get(f"{path}?{qs}&limit=1000" if qs else f"{path}?limit=1000")
        assert r.status_code == 200, (path, r.text)
        full = r.json()[member]
        assert "next" not in r.json() and "Link" not in r.headers
        assert full, (path, query)
        for limit in (1, 2, 3):
            paged, pages = walk(api, path, member, limit, **query)
            same(full, paged, key)
            assert pages == max(1, -(-len(full) // limit)) or pages == -(-len(full) // limit) + 1
        # the default page is 100 items
        assert len(api.get(path + (f"?{qs}" if qs else "")).json()[member]) == min(100, len(full))
    # an insert while walking does not shift the pages
    r = api.get("/v1/providers?limit=2")
    first = [p["name"] for p in r.json()["providers"]]
    api.bind_provider(lab, name="a-first")  # sorts before every page after this one
    rest, _ = walk(api, "/v1/providers", "providers", 2)
    r2 = api.get(f"/v1/providers?limit=100&cursor={r.json()['next']}")
    assert [p["name"] for p in r2.json()["providers"]] == \
        [n for n in ["p2", "p3", "p4"]], (first, r2.text)


@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
    ("cursor=nope", "cursor"), ("cursor=WyJhIl0", None), ("cursor=WyJhIiwiYiIsImMiXQ", "cursor"),
    ("cursor=" + "A" * 2000, "cursor")])
def test_bad_limit_or_cursor(api, query, field):
    for path in ("/v1/providers", "/v1/certificates", "/v1/tokens", "/v1/issuers"):
        r = api.get(f"{path}?{query}")
        if field is None:  # ["a"]: a cursor of a one-key list
            assert r.status_code == (200 if path in ("/v1/providers", "/v1/certificates",
                                                     "/v1/issuers") else 400), (path, r.text)
            continue
        assert r.status_code == 400, (path, query, r.text)
        assert r.json()["field"] == field, r.text


def test_forged_cursors_are_a_400(api):
    import base64
    import json

    def cur(*parts):
        return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")
    for path, c in (("/v1/tokens", cur("yesterday", "x")), ("/v1/audit", cur("2025-01-01", "1x")),
                    ("/v1/jobs", cur("2025-01-01'; --", "x")),
                    ("/v1/certificates/c/versions", cur("-1")),
                    ("/v1/certificates?expiring_within=7d&x=1", cur("soon", "c"))):
        sep = "&" if "?" in path else "?"
        r = api.get(f"{path}{sep}cursor={c}")
        assert r.status_code == 400 and r.json()["field"] == "cursor", (path, r.text)


def test_hosts_is_capped(api, lab):
    api.bind_provider(lab)
    hosts = [f"h{i}" for i in range(1001)]
    r = api.post("/v1/certificates", json={"id": "many", "domains": ["example.test"],
                                           "provider": "lab-bind", "hosts": hosts})
    assert r.status_code == 400 and r.json()["field"] == "hosts", r.text
    assert "1000" in r.json()["detail"]
    r = api.post("/v1/certificates", json={"id": "many", "domains": ["example.test"],
                                           "provider": "lab-bind", "hosts": hosts[:1000]})
    assert r.status_code == 201, r.text
    r = api.patch("/v1/certificates/many", json={"hosts": hosts})
    assert r.status_code == 400 and r.json()["field"] == "hosts", r.text
