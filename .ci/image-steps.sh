#!/usr/bin/env bash
# The install steps of docker/Dockerfile (no Docker engine runs here), replayed in a clean copy:
# npm ci without scripts, the engine step, prune to production dependencies, then the image's
# entrypoint serves the api and its healthcheck passes.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
api_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

git -C "$repo" archive HEAD | tar -x -C "$work"
cd "$work"
npm ci --ignore-scripts --no-audit --no-fund
# Same cache as the main install, so the wheel is not fetched and unpacked twice.
ENGINE_CACHE_DIR="$repo/.cache/libtensorflow" node scripts/install-engine.mjs
rm -rf node_modules/@tensorflow/tfjs-node/deps/include
node scripts/build-ui.mjs && test -f ui/dist/index.html
npm prune --omit=dev --ignore-scripts --no-audit --no-fund
node -e "require.resolve('tsx')"

port="$(node -e "const s=require('net').createServer().listen(0,()=>{console.log(s.address().port);s.close()})")"
export PORT="$port" HOST=127.0.0.1 DATA_DIR="$work/data" QUEUE_PREFIX="ci-image-$$" LOG_LEVEL=warn
sh docker/entrypoint.sh api &
api_pid=$!
for _ in $(seq 1 120); do
  if node docker/healthcheck.mjs 2>/dev/null; then
    echo "image steps: api from the pruned install answers /health/ready on port $port"
    code="$(node -e "fetch('http://127.0.0.1:$port/ui/').then(r=>{console.log(r.status)},()=>console.log(0))")"
    [ "$code" = 200 ] || { echo "image steps: /ui/ answered $code, not the built dashboard" >&2; exit 1; }
    echo "image steps: the dashboard is served at /ui/"
    exit 0
  fi
  kill -0 "$api_pid" 2>/dev/null || { echo "image steps: the api exited" >&2; exit 1; }
  sleep 1
done
echo "image steps: the api did not become ready" >&2
exit 1
