"""The local console: watch a promotion as a graph (the local plane's Step Functions console)."""
