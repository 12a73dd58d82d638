"""Pydantic models: pipeline configuration, execution input, step results and handler settings.

Every model of the layer sets ``defer_build=True``: pydantic then builds a model's validator at its first
validation instead of when the class is defined, so a function builds only the models its own path
validates, not every model of the modules it imports (Lambda bills the import as INIT time).
"""
