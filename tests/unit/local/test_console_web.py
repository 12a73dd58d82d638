"""The console's vendored layout library is the pinned file, licensed, and shipped with the package."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib

from promote_cli.local.console.web import PREFIX, STATIC_FILES, ConsoleRoutes
from tests.support.paths import REPO_ROOT

STATIC = REPO_ROOT / "src" / "promote_cli" / "local" / "console" / "static"


def test_the_vendored_dagre_is_the_pinned_file_with_its_license() -> None:
    note = (STATIC / "README.md").read_text()
    pinned = re.search(r"sha256: `([0-9a-f]{64})`", note)
    assert pinned is not None
    assert hashlib.sha256((STATIC / "dagre.min.js").read_bytes()).hexdigest() == pinned[1]
    assert "Permission is hereby granted" in (STATIC / "dagre.LICENSE").read_text()  # MIT


def test_every_served_file_exists_and_is_package_data() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["promote_cli.local.console"]
    assert "promote_cli.local.console" in project["tool"]["setuptools"]["packages"]
    for name in STATIC_FILES:
        assert (STATIC / name).is_file()
        assert any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"), f"static/{name}") for p in patterns)


def test_no_page_script_reaches_another_origin() -> None:
    script = (STATIC / "console.js").read_text()
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", script)


class BrokenConsole:
    """An ExecutionConsole whose AWS calls fail."""

    def executions(self) -> dict[str, object]:
        raise RuntimeError("Step Functions is down")


def test_paths_outside_the_console_are_left_to_the_rest_of_the_server() -> None:
    routes = ConsoleRoutes(BrokenConsole())  # type: ignore[arg-type]
    for path in ("/_local/outbox", "/_local/consoles", "/approvals/x", "/"):
        assert routes.handle("GET", path) is None


def test_a_failure_behind_a_page_is_a_500_not_a_dropped_connection() -> None:
    routes = ConsoleRoutes(BrokenConsole())  # type: ignore[arg-type]

    answer = routes.handle("GET", f"{PREFIX}/api/executions")

    assert answer is not None
    assert answer.status == 500
    assert json.loads(answer.body) == {"message": "Internal Server Error"}
