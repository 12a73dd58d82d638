"""The build ships bytecode: Lambda's code directories are read-only, so the runtime cannot write .pyc files
there, and a package without them compiles every module it imports at each cold start (billed INIT).

``make sam-build`` (which ``make test`` runs before the tests) compiles .aws-sam/build with the runtime's
Python, as unchecked-hash .pyc files; this checks what it left there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

BUILD = REPO_ROOT / ".aws-sam" / "build"
LAYER = BUILD / "PromotionLayer" / "python"
# The Lambda runtime's interpreter (template.yaml's Runtime: python3.13).
RUNTIME_TAG = "cpython-313"
PYTHON_313_MAGIC = (3571).to_bytes(2, "little") + b"\r\n"
# PEP 552: flags 0b01 is a hash-based .pyc whose source is never checked.
UNCHECKED_HASH = 0b01


def _bytecode_of(source: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.{RUNTIME_TAG}.pyc"


@pytest.fixture(scope="module")
def layer() -> Path:
    if not LAYER.is_dir():
        pytest.skip("no build here: make sam-build (make test runs it first)")
    return LAYER


@pytest.mark.parametrize("package", ["promotion", "pydantic", "aws_lambda_powertools", "aws_xray_sdk"])
def test_every_module_of_the_layer_ships_its_runtime_bytecode(layer: Path, package: str) -> None:
    sources = sorted((layer / package).rglob("*.py"))
    assert sources, f"{package} is not in the built layer"
    missing = [str(source.relative_to(layer)) for source in sources if not _bytecode_of(source).is_file()]
    assert missing == []


def test_the_bytecode_is_used_as_shipped_whatever_the_files_times(layer: Path) -> None:
    bytecode = _bytecode_of(layer / "promotion" / "models" / "config.py").read_bytes()
    flags = int.from_bytes(bytecode[4:8], "little")
    assert flags == UNCHECKED_HASH
    # Compiled by 3.13 (magic number 3571, every 3.13 release): another version's would be ignored.
    assert bytecode[:4] == PYTHON_313_MAGIC


def test_each_function_ships_its_handlers_bytecode() -> None:
    if not BUILD.is_dir():
        pytest.skip("no build here: make sam-build (make test runs it first)")
    handlers = sorted(BUILD.glob("*Function/app.py"))
    assert handlers
    assert [str(handler) for handler in handlers if not _bytecode_of(handler).is_file()] == []
