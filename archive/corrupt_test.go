package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/archive"
)

type entry struct {
	name string
	data []byte
}

// unpack and pack take an archive apart and put it back together with the
// tar and zstd libraries directly, so tests can damage one layer precisely.
func unpack(t testing.TB, data []byte) []entry {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{h.Name, b})
	}
}

func tarOf(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	return buf.Bytes()
}

var encoder, _ = zstd.NewWriter(nil)

func compress(t testing.TB, raw []byte) []byte { return encoder.EncodeAll(raw, nil) }

func pack(t testing.TB, es []entry) []byte { return compress(t, tarOf(t, es)) }

// resum rewrites the SHA256SUMS of dir to match the files it lists, as a
// careful forger would: then only the content's own checks are left.
func resum(es []entry, dir string) {
	i := find(es, dir+"SHA256SUMS")
	var sums strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(es[i].data)), "\n") {
		_, name, _ := strings.Cut(line, "  ")
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(es[find(es, dir+name)].data), name)
	}
	es[i].data = []byte(sums.String())
}

var (
	fixtureOnce sync.Once
	fixture     []byte
)

// shopArchive is an archive of fill's KB in small batches.
func shopArchive(t testing.TB) []byte {
	fixtureOnce.Do(func() {
		st := openEmbedded(t)
		fill(t, st)
		fixture, _ = export(t, st, "shop", archive.ExportOptions{BatchBytes: 2 << 10})
	})
	return fixture
}

func find(es []entry, name string) int {
	for i, e := range es {
		if e.name == name {
			return i
		}
	}
	panic(name + " not in the archive")
}

// importFails imports data into an empty store and checks the error: its
// code, that it names what it must, and that nothing was left behind.
func importFails(t *testing.T, data []byte, code string, mention ...string) {
	t.Helper()
	for _, s := range stores {
		st := s.open(t)
		_, err := archive.Import(context.Background(), st, bytes.NewReader(data), archive.ImportOptions{Name: "restored"})
		if err == nil {
			t.Fatalf("%s: the import succeeded", s.name)
		}
		if kefu.ErrorCode(err) != code {
			t.Fatalf("%s: %v: code %s, want %s", s.name, err, kefu.ErrorCode(err), code)
		}
		for _, m := range mention {
			if !strings.Contains(kefu.ErrorMessage(err), m) {
				t.Fatalf("%s: error %q does not mention %q", s.name, kefu.ErrorMessage(err), m)
			}
		}
		if kbs, _ := st.KBs(context.Background()); len(kbs) != 0 {
			t.Fatalf("%s: a failed import left %d knowledge bases (%s)", s.name, len(kbs), kbs[0].Name)
		}
	}
}

// A byte changed inside one entry is refused before the entry is used,
// with the entry named: the checksum of its folder catches it.
func TestCorruptEntryNamed(t *testing.T) {
	for _, name := range []string{"manifest.json", "batch-000001/documents.jsonl", "batch-000002/vectors.f32", "batch-000003/source-000001", "reports/summary.json"} {
		t.Run(name, func(t *testing.T) {
			es := unpack(t, shopArchive(t))
			i := find(es, name)
			es[i].data = bytes.Clone(es[i].data)
			es[i].data[len(es[i].data)/2] ^= 0x20
			importFails(t, pack(t, es), kefu.EINVALID, "archive entry "+name, "checksum mismatch")
		})
	}
}

// A wrong checksum in a SHA256SUMS is the same refusal.
func TestWrongChecksum(t *testing.T) {
	es := unpack(t, shopArchive(t))
	i := find(es, "batch-000002/SHA256SUMS")
	es[i].data = bytes.Clone(es[i].data)
	es[i].data[0] ^= 1 // a hex digit to another ('0'↔'1', 'a'↔'`' …)
	if !regexp.MustCompile(`^[0-9a-f]{64}  `).Match(es[i].data) {
		es[i].data[0] = '0'
	}
	importFails(t, pack(t, es), kefu.EINVALID, "archive entry batch-000002/documents.jsonl", "checksum mismatch")
}

// A forger who fixes the checksums still meets the content's own checks;
// a batch removed whole is caught by end.json's counts.
func TestConsistencyChecks(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(es []entry) []entry
		mention []string
	}{
		{"vectors cut", func(es []entry) []entry {
			i := find(es, "batch-000001/vectors.f32")
			es[i].data = es[i].data[:len(es[i].data)-4]
			resum(es, "batch-000001/")
			return es
		}, []string{"batch-000001/vectors.f32"}},
		{"batch removed", func(es []entry) []entry {
			var out []entry
			last := 0
			for _, e := range es {
				if strings.HasPrefix(e.name, "batch-") {
					fmt.Sscanf(e.name, "batch-%06d/", &last)
				}
			}
			for _, e := range es {
				if !strings.HasPrefix(e.name, fmt.Sprintf("batch-%06d/", last)) {
					out = append(out, e)
				}
			}
			return out
		}, []string{"end.json", "entries are missing"}},
		{"entry out of order", func(es []entry) []entry {
			i := find(es, "batch-000001/documents.jsonl")
			es[i], es[i+1] = es[i+1], es[i]
			return es
		}, []string{"archive entry batch-000001/vectors.f32", "expected batch-000001/documents.jsonl"}},
		{"unknown entry", func(es []entry) []entry {
			i := find(es, "batch-000002/SHA256SUMS")
			return append(es[:i], append([]entry{{"../../etc/passwd", []byte("x")}}, es[i:]...)...)
		}, []string{"archive entry ../../etc/passwd", "unexpected entry"}},
		{"data after end.json", func(es []entry) []entry {
			return append(es, entry{"extra", []byte("x")})
		}, []string{"end.json", "data follows"}},
		{"no end.json", func(es []entry) []entry {
			return es[:len(es)-1]
		}, []string{"without end.json", "truncated"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es := unpack(t, shopArchive(t))
			importFails(t, pack(t, c.damage(es)), kefu.EINVALID, c.mention...)
		})
	}
}

// A newer format version is refused as such, naming the manifest.
func TestNewerVersion(t *testing.T) {
	es := unpack(t, shopArchive(t))
	i := find(es, "manifest.json")
	es[i].data = bytes.Replace(es[i].data, []byte(`"version": 1`), []byte(`"version": 2`), 1)
	resum(es, "")
	importFails(t, pack(t, es), kefu.EUNSUPPORTED, "manifest.json", "version 2")
}

// The compressed file cut anywhere, or with a byte flipped anywhere, is
// refused and leaves nothing behind; a cut names where.
func TestTruncatedAndFlipped(t *testing.T) {
	data := shopArchive(t)
	for _, frac := range []float64{0.01, 0.3, 0.6, 0.99} {
		n := int(float64(len(data)) * frac)
		t.Run(fmt.Sprintf("cut at %d of %d", n, len(data)), func(t *testing.T) {
			importFails(t, data[:n], kefu.EINVALID, "truncated")
		})
	}
	for _, frac := range []float64{0.2, 0.5, 0.8, 0.999} {
		n := int(float64(len(data)) * frac)
		t.Run(fmt.Sprintf("flip at %d of %d", n, len(data)), func(t *testing.T) {
			d := bytes.Clone(data)
			d[n] ^= 0x55
			importFails(t, d, kefu.EINVALID, "archive")
		})
	}
	importFails(t, []byte("not an archive at all"), kefu.EINVALID, "not a kefu knowledge-base archive")
	importFails(t, tarOf(t, unpack(t, data)), kefu.EINVALID, "not a kefu knowledge-base archive")
}

// An archive made with another model is refused before anything is
// written, unless it is re-embedded; then every vector is the embedder's.
func TestModelMismatch(t *testing.T) {
	data := shopArchive(t)
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			_, err := archive.Import(context.Background(), st, bytes.NewReader(data), archive.ImportOptions{Model: "other@abcdefabcdef"})
			if kefu.ErrorCode(err) != kefu.EMODEL || !strings.Contains(kefu.ErrorMessage(err), "test@0123456789ab") || !strings.Contains(kefu.ErrorMessage(err), "--reembed") {
				t.Fatalf("got %v, want a model mismatch naming both models and --reembed", err)
			}
			if kbs, _ := st.KBs(context.Background()); len(kbs) != 0 {
				t.Fatal("a refused import created a knowledge base")
			}
			e := hashEmbedder{}
			res, err := archive.Import(context.Background(), st, bytes.NewReader(data), archive.ImportOptions{Reembed: e})
			if err != nil || !res.Reembedded || res.KB.Model != e.ModelID() || res.KB.Dim != e.Model().Dim {
				t.Fatalf("re-embedding import: %+v %v", res, err)
			}
			ctx := context.Background()
			docs, _ := st.Documents(ctx, "shop")
			for _, d := range docs {
				chunks, _ := st.Chunks(ctx, "shop", d.ID)
				for _, c := range chunks {
					got, _ := st.KnownVectors(ctx, "shop", []string{c.Hash})
					want, _ := e.EmbedPassages(ctx, c.EmbedTexts())
					if js(t, got[c.Hash]) != js(t, want) {
						t.Fatalf("chunk %s of %s: vectors %v, want the embedder's %v", c.ID, d.ID, got[c.Hash], want)
					}
				}
			}
		})
	}
}

// hashEmbedder is a deterministic stand-in for the embedding engine: it
// proves that an import re-embeds with what it is given and records its
// model, not anything about embedding quality.
type hashEmbedder struct{}

func (hashEmbedder) CountTokens(s string) int { return len(s) }
func (hashEmbedder) Model() kefu.ModelSpec    { return kefu.ModelSpec{Name: "hash", Dim: 4} }
func (hashEmbedder) ModelID() kefu.ModelID    { return "hash@000000000004" }
func (e hashEmbedder) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, s := range texts {
		h := sha256.Sum256([]byte(s))
		out[i] = []float32{float32(h[0]) + 1, float32(h[1]), float32(h[2]), float32(h[3])}
	}
	return out, nil
}
func (e hashEmbedder) EmbedPassages(ctx context.Context, texts []string) ([][]float32, error) {
	return e.EmbedQueries(ctx, texts)
}
func (hashEmbedder) Close() error { return nil }

// An existing KB is never replaced or touched.
func TestExistingName(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			fill(t, st)
			before, _ := st.KB(context.Background(), "shop")
			_, err := archive.Import(context.Background(), st, bytes.NewReader(shopArchive(t)), archive.ImportOptions{})
			if kefu.ErrorCode(err) != kefu.ECONFLICT || !strings.Contains(kefu.ErrorMessage(err), "--as") {
				t.Fatalf("got %v, want a conflict that suggests --as", err)
			}
			after, _ := st.KB(context.Background(), "shop")
			if after.Version != before.Version {
				t.Fatal("the existing KB changed")
			}
		})
	}
}

// Bounds: an archive that unpacks to more than allowed, or a folder larger
// than a batch may be, is refused with the bound named.
func TestBounds(t *testing.T) {
	data := shopArchive(t)
	st := openEmbedded(t)
	_, err := archive.Import(context.Background(), st, bytes.NewReader(data), archive.ImportOptions{Read: archive.ReadOptions{MaxBytes: 20 << 10, MaxBytesName: "--import-limit"}})
	if kefu.ErrorCode(err) != kefu.ETOOLARGE || !strings.Contains(kefu.ErrorMessage(err), "--import-limit") {
		t.Fatalf("got %v, want too large naming --import-limit", err)
	}
	_, err = archive.Import(context.Background(), st, bytes.NewReader(data), archive.ImportOptions{Read: archive.ReadOptions{MaxBatchBytes: 1 << 10}})
	if kefu.ErrorCode(err) != kefu.ETOOLARGE || !strings.Contains(kefu.ErrorMessage(err), "archive entry batch-000001/") {
		t.Fatalf("got %v, want too large naming the entry", err)
	}
	if kbs, _ := st.KBs(context.Background()); len(kbs) != 0 {
		t.Fatal("a refused import left a knowledge base")
	}
}

// A cancelled import removes what it had written.
func TestCancelledImport(t *testing.T) {
	st := openEmbedded(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := archive.Import(ctx, st, bytes.NewReader(shopArchive(t)), archive.ImportOptions{Progress: func(c archive.Counts) {
		if c.Batches == 2 {
			cancel()
		}
	}})
	if kefu.ErrorCode(err) != kefu.ETIMEOUT {
		t.Fatalf("got %v, want the import stopped", err)
	}
	if kbs, _ := st.KBs(context.Background()); len(kbs) != 0 {
		t.Fatal("a cancelled import left a knowledge base")
	}
}

// The archive is what the package documentation says: GNU tar and the
// zstd tool unpack it, and sha256sum checks every folder. Independent
// implementations of both layers, not this package's reader.
func TestStandardTools(t *testing.T) {
	for _, tool := range []string{"zstd", "tar", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("KEFU_REQUIRE_SHARED") == "1" {
				t.Fatalf("%s is missing (make test-deps installs it)", tool)
			}
			t.Skipf("%s is missing", tool)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "shop"+archive.Ext)
	if err := os.WriteFile(file, shopArchive(t), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "x")
	os.Mkdir(out, 0o755)
	cmd := exec.Command("sh", "-c", `zstd -dc "$1" | tar -x -C "$2"`, "sh", file, out)
	if b, err := cmd.CombinedOutput(); err != nil || len(b) > 0 {
		t.Fatalf("zstd | tar: %v %s", err, b)
	}
	folders := 0
	err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "SHA256SUMS" {
			return err
		}
		folders++
		c := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
		c.Dir = filepath.Dir(p)
		if b, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v %s", p, err, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if folders < 5 {
		t.Fatalf("%d folders with SHA256SUMS", folders)
	}
	if _, err := os.Stat(filepath.Join(out, "batch-000001", "documents.jsonl")); err != nil {
		t.Fatal(err)
	}
}
