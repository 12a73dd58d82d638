from __future__ import annotations

from collections.abc import Iterator

import pytest

from promote_cli.local.plane import LocalControlPlane


@pytest.fixture(scope="session")
def plane() -> Iterator[LocalControlPlane]:
    """One local control plane for the integration session: template.yaml and the real ASL on moto."""
    local = LocalControlPlane()
    local.start()
    yield local
    local.stop()
