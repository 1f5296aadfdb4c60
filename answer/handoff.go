package answer

import "github.com/kefu-dev/kefu"

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
