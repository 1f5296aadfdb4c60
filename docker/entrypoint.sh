#!/bin/bash
# The container's entry point: runs kefu with the arguments given.
#
# For `serve` (the default): listens on 0.0.0.0:8080 unless --addr is
# given, and on the first start, when no API key exists, creates an admin
# key and prints it once in the log (kefu refuses to listen beyond
# loopback without a key). `healthcheck` is the image's HEALTHCHECK: 0 when
# GET /readyz on port 8080 answers 200.
set -euo pipefail

if [ "${1:-}" = healthcheck ]; then
  exec 3<>/dev/tcp/127.0.0.1/"${KEFU_PORT:-8080}"
  printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  read -r -t 4 _ status _ <&3
  [ "$status" = 200 ]
  exit
fi

if [ "${1:-}" = serve ]; then
  shift
  addr=(--addr "0.0.0.0:${KEFU_PORT:-8080}")
  for a in "$@"; do
    case $a in --addr|--addr=*|-addr|-addr=*) addr=() ;; esac
  done
  if [ -z "$(kefu keys list | tail -n +2)" ]; then
    secret=$(kefu keys create --scope admin --name "first admin key (created at the container's first start)" 2>/dev/null)
    printf 'kefu: created the first admin API key; it is shown this once:\n\n    %s\n\nSend it as "Authorization: Bearer KEY". More keys: POST /v1/keys with it.\n\n' "$secret" >&2
  fi
  exec kefu serve "${addr[@]}" "$@"
fi

exec kefu "$@"
