#!/usr/bin/env bash
# Fetches the ONNX Runtime 1.24.1 CPU library that github.com/yalue/onnxruntime_go
# v1.27.0 needs into third_party/onnxruntime/, checking its sha256.
# Source: the onnxruntime-node npm package (npm pack needs only the registry);
# without npm, the official GitHub release archive.
set -euo pipefail
dest=${1:-third_party/onnxruntime}
lib=$dest/libonnxruntime.so.1
want=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
ver=1.24.1

check() { echo "$want  $1" | sha256sum -c --status; }

if [ -f "$lib" ] && check "$lib"; then exit 0; fi
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) ;;
  *) echo "fetch-ort: only linux/x86_64 is fetched automatically; put libonnxruntime $ver in $dest or set KEFU_ORT_LIB" >&2; exit 1 ;;
esac
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v npm >/dev/null 2>&1; then
  echo "fetch-ort: npm pack onnxruntime-node@$ver" >&2
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ver" >/dev/null)
  tar -xzf "$tmp/onnxruntime-node-$ver.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  cp "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$tmp/lib"
else
  # The release archive is a different build from npm's, so it is checked
  # against the sha256 the caller takes from the release page.
  url="https://github.com/microsoft/onnxruntime/releases/download/v$ver/onnxruntime-linux-x64-$ver.tgz"
  if [ -z "${ORT_ARCHIVE_SHA256:-}" ]; then
    echo "fetch-ort: npm not found; set ORT_ARCHIVE_SHA256 to the sha256 of $url (from its release page) to download it" >&2
    exit 1
  fi
  echo "fetch-ort: npm not found, downloading $url" >&2
  curl -fsSL "$url" -o "$tmp/ort.tgz"
  echo "$ORT_ARCHIVE_SHA256  $tmp/ort.tgz" | sha256sum -c --status || { echo "fetch-ort: sha256 mismatch for $url" >&2; exit 1; }
  tar -xzf "$tmp/ort.tgz" -C "$tmp"
  cp "$tmp/onnxruntime-linux-x64-$ver/lib/libonnxruntime.so.$ver" "$tmp/lib"
  want=$(sha256sum "$tmp/lib" | cut -d' ' -f1)
fi
if ! check "$tmp/lib"; then
  echo "fetch-ort: sha256 mismatch for libonnxruntime.so.1 (want $want)" >&2
  exit 1
fi
mv "$tmp/lib" "$lib"
echo "fetch-ort: $lib" >&2
