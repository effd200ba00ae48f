"""The client-facing transport: WebSocket and REST endpoints, frames and bodies (pydantic),
the error middleware, OpenAPI, health, and the gateway-wide heartbeat."""
