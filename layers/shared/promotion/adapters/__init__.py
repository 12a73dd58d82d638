"""Adapters between the domain and AWS (or its local stand-ins)."""
