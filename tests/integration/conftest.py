from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from promote_cli.local.plane import LocalControlPlane, PlaneOptions

# Every Wait, Retry interval and task timeout of the interpreter runs at a tenth of its written length,
# so retry schedules, the bake and the approval timeout run in seconds. The ASL is unchanged; handlers
# keep the real clock.
TIME_SCALE = 0.1


# Package scope, not session: the plane stops after the last integration test, before the unit tests'
# `mock_aws` resets the moto backends that the plane's background threads read. Under pytest-xdist (make
# test) each worker process starts its own plane, and a worker runs its integration tests before its unit
# tests (the scheduler hands tests out in collection order).
@pytest.fixture(scope="package")
def plane() -> Iterator[LocalControlPlane]:
    """One local control plane for the integration tests: template.yaml and the real ASL on moto."""
    # IAM enforcement is on (the default); `make iam-report` records what it allowed.
    record = os.environ.get("PROMOTE_IAM_RECORD")
    local = LocalControlPlane(
        PlaneOptions(time_scale=TIME_SCALE, iam_record=Path(record) if record else None)
    )
    local.start()
    yield local
    local.stop()
