"""One entry point per state of the promotion: each handler imports only its own step."""
