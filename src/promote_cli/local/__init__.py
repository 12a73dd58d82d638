"""The local control plane: template.yaml and the promotion ASL run on moto, handlers in process."""
