# kefu's image: the API, the console and the CLI in one non-root container.
#
#   docker build -t kefu .
#   docker run -p 8080:8080 -v kefu-data:/data kefu
#
# The first start creates an admin API key and prints it once in the log.
# The embedding model comes from a folder mounted at /shared/models/NAME
# (or /data/models/NAME), else it is downloaded once into the volume with
# every file's checksum checked. README.md "Docker" has the details;
# `make test-docker` builds this file with podman and smoke-tests the image.
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

# ---- build: cgo (ONNX Runtime) with the SIMD kernels ----
FROM ${GO_IMAGE} AS build
WORKDIR /src
# GOPROXY=off builds from a module cache mounted at /go/pkg/mod, offline.
ARG GOPROXY
ENV GOPROXY=${GOPROXY:-https://proxy.golang.org,direct}
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# ONNX Runtime 1.24.1 from `npm pack onnxruntime-node@1.24.1`, the same
# library as `make ort`, sha256-checked by scripts/fetch-ort.sh: a library
# already fetched into third_party/ is only checked; else npm fetches it.
RUN ./scripts/fetch-ort.sh third_party/onnxruntime 2>/dev/null || { \
      apt-get update -qq && apt-get install -y -qq --no-install-recommends npm >/dev/null && \
      ./scripts/fetch-ort.sh third_party/onnxruntime; }
RUN --mount=type=cache,target=/root/.cache/go-build \
    GOEXPERIMENT=simd CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X github.com/kefu-dev/kefu/embed.BuiltinORTLib=/usr/local/lib/kefu/libonnxruntime.so.1" \
      -o /out/kefu ./cmd/kefu

# ---- runtime ----
FROM ${BASE_IMAGE}
# CA certificates: models download from HuggingFace over HTTPS, LLMs are
# called over HTTPS.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin kefu \
 && mkdir -p /data /shared && chown kefu:kefu /data
COPY --from=build /src/third_party/onnxruntime/libonnxruntime.so.1 /usr/local/lib/kefu/libonnxruntime.so.1
COPY --from=build /out/kefu /usr/local/bin/kefu
COPY docker/entrypoint.sh /usr/local/bin/kefu-entrypoint
# Data, API keys and downloaded models live in the volume; models are also
# looked for in /shared/models/NAME (a mounted folder) and /data/models/NAME.
ENV KEFU_DATA_DIR=/data \
    XDG_CACHE_HOME=/data/cache \
    KEFU_SHARED=/shared \
    KEFU_ORT_LIB=/usr/local/lib/kefu/libonnxruntime.so.1
USER kefu
WORKDIR /data
VOLUME /data
EXPOSE 8080
# /readyz is 503 while the model loads and KBs are re-embedded; the first
# start may download a model, hence the long start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
  CMD ["kefu-entrypoint", "healthcheck"]
ENTRYPOINT ["kefu-entrypoint"]
CMD ["serve"]
