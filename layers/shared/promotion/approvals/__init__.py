"""Asking a person, deciding by the rules, proving the decision: requests, rules, decisions,
expiry, links, audit, pages, Slack, the bypass policy and the decision proof."""
