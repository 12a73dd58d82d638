"""docs/security.md's threat table names the test that proves each control: every one of them exists."""

from __future__ import annotations

import re

from tests.support.paths import REPO_ROOT

SECURITY_DOC = REPO_ROOT / "docs" / "security.md"


def test_every_test_the_threat_table_names_exists() -> None:
    named = re.findall(r"(tests/[\w/]+\.py)::(\w+)", SECURITY_DOC.read_text())
    assert len(named) >= 20
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (REPO_ROOT / path).is_file() or f"def {name}(" not in (REPO_ROOT / path).read_text()
    ]
    assert missing == []
