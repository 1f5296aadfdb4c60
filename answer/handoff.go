package answer

import (
	"context"
	"strings"

	"github.com/kefu-dev/kefu"
)

// handoffTrigger says which of a KB's hand-off triggers a matched phrase
// fires, "" when none: a sensitive word fires TriggerSensitive; a request
// for a person fires TriggerRequest, or, when that trigger is off,
// TriggerThumbsDown if the customer has just voted the last answer down.
func handoffTrigger(m handoffMatch, h *kefu.HandoffSettings, hist []kefu.Turn) string {
	switch {
	case m.Kind == kindSensitive.String():
		if h.Triggered(kefu.TriggerSensitive) {
			return kefu.TriggerSensitive
		}
	case h.Triggered(kefu.TriggerRequest):
		return kefu.TriggerRequest
	case h.Triggered(kefu.TriggerThumbsDown) && len(hist) > 0 && hist[len(hist)-1].Vote < 0:
		return kefu.TriggerThumbsDown
	}
	return ""
}

// escalates reports whether an unknown answer to req is one too many in a
// row: the KB's TriggerUnknown is on and the conversation's last turns
// were unknown answers, one fewer than its count.
func escalates(req kefu.AskRequest, h *kefu.HandoffSettings) bool {
	n := h.UnknownsInARow()
	if n == 0 || req.ConversationID == "" {
		return false
	}
	run := 0
	for i := len(req.History) - 1; i >= 0 && req.History[i].Route == kefu.RouteUnknown; i-- {
		run++
	}
	return run+1 >= n
}

// A built-in sensitive word that at least subjectShare of a KB's chunks,
// and subjectMin of them, hold is what the KB is about, not a sign of
// trouble: "agent" in the docs of an agent platform, "lawyer" in a law
// firm's FAQ. Questions with it are answered from the KB; requests for a
// person and the KB's own sensitive words still hand off.
const (
	subjectShare = 0.01
	subjectMin   = 3
)

// kbSubject reports whether m, a built-in one-word sensitive trigger, is
// the KB's own subject (subjectShare). It costs one keyword search.
func (s *Service) kbSubject(ctx context.Context, kb *kefu.KB, m handoffMatch) bool {
	if m.Kind != kindSensitive.String() || strings.ContainsRune(m.Phrase, ' ') {
		return false
	}
	for _, w := range kb.Settings.SensitiveWords {
		if fold(w) == m.Phrase {
			return false
		}
	}
	ret, err := s.opts.Retriever.Retrieve(ctx, kb.Name, kefu.Query{Text: m.Phrase, K: 1, Mode: kefu.ModeBM25})
	if err != nil || ret.DocCount == 0 {
		return false
	}
	for _, t := range ret.Terms {
		if t.Kind == kefu.TermWord && t.DF >= subjectMin && float64(t.DF) >= subjectShare*float64(ret.DocCount) {
			return true
		}
	}
	return false
}
