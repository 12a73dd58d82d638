"""Shared test helpers: driving promotions on the local control plane."""
