#!/bin/sh
# What the container runs: `api` (default) or `worker`; anything else runs as a command,
# e.g. `docker compose run --rm api node -e "..."`.
set -e
role="${1:-api}"
if [ "$#" -gt 0 ]; then shift; fi
case "$role" in
  api) exec node --import tsx src/server.ts "$@" ;;
  worker) exec node --import tsx workers/main.ts "$@" ;;
  *) exec "$role" "$@" ;;
esac
