package index

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/kefu-dev/kefu"
)

// Bucket names. The root holds one bucket of KB records and one bucket per
// KB ("kb/<name>") with the nested buckets below.
var (
	bucketKBs       = []byte("kbs")
	bucketDocs      = []byte("docs")       // doc id → Document JSON
	bucketDocChunks = []byte("doc_chunks") // doc id → JSON list of chunk keys, in order
	bucketChunks    = []byte("chunks")     // chunk key → chunkRecord JSON
	bucketVecs      = []byte("vecs")       // chunk key → encoded vectors
	bucketAttrs     = []byte("attrs")      // label (u32 BE) → labelAttr JSON
	bucketAnswers   = []byte("answers")    // sequence (u64 BE) → AnswerRecord JSON
	bucketAnswerIDs = []byte("answer_ids") // answer id → sequence
	bucketFeedback  = []byte("feedback")   // sequence (u64 BE) → Feedback JSON
	bucketMeta      = []byte("meta")       // counters, e.g. next_label
)

func kbBucket(name string) []byte { return []byte("kb/" + name) }

// chunkRecord is a stored chunk with the documents that contain it: exact
// duplicates inside a KB are stored once and counted by reference.
type chunkRecord struct {
	Chunk kefu.Chunk `json:"chunk"`
	Refs  []string   `json:"refs"` // doc ids, the owner (Chunk.DocID) first
	Label uint32     `json:"label"`
}

// labelAttr is what filters need of a chunk, kept in memory per label.
type labelAttr struct {
	Key      string            `json:"key"`
	Doc      string            `json:"doc"`
	Kind     kefu.ChunkKind    `json:"kind"`
	Lang     string            `json:"lang,omitempty"`
	Category string            `json:"category,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
}

func u32key(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64key(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// encodeVectors packs vectors as: count u32, dim u32, count*dim float32 (LE).
func encodeVectors(vs [][]float32) []byte {
	dim := 0
	if len(vs) > 0 {
		dim = len(vs[0])
	}
	b := make([]byte, 8, 8+4*len(vs)*dim)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(vs)))
	binary.LittleEndian.PutUint32(b[4:], uint32(dim))
	for _, v := range vs {
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return b
}

func decodeVectors(b []byte) ([][]float32, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("vector record of %d bytes", len(b))
	}
	n := int(binary.LittleEndian.Uint32(b[0:]))
	dim := int(binary.LittleEndian.Uint32(b[4:]))
	if n < 0 || dim < 0 || n > 1<<16 || dim > 1<<16 || len(b) != 8+4*n*dim {
		return nil, fmt.Errorf("vector record: %d vectors of %d dims in %d bytes", n, dim, len(b))
	}
	out := make([][]float32, n)
	flat := make([]float32, n*dim)
	for i := range flat {
		flat[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	for i := range out {
		out[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return out, nil
}
