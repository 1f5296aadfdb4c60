package models

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kefu-dev/kefu"
)

// fingerprints caches Fingerprint by file identity, since hashing a large
// ONNX file takes a while and callers ask at every start.
var fingerprints struct {
	sync.Mutex
	m map[fileKey]string
}

type fileKey struct {
	path  string
	size  int64
	mtime time.Time
}

// Fingerprint identifies a model's weights: its name, '@' and the first 12
// hex digits of its ONNX file's SHA-256. It is what Embedder.ModelID returns
// and what a KB records, so a KB notices when its model's weights change.
func Fingerprint(spec kefu.ModelSpec) (string, error) {
	name := spec.ONNXFile
	if name == "" {
		name = "model.onnx"
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(spec.Dir, name)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", kefu.Errorf(kefu.EINVALID, "model %s: %w", spec.Name, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", kefu.Errorf(kefu.ENOTFOUND, "model %s: %w", spec.Name, err)
	}
	key := fileKey{abs, st.Size(), st.ModTime()}
	fingerprints.Lock()
	sum, ok := fingerprints.m[key]
	fingerprints.Unlock()
	if !ok {
		if sum, err = fileSHA256(abs); err != nil {
			return "", err
		}
		fingerprints.Lock()
		if fingerprints.m == nil {
			fingerprints.m = make(map[fileKey]string)
		}
		fingerprints.m[key] = sum
		fingerprints.Unlock()
	}
	return spec.Name + "@" + sum[:12], nil
}
