#!/bin/sh
# Container entrypoint: `serve` (the default) first applies the migrations (safe when
# several replicas start at once: certfleet migrate takes an advisory lock), then
# replaces itself with the service, so SIGTERM from the runtime reaches it directly.
# Any other command is passed to the binary as it is (e.g. `token create ...`).
set -eu
bin=${CERTFLEET_BIN:-/usr/bin/certfleet}
if [ "$#" -eq 0 ] || [ "$1" = serve ]; then
  [ "$#" -gt 0 ] && shift
  "$bin" migrate
  exec "$bin" serve "$@"
fi
exec "$bin" "$@"
