package api

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// Feedback and unanswered questions, made actionable: the team lists
// feedback (as JSON or JSONL) with the questions and answers it judges,
// sees unanswered questions grouped by similarity, and turns a group into
// an FAQ entry or a phrasing of one (re-indexed at once), or marks it
// resolved or dismissed.

// listFeedback lists a KB's newest feedback: ?vote=1|-1, ?limit= (default
// 100, most 10000), ?format=jsonl for one record a line.
func (s *Server) listFeedback(c fiber.Ctx) error {
	if s.cfg.AnswerLog == nil {
		return unavailable("answer log")
	}
	kb := c.Params("kb")
	if _, err := s.cfg.Store.KB(c.Context(), kb); err != nil {
		return err
	}
	vote, err := queryInt(c, "vote", 0, -1, 1)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 100, 1, 10_000)
	if err != nil {
		return err
	}
	recs, err := s.cfg.AnswerLog.FeedbackList(c.Context(), kb, vote, limit)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []kefu.FeedbackRecord{}
	}
	if c.Query("format") == "jsonl" {
		var b strings.Builder
		for _, r := range recs {
			line, _ := json.Marshal(r)
			b.Write(line)
			b.WriteByte('\n')
		}
		c.Set(fiber.HeaderContentType, "application/x-ndjson; charset=utf-8")
		return c.SendString(b.String())
	}
	return c.JSON(fiber.Map{"feedback": recs})
}

// FeedbackBody is the body of POST /v1/kbs/{kb}/answers/{id}/feedback.
type FeedbackBody struct {
	Vote    int    `json:"vote"`
	Comment string `json:"comment,omitempty"`
}

// feedback records a vote on an answer; with a desk it also marks the
// answer's message (a request for a person right after a thumbs-down hands
// off) and sends feedback.created. A public key votes on its own
// conversations' answers only.
func (s *Server) feedback(c fiber.Ctx) error {
	if s.cfg.AnswerLog == nil {
		return unavailable("answer log")
	}
	var body FeedbackBody
	if err := s.decode(c, &body, `{"vote": 1 or -1, "comment"?}`); err != nil {
		return err
	}
	if body.Vote != 1 && body.Vote != -1 {
		return kefu.Errorf(kefu.EINVALID, "vote must be 1 or -1")
	}
	kb, id := c.Params("kb"), c.Params("id")
	fb := kefu.Feedback{AnswerID: id, Vote: body.Vote, Comment: body.Comment, At: time.Now().UTC(), RequestID: requestID(c)}
	if s.cfg.Desk == nil {
		if err := s.cfg.AnswerLog.AddFeedback(c.Context(), kb, fb); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
	if p := principalOf(c); !p.scope.Includes(kefu.ScopeAgent) {
		// A customer votes on the answers of its own conversations.
		rec, err := s.cfg.AnswerLog.AnswerRecord(c.Context(), kb, id)
		if err != nil {
			return err
		}
		conv, err := s.cfg.Desk.Conversation(c.Context(), kb, rec.ConversationID)
		if err != nil || !canRead(p, conv) {
			return kefu.Errorf(kefu.ENOTFOUND, "answer %q not found in %q", id, kb)
		}
	}
	if err := s.cfg.Desk.Feedback(c.Context(), kb, fb); err != nil {
		return err
	}
	s.notify()
	return c.SendStatus(fiber.StatusNoContent)
}

// UnansweredGroup is a group of similar unanswered questions.
type UnansweredGroup struct {
	Question  string              `json:"question"`  // the newest
	Questions []string            `json:"questions"` // each distinct question, newest first (at most 20)
	Count     int                 `json:"count"`
	AnswerIDs []string            `json:"answer_ids"`
	Routes    map[kefu.Route]int  `json:"routes"`
	LastAt    time.Time           `json:"last_at"`
	Records   []kefu.AnswerRecord `json:"-"`
}

// unanswered lists a KB's questions answered below the threshold, newest
// first: ?state=open (default; not reviewed yet), added, resolved,
// dismissed or all; ?group=true groups similar ones with counts; ?limit=
// (default 50, most 1000) bounds the questions read.
func (s *Server) unanswered(c fiber.Ctx) error {
	if s.cfg.AnswerLog == nil {
		return unavailable("answer log")
	}
	limit, err := queryInt(c, "limit", defaultUnanswer, 1, MaxUnansweredN)
	if err != nil {
		return err
	}
	group, err := queryBool(c, "group")
	if err != nil {
		return err
	}
	state := c.Query("state", "open")
	switch state {
	case "open", "all", kefu.ReviewAdded, kefu.ReviewResolved, kefu.ReviewDismissed:
	default:
		return kefu.Errorf(kefu.EINVALID, "state %q: use open, added, resolved, dismissed or all", state)
	}
	kb := c.Params("kb")
	if _, err := s.cfg.Store.KB(c.Context(), kb); err != nil {
		return err
	}
	// Reviewed questions are skipped, so read more than asked for.
	all, err := s.cfg.AnswerLog.Unanswered(c.Context(), kb, min(limit*4, 10_000))
	if err != nil {
		return err
	}
	recs := []kefu.AnswerRecord{}
	for _, r := range all {
		st := "open"
		if r.Review != nil {
			st = r.Review.State
		}
		if (state == "all" || st == state) && len(recs) < limit {
			recs = append(recs, r)
		}
	}
	if group {
		return c.JSON(fiber.Map{"groups": groupQuestions(recs)})
	}
	return c.JSON(fiber.Map{"questions": recs})
}

// groupSimilarity is the least Jaccard similarity of two questions' terms
// (Han character bigrams and lower-cased words) for them to share a group.
const groupSimilarity = 0.5

// groupQuestions groups similar questions, newest first: each question
// joins the first group whose newest question it resembles (same folded
// text, or terms at least groupSimilarity alike). This is written here
// rather than clustered with embeddings: it must work for Chinese with an
// English-only model, and on a page of questions a quadratic pass is
// instant.
func groupQuestions(recs []kefu.AnswerRecord) []UnansweredGroup {
	var groups []UnansweredGroup
	var keys []map[string]bool
	for _, r := range recs {
		terms := questionTerms(r.Question)
		gi := -1
		for i := range groups {
			if jaccard(terms, keys[i]) >= groupSimilarity {
				gi = i
				break
			}
		}
		if gi < 0 {
			groups = append(groups, UnansweredGroup{Question: r.Question, LastAt: r.At, Routes: map[kefu.Route]int{}})
			keys = append(keys, terms)
			gi = len(groups) - 1
		}
		g := &groups[gi]
		g.Count++
		g.AnswerIDs = append(g.AnswerIDs, r.ID)
		g.Routes[r.Route]++
		seen := false
		for _, q := range g.Questions {
			seen = seen || text.Normalize(q) == text.Normalize(r.Question)
		}
		if !seen && len(g.Questions) < 20 {
			g.Questions = append(g.Questions, r.Question)
		}
	}
	if groups == nil {
		groups = []UnansweredGroup{}
	}
	return groups
}

// questionTerms are a question's Han character bigrams (a lone character
// counts as itself) and lower-cased Latin words and numbers.
func questionTerms(q string) map[string]bool {
	terms := map[string]bool{}
	var han []rune
	var word []rune
	flushHan := func() {
		if len(han) == 1 {
			terms[string(han)] = true
		}
		for i := 0; i+1 < len(han); i++ {
			terms[string(han[i:i+2])] = true
		}
		han = han[:0]
	}
	flushWord := func() {
		if len(word) > 0 {
			terms[string(word)] = true
			word = word[:0]
		}
	}
	for _, r := range text.Normalize(q) {
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			han = append(han, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushHan()
			word = append(word, unicode.ToLower(r))
		default:
			flushHan()
			flushWord()
		}
	}
	flushHan()
	flushWord()
	return terms
}

func jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	inter := 0
	for t := range a {
		if b[t] {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// UnansweredAction is the body of POST /v1/kbs/{kb}/unanswered/actions.
type UnansweredAction struct {
	// Action is add_faq (a new entry: Question, default the first answer's
	// question, and Answer), add_phrasing (Question as another phrasing of
	// the FAQ entry ChunkID of document DocID, a CSV sheet), resolve or
	// dismiss.
	Action    string   `json:"action"`
	AnswerIDs []string `json:"answer_ids"`
	Question  string   `json:"question,omitempty"`
	Answer    string   `json:"answer,omitempty"`
	DocID     string   `json:"doc_id,omitempty"`
	ChunkID   string   `json:"chunk_id,omitempty"`
	Note      string   `json:"note,omitempty"`
}

// UnansweredResult answers an action: the ingest job of an addition.
type UnansweredResult struct {
	Reviewed int       `json:"reviewed"`
	Job      *kefu.Job `json:"job,omitempty"`
}

// unansweredAction acts on unanswered questions (a group's answer_ids): the
// addition is ingested before the answer, so the next question finds it.
func (s *Server) unansweredAction(c fiber.Ctx) error {
	if s.cfg.AnswerLog == nil {
		return unavailable("answer log")
	}
	var req UnansweredAction
	if err := s.decode(c, &req, `{"action", "answer_ids": [...], "question"?, "answer"?, "doc_id"?, "chunk_id"?, "note"?}`); err != nil {
		return err
	}
	kb := c.Params("kb")
	if len(req.AnswerIDs) == 0 || len(req.AnswerIDs) > 1000 {
		return kefu.Errorf(kefu.EINVALID, "answer_ids: 1 to 1000 ids of unanswered questions")
	}
	if len(req.Note) > 1000 {
		return kefu.Errorf(kefu.EINVALID, "note over 1000 bytes")
	}
	first, err := s.cfg.AnswerLog.AnswerRecord(c.Context(), kb, req.AnswerIDs[0])
	if err != nil {
		return err
	}
	if req.Question == "" {
		req.Question = first.Question
	}
	rv := kefu.Review{By: principalOf(c).agentName(), Note: req.Note, At: time.Now().UTC()}
	var job *kefu.Job
	switch req.Action {
	case "add_faq", "add_phrasing":
		if s.cfg.FAQ == nil {
			return unavailable("FAQ editor")
		}
		rv.State = kefu.ReviewAdded
		if req.Action == "add_faq" {
			job, err = s.cfg.FAQ.AddEntry(c.Context(), kb, req.Question, req.Answer)
			rv.Note = kefu.AddedFAQ
		} else {
			if req.DocID == "" || req.ChunkID == "" {
				return kefu.Errorf(kefu.EINVALID, "add_phrasing needs the entry's doc_id and chunk_id")
			}
			job, err = s.cfg.FAQ.AddPhrasing(c.Context(), kb, req.DocID, req.ChunkID, req.Question)
			rv.ChunkID = req.ChunkID
		}
		if err != nil {
			return err
		}
	case "resolve":
		rv.State = kefu.ReviewResolved
	case "dismiss":
		rv.State = kefu.ReviewDismissed
	default:
		return kefu.Errorf(kefu.EINVALID, "action %q: use add_faq, add_phrasing, resolve or dismiss", req.Action)
	}
	if err := s.cfg.AnswerLog.ReviewUnanswered(c.Context(), kb, req.AnswerIDs, rv); err != nil {
		return err
	}
	s.log.Info("unanswered questions reviewed", "kb", kb, "action", req.Action, "questions", len(req.AnswerIDs), "request_id", requestID(c))
	return c.JSON(UnansweredResult{Reviewed: len(req.AnswerIDs), Job: job})
}
