#!/usr/bin/env bash
# Runs every `func FuzzXxx` target of the module for $FUZZTIME each.
#
# A target fails when the fuzzer finds an input (it writes a reproducer under
# testdata/fuzz and prints "Failing input written to") or the run errors in
# any other way. One case is retried instead: Go 1.26's coordinator can stop
# with a bare "context deadline exceeded" when -fuzztime runs out while a
# worker is mid-input, without finding anything (go.dev/issue/75804, fixed in
# Go 1.27). That run is retried once; a second such stop fails.
set -euo pipefail
fuzztime=${FUZZTIME:-4s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

run() { go test -run='^$' -fuzz="^$1\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$2" >"$log" 2>&1; }

deadline_flake() {
  grep -q 'context deadline exceeded' "$log" &&
    ! grep -qE 'Failing input written to|panic:' "$log"
}

while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
  pkg=$(dirname "$file")
  echo "fuzz: $pkg $name ($fuzztime)"
  if run "$name" "$pkg"; then continue; fi
  if deadline_flake; then
    echo "fuzz: $name stopped at the time limit without a finding (go.dev/issue/75804); retrying once"
    if run "$name" "$pkg"; then continue; fi
  fi
  cat "$log"; status=1
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | grep -v '/node_modules/' | sort)
exit $status
