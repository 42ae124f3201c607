#!/bin/sh
# npm run compose:check: validates docker-compose.yml (no .env needed) with whichever compose
# is installed; without one it says so and succeeds, so it can run anywhere.
set -e
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
  docker compose -f docker-compose.yml config -q
elif command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f docker-compose.yml config -q
else
  echo "compose:check skipped: neither 'docker compose' nor 'docker-compose' is installed"
  exit 0
fi
echo "docker-compose.yml is valid"
