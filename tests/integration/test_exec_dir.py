"""The exec provider runs only what the operator allowed: CERTFLEET_EXEC_DIR.

Through the API (serve): without the setting no exec provider can be created;
with it, `command` must be a file directly inside the folder, the folder and the
file owned by root or the service's user and writable by no one else, and every
way of failing that rule (missing file, link, not executable, writable by the
group, outside the folder, nested, folder writable by others or owned by another
user) gets the very same message, so the API is no oracle for which files exist.
Every setting but command and timeout is sealed: none is returned, stored in
clear or audited. The worker checks again right before it runs the program, and
runs the checked file itself: a link swapped in after the provider was created
is refused and the link's target never runs. The CLI, run by the operator, keeps
any absolute path unless CERTFLEET_EXEC_DIR is set in its environment, in which
case the same rule applies.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from providers_common import setting_args, value
from service import db_url  # noqa: F401 (fixture)
from workerlib import fleet  # noqa: F401 (fixture)

HOOK = Path(__file__).resolve().parent / "fakes" / "exec_nsupdate.sh"
RFC = "rfc-alias.test"


def exec_dir(tmp_path):
    d = tmp_path / "exec"
    d.mkdir()
    d.chmod(0o755)
    hook = d / "hook.sh"
    hook.write_bytes(HOOK.read_bytes())
    hook.chmod(0o755)
    return d, hook


def nsupdate(lab, command, **extra):
    return {"command": str(command), "server": lab["LAB_BIND"], "zone": RFC,
            "tsig_name": lab["LAB_TSIG_NAME"], "tsig_algorithm": lab["LAB_TSIG_ALG"],
            "tsig_secret": lab["LAB_TSIG_SECRET"], **extra}


def create(fleet, name, settings):
    return fleet.api.post("/v1/providers", json={"name": name, "type": "exec",
                                                 "settings": settings})


def test_without_the_setting_no_exec_provider(fleet, lab, tmp_path):
    _d, hook = exec_dir(tmp_path)
    fleet.start(CERTFLEET_WORKERS=0)
    r = create(fleet, "x", nsupdate(lab, hook))
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert "settings.command" in r.text and "CERTFLEET_EXEC_DIR" in r.text, r.text
    assert fleet.sql("SELECT name FROM dns_providers") == []


def test_one_message_whatever_the_file(fleet, lab, tmp_path):
    d, hook = exec_dir(tmp_path)
    evil = tmp_path / "evil.sh"
    evil.write_text("#!/bin/sh\nexit 0\n")
    evil.chmod(0o755)
    (d / "link.sh").symlink_to(evil)
    (d / "link-inside.sh").symlink_to(hook)
    (d / "noexec.sh").write_bytes(HOOK.read_bytes())
    (d / "noexec.sh").chmod(0o644)
    (d / "groupw.sh").write_bytes(HOOK.read_bytes())
    (d / "groupw.sh").chmod(0o775)
    (d / "other.sh").write_bytes(HOOK.read_bytes())
    (d / "other.sh").chmod(0o755)
    os.chown(d / "other.sh", 65534, 65534)
    (d / "sub").mkdir(mode=0o755)
    shutil.copy(hook, d / "sub" / "hook.sh")
    os.mkfifo(d / "fifo")
    fleet.start(CERTFLEET_WORKERS=0, CERTFLEET_EXEC_DIR=str(d))
    details = {}
    for cmd in (d / "missing.sh", d / "link.sh", d / "link-inside.sh", d / "noexec.sh",
                d / "groupw.sh", d / "other.sh", d / "sub" / "hook.sh", d / "fifo", d,
                f"{d}/../exec/hook.sh", f"{d}/./hook.sh", evil, "/bin/true", "hook.sh"):
        r = create(fleet, "x", nsupdate(lab, cmd))
        assert r.status_code == 400, (cmd, r.text)
        p = r.json()
        details[str(cmd)] = (p["detail"], tuple(e.get("field") for e in p.get("errors", [])))
    assert len(set(details.values())) == 1, details
    assert "settings.command" in r.text
    # the folder itself: writable by its group, or owned by another user
    d.chmod(0o775)
    r = create(fleet, "x", nsupdate(lab, hook))
    assert r.status_code == 400 and r.json()["detail"] == p["detail"], r.text
    d.chmod(0o755)
    os.chown(d, 65534, 65534)
    r = create(fleet, "x", nsupdate(lab, hook))
    assert r.status_code == 400 and r.json()["detail"] == p["detail"], r.text
    os.chown(d, 0, 0)
    r = create(fleet, "x", nsupdate(lab, hook))
    assert r.status_code == 201, r.text
    assert fleet.sql("SELECT name FROM dns_providers") == [("x",)]


def test_every_setting_but_command_and_timeout_is_sealed(fleet, lab, tmp_path):
    _d, hook = exec_dir(tmp_path)
    fleet.start(CERTFLEET_WORKERS=0, CERTFLEET_EXEC_DIR=str(_d))
    extra = {"custom_credential": "cc-" + os.urandom(8).hex(),
             "zone_note": "note-" + os.urandom(8).hex()}
    settings = nsupdate(lab, hook, timeout="20", **extra)
    r = create(fleet, "sealed", settings)
    assert r.status_code == 201, r.text
    shown = r.text + fleet.api.get("/v1/providers/sealed").text + \
        fleet.api.get("/v1/providers").text
    hidden = {k: v for k, v in settings.items() if k not in ("command", "timeout")}
    for k, v in hidden.items():
        assert v not in shown, f"setting {k} is shown"
        assert k in r.json()["secrets"], (k, r.json())
    (pub,), = fleet.sql("SELECT settings::text FROM dns_providers WHERE name = 'sealed'")
    assert sorted(__import__("json").loads(pub)) == ["command", "timeout"], pub
    audit = fleet.sql("SELECT coalesce(detail::text, '') FROM audit_events")
    text = " ".join(a for (a,) in audit)
    assert "provider" in " ".join(a for (a,) in fleet.sql("SELECT action FROM audit_events"))
    for k, v in hidden.items():
        assert v not in text, f"setting {k} is in the audit log"
    dump = subprocess.run(["pg_dump", "--data-only", fleet.db_url], capture_output=True,
                          text=True)
    assert dump.returncode == 0, dump.stderr
    for k in ("tsig_secret", "custom_credential", "zone_note"):
        assert settings[k] not in dump.stdout, f"setting {k} is in clear in the database"


def test_worker_checks_again_and_runs_the_checked_file(fleet, lab, tmp_path):
    d, hook = exec_dir(tmp_path)
    fleet.start(CERTFLEET_WORKERS=1, CERTFLEET_EXEC_DIR=str(d))
    r = create(fleet, "lab-exec", nsupdate(lab, hook))
    assert r.status_code == 201, r.text
    # after the check at create time, the program is swapped for a link elsewhere
    marker = tmp_path / "evil-ran"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\nexit 0\n")
    evil.chmod(0o755)
    hook.unlink()
    hook.symlink_to(evil)
    job = fleet.certificate("swap", ["h282.example.test"], f"h282.example.test.{RFC}",
                            provider="lab-exec")
    fleet.wait_event(job, lambda e: e[3] is not None and "CERTFLEET_EXEC_DIR" in str(e[3])
                     or "CERTFLEET_EXEC_DIR" in (e[2] or ""))
    assert not marker.exists(), "the swapped-in program ran"


def test_cli_keeps_absolute_paths_unless_the_dir_is_set(certfleet, lab, tmp_path):
    d, hook = exec_dir(tmp_path)
    out = tmp_path / "ran"
    outside = tmp_path / "outside.sh"
    outside.write_text(f"#!/bin/sh\necho \"$1\" >> {out}\n")
    outside.chmod(0o755)
    base = [certfleet, "dns", "present", "x.example.test", value(),
            *setting_args("exec", {"command": str(outside)})]
    env = {k: v for k, v in os.environ.items() if k != "CERTFLEET_EXEC_DIR"}
    p = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert out.read_text() == "present\n"
    p = subprocess.run(base, capture_output=True, text=True, timeout=60,
                       env=dict(env, CERTFLEET_EXEC_DIR=str(d)))
    assert p.returncode != 0 and "CERTFLEET_EXEC_DIR" in p.stderr, p.stderr
    assert out.read_text() == "present\n"
