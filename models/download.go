package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/atomicfile"
)

// maxDownload bounds a file whose size the manifest does not pin (the
// largest ONNX exports kefu supports are under 1 GB).
const maxDownload = 4 << 30

// downloadAttempts is how often a file is tried on network errors and 5xx.
const downloadAttempts = 3

// download fetches every file of spec into dir from its HuggingFace
// revision. Each file is checked against its pinned size and SHA-256 while
// it is written crash-safely (internal/atomicfile), so dir never holds a
// partial or unverified file.
func download(spec kefu.ModelSpec, dir string, opts ResolveOptions) error {
	if spec.Repo == "" || spec.Revision == "" {
		return kefu.Errorf(kefu.EUNSUPPORTED, "model %s has no pinned repository to download from", spec.Name)
	}
	client := opts.client()
	for _, f := range spec.Files {
		target := filepath.Join(dir, filepath.FromSlash(f.Name))
		if ok, err := verified(target, f); err != nil {
			return err
		} else if ok {
			continue
		}
		u := f.URL
		if u == "" {
			u = fileURL(opts.endpoint(), spec.Repo, spec.Revision, f.Name)
		}
		var err error
		for attempt := 1; attempt <= downloadAttempts; attempt++ {
			var n int64
			n, err = fetch(client, u, target, f)
			if err == nil {
				if opts.Progress != nil {
					opts.Progress(f.Name, n)
				}
				break
			}
			var te *transientError
			if !errors.As(err, &te) {
				return err
			}
			if attempt < downloadAttempts {
				time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fileURL is HuggingFace's address of a file at a revision.
func fileURL(endpoint, repo, revision, name string) string {
	return endpoint + "/" + repo + "/resolve/" + url.PathEscape(revision) + "/" + path.Clean(name)
}

// verified reports whether target exists with f's pinned size and checksum.
func verified(target string, f kefu.ModelFile) (bool, error) {
	st, err := os.Stat(target)
	if err != nil || (f.Size > 0 && st.Size() != f.Size) {
		return false, nil
	}
	if f.SHA256 == "" {
		return true, nil
	}
	sum, err := fileSHA256(target)
	if err != nil {
		return false, err
	}
	return strings.EqualFold(sum, f.SHA256), nil
}

// transientError marks a failure worth retrying (network, 5xx).
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// fetch downloads u into target atomically and returns its size.
func fetch(client *http.Client, u, target string, f kefu.ModelFile) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return 0, kefu.Errorf(kefu.EINTERNAL, "model cache: %w", err)
	}
	resp, err := client.Get(u)
	if err != nil {
		return 0, &transientError{kefu.Errorf(kefu.EUNAVAILABLE, "download %s: %w", u, err)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return 0, &transientError{kefu.Errorf(kefu.EUNAVAILABLE, "download %s: %s", u, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return 0, kefu.Errorf(kefu.EUNAVAILABLE, "download %s: %s", u, resp.Status)
	}
	limit := int64(maxDownload)
	if f.Size > 0 {
		limit = f.Size
	}
	var n int64
	var failed error // the download's own failure, classified
	err = atomicfile.Write(target, 0o600, func(w io.Writer) error {
		h := sha256.New()
		var err error
		if n, err = io.Copy(io.MultiWriter(w, h), io.LimitReader(resp.Body, limit+1)); err != nil {
			failed = &transientError{kefu.Errorf(kefu.EUNAVAILABLE, "download %s: %w", u, err)}
		} else if err := check(f, n, limit, hex.EncodeToString(h.Sum(nil))); err != nil {
			failed = kefu.Errorf(kefu.EINVALID, "download %s: %w; the file was discarded", u, err)
		}
		return failed
	})
	switch {
	case failed != nil:
		return 0, failed
	case err != nil:
		return 0, kefu.Errorf(kefu.EINTERNAL, "model cache: %w", err)
	}
	return n, nil
}

// check compares a downloaded file with its pins.
func check(f kefu.ModelFile, n, limit int64, sum string) error {
	switch {
	case n > limit:
		return fmt.Errorf("larger than %d bytes", limit)
	case f.Size > 0 && n != f.Size:
		return fmt.Errorf("%d bytes, want %d", n, f.Size)
	case f.SHA256 != "" && !strings.EqualFold(sum, f.SHA256):
		return fmt.Errorf("sha256 %s, want %s", sum, f.SHA256)
	}
	return nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", kefu.Errorf(kefu.ENOTFOUND, "%w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", kefu.Errorf(kefu.EINTERNAL, "read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
