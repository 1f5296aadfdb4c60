// Package bench holds the measurements behind kefu-bench (cmd/kefu-bench):
// the embedding engine against the plain integration (embed.go), the
// vector kernels, scans and chromem-go (vector.go), HNSW (hnsw.go),
// parse+chunk and end-to-end ingest (parse.go, ingest.go), hybrid search
// latency (search.go), the HTTP API under load (http.go) and idle and
// streaming WebSocket chats (ws.go, with a fake LLM: fakellm.go). Every
// figure it reports as a ratio compares two measurements of the same run.
//
// It is a tool package, like cmd: it wires and drives every stage, and
// links what the product must not ship (chromem-go as a baseline, the
// load generators). Only cmd/kefu-bench and its own tests import it; its
// data generators are in internal/bench/synth, which any test may use.
package bench
