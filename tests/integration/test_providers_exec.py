"""The exec provider: certfleet runs an operator's program as `COMMAND present|cleanup
FQDN. VALUE` (lego's exec convention) with its settings in the environment.

The program here is fakes/exec_nsupdate.sh, which writes with nsupdate (TSIG from
its settings) into the lab's BIND zone rfc-alias.test: a real certificate from
Pebble (the wildcard and its apex, both values at one name), the two values
surviving each other's present and cleanup, nothing left behind. Then small
scripts written per test: the exact arguments and the environment (only PATH and
CERTFLEET_SETTING_*; nothing of certfleet's own environment), a non-zero exit
carrying the program's stderr with secret settings scrubbed, a timeout that kills
the program's process group, and settings errors that name the setting. What BIND
serves is read straight from it with dnspython.
"""

import os
import time
from pathlib import Path

import pytest

import labdns
from issuance import TxtWatcher, check_certificate, issue
from providers_common import assert_both_values_were_live, ok, setting_args, value
from providers_common import run_dns as run

HOOK = Path(__file__).resolve().parent / "fakes" / "exec_nsupdate.sh"
ZONE = "rfc-alias.test"


def nsupdate_settings(lab, **extra):
    return {"command": str(HOOK), "server": lab["LAB_BIND"], "zone": ZONE,
            "tsig_name": lab["LAB_TSIG_NAME"], "tsig_algorithm": lab["LAB_TSIG_ALG"],
            "tsig_secret": lab["LAB_TSIG_SECRET"], **extra}


def hook_args(lab, **extra):
    return setting_args("exec", nsupdate_settings(lab, **extra))


def script(tmp_path, body, name="hook.sh"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def unique():
    return f"exec-{os.urandom(6).hex()}.{ZONE}"


def test_wildcard_and_apex_in_one_order(certfleet, lab, tmp_path):
    target = f"h291.example.test.{ZONE}"
    names = ["*.h291.example.test", "h291.example.test"]
    with TxtWatcher(lab["LAB_BIND"], target) as w:
        p = issue(certfleet, lab, names, tmp_path, aliases=[target],
                  provider_args=hook_args(lab))
    assert p.returncode == 0, p.stdout + p.stderr
    check_certificate(lab, tmp_path, names)
    assert_both_values_were_live(p.stdout, w, "exec")
    assert labdns.txt(lab["LAB_BIND"], target) == [], "TXT left behind"
    assert lab["LAB_TSIG_SECRET"] not in p.stdout + p.stderr


def test_two_values_and_a_foreign_one_survive(certfleet, lab):
    name, v1, v2, foreign = unique(), value(), value(), "foreign"
    labdns.nsupdate_add(lab, ZONE, name, foreign)
    try:
        ok(run(certfleet, "present", name, v1, *hook_args(lab)))
        ok(run(certfleet, "present", name + ".", v2, *hook_args(lab)))
        assert labdns.txt(lab["LAB_BIND"], name) == sorted([v1, v2, foreign])
        ok(run(certfleet, "cleanup", name, v1, *hook_args(lab)))
        assert labdns.txt(lab["LAB_BIND"], name) == sorted([v2, foreign])
        ok(run(certfleet, "cleanup", name, v2, *hook_args(lab)))
        ok(run(certfleet, "cleanup", name, v2, *hook_args(lab)))  # already gone
        assert labdns.txt(lab["LAB_BIND"], name) == [foreign]
    finally:
        labdns.nsupdate_delete(lab, ZONE, name)


def test_arguments_and_environment(certfleet, lab, tmp_path):
    out = tmp_path / "seen"
    hook = script(tmp_path, f'{{ printf "%s|" "$@"; echo; env | sort; }} > {out}')
    env = dict(os.environ, CERTFLEET_DATABASE_URL="postgresql://u:dbpass@h/db",
               CERTFLEET_MASTER_KEY="master-key-material")
    v = "-" + value()[1:]  # a value that looks like an option
    ok(run(certfleet, "present", *setting_args("exec", {
        "command": hook, "Server": "192.0.2.1", "api.token": "tok-123"}), "--",
        "X.Example.Test", v, env=env))
    seen = out.read_text().splitlines()
    assert seen[0] == f"present|x.example.test.|{v}|"
    environment = sorted(seen[1:])
    assert environment == sorted([
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "CERTFLEET_SETTING_SERVER=192.0.2.1", "CERTFLEET_SETTING_API_TOKEN=tok-123",
        "PWD=/"])  # PWD: set by the shell itself, from the working folder "/"


def test_nonzero_exit_carries_stderr(certfleet, lab, tmp_path):
    wrong = "c2VjcmV0LXRoYXQtaXMtd3Jvbmc="
    result = run(certfleet, "present", unique(), value(),
                 *hook_args(lab, tsig_secret=wrong))
    assert result.returncode != 0
    # nsupdate's own words about the failed TSIG check, from its stderr
    assert "exited with status 2" in result.stderr, result.stderr
    assert "BADSIG" in result.stderr or "tsig" in result.stderr.lower(), result.stderr
    assert wrong not in result.stderr and lab["LAB_TSIG_SECRET"] not in result.stderr

    result = run(certfleet, "present", "x.example.test", value(),
                 *hook_args(lab, zone="example.test"))
    assert result.returncode != 0
    assert "REFUSED" in result.stderr, result.stderr

    hook = script(tmp_path, 'echo "step 1 ok"\n'
                  'echo "quota exceeded for $CERTFLEET_SETTING_PASSWORD" >&2\nexit 4')
    result = run(certfleet, "cleanup", unique(), value(),
                 *setting_args("exec", {"command": hook, "password": "hunter2-secret"}))
    assert result.returncode != 0
    assert "exited with status 4: quota exceeded for ***" in result.stderr, result.stderr
    assert "hunter2-secret" not in result.stderr
    assert "step 1 ok" not in result.stderr  # stderr, not stdout


def test_timeout_kills_the_process_group(certfleet, lab, tmp_path):
    pidfile = tmp_path / "child.pid"
    hook = script(tmp_path, f"sleep 60 & echo $! > {pidfile}; echo started >&2; wait")
    t0 = time.monotonic()
    result = run(certfleet, "present", unique(), value(),
                 *setting_args("exec", {"command": hook, "timeout": "1"}))
    elapsed = time.monotonic() - t0
    assert result.returncode != 0
    assert "did not finish within 1 s" in result.stderr, result.stderr
    assert "process group was killed: started" in result.stderr, result.stderr
    assert elapsed < 5, elapsed
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid), "the program's child outlived the timeout"


def _alive(pid):
    """Running (not gone, not a zombie waiting for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.parametrize("settings,expect", [
    ({}, "command"),
    ({"command": "exec_nsupdate.sh"}, "command"),
    ({"command": "/nonexistent/hook"}, "command"),
    ({"command": str(HOOK), "timeout": "0"}, "timeout"),
    ({"command": str(HOOK), "timeout": "forever"}, "timeout"),
])
def test_bad_settings_name_the_setting(certfleet, lab, settings, expect):
    result = run(certfleet, "present", unique(), value(), *setting_args("exec", settings))
    assert result.returncode != 0
    assert f"exec setting {expect}" in result.stderr, result.stderr


def test_hook_reports_a_missing_setting(certfleet, lab):
    settings = nsupdate_settings(lab)
    del settings["zone"]
    result = run(certfleet, "present", unique(), value(), *setting_args("exec", settings))
    assert result.returncode != 0
    assert "setting zone is required" in result.stderr, result.stderr
