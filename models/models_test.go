package models

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

func TestManifest(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Manifest() {
		if seen[m.Name] {
			t.Errorf("%s listed twice", m.Name)
		}
		seen[m.Name] = true
		if m.Dim <= 0 || m.MaxTokens <= 0 {
			t.Errorf("%s: dim %d, max tokens %d", m.Name, m.Dim, m.MaxTokens)
		}
		switch m.Pooling {
		case kefu.PoolMean, kefu.PoolCLS:
		case kefu.PoolOutput:
			if m.Output == "" {
				t.Errorf("%s: pooled output without a name", m.Name)
			}
		default:
			t.Errorf("%s: pooling %q", m.Name, m.Pooling)
		}
		var hasONNX, hasTok bool
		for _, f := range m.Files {
			hasONNX = hasONNX || f.Name == m.ONNXFile
			hasTok = hasTok || f.Name == "tokenizer.json"
			if f.SHA256 != "" {
				if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 {
					t.Errorf("%s: %s: bad sha256 %q", m.Name, f.Name, f.SHA256)
				}
			}
		}
		if !hasONNX || !hasTok {
			t.Errorf("%s: files %v lack the ONNX file or tokenizer.json", m.Name, m.Files)
		}
		if m.Repo != "" && !commitRE.MatchString(m.Revision) {
			t.Errorf("%s: revision %q is not a pinned commit", m.Name, m.Revision)
		}
		if len(m.Languages) == 0 {
			t.Errorf("%s: no languages", m.Name)
		}
	}
	for _, name := range []string{"all-MiniLM-L6-v2", "bge-small-en-v1.5", "bge-small-zh-v1.5", "multilingual-e5-small",
		"paraphrase-multilingual-MiniLM-L12-v2", "use-lite-en", "minilm-l6-shape", "tiny-en", "tiny-zh"} {
		if !seen[name] {
			t.Errorf("%s missing from the manifest", name)
		}
	}
	// Prefixes the models' cards prescribe.
	e5, _ := Lookup(Manifest(), "intfloat/multilingual-e5-small")
	if e5.QueryPrefix != "query: " || e5.PassagePrefix != "passage: " {
		t.Errorf("e5 prefixes %q %q", e5.QueryPrefix, e5.PassagePrefix)
	}
	bgeEn, _ := Lookup(Manifest(), "bge-small-en-v1.5")
	bgeZh, _ := Lookup(Manifest(), "BGE-SMALL-ZH-V1.5")
	if bgeEn.QueryPrefix != "Represent this sentence for searching relevant passages: " || bgeEn.PassagePrefix != "" ||
		bgeZh.QueryPrefix != "为这个句子生成表示以用于检索相关文章：" || bgeZh.Pooling != kefu.PoolCLS {
		t.Errorf("bge specs: %+v %+v", bgeEn, bgeZh)
	}
}

// TestManifestMatchesShared checks every pinned size and checksum of the
// shared models against the files in ../shared/models.
func TestManifestMatchesShared(t *testing.T) {
	root := testenv.Shared(t, "models")
	n := 0
	for _, m := range Manifest() {
		if m.Repo != "" {
			continue
		}
		n++
		for _, f := range m.Files {
			p := filepath.Join(root, m.Name, f.Name)
			st, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s: %v", m.Name, err)
				continue
			}
			if f.Size != st.Size() {
				t.Errorf("%s: size %d, manifest %d", p, st.Size(), f.Size)
			}
			if sum, err := fileSHA256(p); err != nil || sum != f.SHA256 {
				t.Errorf("%s: sha256 %s (%v), manifest %s", p, sum, err, f.SHA256)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d shared models in the manifest, want 4", n)
	}
}

// linkModel makes dir/name a copy of a shared model: symlinks to its files.
func linkModel(t *testing.T, dir, name string) string {
	t.Helper()
	src := testenv.Model(t, name)
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestResolveOrder(t *testing.T) {
	shared := testenv.Shared(t, "models")
	local := t.TempDir()
	opts := ResolveOptions{SearchDirs: []string{local, shared}, CacheDir: t.TempDir(), Offline: true}

	spec, err := Resolve("tiny-en", opts)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Dir != filepath.Join(shared, "tiny-en") || spec.Dim != 64 || spec.Pretrained {
		t.Errorf("from shared: %+v", spec)
	}
	want := linkModel(t, local, "tiny-en")
	spec, err = Resolve("tiny-en", opts)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Dir != want {
		t.Errorf("Dir %s, want the first search folder's %s", spec.Dir, want)
	}
	// An explicit folder wins and keeps the manifest's description.
	spec, err = Resolve(filepath.Join(shared, "use-lite-en"), ResolveOptions{SearchDirs: []string{}, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Pooling != kefu.PoolOutput || spec.Output != "sentence_embedding" || spec.Dim != 512 || !spec.Pretrained {
		t.Errorf("explicit use-lite-en: %+v", spec)
	}
}

func TestResolveNotFound(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	_, err := Resolve("bge-small-en-v1.5", ResolveOptions{SearchDirs: []string{dir}, CacheDir: cache, Offline: true})
	if kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Fatalf("got %v, want not found", err)
	}
	msg := kefu.ErrorMessage(err)
	for _, want := range []string{filepath.Join(dir, "bge-small-en-v1.5"), filepath.Join(cache, "bge-small-en-v1.5"), "./models/bge-small-en-v1.5/", "tokenizer.json"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	_, err = Resolve("no-such-model", ResolveOptions{SearchDirs: []string{dir}, Offline: true})
	if kefu.ErrorCode(err) != kefu.ENOTFOUND || !strings.Contains(err.Error(), "./models/no-such-model/") {
		t.Errorf("unknown model: %v", err)
	}
	_, err = Resolve(filepath.Join(dir, "missing"), ResolveOptions{})
	if kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("missing folder: %v", err)
	}
}

// hfServer serves a shared model's files as HuggingFace would, at
// /org/<name>/resolve/rev/<file>; corrupt, when set, alters one file.
func hfServer(t *testing.T, name string, corrupt string, fails int32) (*httptest.Server, *atomic.Int32) {
	src := testenv.Model(t, name)
	var hits atomic.Int32
	prefix := "/org/" + name + "/resolve/rev/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n <= fails {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		file, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok || strings.Contains(file, "..") {
			http.NotFound(w, r)
			return
		}
		data, err := os.ReadFile(filepath.Join(src, file))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if file == corrupt {
			data[len(data)/2] ^= 0xff
		}
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func downloadable(name string) []kefu.ModelSpec {
	spec, _ := Lookup(Manifest(), name)
	spec.Repo, spec.Revision = "org/"+name, "rev"
	return []kefu.ModelSpec{spec}
}

func TestDownload(t *testing.T) {
	srv, hits := hfServer(t, "tiny-en", "", 1) // the first request fails with 503 and is retried
	cache := t.TempDir()
	opts := ResolveOptions{SearchDirs: []string{}, CacheDir: cache, HFEndpoint: srv.URL, Manifest: downloadable("tiny-en")}
	spec, err := Resolve("tiny-en", opts)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Dir != filepath.Join(cache, "tiny-en") {
		t.Errorf("Dir %s", spec.Dir)
	}
	for _, f := range spec.Files {
		sum, err := fileSHA256(filepath.Join(spec.Dir, f.Name))
		if err != nil || sum != f.SHA256 {
			t.Errorf("%s: %s %v", f.Name, sum, err)
		}
	}
	if want := int32(len(spec.Files) + 1); hits.Load() != want {
		t.Errorf("%d requests, want %d", hits.Load(), want)
	}
	before := hits.Load()
	if _, err := Resolve("tiny-en", opts); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != before {
		t.Errorf("a cached model was downloaded again")
	}
	// The checksum in tiny-en/README.md.
	if sum, err := fileSHA256(filepath.Join(spec.Dir, "model.onnx")); err != nil || !strings.HasPrefix(sum, "e282d4cd00ca") {
		t.Errorf("downloaded model.onnx: %s %v", sum, err)
	}
}

func TestDownloadRefusesCorruptFile(t *testing.T) {
	srv, _ := hfServer(t, "tiny-en", "model.onnx", 0)
	cache := t.TempDir()
	_, err := Resolve("tiny-en", ResolveOptions{SearchDirs: []string{}, CacheDir: cache, HFEndpoint: srv.URL, Manifest: downloadable("tiny-en")})
	if kefu.ErrorCode(err) != kefu.EINVALID || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("got %v, want a checksum error", err)
	}
	entries, _ := os.ReadDir(filepath.Join(cache, "tiny-en"))
	for _, e := range entries {
		if e.Name() == "model.onnx" || strings.HasPrefix(e.Name(), ".") { // the target or a temporary file
			t.Errorf("left %s behind", e.Name())
		}
	}
	// Files that arrived intact before the corrupt one stay; the model is not complete.
	if complete(filepath.Join(cache, "tiny-en"), downloadable("tiny-en")[0]) {
		t.Error("cache looks complete")
	}
}

func TestDescribe(t *testing.T) {
	src := testenv.Model(t, "tiny-zh")
	dir := filepath.Join(t.TempDir(), "my-export")
	files := map[string]string{
		"config.json":                       `{"hidden_size": 64, "max_position_embeddings": 512}`,
		"sentence_bert_config.json":         `{"max_seq_length": 100, "do_lower_case": false}`,
		"modules.json":                      `[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]`,
		"1_Pooling/config.json":             `{"word_embedding_dimension": 64, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}`,
		"config_sentence_transformers.json": `{"prompts": {"query": "q: ", "document": "d: "}}`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Resolve(dir, ResolveOptions{}); kefu.ErrorCode(err) != kefu.ENOTFOUND || !strings.Contains(err.Error(), "model.onnx") {
		t.Errorf("no ONNX file: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "onnx"), 0o755)
	os.Symlink(filepath.Join(src, "model.onnx"), filepath.Join(dir, "onnx", "model.onnx"))
	os.Symlink(filepath.Join(src, "tokenizer.json"), filepath.Join(dir, "tokenizer.json"))
	spec, err := Resolve(dir, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "my-export" || spec.Dim != 64 || spec.Pooling != kefu.PoolCLS || spec.MaxTokens != 100 ||
		!spec.Normalize || spec.QueryPrefix != "q: " || spec.PassagePrefix != "d: " || spec.ONNXFile != "onnx/model.onnx" || spec.Dir != dir {
		t.Errorf("described: %+v", spec)
	}
}

func TestDefault(t *testing.T) {
	shared := testenv.Shared(t, "models")
	if got := Default(ResolveOptions{SearchDirs: []string{shared}, CacheDir: t.TempDir()}); got != "use-lite-en" {
		t.Errorf("with the shared models: %s, want use-lite-en", got)
	}
	empty := t.TempDir()
	if got := Default(ResolveOptions{SearchDirs: []string{empty}, CacheDir: empty, Offline: true}); got != "use-lite-en" {
		t.Errorf("offline, nothing here: %s", got)
	}
	if got := Default(ResolveOptions{SearchDirs: []string{empty}, CacheDir: empty}); got != "multilingual-e5-small" {
		t.Errorf("online, nothing here: %s", got)
	}
	// A better pretrained model in a search folder wins (files borrowed from tiny-zh).
	local := t.TempDir()
	dir := filepath.Join(local, "bge-small-zh-v1.5")
	os.MkdirAll(filepath.Join(dir, "onnx"), 0o755)
	os.Symlink(filepath.Join(shared, "tiny-zh", "model.onnx"), filepath.Join(dir, "onnx", "model.onnx"))
	os.Symlink(filepath.Join(shared, "tiny-zh", "tokenizer.json"), filepath.Join(dir, "tokenizer.json"))
	if got := Default(ResolveOptions{SearchDirs: []string{local, shared}, CacheDir: empty}); got != "bge-small-zh-v1.5" {
		t.Errorf("with bge-small-zh-v1.5 present: %s", got)
	}
}

// FuzzDescribe feeds arbitrary bytes as a sentence-transformers export's
// config files: Describe must return a spec or an error, never panic.
func FuzzDescribe(f *testing.F) {
	f.Add([]byte(`{"hidden_size": 384}`), []byte(`[{"path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]`), []byte(`{"pooling_mode_mean_tokens": true}`))
	f.Add([]byte(`{`), []byte(`null`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, config, modules, pooling []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "1_Pooling"), 0o755)
		os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644)
		os.WriteFile(filepath.Join(dir, "modules.json"), modules, 0o644)
		os.WriteFile(filepath.Join(dir, "1_Pooling", "config.json"), pooling, 0o644)
		os.WriteFile(filepath.Join(dir, "model.onnx"), nil, 0o644)
		os.WriteFile(filepath.Join(dir, "tokenizer.json"), nil, 0o644)
		spec, err := Describe(dir)
		if err == nil && (spec.MaxTokens <= 0 || (spec.Pooling != kefu.PoolMean && spec.Pooling != kefu.PoolCLS)) {
			t.Errorf("accepted a bad spec: %+v", spec)
		}
	})
}
