"""certfleet behind PgBouncer (issue 17), the lab's two PgBouncers (tests/lab/ha: :6432
session pooling, :6433 transaction pooling, both in front of the lab's PostgreSQL):

- session pooling works for everything: a real issuance, a fetch, and the fetch
  cache's invalidation by NOTIFY when a new version is stored;
- transaction pooling loses LISTEN notifications and session advisory locks: serve
  refuses to start on it and says what to change;
- with CERTFLEET_DATABASE_DIRECT_URL (a direct connection for the listeners and the
  connections that hold session locks) the same issuance, fetch and invalidation work
  with everything else pooled in transaction mode; and a direct URL that is itself a
  transaction pooler is refused.
Skipped without the HA lab (marker ha)."""
import psycopg2
import pytest

from halib import need_ha, with_db
from hostlib import log_lines, wait_log
from service import admin_conn, db_url, run  # noqa: F401 (fixture)
from workerlib import RFC, Fleet, check_version

pytestmark = pytest.mark.ha


def bouncer_clients(lab, which, dbname):
    """The client connections PgBouncer (its admin console) holds for dbname."""
    url = with_db(lab[f"LAB_HA_PGBOUNCER_{which}_URL"], "pgbouncer")
    c = psycopg2.connect(url)
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute("SHOW CLIENTS")
            cols = [d[0] for d in cur.description]
            return [r for r in (dict(zip(cols, row)) for row in cur.fetchall())
                    if r["database"] == dbname]
    finally:
        c.close()


def issue_fetch_invalidate(fleet, n):
    """Issues c<n> (h<n>.example.test), fetches it, issues it again and sees the cache
    invalidated by the NOTIFY of the new version."""
    fleet.provider()
    cid, name = f"c{n}", f"h{n}.example.test"
    r = fleet.api.post("/v1/certificates", json={
        "id": cid, "domains": [name], "dns_alias": f"{name}.{RFC}", "provider": "lab-bind",
        "key_type": "ec256", "hosts": []})
    assert r.status_code == 201, r.text
    job = r.json()["job"]["id"]
    assert fleet.wait([job], timeout=60)[job] == "issued", fleet.timeline(job)
    check_version(fleet, cid, [name])
    serve = fleet.serves[0]
    r1 = fleet.api.get(f"/v1/certificates/{cid}/fullchain.pem")
    assert r1.status_code == 200
    loads = len(log_lines(serve, "cache.load", f"certificate {cid}"))
    assert fleet.api.get(f"/v1/certificates/{cid}/fullchain.pem").text == r1.text
    assert len(log_lines(serve, "cache.load", f"certificate {cid}")) == loads, \
        "the second fetch was not answered from the cache"
    seen = len(log_lines(serve, "cache.invalidate", f"certificate:{cid} (notify)"))
    r = fleet.api.post(f"/v1/certificates/{cid}/issue", json={})
    assert r.status_code == 202, r.text
    job2 = r.json()["job"]["id"]
    assert fleet.wait([job2], timeout=60)[job2] == "issued", fleet.timeline(job2)
    wait_log(serve, "cache.invalidate", f"certificate:{cid} (notify)", count=seen + 1)
    r2 = fleet.api.get(f"/v1/certificates/{cid}/fullchain.pem")
    assert r2.status_code == 200 and r2.text != r1.text
    check_version(fleet, cid, [name], version=2)
    assert r2.text.startswith(fleet.sql("SELECT cert_pem FROM certificate_versions WHERE "
                                        "certificate_id = %s AND version = 2", (cid,))[0][0])


def dbname_of(url):
    return url.rsplit("/", 1)[1]


def test_session_pooling_works_for_everything(certfleet, lab, db_url):  # noqa: F811
    need_ha(lab)
    name = dbname_of(db_url)
    pooled = with_db(lab["LAB_HA_PGBOUNCER_SESSION_URL"], name)
    fleet = Fleet(certfleet, lab, pooled)
    try:
        fleet.start(CERTFLEET_WORKERS=2)
        issue_fetch_invalidate(fleet, 261)
        # everything went through PgBouncer: its clients are the serve's connections
        # (pool, workers, both listeners).
        apps = {c["application_name"] for c in bouncer_clients(lab, "SESSION", name)}
        assert {"certfleet-cache", "certfleet-workers"} <= apps, apps
    finally:
        fleet.close()


def test_transaction_pooling_is_refused_with_what_to_change(certfleet, lab, db_url):  # noqa: F811
    need_ha(lab)
    name = dbname_of(db_url)
    pooled = with_db(lab["LAB_HA_PGBOUNCER_TRANSACTION_URL"], name)
    fleet = Fleet(certfleet, lab, db_url)  # migrated directly
    try:
        env = dict(fleet.base, CERTFLEET_DATABASE_URL=pooled, CERTFLEET_WORKERS="2")
        p = run(certfleet, ["serve"], env, timeout=30)
        assert p.returncode != 0
        assert "transaction (or statement) mode" in p.stderr, p.stderr
        assert "CERTFLEET_DATABASE_DIRECT_URL" in p.stderr and "pool_mode = session" in p.stderr
        # A direct URL that is itself the transaction pooler is refused too.
        env["CERTFLEET_DATABASE_DIRECT_URL"] = pooled
        p = run(certfleet, ["serve"], env, timeout=30)
        assert p.returncode != 0 and "CERTFLEET_DATABASE_DIRECT_URL goes through" in p.stderr, \
            p.stderr
    finally:
        fleet.close()


def test_transaction_pooling_with_the_direct_url(certfleet, lab, db_url):  # noqa: F811
    need_ha(lab)
    name = dbname_of(db_url)
    pooled = with_db(lab["LAB_HA_PGBOUNCER_TRANSACTION_URL"], name)
    fleet = Fleet(certfleet, lab, db_url)
    try:
        fleet.base["CERTFLEET_DATABASE_URL"] = pooled
        fleet.base["CERTFLEET_DATABASE_DIRECT_URL"] = db_url
        fleet.start(CERTFLEET_WORKERS=2)
        issue_fetch_invalidate(fleet, 262)
        # The listeners are direct sessions; the API's pool went through PgBouncer.
        with admin_conn(lab) as c, c.cursor() as cur:
            cur.execute("SELECT application_name FROM pg_stat_activity WHERE datname = %s",
                        (name,))
            direct = {a for (a,) in cur.fetchall()}
        assert {"certfleet-cache", "certfleet-workers"} <= direct, direct
        pooled_clients = bouncer_clients(lab, "TRANSACTION", name)
        assert pooled_clients, "the pool did not use PgBouncer"
        apps = {c["application_name"] for c in pooled_clients}
        assert not apps & {"certfleet-cache", "certfleet-workers"}, apps
    finally:
        fleet.close()
