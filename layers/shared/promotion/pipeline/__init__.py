"""The promotion's own steps: artifacts, deploys, checks, traffic, alarms, rollback, notices."""
