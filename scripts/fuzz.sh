#!/usr/bin/env bash
# Runs every `func FuzzXxx` target of the module for $FUZZTIME each.
set -euo pipefail
fuzztime=${FUZZTIME:-4s}
status=0
while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
  pkg=./$(dirname "$file")
  echo "fuzz: $pkg $name ($fuzztime)"
  if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$pkg" >/tmp/kefu-fuzz.log 2>&1; then
    cat /tmp/kefu-fuzz.log; status=1
  fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | grep -v '/node_modules/' | sort)
exit $status
