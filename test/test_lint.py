"""The code base passes ruff's lint and format checks (configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracegen.resources import source_checkout_root

ROOT = source_checkout_root()
RUFF = Path(sys.executable).parent / "ruff"
pytestmark = pytest.mark.skipif(ROOT is None or not RUFF.exists(), reason="needs the checkout and ruff")


def test_ruff_lint_passes():
    out = subprocess.run([RUFF, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_is_applied():
    out = subprocess.run(
        [RUFF, "format", "--check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, "run `make format`:\n" + out.stdout + out.stderr
