"""Shared library of the release-promotion control plane: domain rules, AWS adapters and models.

Shipped to every function in the Lambda layer and imported the same way by tests and the local plane.
"""

from promotion.cold_start import pause_collector_for_init

# Every handler imports this package before any library (the isort section "layer-entry" in
# functions/ruff.toml keeps `promotion.observability` first), so inside Lambda the collector is paused for
# the whole of INIT.
pause_collector_for_init()
