from __future__ import annotations

from collections.abc import Iterator

import pytest

from promote_cli.local.plane import LocalControlPlane, PlaneOptions

# Every Wait, Retry interval and task timeout of the interpreter runs at a tenth of its written length,
# so retry schedules, the bake and the approval timeout run in seconds. The ASL is unchanged; handlers
# keep the real clock.
TIME_SCALE = 0.1


@pytest.fixture(scope="session")
def plane() -> Iterator[LocalControlPlane]:
    """One local control plane for the integration session: template.yaml and the real ASL on moto."""
    local = LocalControlPlane(PlaneOptions(time_scale=TIME_SCALE))
    local.start()
    yield local
    local.stop()
