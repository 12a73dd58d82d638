"""The HTTP API's routes: approval links, Slack interactivity, the GitHub webhook, operators."""
