"""scripts/demo, run to the point where it prints the certificate and would wait for
Ctrl-C (--exit-when-ready stops it there). It installs nothing new here (scripts/deps
finds everything present), builds, starts its own lab on another /24, and must reach
a ready service and a real certificate."""
import os
import subprocess
from pathlib import Path

from service import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_reaches_a_ready_service_and_a_certificate():
    env = dict(os.environ, DEMO_NET="127.65.0", DEMO_PORT=str(free_port()))
    p = subprocess.run([str(ROOT / "scripts" / "demo"), "--exit-when-ready"], env=env,
                       capture_output=True, text=True, timeout=600)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert '"status":"ready"' in out
    # the job's timeline, through the service's workers
    for step in ("preflight", "present", "propagate", "respond", "validate", "store"):
        assert f"  {step} " in out, f"timeline lacks {step}"
    # fetched as host web-01 by the agent, then printed
    assert "web: version 1 installed" in out
    assert "DNS:*.example.test" in out and "DNS:example.test" in out
    assert "issuer=CN = Pebble Intermediate CA" in out
    assert "host token:" in out and "curl -H" in out
    assert "demo: ready" in out
    assert not Path("/run/certfleet-lab/127.65.0").exists(), "the demo's lab was not stopped"
