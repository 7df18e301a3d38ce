"""Fixtures shared by the integration tests.

`lab`: the lab's env (LAB_* keys, see tests/lab/README.md) as a dict. With LAB_ENV_FILE
set (scripts/test and `tests/lab/lab run` set it) that file is read and the running lab
is used; otherwise the session starts its own lab on NET 127.78.0 (LAB_TEST_NET to
change it) and stops it at the end.

`certfleet`: the path of the binary under test: CERTFLEET_BIN, or build/certfleet in
this repository.
"""

import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labdns  # noqa: E402  (needs the path above when pytest runs from elsewhere)

REPO_ROOT = labdns.REPO_ROOT
DEFAULT_NET = "127.78.0"


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # A SIGTERM (a CI timeout, `lab run` passing one on) would kill Python outright and
    # skip every fixture's clean-up: servers a test started would outlive the run, and
    # the session's own lab too. As KeyboardInterrupt, pytest tears fixtures down first.
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)


@pytest.fixture(scope="session")
def lab():
    env_file = os.environ.get("LAB_ENV_FILE")
    if env_file:
        yield labdns.load_env(env_file)
        return
    directory = labdns.lab_tmpdir()
    try:
        env = labdns.lab_up(directory, os.environ.get("LAB_TEST_NET", DEFAULT_NET))
    except Exception:
        labdns.lab_down(directory)
        raise
    try:
        yield env
    finally:
        labdns.lab_down(directory)


@pytest.fixture(scope="session")
def certfleet():
    path = Path(os.environ.get("CERTFLEET_BIN") or REPO_ROOT / "build" / "certfleet")
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"certfleet binary not found at {path}: build it first "
                    "(cmake -S . -B build && cmake --build build) or set CERTFLEET_BIN")
    return str(path)
