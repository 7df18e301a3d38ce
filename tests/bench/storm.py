"""The renewal storm (issue 11): N certificates fall due at once, the primary CA allows
COUNT new orders per PER seconds, and half-way through it starts answering 503.

tests/bench/run calls run_storm() (its case "storm", in --quick too) on the runner's
lab; this module holds no lab or service code of its own: run passes its Service class
and its restart of the first Pebble.

How it goes (docs/benchmarks.md, "Renewal storm", says the same for readers):

 1. Seed. A `serve` with one worker and the scheduler off issues N one-name
    certificates `sK.storm.rfc-alias.test` (no alias: the TXT goes into the RFC 2136
    zone itself) from the issuer `default`, which is the lab's third Pebble (NET.10):
    neither the primary nor the backup CA sees the seed. One worker, because Pebble 2.4
    can deadlock under concurrent newOrders once its store is large (analysis.md).
    Then each certificate is PATCHed to `"issuers": ["le", "backup"]`.
 2. Make them due at once. Each current version's not_before/not_after is moved
    (SQL) so that its lifetime is L = 3 D + 60 s and its renewal deadline (the last
    sixth of the lifetime, what the issuers branch takes as a renewal's slack) is D
    seconds after the storm starts; the renewal plans are deleted, so the scheduler's
    next pass re-plans them at half the lifetime (short-lived), which has passed.
 3. The storm. The proxy (NET.8, in front of the first Pebble, fresh) limits orders
    to COUNT per PER seconds (Let's Encrypt's gcra) with renewals_exempt false; the
    issuer `le` is the proxy with the same limit and renewals_exempt false, `backup`
    the second Pebble (NET.9). Pebble 2.4 has no renewalInfo and the default issuer is
    NET.10, so the scheduler plans without ARI and no renewal carries `replaces`: every
    one takes a unit. A `serve` with 4 workers and the scheduler every second runs
    until every certificate has a version 2. When N/2 renewals are issued, the runner
    adds a 503 fault on every endpoint of the proxy ('*', Retry-After 1).
 4. Checks (any failure fails the benchmark): every certificate has a version 2
    created before its deadline; no job failed; at most one 429 per pause of `le`
    (its pauses seen by polling GET /v1/issuers/le every 0.2 s); per window of PER
    seconds before the 503s (windows start PER/4 before the first order, so a burst
    of units falls inside one), the orders created at the proxy and the versions
    issued by `le` are each within 10 % of COUNT; after the 503s (plus 2 s for those
    already on the wire), every version comes from `backup`.
 5. Figures: the storm's wall (from the start of the `serve` to the last version),
    the CA requests (the proxy's request log, every endpoint; the backup Pebble's
    log lines "METHOD /path -> calling handler()") per certificate.
"""
import concurrent.futures
import datetime
import time
from pathlib import Path

import requests

FULL = {"n": 1000, "count": 60, "per": 60, "deadline": 1100, "backoff_max": 30}
QUICK = {"n": 60, "count": 10, "per": 10, "deadline": 66, "backoff_max": 8}
ZONE = "storm.rfc-alias.test"
WORKERS = 4          # the storm's serve (see 1. above: Pebble's deadlock)
TOLERANCE = 0.10     # the rate, against the limit
ON_THE_WIRE_S = 2.0  # versions of le after the 503s from requests already sent


def name_of(k):
    return f"s{k}.{ZONE}"


class Proxy:
    """The CA proxy's control API (tests/lab/README.md, "The CA proxy")."""

    def __init__(self, base):
        self.base = base

    def __call__(self, method, path, body=None):
        r = requests.request(method, self.base + path, json=body, timeout=30)
        if r.status_code >= 300:
            raise RuntimeError(f"ca-proxy {method} {path}: {r.status_code} {r.text}")
        return r.json()

    def requests_log(self):
        out, since = [], 0
        while True:
            page = self("GET", f"/requests?since={since}")
            page = page.get("requests", []) if isinstance(page, dict) else page
            if not page:
                return out
            out += page
            since = page[-1]["seq"]


def pebble_requests(log_path):
    """Requests a Pebble handled so far: its log has one line per request."""
    try:
        with open(log_path, errors="replace") as f:
            return sum(1 for line in f if "-> calling handler()" in line)
    except OSError:
        return 0


def epoch(ts):
    """Seconds since the epoch of an RFC 3339 time as the API writes it."""
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def post_all(svc, items, fn, threads=4):
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(fn, items))


def seed(ctx, Service, p, log):
    lab = ctx.lab
    svc = Service(ctx, "storm")
    svc.env.update(CERTFLEET_ACME_DIRECTORY=lab["LAB_REUSE_ACME_DIR"], CERTFLEET_WORKERS="1",
                   CERTFLEET_RENEW_INTERVAL="0")
    svc.start()
    svc.provider()
    ca = Path(lab["LAB_ACME_TLS_CA"]).read_text()
    limit = {"orders": {"count": p["count"], "per_seconds": p["per"]}}
    svc.post("/v1/issuers", {"name": "le", "directory": lab["LAB_CAPROXY_DIR"], "ca_file": ca,
                             "email": "bench@example.test", "limits": limit,
                             "renewals_exempt": False})
    svc.post("/v1/issuers", {"name": "backup", "directory": lab["LAB_BACKUP_ACME_DIR"],
                             "ca_file": ca, "email": "bench@example.test"})
    t = time.monotonic()

    def create(k):
        svc.post("/v1/certificates", {"id": f"s{k}", "domains": [name_of(k)],
                                      "provider": "lab-bind", "key_type": "ec256"})
    post_all(svc, range(1, p["n"] + 1), create)
    issued, failed = svc.wait_jobs(p["n"], timeout=max(120, p["n"]))
    if issued != p["n"]:
        raise RuntimeError(f"storm seed: {issued} of {p['n']} issued, {failed} failed")

    def patch(k):
        r = svc.session().patch(f"{svc.base}/v1/certificates/s{k}",
                                json={"issuers": ["le", "backup"]}, timeout=30)
        if r.status_code != 200:
            raise RuntimeError(f"PATCH s{k}: {r.status_code} {r.text}")
    post_all(svc, range(1, p["n"] + 1), patch)
    log(f"  seeded {p['n']} certificates at the issuer default (NET.10) in "
        f"{time.monotonic() - t:.1f} s")
    svc.stop()
    (jobs,), = svc.db.q("SELECT count(*) FROM jobs")
    if jobs != p["n"]:
        raise RuntimeError(f"storm seed: {jobs} jobs after the PATCHes, {p['n']} expected")
    return svc


def make_due(svc, p):
    """Lifetime L = 3 D + 60 s, deadline (not_after - L/6) D s from now, so half the
    lifetime (the short-lived plan) has passed; no plan: the scheduler re-plans."""
    life = 3 * p["deadline"] + 60
    svc.db.q("UPDATE certificate_versions SET not_after = now() + make_interval(secs => %s), "
             "not_before = now() + make_interval(secs => %s)",
             (p["deadline"] + life / 6, p["deadline"] + life / 6 - life))
    svc.db.q("DELETE FROM renewal_plans")
    rows = svc.db.q("SELECT certificate_id, extract(epoch FROM not_after) - "
                    "extract(epoch FROM not_after - not_before) / 6 FROM certificate_versions")
    return {c: float(d) for c, d in rows}


class PauseWatch:
    """Pauses of an issuer as GET /v1/issuers/{name} shows them: a new pause when the
    pause's end changes after the previous one has passed (an extension is the same
    pause), with its reason."""

    def __init__(self, svc, name):
        self.svc, self.name, self.pauses = svc, name, []
        self.errors = 0

    def poll(self):
        try:
            r = self.svc.get(f"/v1/issuers/{self.name}")
            paused = r.json()["state"]["paused"] if r.status_code == 200 else None
        except (requests.RequestException, ValueError, KeyError):
            self.errors += 1
            return
        if not paused:
            return
        until, now = paused.get("until"), time.time()
        until_s = epoch(until)
        last = self.pauses[-1] if self.pauses else None
        if last and last["until"] == until:
            return
        if last and now < last["until_s"]:
            last["until"], last["until_s"] = until, until_s
            last["extended"] += 1
            return
        self.pauses.append({"at": now, "until": until, "until_s": until_s,
                            "reason": paused.get("reason") or "", "extended": 0})

def windows(times, t_first, per, t_end):
    """Counts of times per window of per seconds, from t_first - per/4, for the
    windows that end by t_end."""
    out, start = [], t_first - per / 4
    while start + per <= t_end:
        out.append(sum(1 for t in times if start <= t < start + per))
        start += per
    return out


def run_storm(ctx, Service, restart_pebble, quick, log):
    p = dict(QUICK if quick else FULL)
    lab = ctx.lab
    res = {"params": p, "problems": [], "workers": WORKERS,
           "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    missing = [k for k in ("LAB_CAPROXY_CONTROL", "LAB_CAPROXY_DIR", "LAB_BACKUP_ACME_DIR",
                            "LAB_REUSE_ACME_DIR") if not lab.get(k)]
    if missing:
        res["problems"].append(f"the lab lacks {', '.join(missing)} (LAB_EXTRA_CAS=0?)")
        return res
    proxy = Proxy(lab["LAB_CAPROXY_CONTROL"])
    restart_pebble(ctx)
    proxy("POST", "/reset")
    proxy("DELETE", "/faults")
    proxy("PATCH", "/config", {"limits": {"orders": {"count": p["count"],
                                                     "per_seconds": p["per"]}},
                               "renewals_exempt": False})
    log(f"  seeding {p['n']} certificates ...")
    svc = seed(ctx, Service, p, log)
    try:
        storm(ctx, svc, p, proxy, res, log)
    finally:
        svc.close()
        try:
            proxy("DELETE", "/faults")
            proxy("PATCH", "/config", {"limits": {"orders": None}, "renewals_exempt": True})
        except (requests.RequestException, RuntimeError):
            pass
    return res


def storm(ctx, svc, p, proxy, res, log):
    lab, n = ctx.lab, p["n"]
    backup_log = Path(lab["LAB_DIR"]) / "pebble-backup" / "log"
    proxy("POST", "/counters/reset")
    backup0 = pebble_requests(backup_log)
    deadlines = make_due(svc, p)
    svc.env.update(CERTFLEET_WORKERS=str(WORKERS), CERTFLEET_RENEW_INTERVAL="1",
                   CERTFLEET_ISSUER_BACKOFF_MAX=str(p["backoff_max"]))
    t0 = time.time()
    svc.start()
    watch = PauseWatch(svc, "le")
    t503, last_change, last = None, time.monotonic(), -1
    hard_end = time.monotonic() + p["deadline"] + 120
    log(f"  storm: {n} renewals due, {p['count']} orders per {p['per']} s at le, "
        f"deadline in {p['deadline']} s")
    while True:
        (done, at_le, failed), = svc.db.q(
            "SELECT count(*), count(*) FILTER (WHERE issuer = 'le'), (SELECT count(*) FROM "
            "jobs WHERE state = 'failed') FROM certificate_versions WHERE version >= 2")
        watch.poll()
        if t503 is None and at_le >= n // 2:
            proxy("POST", "/faults", {"endpoint": "*", "kind": "503", "retry_after": 1})
            t503 = time.time()
            log(f"  {at_le} renewed at le after {t503 - t0:.0f} s: the primary answers 503 now")
        if done != last:
            last, last_change = done, time.monotonic()
        if done >= n or failed:
            break
        if time.monotonic() > hard_end or time.monotonic() - last_change > 180:
            res["problems"].append(f"stopped waiting: {done} of {n} renewed")
            break
        time.sleep(0.2)
    t_end = time.time()
    versions = svc.db.q("SELECT certificate_id, extract(epoch FROM created_at), issuer "
                        "FROM certificate_versions WHERE version >= 2")
    jobs = dict(svc.db.q("SELECT state, count(*) FROM jobs WHERE kind = 'renew' GROUP BY state"))
    queued = [float(t) - t0 for t, in svc.db.q(
        "SELECT extract(epoch FROM created_at) FROM jobs WHERE kind = 'renew' ORDER BY 1")]
    res["queued_first_10s"] = sum(1 for t in queued if t < (queued or [0])[0] + 10)
    res["last_queued"] = queued[-1] if queued else None
    moves, = svc.db.q("SELECT count(*) FROM job_events WHERE step = 'fallback'")[0]
    svc.stop()
    counters = proxy("GET", "/counters")
    reqs = [r for r in proxy.requests_log() if r["time"] >= t0 - 1]
    backup_n = pebble_requests(backup_log) - backup0
    evaluate(res, p, t0, t503, t_end, versions, deadlines, jobs, moves, counters, reqs,
             backup_n, watch)
    log(f"  storm: {res['renewed']}/{n} renewed in {res['wall']:.0f} s ({res['at_le']} at le, "
        f"{res['at_backup']} at backup), {res['ca_requests_per_cert']:.1f} CA requests per "
        f"certificate" + (f"; PROBLEMS: {res['problems'][:3]}" if res["problems"] else ""))


def evaluate(res, p, t0, t503, t_end, versions, deadlines, jobs, moves, counters, reqs,
             backup_n, watch):
    n, bad = p["n"], res["problems"]
    by_cert = {c: (float(t), iss) for c, t, iss in versions}
    res["renewed"] = len(by_cert)
    res["at_le"] = sum(1 for _, iss in by_cert.values() if iss == "le")
    res["at_backup"] = sum(1 for _, iss in by_cert.values() if iss == "backup")
    last = max((t for t, _ in by_cert.values()), default=t_end)
    res["wall"] = last - t0
    res["t503"] = None if t503 is None else t503 - t0
    res["jobs"] = jobs
    res["times"] = {iss: sorted(round(t - t0, 2) for t, i in by_cert.values() if i == iss)
                    for iss in ("le", "backup")}  # for a later --render
    res["fallback_events"] = moves
    if len(by_cert) < n:
        bad.append(f"{n - len(by_cert)} of {n} certificates not renewed")
    late = [c for c, (t, _) in by_cert.items() if t >= deadlines.get(c, 0)]
    res["late"] = len(late)
    res["min_margin"] = min((deadlines[c] - t for c, (t, _) in by_cert.items()
                             if c in deadlines), default=None)
    if late:
        bad.append(f"{len(late)} renewed after their deadline (e.g. {sorted(late)[:3]})")
    if jobs.get("failed", 0):
        bad.append(f"{jobs['failed']} renewal jobs failed")
    # 429s and the pauses they caused
    n429 = counters.get("rate_limited", 0)
    rl_pauses = [x for x in watch.pauses if "rate" in x["reason"].lower() or "429" in x["reason"]]
    res["rate_limited"], res["rl_pauses"] = n429, len(rl_pauses)
    res["pauses"] = len(watch.pauses)
    if n429 > len(rl_pauses):
        bad.append(f"{n429} answers 429 for {len(rl_pauses)} pauses of le "
                   f"(at most one per pause)")
    # the rate until the 503s: orders created at the proxy, versions issued by le
    orders = sorted(r["time"] for r in reqs if r["endpoint"] == "newOrder" and r["status"] == 201)
    le_times = sorted(t for t, iss in by_cert.values() if iss == "le")
    cut = t503 if t503 is not None else t_end
    res["order_windows"] = windows(orders, orders[0], p["per"], cut) if orders else []
    res["issue_windows"] = windows(le_times, orders[0], p["per"], cut) if orders else []
    lo, hi = p["count"] * (1 - TOLERANCE), p["count"] * (1 + TOLERANCE)
    if len(res["order_windows"]) < 2 if n >= 4 * p["count"] else not res["order_windows"]:
        bad.append(f"too few windows before the 503s to judge the rate: {res['order_windows']}")
    for what in ("order_windows", "issue_windows"):
        off = [c for c in res[what] if not lo <= c <= hi]
        if off:
            bad.append(f"{what.split('_')[0]}s per {p['per']} s before the 503s not within "
                       f"10 % of {p['count']}: {res[what]}")
    if t503 is None:
        bad.append(f"the 503s never started ({res['at_le']} renewed at le)")
    else:
        after = [c for c, (t, iss) in by_cert.items() if t > t503 + ON_THE_WIRE_S and iss != "backup"]
        if after:
            bad.append(f"{len(after)} renewed after the 503s not by backup (e.g. {after[:3]})")
        res["faults_503"] = sum(v for k, v in (counters.get("faults_fired") or {}).items()
                                if k.endswith(":503"))
    # what the CAs saw
    res["proxy_requests"] = len(reqs)
    res["proxy_by_endpoint"] = counters.get("requests", {})
    res["backup_requests"] = backup_n
    res["ca_requests_per_cert"] = (len(reqs) + backup_n) / max(1, len(by_cert))
    res["proxy_per_le_cert"] = None
    if res["at_le"]:
        ok = [r for r in reqs if t503 is None or r["time"] < t503]
        res["proxy_per_le_cert"] = len(ok) / res["at_le"]
    if res["at_backup"]:
        res["backup_per_cert"] = backup_n / res["at_backup"]
        bk = [t for t, iss in by_cert.values() if iss == "backup"]
        res["backup_windows"] = windows(bk, (t503 or t0) + p["per"] / 4, p["per"], last + p["per"])
    res["pause_polls_failed"] = watch.errors


HEAD = ["certificates", "limit at le", "503 from", "wall s", "at le", "at backup", "late",
        "failed jobs", "429s / pauses", "orders per window before the 503s",
        "CA requests per cert"]


def row(res):
    p = res["params"]
    return [str(p["n"]), f"{p['count']} per {p['per']} s",
            "-" if res.get("t503") is None else f"{res['t503']:.0f} s",
            f"{res.get('wall', 0):.0f}", str(res.get("at_le", "-")), str(res.get("at_backup", "-")),
            str(res.get("late", "-")), str((res.get("jobs") or {}).get("failed", 0)),
            f"{res.get('rate_limited', '-')} / {res.get('rl_pauses', '-')}",
            " ".join(str(c) for c in res.get("order_windows", [])) or "-",
            f"{res.get('ca_requests_per_cert', 0):.1f}"]


def doc_section(res, md_table):
    """The "Renewal storm" section of docs/benchmarks.md, as a list of lines."""
    p = res["params"]
    L = ["## Renewal storm (issue 11)\n"]
    L.append(f"Written by `tests/bench/run{' --quick' if p['n'] < 1000 else ''} --only storm` "
             f"(or a whole run) on {res.get('started', '?')}; do not edit by hand.\n")
    L.append(f"{p['n']} certificates fall due at once. The primary CA (the lab's CA proxy in "
             f"front of Pebble) allows {p['count']} new orders per {p['per']} s (Let's "
             "Encrypt's gcra limiter); renewals are not sent with `replaces`, so each one "
             "takes a unit, at the proxy and in the issuer `le`'s budget, which says the same "
             f"limit. When half of them are renewed, the primary answers 503 (Retry-After 1) to "
             "every request; the rest must go to `backup` (the second Pebble), second in every "
             f"certificate's `issuers`. `serve` runs {res.get('workers')} workers and the "
             f"scheduler every second; CERTFLEET_ISSUER_BACKOFF_MAX={p['backoff_max']}.\n")
    L.append(md_table(HEAD, [row(res)]))
    L.append("")
    le = res.get("proxy_per_le_cert")
    bk = res.get("backup_per_cert")
    L.append(f"- Wall: {res.get('wall', 0):.0f} s from the start of `serve` to the last "
             f"renewal; the 503s began at {res.get('t503') or 0:.0f} s; the renewal deadline "
             f"was {p['deadline']} s after the start; the tightest certificate was renewed "
             f"{res.get('min_margin') or 0:.0f} s before its own.")
    L.append(f"- CA requests: {res.get('proxy_requests')} at the proxy (every endpoint, "
             f"the 503s and 429s included) and {res.get('backup_requests')} at the backup "
             f"Pebble for {res.get('renewed')} certificates: "
             f"{res.get('ca_requests_per_cert', 0):.1f} per certificate"
             + (f"; {le:.1f} per certificate at the primary before the 503s" if le else "")
             + (f", {bk:.1f} per certificate at the backup" if bk else "") + ".")
    L.append(f"- Orders created at the proxy per {p['per']} s before the 503s: "
             f"{' '.join(map(str, res.get('order_windows', [])))}; versions issued by `le` "
             f"in the same windows: {' '.join(map(str, res.get('issue_windows', [])))} "
             f"(each must be within 10 % of {p['count']}).")
    if res.get("last_queued") is not None:
        L.append(f"- The scheduler queued {res.get('queued_first_10s')} renewal jobs in its "
                 f"first 10 s and the last one at {res['last_queued']:.0f} s (a pass reads at "
                 "most 500 certificates, those with a job in flight included).")
    if res.get("backup_windows"):
        L.append(f"- Versions issued by `backup` per {p['per']} s from the 503s on: "
                 f"{' '.join(map(str, res['backup_windows']))}.")
    states = ", ".join(f"{k} {v}" for k, v in sorted((res.get("jobs") or {}).items()))
    L.append(f"- 429s: {res.get('rate_limited')}; pauses of `le`: {res.get('pauses')} "
             f"({res.get('rl_pauses')} for rate limits); 503s sent: {res.get('faults_503')}; "
             f"`fallback` events: {res.get('fallback_events')}; renewal jobs: {states}.")
    if res.get("problems"):
        L.append(f"- **Problems:** {'; '.join(res['problems'])}")
    L.append("")
    L.append(
        "Reading: until the 503s the primary is used exactly at its limit (one burst per "
        "period, as the budget frees its units) and the CA never had to answer 429. The "
        "wall after the 503s is not the backup's speed (it issues a certificate in about a "
        "second) but when each job decides to leave: a job moves once its wait so far plus "
        "the pause in force exceeds the time left before its renewal deadline (the "
        "service's rule for a renewal's slack), so a job that began waiting at q moves near "
        "(q + deadline) / 2; and the scheduler queued the renewals in two waves: a pass reads "
        "500 due certificates, those whose job is still waiting included, so the second "
        "half was queued one by one as the first renewals completed, up to the 503s, and "
        "their waits began later.")
    L.append("")
    L.append(
        "Method: the certificates (`sK.storm.rfc-alias.test`, one name each, the TXT "
        "written into the RFC 2136 zone itself) are first issued by a third Pebble (NET.10, "
        "the issuer `default`, with one worker), which neither the primary nor the backup "
        "sees. Then their current versions' validity is moved in SQL: a lifetime of "
        "3 D + 60 s whose renewal deadline (the last sixth of the lifetime, which the "
        "service takes as a renewal's slack before it moves on) is D s after the storm "
        "starts and whose half (the renewal time of a short-lived certificate) has passed; "
        "the renewal plans are deleted, and the scheduler plans and queues them at its first "
        "pass. The checks, each of which fails the benchmark: every certificate has a new "
        "version created before its deadline; no job failed; no more 429s than pauses of "
        "`le` caused by a rate limit (polled from `GET /v1/issuers/le` every 0.2 s: a pause "
        "that is only extended stays one); per window of the limit's period before the "
        "503s (the windows start a quarter period before the first order, so that a burst "
        "of freed units falls inside one window), both the orders the proxy created and the "
        "versions `le` issued are within 10 % of the limit; every version created more than "
        f"{ON_THE_WIRE_S:.0f} s after the 503s began comes from `backup`. CA requests are "
        "the proxy's request log (every endpoint) plus the backup Pebble's log lines of "
        "handled requests, divided by the certificates renewed.")
    L.append("")
    return L


def update_doc(path, res, md_table):
    """Writes the section into an existing docs/benchmarks.md in place of its old one
    (a run of the storm alone: the other sections keep their figures)."""
    text = Path(path).read_text() if Path(path).exists() else "# Benchmarks\n"
    lines, out, skip = text.splitlines(), [], False
    for line in lines:
        if line.startswith("## "):
            skip = line.startswith("## Renewal storm")
            if skip:
                continue
        if not skip:
            out.append(line)
    # before "Why targets are missed", else at the end
    at = next((i for i, x in enumerate(out) if x.startswith("## Why targets")), len(out))
    out[at:at] = doc_section(res, md_table)
    Path(path).write_text("\n".join(out).rstrip() + "\n")


def print_table(res, text_table):
    print("\nRenewal storm")
    print(text_table(HEAD, [row(res)]))
    if res.get("problems"):
        print("  problems: " + "; ".join(res["problems"]))

