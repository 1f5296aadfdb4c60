package models

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/shared"
)

// EnvShared names the environment variable of the shared folder; models are
// also looked for in its models folder (internal/shared finds it).
const EnvShared = shared.Env

// ResolveOptions say where Resolve looks for models and how it downloads them.
type ResolveOptions struct {
	// SearchDirs are folders holding one sub-folder per model. nil means
	// ./models, then the shared folder's models ($KEFU_SHARED, else
	// ../shared).
	SearchDirs []string
	// CacheDir receives downloads; "" is <user cache dir>/kefu/models.
	CacheDir string
	// Offline forbids downloads.
	Offline bool
	// HFEndpoint is the HuggingFace host (or a mirror); "" is $HF_ENDPOINT,
	// else https://huggingface.co.
	HFEndpoint string
	// Client downloads; nil is a client with a 30-minute limit per file.
	Client *http.Client
	// Manifest replaces Manifest(); nil is Manifest().
	Manifest []kefu.ModelSpec
	// Progress, when set, is told of each file downloaded.
	Progress func(file string, bytes int64)
}

func (o ResolveOptions) searchDirs() []string {
	if o.SearchDirs != nil {
		return o.SearchDirs
	}
	dirs := []string{"models"}
	if s := shared.Dir(); s != "" {
		dirs = append(dirs, filepath.Join(s, "models"))
	}
	return dirs
}

func (o ResolveOptions) cacheDir() string {
	if o.CacheDir != "" {
		return o.CacheDir
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "kefu", "models")
	}
	return filepath.Join(os.TempDir(), "kefu-models")
}

func (o ResolveOptions) manifest() []kefu.ModelSpec {
	if o.Manifest != nil {
		return o.Manifest
	}
	return Manifest()
}

func (o ResolveOptions) endpoint() string {
	e := o.HFEndpoint
	if e == "" {
		e = os.Getenv("HF_ENDPOINT")
	}
	if e == "" {
		e = "https://huggingface.co"
	}
	return strings.TrimRight(e, "/")
}

func (o ResolveOptions) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Timeout: 30 * time.Minute, Transport: t}
}

// Resolve finds a model and returns its spec with Dir set. nameOrDir is a
// folder (any value with a path separator, or an existing folder) or a model
// name. A name is looked for in each search folder, then in the download
// cache, then downloaded from the manifest's pinned HuggingFace revision with
// every pinned checksum checked. A folder not in the manifest is described
// from its own sentence-transformers files. When nothing works the error
// (kefu.ENOTFOUND) lists where Resolve looked and where to put the files.
func Resolve(nameOrDir string, opts ResolveOptions) (kefu.ModelSpec, error) {
	if nameOrDir == "" {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.EINVALID, "no model named")
	}
	if isPath(nameOrDir) {
		return fromDir(nameOrDir, opts)
	}
	spec, known := Lookup(opts.manifest(), nameOrDir)
	name := nameOrDir
	if known {
		name = spec.Name
	}
	var looked []string
	for _, root := range opts.searchDirs() {
		dir := filepath.Join(root, name)
		looked = append(looked, dir)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return fromDir(dir, opts)
		}
	}
	if !known {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.ENOTFOUND,
			"model %q is not in the manifest and no folder holds it (looked in %s); put a sentence-transformers ONNX export (model.onnx or onnx/model.onnx, tokenizer.json, config.json) in ./models/%s/ or pass its folder",
			nameOrDir, strings.Join(looked, ", "), nameOrDir)
	}
	cached := filepath.Join(opts.cacheDir(), spec.Name)
	looked = append(looked, cached)
	if complete(cached, spec) {
		return withDir(spec, cached)
	}
	var why string
	switch {
	case opts.Offline:
		why = "downloads are off"
	case spec.Repo == "":
		why = "it has no public download"
	default:
		err := download(spec, cached, opts)
		if err == nil {
			return withDir(spec, cached)
		}
		if kefu.ErrorCode(err) == kefu.EINVALID {
			return kefu.ModelSpec{}, err // a checksum mismatch is not "not found"
		}
		why = "download failed: " + err.Error()
	}
	return kefu.ModelSpec{}, kefu.Errorf(kefu.ENOTFOUND,
		"model %s not found (looked in %s; %s); put its files (%s) in ./models/%s/, or pass --model with their folder",
		spec.Name, strings.Join(looked, ", "), why, fileNames(spec), spec.Name)
}

func fileNames(spec kefu.ModelSpec) string {
	var names []string
	for _, f := range spec.Files {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

// isPath reports whether s names a folder rather than a model: an absolute
// or dot path, or a path with a separator that exists ("BAAI/bge-small-en-v1.5"
// names a repository unless such a folder exists).
func isPath(s string) bool {
	if filepath.IsAbs(s) || strings.HasPrefix(s, ".") {
		return true
	}
	if strings.ContainsRune(s, filepath.Separator) {
		st, err := os.Stat(s)
		return err == nil && st.IsDir()
	}
	return false
}

// fromDir describes the model in dir: the manifest entry of the same name
// when there is one, else what the folder's own files say.
func fromDir(dir string, opts ResolveOptions) (kefu.ModelSpec, error) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.ENOTFOUND, "model folder %s does not exist", dir)
	}
	if spec, ok := Lookup(opts.manifest(), filepath.Base(filepath.Clean(dir))); ok {
		return withDir(spec, dir)
	}
	return Describe(dir)
}

// withDir sets spec.Dir and finds the ONNX file, which a user may have put
// at the top of the folder or under onnx/.
func withDir(spec kefu.ModelSpec, dir string) (kefu.ModelSpec, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.EINTERNAL, "model folder %s: %w", dir, err)
	}
	spec.Dir = abs
	onnx, ok := findONNX(abs, spec.ONNXFile)
	if !ok {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.ENOTFOUND, "model %s: no ONNX file in %s (want %s, model.onnx or onnx/model.onnx)", spec.Name, abs, spec.ONNXFile)
	}
	spec.ONNXFile = onnx
	if !isFile(filepath.Join(abs, "tokenizer.json")) {
		return kefu.ModelSpec{}, kefu.Errorf(kefu.ENOTFOUND, "model %s: no tokenizer.json in %s", spec.Name, abs)
	}
	return spec, nil
}

func findONNX(dir, preferred string) (string, bool) {
	for _, name := range []string{preferred, "model.onnx", filepath.Join("onnx", "model.onnx")} {
		if name != "" && isFile(filepath.Join(dir, name)) {
			return name, true
		}
	}
	return "", false
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// complete reports whether dir holds every file of spec with the pinned size.
func complete(dir string, spec kefu.ModelSpec) bool {
	for _, f := range spec.Files {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil || (f.Size > 0 && st.Size() != f.Size) {
			return false
		}
	}
	return len(spec.Files) > 0
}

// preferred lists the pretrained models in the order Default picks them:
// multilingual first (the demo KBs mix Chinese and English), then Chinese,
// then English.
var preferred = []string{
	"multilingual-e5-small",
	"bge-small-zh-v1.5",
	"paraphrase-multilingual-MiniLM-L12-v2",
	"bge-small-en-v1.5",
	"all-MiniLM-L6-v2",
	"use-lite-en",
}

// Default returns the name of the best pretrained model available on this
// machine without downloading (search folders, then the download cache).
// With none available it returns multilingual-e5-small, which Resolve can
// download, or use-lite-en when downloads are off.
func Default(opts ResolveOptions) string {
	for _, name := range preferred {
		spec, ok := Lookup(opts.manifest(), name)
		if !ok || !spec.Pretrained {
			continue
		}
		for _, root := range opts.searchDirs() {
			if _, err := withDir(spec, filepath.Join(root, name)); err == nil {
				return name
			}
		}
		if complete(filepath.Join(opts.cacheDir(), name), spec) {
			return name
		}
	}
	if opts.Offline {
		return "use-lite-en"
	}
	return preferred[0]
}
