#!/usr/bin/python3
"""The load of the starvation case (tests/bench/starve.py), one role per process so that
a busy attacker's event loop never delays the measured hosts' clock:

  starve_load.py hosts     HOST PORT SECONDS PATH TOKENS_FILE SRC_PREFIX FIRST
  starve_load.py slowloris HOST PORT SECONDS N SRC_IPS
  starve_load.py flood     HOST PORT SECONDS RATE CONNS SRC_IPS PATH

hosts: one task per token (a real host), each from its own source address
SRC_PREFIX.(FIRST+i), fetching PATH on a new connection, then again after 0.1 s, for
SECONDS; prints {"latencies": [s...], "ok": n, "failed": n, "errors": {...}}. A fetch
counts as a success when it answers 200 within 10 s.

slowloris: N connections spread over SRC_IPS (comma-separated), each sending a request
line and then one header line a second, never ending its headers; a connection the
server closes is opened again after 1 s. Prints the opens, the most held open at once
(still open a second after being opened), and how many the server closed.

flood: CONNS keep-alive connections over SRC_IPS, together sending RATE requests a
second with a made-up bearer token each (a fresh id every time), pipelined in batches;
prints the requests answered, by status, and the rate reached.

Python asyncio on plain sockets; no third-party module.
"""
import asyncio
import json
import os
import resource
import secrets
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def read_response(reader):
    """(status, body length) of one HTTP/1.1 response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    n = 0
    for ln in lines[1:]:
        if ln[:15].lower() == b"content-length:":
            n = int(ln[15:].strip())
    if n:
        await reader.readexactly(n)
    return status, n


async def hosts(host, port, seconds, path, tokens, prefix, first):
    lat, errors = [], {}
    counts = {"ok": 0, "failed": 0}
    end = time.monotonic() + seconds

    async def one(i, token):
        src = f"{prefix}.{first + i}"
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
               f"Connection: close\r\n\r\n").encode()
        await asyncio.sleep(i * 0.1 / len(tokens))  # spread the starts
        while time.monotonic() < end:
            t0 = time.monotonic()
            why = None
            w = None
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection(host, port, local_addr=(src, 0)), 10)
                w.write(req)
                st, _ = await asyncio.wait_for(read_response(r), 10 - (time.monotonic() - t0))
                if st != 200:
                    why = f"status {st}"
            except asyncio.TimeoutError:
                why = "timeout (10 s)"
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                why = type(e).__name__
            finally:
                if w is not None:
                    w.close()
            took = time.monotonic() - t0
            if why is None:
                counts["ok"] += 1
                lat.append(took)
            else:
                counts["failed"] += 1
                errors[why] = errors.get(why, 0) + 1
            await asyncio.sleep(0.1)
    await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    return {"latencies": lat, **counts, "errors": errors}


async def slowloris(host, port, seconds, n, ips):
    st = {"opens": 0, "held_max": 0, "closed_by_server": 0, "connect_errors": 0}
    held = [0]
    end = time.monotonic() + seconds

    async def one(i):
        src = ips[i % len(ips)]
        await asyncio.sleep(i * 1.0 / n)  # 1 s of ramp
        while time.monotonic() < end:
            try:
                r, w = await asyncio.open_connection(host, port, local_addr=(src, 0))
            except OSError:
                st["connect_errors"] += 1
                await asyncio.sleep(1)
                continue
            st["opens"] += 1
            counted = False  # held: still open after its first second
            try:
                w.write(b"GET /v1/certificates/x/fullchain.pem HTTP/1.1\r\nHost: x\r\n")
                while time.monotonic() < end:
                    await w.drain()
                    try:  # EOF within the second: the server closed it
                        if await asyncio.wait_for(r.read(1), 1.0) == b"":
                            st["closed_by_server"] += 1
                            break
                    except asyncio.TimeoutError:
                        pass
                    if not counted:
                        counted = True
                        held[0] += 1
                        st["held_max"] = max(st["held_max"], held[0])
                    w.write(b"X-Slow: 1\r\n")
            except OSError:
                st["closed_by_server"] += 1
            finally:
                held[0] -= counted
                w.close()
            await asyncio.sleep(1)
    await asyncio.gather(*(one(i) for i in range(n)))
    return st


async def flood(host, port, seconds, rate, conns, ips, path):
    st = {"sent": 0, "answered": 0, "by_status": {}, "errors": 0}
    per_conn = rate / conns
    batch = 16
    end = time.monotonic() + seconds
    t_start = time.monotonic()

    async def one(i):
        src = ips[i % len(ips)]
        sent_here, t0 = 0, time.monotonic()
        while time.monotonic() < end:
            try:
                r, w = await asyncio.open_connection(host, port, local_addr=(src, 0))
            except OSError:
                st["errors"] += 1
                await asyncio.sleep(0.2)
                continue
            try:
                while time.monotonic() < end:
                    due = per_conn * (time.monotonic() - t0) - sent_here
                    if due < 1:
                        await asyncio.sleep(min(batch / per_conn, 0.05))
                        continue
                    k = int(min(due, batch))
                    out = b"".join(
                        (f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                         f"cf_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}\r\n\r\n").encode()
                        for _ in range(k))
                    w.write(out)
                    sent_here += k
                    st["sent"] += k
                    for _ in range(k):
                        s, _ = await asyncio.wait_for(read_response(r), 10)
                        st["answered"] += 1
                        st["by_status"][str(s)] = st["by_status"].get(str(s), 0) + 1
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                st["errors"] += 1
                await asyncio.sleep(0.05)
            finally:
                w.close()
    await asyncio.gather(*(one(i) for i in range(conns)))
    st["rate"] = st["answered"] / max(time.monotonic() - t_start, 1e-9)
    return st


def main():
    raise_nofile()
    role, host, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    if role == "hosts":
        path, tokens_file, prefix, first = sys.argv[5:9]
        with open(tokens_file) as f:
            tokens = [t.strip() for t in f if t.strip()]
        out = asyncio.run(hosts(host, port, seconds, path, tokens, prefix, int(first)))
    elif role == "slowloris":
        out = asyncio.run(slowloris(host, port, seconds, int(sys.argv[5]),
                                    sys.argv[6].split(",")))
    elif role == "flood":
        out = asyncio.run(flood(host, port, seconds, float(sys.argv[5]), int(sys.argv[6]),
                                sys.argv[7].split(","), sys.argv[8]))
    else:
        sys.exit(f"starve_load: unknown role {role}")
    json.dump(out, sys.stdout)
    sys.stdout.flush()
    os._exit(0)  # connections still open are the kernel's to close


if __name__ == "__main__":
    main()
