package bench

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/embed"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/ingest"
	"github.com/kefu-dev/kefu/models"
)

// IngestReport is the result of Ingest.
type IngestReport struct {
	Parse      map[string]*ParseBench `json:"parse"`      // per corpus, embedding excluded
	ParseMBs   map[string]float64     `json:"parse_mb_s"` // per corpus
	E2E        *kefu.Job              `json:"e2e_job"`
	E2EDocs    int                    `json:"e2e_docs"`
	E2ES       float64                `json:"e2e_s"`
	E2EDocsS   float64                `json:"e2e_docs_per_s"`
	ParseS     float64                `json:"e2e_parse_chunk_s"`
	ParseShare float64                `json:"parse_chunk_share"` // of end-to-end time
	Model      kefu.ModelID           `json:"model"`
}

// Ingest measures parse+chunk throughput on the demo folder and the
// SciFact corpus, then ingests the demo folder and the first e2eDocs SciFact
// documents end to end (parse, chunk, embed with model, store) into a
// temporary store.
func Ingest(ctx context.Context, model, ortLib string, e2eDocs int) (*IngestReport, error) {
	shared, err := sharedDir()
	if err != nil {
		return nil, err
	}
	spec, err := models.Resolve(model, models.ResolveOptions{})
	if err != nil {
		return nil, err
	}
	eng, err := embed.New(spec, embed.Options{ORTLib: ortLib})
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	id := eng.ModelID()

	demo := filepath.Join(shared, "data", "demo")
	scifact := filepath.Join(shared, "data", "eval", "scifact", "corpus.jsonl")
	rep := &IngestReport{Parse: map[string]*ParseBench{}, ParseMBs: map[string]float64{}, Model: id}
	for name, path := range map[string]string{"demo": demo, "scifact": scifact} {
		p, err := ParseChunk(ctx, []string{path}, eng)
		if err != nil {
			return nil, err
		}
		rep.Parse[name], rep.ParseMBs[name] = p, p.MBPerSec()
	}

	// The end-to-end set: the demo folder and a SciFact subset as JSONL.
	tmp, err := os.MkdirTemp("", "kefu-bench-ingest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	subset := filepath.Join(tmp, "scifact-subset.jsonl")
	if err := headLines(scifact, subset, e2eDocs); err != nil {
		return nil, err
	}
	pb, err := ParseChunk(ctx, []string{demo, subset}, eng)
	if err != nil {
		return nil, err
	}
	st, err := index.Open(filepath.Join(tmp, "data"), index.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.CreateKB(ctx, &kefu.KB{Name: "bench", Model: id, Dim: spec.Dim, Settings: kefu.DefaultSettings()}); err != nil {
		return nil, err
	}
	ups, _, err := ingest.Uploads([]string{demo, subset})
	if err != nil {
		return nil, err
	}
	svc := &ingest.Service{Store: st, Embedder: eng}
	t0 := time.Now()
	job, err := svc.Ingest(ctx, "bench", ups, nil)
	if err != nil {
		return nil, err
	}
	rep.E2E = job
	rep.E2ES = time.Since(t0).Seconds()
	rep.E2EDocs = job.Done
	rep.E2EDocsS = float64(job.Done) / rep.E2ES
	rep.ParseS = pb.Seconds
	rep.ParseShare = pb.Seconds / rep.E2ES
	return rep, nil
}

// headLines copies the first n lines of src to dst.
func headLines(src, dst string, n int) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	var buf bytes.Buffer
	r := bufio.NewReader(f)
	for i := 0; i < n; i++ {
		line, err := r.ReadBytes('\n')
		buf.Write(line)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}
