package api

import (
	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// SearchRequest is the body of POST /v1/kbs/{kb}/search.
type SearchRequest struct {
	Query  string          `json:"query"`
	K      int             `json:"k"`
	Mode   kefu.SearchMode `json:"mode,omitempty"`
	Filter *kefu.Filter    `json:"filter,omitempty"`
}

// SearchHit is one hit as the API shows it.
type SearchHit struct {
	DocID        string   `json:"doc_id"`
	ChunkID      string   `json:"chunk_id"`
	Title        string   `json:"title"`
	Text         string   `json:"text"`
	Kind         string   `json:"kind"`
	Questions    []string `json:"questions,omitempty"`
	Headings     []string `json:"headings,omitempty"`
	URL          string   `json:"url,omitempty"`
	Source       string   `json:"source,omitempty"`
	Page         int      `json:"page,omitempty"`
	Score        float64  `json:"score"`
	KeywordScore float64  `json:"keyword_score"`
	VectorScore  float64  `json:"vector_score"`
	KeywordRank  int      `json:"keyword_rank"`
	VectorRank   int      `json:"vector_rank"`
}

// SearchResponse is the answer of the search route and of `kefu search --json`.
type SearchResponse struct {
	Hits       []SearchHit   `json:"hits"`
	Confidence float64       `json:"confidence"`
	Features   kefu.Features `json:"features"`
	TookMS     float64       `json:"took_ms"`
}

// NewSearchResponse shapes a retrieval for clients.
func NewSearchResponse(r *kefu.Retrieval) SearchResponse {
	out := SearchResponse{Hits: make([]SearchHit, 0, len(r.Hits)), Confidence: r.Confidence, Features: r.Features}
	if d, ok := r.Timings[kefu.TimingTotal]; ok {
		out.TookMS = float64(d.Microseconds()) / 1000
	}
	for _, h := range r.Hits {
		c := h.Chunk
		out.Hits = append(out.Hits, SearchHit{
			DocID: c.DocID, ChunkID: c.ID, Title: c.Title, Text: c.Text, Kind: string(c.Kind),
			Questions: c.Questions, Headings: c.Headings, URL: c.URL, Source: c.Source, Page: c.Page,
			Score: h.Score, KeywordScore: h.KeywordScore, VectorScore: h.VectorScore,
			KeywordRank: h.KeywordRank, VectorRank: h.VectorRank,
		})
	}
	return out
}

// MaxQueryBytes bounds a query's length.
const MaxQueryBytes = 4096

func (s *Server) search(c fiber.Ctx) error {
	var body struct {
		SearchRequest
		K *int `json:"k"` // absent is the default, 0 an error
	}
	if err := s.decode(c, &body, `{"query", "k"?, "mode"?, "filter"?}`); err != nil {
		return err
	}
	req := body.SearchRequest
	k, err := checkK(body.K)
	if err != nil {
		return err
	}
	req.K = k
	if req.Query == "" {
		return kefu.Errorf(kefu.EINVALID, "query is empty")
	}
	if len(req.Query) > MaxQueryBytes {
		return kefu.Errorf(kefu.ETOOLARGE, "query longer than %d bytes", MaxQueryBytes)
	}
	r, err := s.cfg.Retriever.Retrieve(c.Context(), c.Params("kb"), kefu.Query{Text: req.Query, K: req.K, Mode: req.Mode, Filter: req.Filter})
	if err != nil {
		return err
	}
	return c.JSON(NewSearchResponse(r))
}
