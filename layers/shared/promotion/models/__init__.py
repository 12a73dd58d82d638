"""Pydantic models: pipeline configuration, execution input, step results and handler settings."""
