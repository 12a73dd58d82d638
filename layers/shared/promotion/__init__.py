"""Shared library of the release-promotion control plane: domain rules, AWS adapters and models.

Shipped to every function in the Lambda layer and imported the same way by tests and the local plane.
"""
