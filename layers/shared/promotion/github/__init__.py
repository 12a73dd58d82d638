"""GitHub: the API client, the webhook, the Dependabot proof, commit identity, deployment statuses
and attested execution inputs."""
