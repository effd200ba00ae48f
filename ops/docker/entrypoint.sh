#!/bin/sh
# The container's entrypoint (ops/Dockerfile): validate the configuration, then become the
# gateway (exec, so `docker stop`'s SIGTERM reaches it and it shuts down gracefully).
set -eu

# Exit 2 naming the bad key before anything starts; the effective configuration (secrets
# masked) goes to the log.
python -m gateway check-config

if [ -z "${SUPABASE_URL:-}${GATEWAY_SUPABASE_URL:-}" ]; then
    echo "entrypoint: no SUPABASE_URL: starting the embedded stack (one-box demo, public demo keys)" >&2
else
    echo "entrypoint: serving the Supabase project at ${SUPABASE_URL:-${GATEWAY_SUPABASE_URL:-}}" >&2
fi
exec python -m gateway "$@"
