package bench

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/internal/atomicfile"
	"github.com/kefu-dev/kefu/internal/shared"
	"github.com/kefu-dev/kefu/internal/text"
	"github.com/kefu-dev/kefu/models"
)

// The real-embedding dataset of `kefu-bench hnsw --data real`: texts of the
// shared corpora embedded with a real model, cached on disk.
//
// The shared corpora hold about 67k distinct sentences, so the dataset
// takes what a knowledge base indexes from them: SciFact titles, windows
// of 1 to 6 consecutive sentences of each abstract (the overlapping
// passages a chunker makes), the clauses of its sentences (split at ; : ,
// and brackets, five words or more: FAQ-length texts), the afqmc_faq_zh
// questions and the demo docs' sentences and 2–3-sentence windows. Texts
// are kept once per distinct model input (token ids after the model's
// truncation), so no two rows are the same vector by construction. The
// queries are SciFact's 1,109 claims (test and train), which are not in
// the corpus.

// RealOptions configure RealVectors.
type RealOptions struct {
	Model  string // default "use-lite-en"
	ORTLib string
	// Max caps the texts (0: all, about 210k); a cap takes the first of a
	// fixed shuffle, so smaller sets reuse the larger one's cache.
	Max int
	// Queries caps the claims (0: all 1,109).
	Queries int
	// CacheDir holds the vectors between runs; default .cache/kefu-bench
	// beside go.mod, else the user's cache folder.
	CacheDir string
	// Log, when set, is told how embedding goes.
	Log io.Writer
}

// RealSet is the dataset: unit vectors of texts and of queries.
type RealSet struct {
	Model   string         `json:"model"`
	Dim     int            `json:"dim"`
	N       int            `json:"n"`
	Queries int            `json:"queries"`
	Sources map[string]int `json:"sources"` // texts per source, before a cap
	Vecs    []float32      `json:"-"`       // N×Dim
	QVecs   []float32      `json:"-"`       // Queries×Dim
	// EmbedS is the time spent embedding in this run (0 when all came from
	// the cache) and Embedded the texts it embedded.
	EmbedS   float64 `json:"embed_s"`
	Embedded int     `json:"embedded"`
}

// realShard is the texts per cache file: a change of the corpora
// re-embeds only the shards whose texts changed, and an interrupted run
// keeps the shards it finished.
const realShard = 8192

// RealVectors returns the dataset, embedding what the cache lacks.
func RealVectors(ctx context.Context, o RealOptions) (*RealSet, error) {
	if o.Model == "" {
		o.Model = "use-lite-en"
	}
	spec, err := models.Resolve(o.Model, models.ResolveOptions{})
	if err != nil {
		return nil, err
	}
	tok, err := embed.LoadTokenizer(spec.Dir, spec.MaxTokens)
	if err != nil {
		return nil, err
	}
	texts, sources, err := memoTexts(ctx, spec.Dir, tok)
	if err != nil {
		return nil, err
	}
	queries, err := realQueries()
	if err != nil {
		return nil, err
	}
	if o.Max > 0 && o.Max < len(texts) {
		texts = texts[:o.Max]
	}
	if o.Queries > 0 && o.Queries < len(queries) {
		queries = queries[:o.Queries]
	}
	modelSum, err := fileSum(filepath.Join(spec.Dir, cmp.Or(spec.ONNXFile, "model.onnx")))
	if err != nil {
		return nil, err
	}
	dir := o.CacheDir
	if dir == "" {
		dir = defaultCacheDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	set := &RealSet{Model: spec.Name, N: len(texts), Queries: len(queries), Sources: sources}
	var eng *embed.Engine
	defer func() {
		if eng != nil {
			eng.Close()
		}
	}()
	// get returns the vectors of texts from the cache, embedding and
	// caching them when missing.
	get := func(texts []string, query bool) ([]float32, error) {
		h := sha256.New()
		fmt.Fprintf(h, "%s\x00%s\x00%v\x00", spec.Name, modelSum, query)
		for _, t := range texts {
			h.Write([]byte(t))
			h.Write([]byte{0})
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%s.f32", spec.Name, hex.EncodeToString(h.Sum(nil))[:20]))
		if v, err := readVecs(path, len(texts)); err == nil {
			return v, nil
		}
		if eng == nil {
			if eng, err = embed.New(spec, embed.Options{ORTLib: o.ORTLib}); err != nil {
				return nil, err
			}
		}
		t0 := time.Now()
		var vs [][]float32
		if query {
			vs, err = eng.EmbedQueries(ctx, texts)
		} else {
			vs, err = eng.EmbedPassages(ctx, texts)
		}
		if err != nil {
			return nil, err
		}
		set.EmbedS += time.Since(t0).Seconds()
		set.Embedded += len(texts)
		flat := slices.Concat(vs...)
		if err := writeVecs(path, flat); err != nil {
			return nil, err
		}
		return flat, nil
	}
	start := time.Now()
	for lo := 0; lo < len(texts); lo += realShard {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := get(texts[lo:min(lo+realShard, len(texts))], false)
		if err != nil {
			return nil, err
		}
		set.Vecs = append(set.Vecs, v...)
		if o.Log != nil && set.Embedded > 0 {
			fmt.Fprintf(o.Log, "real vectors: %d/%d texts (%d embedded in %.0f s, %.0f texts/s)\n", lo+min(realShard, len(texts)-lo), len(texts),
				set.Embedded, time.Since(start).Seconds(), float64(set.Embedded)/set.EmbedS)
		}
	}
	if set.QVecs, err = get(queries, true); err != nil {
		return nil, err
	}
	set.Dim = len(set.QVecs) / len(queries)
	if set.Dim == 0 || len(set.Vecs) != set.N*set.Dim {
		return nil, kefu.Errorf(kefu.EINTERNAL, "bench: real vectors: %d floats for %d texts", len(set.Vecs), set.N)
	}
	return set, nil
}

// realTexts returns the dataset's texts, deduplicated by model input and
// in a fixed shuffle, and how many each source gave. Each piece (sentence,
// clause, title, question) is tokenised once, on every core; a window's
// tokens are its sentences' tokens (the tokenizers split words at spaces
// first, so joining sentences with a space joins their tokens), cut at
// the model's limit.
func realTexts(ctx context.Context, tok *embed.Tokenizer) ([]string, map[string]int, error) {
	sci, err := dataset("scifact", "test")
	if err != nil {
		return nil, nil, err
	}
	afq, err := dataset("afqmc_faq_zh", "test")
	if err != nil {
		return nil, nil, err
	}
	demo, err := demoTexts(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The pieces, by document: [0] the titles, one a document; then
	// each SciFact abstract's sentences, its clauses, the afqmc questions
	// and each demo block's sentences.
	type group struct {
		src     string
		pieces  []string
		windows int // windows of up to this many pieces; 0: pieces alone
	}
	var groups []group
	var titles []string
	for _, d := range sci.Corpus {
		titles = append(titles, d.Title)
	}
	groups = append(groups, group{"scifact titles", titles, 0})
	for _, d := range sci.Corpus {
		groups = append(groups, group{"scifact", text.Sentences(d.Text), 6})
	}
	var clauses []string
	for _, d := range sci.Corpus {
		for _, s := range text.Sentences(d.Text) {
			for _, c := range clauseBreak.Split(s, -1) {
				if len(strings.Fields(c)) >= 5 {
					clauses = append(clauses, c)
				}
			}
		}
	}
	groups = append(groups, group{"scifact clauses", clauses, 0})
	var questions []string
	for _, d := range afq.Corpus {
		questions = append(questions, d.Text)
	}
	groups = append(groups, group{"afqmc questions", questions, 0})
	for _, d := range demo {
		groups = append(groups, group{"demo", text.Sentences(d), 3})
	}

	// Tokenise every piece once, on every core.
	var all []string
	for _, g := range groups {
		all = append(all, g.pieces...)
	}
	ids := make([][]int, len(all))
	workers := runtime.GOMAXPROCS(0)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < len(all); i += workers {
				if i%1024 == 0 && ctx.Err() != nil {
					errs <- ctx.Err()
					return
				}
				ids[i], _ = tok.Encode(strings.TrimSpace(all[i]))
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			return nil, nil, err
		}
	}

	limit := tok.MaxTokens()
	seen := map[string]bool{}
	sources := map[string]int{}
	var texts []string
	var key []byte
	add := func(src string, pieces []string, pids [][]int) {
		t := strings.TrimSpace(strings.Join(pieces, " "))
		if t == "" {
			return
		}
		key = key[:0]
		n := 0
		for _, p := range pids {
			for _, id := range p {
				if limit > 0 && n == limit {
					break
				}
				key = binary.AppendUvarint(key, uint64(id))
				n++
			}
		}
		if seen[string(key)] {
			return
		}
		seen[string(key)] = true
		texts = append(texts, t)
		sources[src]++
	}
	at := 0
	for _, g := range groups {
		gids := ids[at : at+len(g.pieces)]
		at += len(g.pieces)
		if g.windows == 0 {
			for i, p := range g.pieces {
				add(g.src, []string{p}, gids[i:i+1])
			}
			continue
		}
		for k := 1; k <= g.windows; k++ {
			for i := 0; i+k <= len(g.pieces); i++ {
				add(fmt.Sprintf("%s %d-sentence windows", g.src, k), g.pieces[i:i+k], gids[i:i+k])
			}
		}
	}
	rand.New(rand.NewPCG(2026, 14)).Shuffle(len(texts), func(i, j int) { texts[i], texts[j] = texts[j], texts[i] })
	return texts, sources, nil
}

// memoTexts is realTexts, computed once per model folder in a process.
func memoTexts(ctx context.Context, dir string, tok *embed.Tokenizer) ([]string, map[string]int, error) {
	textsMu.Lock()
	defer textsMu.Unlock()
	if m, ok := textsMemo[dir]; ok {
		return slices.Clone(m.texts), maps.Clone(m.sources), nil
	}
	texts, sources, err := realTexts(ctx, tok)
	if err != nil {
		return nil, nil, err
	}
	textsMemo[dir] = memo{texts, sources}
	return slices.Clone(texts), maps.Clone(sources), nil
}

type memo struct {
	texts   []string
	sources map[string]int
}

var (
	textsMu   sync.Mutex
	textsMemo = map[string]memo{}
)

var clauseBreak = regexp.MustCompile(`[;:,()]\s+`)

// realQueries returns SciFact's claims, test and train, in id order.
func realQueries() ([]string, error) {
	var out []string
	for _, split := range []string{"test", "train"} {
		d, err := dataset("scifact", split)
		if err != nil {
			return nil, err
		}
		for _, id := range d.QueryIDs() {
			out = append(out, d.Queries[id])
		}
	}
	return out, nil
}

// demoTexts returns the text of each block and FAQ entry of the demo docs.
func demoTexts(ctx context.Context) ([]string, error) {
	dir, err := sharedDir()
	if err != nil {
		return nil, err
	}
	var out []string
	ups, _ := ingest.Walk(filepath.Join(dir, "data", "demo"))
	for _, u := range ups {
		rc, err := u.Open()
		if err != nil {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(rc, 8<<20))
		rc.Close()
		if err != nil {
			continue
		}
		docs, err := ingest.Parse(ctx, u.Name, data, ingest.DefaultLimits())
		if err != nil {
			continue
		}
		for _, d := range docs {
			for _, b := range d.Blocks {
				out = append(out, b.Text)
			}
			for _, f := range d.FAQs {
				out = append(out, f.Questions...)
				out = append(out, f.Answer)
			}
		}
	}
	return out, nil
}

// defaultCacheDir is .cache/kefu-bench beside go.mod (gitignored), else
// the user's cache folder.
func defaultCacheDir() string {
	if root := shared.ModuleRoot(); root != "" {
		return filepath.Join(root, ".cache", "kefu-bench")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "kefu-bench")
	}
	return filepath.Join(os.TempDir(), "kefu-bench")
}

// A cache file is the float32s (little-endian) followed by their CRC-32C.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func writeVecs(path string, v []float32) error {
	b := make([]byte, 4*len(v), 4*len(v)+4)
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return atomicfile.WriteFile(path, b, 0o644)
}

// readVecs reads a cache file of n vectors; any mismatch is an error.
func readVecs(path string, n int) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 4 || (len(b)-4)%4 != 0 {
		return nil, fmt.Errorf("%s: truncated", path)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%s: checksum mismatch", path)
	}
	v := make([]float32, len(body)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	if n <= 0 || len(v)%n != 0 {
		return nil, fmt.Errorf("%s: %d floats for %d vectors", path, len(v), n)
	}
	return v, nil
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
