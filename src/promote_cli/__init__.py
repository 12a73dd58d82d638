"""The promote CLI and the local control plane (a development package, not shipped in the Lambda layer)."""
