package archive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/archive"
	"github.com/kefu-dev/kefu/index"
)

// stores are the backends every test here runs on: each opens an empty
// store. The Qdrant backend adds its constructor (on its in-process server)
// here, and the round trip then also covers moving a KB between backends.
var stores = []struct {
	name string
	open func(t testing.TB) kefu.Store
}{
	{"embedded", openEmbedded},
}

func openEmbedded(t testing.TB) kefu.Store {
	t.Helper()
	s, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const dim = 8

// vectors gives chunk c its vectors: random float32s with every bit of
// the mantissa in use, so only an exact copy compares equal.
func vectors(rng *rand.Rand, c *kefu.Chunk) [][]float32 {
	var out [][]float32
	for range c.EmbedTexts() {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		out = append(out, v)
	}
	return out
}

// fill creates KB "shop" in st with everything an archive carries:
// settings with a calibration, synonyms and an LLM key, FAQ entries with
// several phrasings, passages with headings and pages, a chunk two
// documents share, a document without chunks, sources (binary ones too),
// an evaluation report, and enough documents for several batches.
func fill(t testing.TB, st kefu.Store) {
	t.Helper()
	ctx := context.Background()
	set := kefu.DefaultSettings()
	set.Threshold, set.Floor = 0.9, 0.3
	set.SensitiveWords = []string{"退款", "lawyer"}
	set.Synonyms = []string{"退钱, 退款", "坏了 => 质量问题"}
	set.LearnedSynonyms = []string{"快递, 物流"}
	set.Fusion.VectorWeight, set.Fusion.PerDocCap = 0.45, 2
	set.LLM = &kefu.LLMSettings{BaseURL: "http://llm.example/v1", Model: "m", APIKey: "sk-secret", Temperature: 0.2, MaxTokens: 300}
	set.Calibration = &kefu.Calibration{Kind: "logistic", Features: []string{"a", "b"}, Mean: []float64{0.1, 1e-9}, Scale: []float64{1, math.Pi},
		Weights: []float64{2.5, -1.0 / 3}, Bias: -0.7, Model: "test@0123456789ab", FittedOn: "demo/shop_questions.jsonl", Samples: 80,
		ECE: 0.031, FittedAt: time.Date(2026, 11, 2, 3, 4, 5, 678901234, time.UTC), Source: "labelled", Precision: 0.95, Coverage: 0.6, Threshold: 0.85, Version: 7}
	kb := &kefu.KB{Name: "shop", Description: "商店的常见问题 and guides", Model: "test@0123456789ab", Dim: dim, Settings: set}
	if err := st.CreateKB(ctx, kb); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	put := func(doc *kefu.Document, chunks []kefu.Chunk, source []byte) {
		t.Helper()
		doc.KB = "shop"
		vecs := make([][][]float32, len(chunks))
		for i := range chunks {
			vecs[i] = vectors(rng, &chunks[i])
		}
		if err := st.PutDocument(ctx, doc, chunks, vecs); err != nil {
			t.Fatal(err)
		}
		if source != nil {
			if err := st.(kefu.SourceStore).PutSource(ctx, "shop", doc.ID, source); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(&kefu.Document{ID: "faq.csv", Source: "faq.csv", Title: "FAQ", Format: "csv", Hash: "h1", Bytes: 120, Meta: map[string]string{"team": "售后"}},
		[]kefu.Chunk{
			{Kind: kefu.KindFAQ, Questions: []string{"怎么申请退款", "如何退款", "退钱怎么办"}, Text: "在订单页点击“申请退款”。", Category: "售后", Lang: "zh", Meta: map[string]string{"row": "2"}},
			{Kind: kefu.KindFAQ, Questions: []string{"How long does a refund take?", "When do I get my money back?"}, Text: "5–7 business days.", Lang: "en"},
			{Kind: kefu.KindFAQ, Questions: []string{"快递多久到"}, Text: "一般 3 天。", Lang: "zh", Tokens: 9},
		}, []byte("问题,答案\n怎么申请退款,在订单页点击“申请退款”。\n"))
	shared := kefu.Chunk{Kind: kefu.KindPassage, Title: "Guide", Headings: []string{"Guide", "Returns"}, Text: "Returns are free within 30 days.", Lang: "en", Page: 2}
	put(&kefu.Document{ID: "guide.md", Source: "docs/guide.md", Title: "Guide", URL: "https://example.com/guide", Format: "md", Hash: "h2", Bytes: 4096},
		[]kefu.Chunk{
			{Kind: kefu.KindPassage, Title: "Guide", Headings: []string{"Guide"}, Text: "Welcome to the shop.\nWe ship worldwide.", Lang: "en", Page: 1, Tokens: 12},
			shared,
			{Kind: kefu.KindPassage, Title: "Guide", Headings: []string{"Guide", "退货"}, Text: "七天无理由退货。", Lang: "zh", Page: 3},
		}, []byte{0, 1, 2, 0xff, 0xfe, '\n', 0})
	put(&kefu.Document{ID: "copy.md", Source: "copy.md", Format: "md", Hash: "h3"},
		[]kefu.Chunk{shared, {Kind: kefu.KindPassage, Text: "Only in the copy.", Lang: "en"}}, nil)
	put(&kefu.Document{ID: "empty.txt", Source: "empty.txt", Format: "txt", Hash: "h4"}, nil, []byte{})
	var ups []kefu.DocumentUpdate // one commit: a store's commits are slow
	for d := range 30 {
		up := kefu.DocumentUpdate{Doc: &kefu.Document{ID: fmt.Sprintf("many/%02d.txt", d), KB: "shop", Source: fmt.Sprintf("many/%02d.txt", d), Format: "txt", Hash: fmt.Sprint(d)}}
		for c := range 5 {
			up.Chunks = append(up.Chunks, kefu.Chunk{Kind: kefu.KindPassage, Title: fmt.Sprintf("Doc %d", d), Text: fmt.Sprintf("Paragraph %d of document %d: refunds, shipping and returns %d.", c, d, rng.IntN(1000)), Lang: "en"})
			up.Vectors = append(up.Vectors, vectors(rng, &up.Chunks[c]))
		}
		ups = append(ups, up)
	}
	if err := st.PutDocuments(ctx, ups); err != nil {
		t.Fatal(err)
	}
	for _, up := range ups {
		if err := st.(kefu.SourceStore).PutSource(ctx, "shop", up.Doc.ID, []byte("source of "+up.Doc.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if rs, ok := st.(kefu.ReportStore); ok {
		if err := rs.PutReport(ctx, "shop", map[string][]byte{kefu.ReportSummary: []byte(`{"calibration":{"ece":0.03}}`), kefu.ReportHTML: []byte("<html>报告</html>")}); err != nil {
			t.Fatal(err)
		}
	}
}

func export(t testing.TB, st kefu.Store, name string, opts archive.ExportOptions) ([]byte, *archive.Summary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := archive.Export(context.Background(), &buf, st, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Bytes != int64(buf.Len()) {
		t.Fatalf("summary says %d bytes, %d written", sum.Bytes, buf.Len())
	}
	return buf.Bytes(), sum
}

// js is v as JSON, for comparisons that ignore how equal values are held
// (time zones, nil and empty maps alike are not: JSON shows them).
func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameContent fails unless KB b of stb holds exactly what KB a of sta
// holds: settings (without the LLM key), documents (but the times the
// store sets), chunks, vectors bit for bit, sources, the report, and the
// same search results.
func sameContent(t *testing.T, sta kefu.Store, a string, stb kefu.Store, b string) {
	t.Helper()
	ctx := context.Background()
	ka, err := sta.KB(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	kbb, err := stb.KB(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	wantSet := ka.Settings
	if wantSet.LLM != nil {
		llm := *wantSet.LLM
		llm.APIKey = ""
		wantSet.LLM = &llm
	}
	if js(t, kbb.Settings) != js(t, wantSet) || kbb.Description != ka.Description || kbb.Model != ka.Model || kbb.Dim != ka.Dim {
		t.Fatalf("KB differs:\n got %s %q %s %d\nwant %s %q %s %d", js(t, kbb.Settings), kbb.Description, kbb.Model, kbb.Dim, js(t, wantSet), ka.Description, ka.Model, ka.Dim)
	}
	docsA, err := sta.Documents(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	docsB, err := stb.Documents(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	norm := func(ds []*kefu.Document) string {
		out := make([]kefu.Document, len(ds))
		for i, d := range ds {
			out[i] = *d
			out[i].KB, out[i].CreatedAt, out[i].UpdatedAt = "", time.Time{}, time.Time{}
		}
		slices.SortFunc(out, func(x, y kefu.Document) int { return strings.Compare(x.ID, y.ID) })
		return js(t, out)
	}
	if norm(docsA) != norm(docsB) {
		t.Fatalf("documents differ:\n got %s\nwant %s", norm(docsB), norm(docsA))
	}
	var hashes []string
	for _, d := range docsA {
		ca, err := sta.Chunks(ctx, a, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		cb, err := stb.Chunks(ctx, b, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if js(t, ca) != js(t, cb) {
			t.Fatalf("chunks of %s differ:\n got %s\nwant %s", d.ID, js(t, cb), js(t, ca))
		}
		for _, c := range ca {
			hashes = append(hashes, c.Hash)
		}
		sa, errA := sta.(kefu.SourceStore).Source(ctx, a, d.ID)
		sb, errB := stb.(kefu.SourceStore).Source(ctx, b, d.ID)
		if !bytes.Equal(sa, sb) || kefu.ErrorCode(errA) != kefu.ErrorCode(errB) {
			t.Fatalf("source of %s differs: %q (%v), want %q (%v)", d.ID, sb, errB, sa, errA)
		}
	}
	va, err := sta.KnownVectors(ctx, a, hashes)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := stb.KnownVectors(ctx, b, hashes)
	if err != nil {
		t.Fatal(err)
	}
	if len(va) != len(vb) {
		t.Fatalf("%d chunks with vectors, want %d", len(vb), len(va))
	}
	for h, vs := range va {
		if len(vb[h]) != len(vs) {
			t.Fatalf("chunk %s: %d vectors, want %d", h, len(vb[h]), len(vs))
		}
		for i := range vs {
			for j := range vs[i] {
				if math.Float32bits(vs[i][j]) != math.Float32bits(vb[h][i][j]) {
					t.Fatalf("chunk %s vector %d[%d] = %v, want %v", h, i, j, vb[h][i][j], vs[i][j])
				}
			}
		}
	}
	if ra, ok := sta.(kefu.ReportStore); ok {
		rb := stb.(kefu.ReportStore)
		for _, n := range []string{kefu.ReportSummary, kefu.ReportHTML} {
			fa, errA := ra.ReportFile(ctx, a, n)
			fb, errB := rb.ReportFile(ctx, b, n)
			if !bytes.Equal(fa, fb) || kefu.ErrorCode(errA) != kefu.ErrorCode(errB) {
				t.Fatalf("report %s: %q (%v), want %q (%v)", n, fb, errB, fa, errA)
			}
		}
	}
	stA, err := sta.Stats(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	stB, err := stb.Stats(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if stA != stB {
		t.Fatalf("stats %+v, want %+v", stB, stA)
	}
	q := make([]float32, dim)
	q[0], q[3] = 0.6, -0.8
	for _, query := range []string{"退款 多久", "refund returns shipping"} {
		req := kefu.SearchRequest{Query: query, Vector: q, K: 20}
		sa, err := sta.Search(ctx, a, req)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := stb.Search(ctx, b, req)
		if err != nil {
			t.Fatal(err)
		}
		if js(t, sa.Keyword) != js(t, sb.Keyword) || js(t, sa.Vector) != js(t, sb.Vector) {
			t.Fatalf("search %q differs:\n got %s %s\nwant %s %s", query, js(t, sb.Keyword), js(t, sb.Vector), js(t, sa.Keyword), js(t, sa.Vector))
		}
		if len(sa.Keyword) == 0 || len(sa.Vector) == 0 {
			t.Fatalf("search %q found nothing on one side: the comparison proves little", query)
		}
	}
}

// Export, then import under another name into another empty store, for
// every pair of backends: the KB comes back with the same content, bit for
// bit, and the import says what it read.
func TestRoundTrip(t *testing.T) {
	for _, from := range stores {
		for _, to := range stores {
			t.Run(from.name+"→"+to.name, func(t *testing.T) {
				src := from.open(t)
				fill(t, src)
				data, sum := export(t, src, "shop", archive.ExportOptions{BatchBytes: 2 << 10})
				if sum.Batches < 3 || sum.Documents != 34 || sum.Sources != 33 || sum.Reports != 2 {
					t.Fatalf("export summary %+v: want several batches, 34 documents, 33 sources, 2 report files", sum)
				}
				dst := to.open(t)
				var progress []int
				res, err := archive.Import(context.Background(), dst, bytes.NewReader(data), archive.ImportOptions{
					Name: "restored", Model: "test@0123456789ab", Progress: func(c archive.Counts) { progress = append(progress, c.Documents) }})
				if err != nil {
					t.Fatal(err)
				}
				if res.Counts != sum.ArchiveCounts || res.Unpacked != sum.Unpacked || res.Reembedded || res.KB.Name != "restored" {
					t.Fatalf("import result %+v, want the export's counts %+v", res, sum)
				}
				if len(progress) != sum.Batches || progress[len(progress)-1] != sum.Documents {
					t.Fatalf("progress %v, want one call per batch ending at %d documents", progress, sum.Documents)
				}
				sameContent(t, src, "shop", dst, "restored")
				// The LLM key stays behind; the rest of the LLM settings travel.
				kb, _ := dst.KB(context.Background(), "restored")
				if kb.Settings.LLM == nil || kb.Settings.LLM.APIKey != "" || kb.Settings.LLM.BaseURL != "http://llm.example/v1" {
					t.Fatalf("LLM settings after import: %+v", kb.Settings.LLM)
				}
			})
		}
	}
}

// An empty KB (no document, no vector yet) round-trips too.
func TestRoundTripEmpty(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			src := s.open(t)
			if err := src.CreateKB(context.Background(), &kefu.KB{Name: "empty", Model: "m@000000000000", Settings: kefu.DefaultSettings()}); err != nil {
				t.Fatal(err)
			}
			data, sum := export(t, src, "empty", archive.ExportOptions{})
			if sum.Batches != 0 || sum.Documents != 0 {
				t.Fatalf("summary %+v", sum)
			}
			dst := s.open(t)
			if _, err := archive.Import(context.Background(), dst, bytes.NewReader(data), archive.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			kb, err := dst.KB(context.Background(), "empty")
			if err != nil || kb.Model != "m@000000000000" {
				t.Fatalf("%+v %v", kb, err)
			}
		})
	}
}
