// Package web is kefu's web console: a single-page app of plain HTML, CSS and
// JavaScript modules, embedded in the binary and served at "/" by the api
// package. It has no build step and loads nothing from the network: every
// file it needs is in FS, and every string it shows is in strings.json, in
// English and Chinese. It imports nothing of kefu.
//
// The console speaks only the public HTTP API (/v1/...): fetch for REST, XHR
// for uploads (for their progress), and the WebSocket chat protocol.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS returns the console's files with index.html at the root.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil { // cannot happen: "static" is embedded above
		panic(err)
	}
	return sub
}
