"""The records-API providers (digitalocean, hetzner, ovh, gandi, linode, desec, httpreq)
through the SERVICE: each configured with POST /v1/providers (its secrets sealed:
never in an answer, only named under "secrets"; a bad setting refused with 400 naming
settings.<key>, nothing stored; the type list of api/openapi.yaml is the registry's),
then one serve issues a wildcard + apex certificate
through each of the seven fakes (fakes/rest_fakes.py) in turn, and every value it
wrote is gone afterwards, at the fake and at PowerDNS. deSEC's fake rate-limits the
first two requests (429 with Retry-After: 1): the worker waits and the job is issued
on its first attempt.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "fakes"))

import labdns  # noqa: E402
import test_service_providers as tsp  # noqa: E402  (issue_pair)
from openapi import spec  # noqa: E402
from rest_fakes import APIS, settings_of  # noqa: E402
from service import db_url  # noqa: E402,F401 (fixture)
from workerlib import fleet  # noqa: E402,F401 (fixture)

KIND = {"digitalocean": "do", "hetzner": "hetzner", "ovh": "ovh", "gandi": "gandi",
        "linode": "linode", "desec": "desec", "httpreq": "httpreq"}
SECRETS = {"api_token", "application_secret", "consumer_key", "password"}
# one bad setting per provider type, and the field the service names
BAD = {"digitalocean": ("ttl", "5"), "hetzner": ("api_url", "http://192.0.2.1/api/v1"),
       "ovh": ("application_key", ""), "gandi": ("ttl", "60"), "linode": ("zone", "a..b"),
       "desec": ("api_token", "a b"), "httpreq": ("endpoint", "ftp://127.0.0.1/dns")}


def test_seven_providers_through_the_service(fleet, lab):  # noqa: F811
    fakes = {}
    try:
        for ptype, cls in APIS.items():
            kw = {"username": "certfleet", "password": "pw-secret-42"} \
                if ptype == "httpreq" else {}
            if ptype == "desec":
                kw = {"throttle": 2, "retry_after": 1}
            fakes[ptype] = cls(lab, **kw).start()
        fleet.start(CERTFLEET_WORKERS=2)
        # api/openapi.yaml's ProviderType enum is exactly the registry's list
        r = fleet.api.post("/v1/providers", json={"name": "x", "type": "nope", "settings": {}})
        known = r.json()["detail"].split("(known: ")[1].rstrip(")").split(", ")
        assert sorted(known) == sorted(spec()["components"]["schemas"]["ProviderType"]["enum"])
        for ptype, fake in fakes.items():
            settings = settings_of(ptype, fake)
            key, bad = BAD[ptype]
            r = fleet.api.post("/v1/providers", json={
                "name": f"lab-{ptype}", "type": ptype, "settings": {**settings, key: bad}})
            assert r.status_code == 400, r.text
            assert r.json()["field"] == f"settings.{key}", r.text
            r = fleet.api.post("/v1/providers", json={"name": f"lab-{ptype}", "type": ptype,
                                                      "settings": settings})
            assert r.status_code == 201, r.text
            for k in SECRETS & set(settings):
                assert settings[k] not in r.text and k in r.json()["secrets"], r.text
            r = fleet.api.get(f"/v1/providers/lab-{ptype}")
            assert all(settings[k] not in r.text for k in SECRETS & set(settings))

        for ptype, fake in fakes.items():
            base = f"{KIND[ptype]}4.example.test"
            target = f"{base}.{KIND[ptype]}-alias.test"
            tsp.issue_pair(fleet, f"{KIND[ptype]}4", base, target, f"lab-{ptype}")
            assert fake.values(target) == [], ptype
            assert labdns.txt(lab["LAB_PDNS"], target) == [], ptype
        assert [r[4] for r in fakes["desec"].requests[:2]] == [429, 429]
        logs = fleet.logs()
        for ptype, fake in fakes.items():
            settings = settings_of(ptype, fake)
            assert all(settings[k] not in logs for k in SECRETS & set(settings)), ptype
    finally:
        for fake in fakes.values():
            fake.stop()
