"""Helpers shared by the DNS provider tests (test_providers_*.py): running
`certfleet dns present|cleanup` with a provider's settings, ACME-shaped values, and
the check that a wildcard and its apex had both their values live at one name
during one order."""

import base64
import os
import re
import subprocess

RUN_TIMEOUT = 60  # seconds for one certfleet invocation

STEP = re.compile(r"^\[\s*[\d.]+s\]\s+(\S+)\s+\d+ ms\s+(ok|FAIL)\s+(.*)$")
PRESENTED = re.compile(r'^(\S+) TXT "([^"]*)" via (\S+)$')


def setting_args(provider, settings):
    """--provider PROVIDER and one --provider-setting per item (None values left out)."""
    args = ["--provider", provider]
    for k, v in settings.items():
        if v is not None:
            args += ["--provider-setting", f"{k}={v}"]
    return args


def run_dns(certfleet, *args, env=None):
    return subprocess.run([certfleet, "dns", *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL, env=env)


def ok(result):
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}{result.stderr}"
    return result


def value():
    """A value shaped like an ACME key authorization digest (43 base64url chars)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def steps(stdout):
    """(step, ok, detail) of each step line `certfleet issue` printed."""
    return [(m.group(1), m.group(2) == "ok", m.group(3).strip())
            for m in map(STEP.match, stdout.splitlines()) if m]


def assert_both_values_were_live(stdout, watcher, provider):
    """A wildcard + apex order through PROVIDER had both values at one name at once.

    The proof is the order itself: both values were presented at the same target
    before either challenge was answered, and only cleaned up after both
    authorizations were valid, so had the second present dropped the first value,
    the CA would have failed that authorization. The TxtWatcher's view is only
    checked to have seen the values at the authoritative server (on a loaded
    2-core machine its thread can miss the ~250 ms window with both live)."""
    s = steps(stdout)
    names = [n for n, _, _ in s]
    presented = [PRESENTED.match(d) for n, good, d in s if n == "present" and good]
    assert len(presented) == 2 and all(presented), f"two presents expected:\n{stdout}"
    assert {m.group(3) for m in presented} == {provider}
    assert len({m.group(1) for m in presented}) == 1, "the two values are not at one name"
    assert len({m.group(2) for m in presented}) == 2, "the same value twice"
    last_present = max(i for i, n in enumerate(names) if n == "present")
    validate = names.index("validate")
    assert last_present < names.index("respond") < validate < names.index("cleanup")
    assert s[validate][1] and "2 authorizations valid" in s[validate][2], stdout
    seen = {m.group(2) for m in presented}
    assert watcher.max_seen and watcher.max_seen <= seen, \
        f"the authoritative server never served the values: {watcher.max_seen}"
