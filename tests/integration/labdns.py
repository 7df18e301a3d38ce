"""Small DNS / ACME helpers for the integration tests, over the lab's servers.

Every call is bounded by a timeout so that a test cannot hang on a dead server.
`lab` is the dict of the lab's env file (see conftest.py and tests/lab/README.md).
"""

import os
import subprocess
import tempfile
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.resolver
import dns.tsig
import dns.update
import requests

TIMEOUT = 3.0  # seconds for one DNS exchange
HTTP_TIMEOUT = 10.0


def _absolute(name):
    """A dns.name.Name from 'a.b' or 'a.b.' (always absolute)."""
    return dns.name.from_text(name) if isinstance(name, str) else name


def _txt_strings(rdata):
    """One TXT record as str: its character-strings joined, as ACME's value is one."""
    return b"".join(rdata.strings).decode()


def _query(server_ip, qname, rdtype, recursive, port=53):
    query = dns.message.make_query(qname, rdtype)
    if not recursive:
        query.flags &= ~dns.flags.RD
    response = dns.query.udp(query, server_ip, port=port, timeout=TIMEOUT)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(query, server_ip, port=port, timeout=TIMEOUT)
    return response


def txt(server_ip, name, port=53):
    """The TXT values at exactly NAME on the (authoritative) server SERVER_IP, sorted.

    No CNAME is followed: a name that is a CNAME has no TXT values here. An empty list
    for NXDOMAIN / no data; any other rcode (REFUSED, SERVFAIL) raises.
    """
    qname = _absolute(name)
    response = _query(server_ip, qname, dns.rdatatype.TXT, recursive=False, port=port)
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return []
    if rcode != dns.rcode.NOERROR:
        raise RuntimeError(f"TXT {qname} @{server_ip}: {dns.rcode.to_text(rcode)}")
    rrset = response.get_rrset(response.answer, qname, dns.rdataclass.IN, dns.rdatatype.TXT)
    return sorted(_txt_strings(r) for r in rrset) if rrset else []


def cname(server_ip, name, port=53):
    """The CNAME target at exactly NAME on SERVER_IP (text, absolute), or None."""
    qname = _absolute(name)
    response = _query(server_ip, qname, dns.rdatatype.CNAME, recursive=False, port=port)
    rrset = response.get_rrset(response.answer, qname, dns.rdataclass.IN, dns.rdatatype.CNAME)
    return rrset[0].target.to_text() if rrset else None


def resolve_txt(resolver_ip, name, port=53):
    """The TXT values of NAME through the recursive resolver, CNAMEs followed, sorted.

    This is the CA's view. An empty list for NXDOMAIN / no data; a SERVFAIL (e.g. a
    CNAME loop) raises dns.resolver.NoNameservers.
    """
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [resolver_ip]
    resolver.port = port
    resolver.timeout = TIMEOUT
    resolver.lifetime = 2 * TIMEOUT
    try:
        answer = resolver.resolve(_absolute(name), "TXT", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    return sorted(_txt_strings(r) for r in answer.rrset) if answer.rrset else []


# --- RFC 2136 on BIND's alias zones ----------------------------------------------------

def _tsig(lab, key):
    """(keyring, keyname, algorithm) for key 'sha256' (LAB_TSIG_*) or 'sha512'."""
    prefix = {"sha256": "LAB_TSIG", "sha512": "LAB_TSIG512"}[key]
    keyname = dns.name.from_text(lab[prefix + "_NAME"])
    algorithm = lab.get(prefix + "_ALG", "hmac-" + key)
    key = dns.tsig.Key(keyname, lab[prefix + "_SECRET"], algorithm)
    return {keyname: key}, keyname, algorithm


def _txt_rdata(value):
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode()])


def _send_update(lab, update, check):
    response = dns.query.tcp(update, lab["LAB_BIND"], timeout=TIMEOUT)
    rcode = response.rcode()
    if check and rcode != dns.rcode.NOERROR:
        raise RuntimeError(f"UPDATE {update.zone[0].name}: {dns.rcode.to_text(rcode)}")
    return rcode


def nsupdate_add(lab, zone, name, value, ttl=60, key="sha256", check=True):
    """Add one TXT VALUE at NAME in ZONE on BIND, TSIG-signed. Returns the rcode
    (raises unless NOERROR when CHECK)."""
    keyring, keyname, algorithm = _tsig(lab, key)
    update = dns.update.UpdateMessage(_absolute(zone), keyring=keyring, keyname=keyname,
                                      keyalgorithm=algorithm)
    update.add(_absolute(name), ttl, _txt_rdata(value))
    return _send_update(lab, update, check)


def nsupdate_delete(lab, zone, name, value=None, key="sha256", check=True):
    """Delete the TXT VALUE at NAME in ZONE on BIND (all its TXT values when VALUE is None)."""
    keyring, keyname, algorithm = _tsig(lab, key)
    update = dns.update.UpdateMessage(_absolute(zone), keyring=keyring, keyname=keyname,
                                      keyalgorithm=algorithm)
    if value is None:
        update.delete(_absolute(name), dns.rdatatype.TXT)
    else:
        update.delete(_absolute(name), _txt_rdata(value))
    return _send_update(lab, update, check)


# --- PowerDNS HTTP API ----------------------------------------------------------------

def _pdns(lab, method, path, **kwargs):
    url = lab["LAB_PDNS_API"] + "/api/v1/servers/localhost" + path
    response = requests.request(method, url, headers={"X-API-Key": lab["LAB_PDNS_KEY"]},
                                timeout=HTTP_TIMEOUT, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def pdns_zone_of(lab, name):
    """The PowerDNS zone ('zone.') that holds NAME: the longest matching zone suffix."""
    fqdn = _absolute(name).to_text()
    zones = [z["name"] for z in _pdns(lab, "GET", "/zones")]
    matching = [z for z in zones if fqdn == z or fqdn.endswith("." + z)]
    if not matching:
        raise LookupError(f"no PowerDNS zone holds {fqdn}")
    return max(matching, key=len)


def pdns_txt_replace(lab, name, change):
    """Read-modify-write of NAME's TXT rrset: PowerDNS replaces whole rrsets, so a second
    value must be written together with the first. CHANGE maps the current contents
    (PowerDNS TXT content, e.g. '"v"') to the wanted ones; none deletes the rrset."""
    fqdn = _absolute(name).to_text()
    zone = pdns_zone_of(lab, fqdn)
    data = _pdns(lab, "GET", f"/zones/{zone}")
    current = []
    for rrset in data.get("rrsets", []):
        if rrset["name"] == fqdn and rrset["type"] == "TXT":
            current = [r["content"] for r in rrset["records"]]
    wanted = change(current)
    rrset = {"name": fqdn, "type": "TXT", "ttl": 60}
    if wanted:
        rrset.update(changetype="REPLACE",
                     records=[{"content": c, "disabled": False} for c in wanted])
    else:
        rrset.update(changetype="DELETE")
    _pdns(lab, "PATCH", f"/zones/{zone}", json={"rrsets": [rrset]})


def pdns_txt_content(value):
    """VALUE (str) as PowerDNS TXT content: one quoted string, '"' and '\\' escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# the names the fakes used before these were public
_pdns_txt_set = pdns_txt_replace
_quoted = pdns_txt_content


def pdns_add(lab, name, value):
    """Add one TXT VALUE at NAME through the PowerDNS API (keeping the others)."""
    content = pdns_txt_content(value)
    pdns_txt_replace(lab, name, lambda cur: cur if content in cur else cur + [content])


def pdns_delete(lab, name, value=None):
    """Remove one TXT VALUE at NAME through the API (all of NAME's TXT when None)."""
    content = None if value is None else pdns_txt_content(value)
    pdns_txt_replace(lab, name,
                     lambda cur: [] if content is None else [c for c in cur if c != content])


# --- Pebble ---------------------------------------------------------------------------

def pebble_root(lab):
    """PEM of the root that Pebble issues under (fresh at each Pebble start), fetched
    from its management interface."""
    response = requests.get(lab["LAB_ACME_MGMT"] + "/roots/0", verify=lab["LAB_ACME_TLS_CA"],
                            timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    return response.text


# --- starting and stopping a lab (tests/lab/lab) ---------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
LAB_SCRIPT = REPO_ROOT / "tests" / "lab" / "lab"


def load_env(path):
    """The KEY=VALUE lines of a lab env file as a dict."""
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    return env


def lab_up(directory, net, extra_env=None, timeout=120):
    """Start a lab in DIRECTORY (absent or empty) on NET; its env as a dict. On failure
    the lab has cleaned up after itself and RuntimeError carries its output."""
    env = dict(os.environ, **(extra_env or {}))
    proc = subprocess.run([str(LAB_SCRIPT), "up", str(directory), net], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"lab up {directory} {net} failed ({proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr}")
    return load_env(Path(directory) / "env")


def lab_down(directory, timeout=60):
    """Stop the lab in DIRECTORY and remove it (nothing to do when it is gone)."""
    subprocess.run([str(LAB_SCRIPT), "down", str(directory)], timeout=timeout, check=True)


def lab_tmpdir():
    """A fresh folder for a lab. Not under pytest's tmp_path: /tmp/pytest-of-root is 0700,
    and the lab's servers run as the bind and postgres users, who must reach their files."""
    return tempfile.mkdtemp(prefix="certfleet-lab-")
