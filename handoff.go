package kefu

import (
	"fmt"
	"strings"
	"time"
)

// DefaultRetentionDays is how long a conversation is kept after its last
// message when its KB does not say.
const DefaultRetentionDays = 90

// DefaultUnknowns is how many "unknown" answers in a row hand a
// conversation off, when the unknown trigger is on.
const DefaultUnknowns = 2

// HandoffSettings are a KB's hand-off rules (KBSettings.Handoff).
type HandoffSettings struct {
	// Triggers that hand a conversation to a person: TriggerSensitive,
	// TriggerRequest, TriggerUnknown, TriggerThumbsDown. Nil is all four;
	// an empty list is none.
	Triggers []string `json:"triggers,omitempty"`
	// Unknowns is how many unknown answers in a row trigger TriggerUnknown;
	// 0 is DefaultUnknowns.
	Unknowns int `json:"unknowns,omitempty"`
	// Hours are when agents work; outside them a customer who is handed off
	// is told when they are back. Nil: always.
	Hours *ServiceHours `json:"hours,omitempty"`
	// Messages override the desk's notices by language ("zh", "en").
	Messages map[string]HandoffMessages `json:"messages,omitempty"`
}

// HandoffMessages are the notices a customer gets once a person has the
// conversation.
type HandoffMessages struct {
	// Queued answers the first message the bot does not answer (an agent
	// took over without a hand-off).
	Queued string `json:"queued,omitempty"`
	// AfterHours follows a hand-off outside service hours; "{time}" is
	// replaced by when agents are back.
	AfterHours string `json:"after_hours,omitempty"`
}

// Triggered reports whether trigger is on.
func (h *HandoffSettings) Triggered(trigger string) bool {
	if h == nil || h.Triggers == nil {
		return true
	}
	for _, t := range h.Triggers {
		if t == trigger {
			return true
		}
	}
	return false
}

// UnknownsInARow is how many unknown answers in a row hand off; 0 when the
// trigger is off.
func (h *HandoffSettings) UnknownsInARow() int {
	if !h.Triggered(TriggerUnknown) {
		return 0
	}
	if h == nil || h.Unknowns <= 0 {
		return DefaultUnknowns
	}
	return h.Unknowns
}

// Validate checks the settings.
func (h *HandoffSettings) Validate() error {
	if h == nil {
		return nil
	}
	for _, t := range h.Triggers {
		switch t {
		case TriggerSensitive, TriggerRequest, TriggerUnknown, TriggerThumbsDown:
		default:
			return Errorf(EINVALID, "handoff.triggers: %q: use sensitive, request, unknown or thumbs_down", t)
		}
	}
	if h.Unknowns < 0 || h.Unknowns > 100 {
		return Errorf(EINVALID, "handoff.unknowns %d is not in [1, 100]", h.Unknowns)
	}
	for lang, m := range h.Messages {
		if lang != "zh" && lang != "en" {
			return Errorf(EINVALID, "handoff.messages for %q: only zh and en are used", lang)
		}
		if len(m.Queued) > 1000 || len(m.AfterHours) > 1000 {
			return Errorf(EINVALID, "handoff.messages.%s: a message over 1000 bytes", lang)
		}
	}
	if h.Hours != nil {
		if _, err := h.Hours.compile(); err != nil {
			return err
		}
	}
	return nil
}

// ServiceHours are the weekly hours agents work, in a time zone.
type ServiceHours struct {
	TimeZone string      `json:"timezone"` // IANA name ("Asia/Shanghai"); "" is UTC
	Open     []OpenHours `json:"open"`     // none: never open
}

// OpenHours is one weekly opening: days ("mon-fri", "sat,sun", "mon") from
// From to To ("09:00", "18:00"; To after From, "24:00" for midnight).
type OpenHours struct {
	Days string `json:"days"`
	From string `json:"from"`
	To   string `json:"to"`
}

// hours is ServiceHours compiled: per weekday, opening ranges in minutes.
type hours struct {
	loc  *time.Location
	days [7][][2]int
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func (sh *ServiceHours) compile() (*hours, error) {
	h := &hours{loc: time.UTC}
	if sh.TimeZone != "" {
		loc, err := time.LoadLocation(sh.TimeZone)
		if err != nil {
			return nil, Errorf(EINVALID, "handoff.hours.timezone %q: not an IANA time zone", sh.TimeZone)
		}
		h.loc = loc
	}
	if len(sh.Open) > 50 {
		return nil, Errorf(EINVALID, "handoff.hours: more than 50 openings")
	}
	for _, o := range sh.Open {
		from, err1 := clock(o.From)
		to, err2 := clock(o.To)
		if err1 != nil || err2 != nil || to <= from {
			return nil, Errorf(EINVALID, "handoff.hours: %q to %q: use HH:MM, the end after the start", o.From, o.To)
		}
		days, err := dayList(o.Days)
		if err != nil {
			return nil, err
		}
		for _, d := range days {
			h.days[d] = append(h.days[d], [2]int{from, to})
		}
	}
	return h, nil
}

func clock(s string) (int, error) {
	var hh, mm int
	if _, err := fmt.Sscanf(s, "%d:%d", &hh, &mm); err != nil || len(s) != 5 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return hh*60 + mm, nil
}

func dayIndex(s string) int {
	for i, d := range weekdays {
		if d == s {
			return i
		}
	}
	return -1
}

// dayList parses "mon-fri", "sat,sun" or "mon".
func dayList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(strings.ToLower(strings.ReplaceAll(s, " ", "")), ",") {
		a, b, isRange := strings.Cut(part, "-")
		i, j := dayIndex(a), dayIndex(b)
		if !isRange {
			j = i
		}
		if i < 0 || j < 0 {
			return nil, Errorf(EINVALID, "handoff.hours: days %q: use mon, tue, wed, thu, fri, sat, sun, ranges (mon-fri) and lists (sat,sun)", s)
		}
		for d := i; ; d = (d + 1) % 7 {
			out = append(out, d)
			if d == j {
				break
			}
		}
	}
	return out, nil
}

// IsOpen reports whether agents work at t. Invalid hours count as always
// open (they are refused when set).
func (sh *ServiceHours) IsOpen(t time.Time) bool {
	h, err := sh.compile()
	if err != nil {
		return true
	}
	lt := t.In(h.loc)
	m := lt.Hour()*60 + lt.Minute()
	for _, r := range h.days[lt.Weekday()] {
		if m >= r[0] && m < r[1] {
			return true
		}
	}
	return false
}

// NextOpen returns when agents are next at work at or after t, in the
// hours' time zone; ok is false when the hours never open.
func (sh *ServiceHours) NextOpen(t time.Time) (time.Time, bool) {
	h, err := sh.compile()
	if err != nil {
		return t, true
	}
	lt := t.In(h.loc)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, h.loc)
	for i := 0; i < 8; i++ {
		d := day.AddDate(0, 0, i)
		best := -1
		for _, r := range h.days[d.Weekday()] {
			start := d.Add(time.Duration(r[0]) * time.Minute)
			end := d.Add(time.Duration(r[1]) * time.Minute)
			if !lt.Before(start) && lt.Before(end) {
				return lt, true
			}
			if start.After(lt) && (best < 0 || r[0] < best) {
				best = r[0]
			}
		}
		if best >= 0 {
			return d.Add(time.Duration(best) * time.Minute), true
		}
	}
	return time.Time{}, false
}
