#!/usr/bin/env bash
# Builds kefu's image from the Dockerfile with podman and smoke-tests it
# (`make test-docker`, which .ci/run calls after `make test`):
#
#   1. podman, buildah, runc and debootstrap from apt when missing; runc as
#      the runtime and explicit nofile/nproc ulimits (crun and the default
#      limits fail on these machines), through a containers.conf in
#      $CONTAINERS_CONF;
#   2. the base images the Dockerfile names, made locally since no registry
#      can be reached: debian:bookworm-slim from `debootstrap --variant=minbase`
#      (slimmed as the official image is), and golang:1.26-bookworm from it
#      plus this machine's Go (/usr/local/go) and gcc. Both are kept in
#      podman's storage, so later runs on this machine skip this step;
#   3. `podman build --pull=never` with the host's Go module cache, filled
#      by `go mod download`, mounted read-only at /go/pkg/mod (GOPROXY=off:
#      nothing is downloaded inside the build);
#   4. the image run with the shared models mounted at /shared and a fresh
#      volume at /data: /readyz, the first admin key from the log, a file
#      ingested through the API, a search and a question answered from it,
#      the KB exported and imported through the API, the HEALTHCHECK, a
#      restart that keeps the data, and a clean stop on SIGTERM;
#   5. the image size and this stage's time.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
shared=$(realpath "${KEFU_SHARED:-../shared}")
image=${KEFU_IMAGE:-localhost/kefu:smoke}
base=docker.io/library/debian:bookworm-slim
gobase=docker.io/library/golang:1.26-bookworm
say() { echo "test-docker: $*" >&2; }

# 1. Tools and configuration.
pkgs=()
for t in podman buildah runc debootstrap curl jq; do command -v "$t" >/dev/null 2>&1 || pkgs+=("$t"); done
if [ ${#pkgs[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "apt-get install ${pkgs[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" uidmap slirp4netns >/dev/null
fi
work=$(mktemp -d)
name=kefu-smoke-$$
vol=kefu-smoke-data-$$
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$vol" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=65536; nofile=$((nofile < 65536 ? nofile : 65536))
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] && nproc=4096; nproc=$((nproc < 4096 ? nproc : 4096))
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$work/containers.conf

# 2. Base images.
if ! podman image exists "$base"; then
  say "making $base with debootstrap (a few minutes, once per machine)"
  root=$work/rootfs
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { cat "$work/debootstrap.log" >&2; exit 1; }
  # What the official slim image leaves out, and keeps out of later installs.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/no-recommends"
  # As in the official image: apt keeps no package files or caches.
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
  tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$root"
fi
hostgo=$(go env GOROOT)
case "$(go env GOVERSION)" in go1.26*) ;; *) say "the Dockerfile builds with Go 1.26; this machine has $(go env GOVERSION)"; exit 1 ;; esac
if ! podman image exists "$gobase"; then
  say "making $gobase from $base and $hostgo"
  cat >"$work/golang.Containerfile" <<EOF
FROM $base
RUN apt-get update -qq && apt-get install -y -qq gcc libc6-dev ca-certificates git >/dev/null && rm -rf /var/lib/apt/lists/*
RUN cp -a /hostgo /usr/local/go
ENV GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
EOF
  podman build --pull=never -q -v "$hostgo:/hostgo:ro" -t "$gobase" -f "$work/golang.Containerfile" "$work" >/dev/null
fi
tbase=$(date +%s)

# 3. The image.
make -s ort
# The build's `go mod download` reads the mounted cache offline: fill it
# here, through the module proxy, with every module of go.mod's graph
# (`make test` fetches only what the packages it builds import, and a
# clean machine's cache lacks the others' .info files).
go mod download
say "podman build $image"
podman build --pull=never --format docker -q \
  -v "$(go env GOMODCACHE):/go/pkg/mod:ro" --build-arg GOPROXY=off \
  -t "$image" . >/dev/null
podman image prune -f >/dev/null # the build stage's layers; the Go build cache is kept apart
tbuild=$(date +%s)

# 4. Smoke test.
port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port
start() {
  # The health check runs on demand below: podman's timer needs systemd.
  podman run -d --name "$name" --health-interval disable -p "127.0.0.1:$port:8080" -v "$vol:/data" -v "$shared:/shared:ro" "$image" >/dev/null
  for _ in $(seq 120); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ]; then return 0; fi
    if [ "$(podman inspect -f '{{.State.Running}}' "$name")" != true ]; then break; fi
    sleep 1
  done
  podman logs "$name" >&2
  say "FAIL: /readyz did not answer 200"
  exit 1
}
fail() { say "FAIL: $*"; podman logs --tail 30 "$name" >&2 || true; exit 1; }
check() { # check WHAT JQ-EXPRESSION JSON: the expression must be true
  jq -e "$2" >/dev/null <<<"$3" || fail "$1: $3"
}
podman volume create "$vol" >/dev/null
start
key=$(podman logs "$name" 2>&1 | sed -n 's/^    \(kefu_[A-Za-z0-9_-]*\)$/\1/p' | head -1)
[ -n "$key" ] || key=$(podman logs "$name" 2>&1 | awk '/shown this once/{getline; getline; print $1; exit}')
[ -n "$key" ] || fail "no admin key in the log"
auth=(-H "Authorization: Bearer $key")
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/kbs")
[ "$code" = 401 ] || fail "GET /v1/kbs without a key answered $code, want 401"

cat >"$work/returns.md" <<'EOF'
# Returns

Parcels can be returned within thirty days of delivery. Print the prepaid
label from your order page and drop the parcel at any post office.

# Shipping

We ship to every country in Europe; delivery takes three to five working days.
EOF
check "create KB" '.name == "smoke"' "$(curl -sf "${auth[@]}" -XPOST "$url/v1/kbs" -H 'content-type: application/json' -d '{"name":"smoke"}')"
job=$(curl -sf "${auth[@]}" -F "file=@$work/returns.md" "$url/v1/kbs/smoke/documents") || fail "upload"
id=$(jq -r .job_id <<<"$job")
for _ in $(seq 60); do
  job=$(curl -sf "${auth[@]}" "$url/v1/jobs/$id")
  case $(jq -r .state <<<"$job") in done|failed) break ;; esac
  sleep 1
done
check "ingest job" '.state == "done" and .done == 1' "$job"
search=$(curl -sf "${auth[@]}" -XPOST "$url/v1/kbs/smoke/search" -H 'content-type: application/json' -d '{"query":"how long do I have to return a parcel","k":3}')
check "search" '.hits[0].doc_id == "returns.md" and (.hits[0].text | test("thirty days")) and .hits[0].vector_score > 0' "$search"
answer=$(curl -sf "${auth[@]}" -XPOST "$url/v1/kbs/smoke/ask" -H 'content-type: application/json' -d '{"question":"How many days do I have to return a parcel?"}')
check "ask" '(.route | IN("faq","generated","extractive","disclaimer")) and (.text | test("thirty days")) and .citations[0].doc_id == "returns.md"' "$answer"

# The KB leaves through the API as an archive and comes back under another name.
curl -sf "${auth[@]}" -o "$work/smoke.kefu" "$url/v1/kbs/smoke/export" || fail "export"
imported=$(curl -sf "${auth[@]}" -XPOST "$url/v1/kbs/import?as=smoke2" -H 'content-type: application/zstd' --data-binary "@$work/smoke.kefu") || fail "import"
check "import" '.kb.name == "smoke2" and .counts.documents == 1' "$imported"
check "search the import" '.hits[0].doc_id == "returns.md"' \
  "$(curl -sf "${auth[@]}" -XPOST "$url/v1/kbs/smoke2/search" -H 'content-type: application/json' -d '{"query":"return a parcel","k":1}')"

podman healthcheck run "$name" || fail "the image's HEALTHCHECK failed"
[ "$(podman inspect -f '{{.Config.User}}' "$name")" = kefu ] || fail "the container does not run as user kefu"

# A restart keeps the data and the key; SIGTERM stops kefu cleanly.
podman stop -t 30 "$name" >/dev/null
[ "$(podman inspect -f '{{.State.ExitCode}}' "$name")" = 0 ] || fail "kefu exited with $(podman inspect -f '{{.State.ExitCode}}' "$name") on SIGTERM"
podman rm "$name" >/dev/null
start
check "after a restart" '[.[].name] | index("smoke") != null' "$(curl -sf "${auth[@]}" "$url/v1/kbs" | jq '.kbs // .')"
podman stop -t 30 "$name" >/dev/null

size=$(podman image inspect -f '{{.Size}}' "$image")
t1=$(date +%s)
say "ok: image $image $((size / 1000000)) MB; stage $((t1 - t0)) s (base images $((tbase - t0)) s, build $((tbuild - tbase)) s, smoke test $((t1 - tbuild)) s)"
