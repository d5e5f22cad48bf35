"""Demo staff: an owner and an operator created through the real CLI (``flask --app wsgi staff``)."""

from __future__ import annotations

import subprocess
import sys

from devstack.processes import ROOT, Stack

DEMO_STAFF = (("owner@demo.example", "owner", "demo-owner-password"),
              ("operator@demo.example", "operator", "demo-operator-password"))


def create_demo_staff(stack: Stack) -> list[tuple[str, str, str]]:
    """Create (or keep, on a reused database) the demo accounts; returns (email, role, password)."""
    for email, role, password in DEMO_STAFF:
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "staff", "create", email,
                                 "--role", role, "--password-stdin"], cwd=ROOT, env=stack.env, input=password,
                                text=True, capture_output=True)
        if result.returncode != 0 and "already exists" not in result.stderr + result.stdout:
            raise SystemExit(f"could not create the demo {role}: {result.stderr or result.stdout}")
    return list(DEMO_STAFF)


def logins_text(staff: list[tuple[str, str, str]]) -> str:
    return "\n".join(f"               {role:<9} {email} / {password}" for email, role, password in staff)
