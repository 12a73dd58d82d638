"""docs/security.md's threat table names the test that proves each control: every one of them exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECURITY_DOC = ROOT / "docs" / "security.md"


def test_every_test_the_threat_table_names_exists() -> None:
    named = re.findall(r"(tests/[\w/]+\.py)::(\w+)", SECURITY_DOC.read_text())
    assert len(named) >= 20
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (ROOT / path).is_file() or f"def {name}(" not in (ROOT / path).read_text()
    ]
    assert missing == []
