"""What the container image (ops/Dockerfile) runs besides the gateway: its healthcheck."""
