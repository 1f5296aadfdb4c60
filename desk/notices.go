package desk

import (
	"fmt"
	"strings"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// defaultNotices are the desk's notices by language; a KB's
// Handoff.Messages override them field by field.
var defaultNotices = map[string]kefu.HandoffMessages{
	"zh": {
		Queued:     "您的消息已转给人工客服，客服人员会在这里回复您，请稍候。",
		AfterHours: "现在是非工作时间，人工客服将于{time}上线，届时会在这里回复您。",
	},
	"en": {
		Queued:     "Your message has been passed to our support team; a person will reply here shortly.",
		AfterHours: "Our agents are away right now; they are back {time} and will reply here.",
	},
}

// langOf is "zh" for Chinese text, "en" for other text, and fallback (else
// "en") for text with no language (digits, emoji).
func langOf(s, fallback string) string {
	switch l := text.Lang(s); {
	case strings.HasPrefix(l, "zh"):
		return "zh"
	case l == "" && fallback == "zh":
		return "zh"
	}
	return "en"
}

// notice returns the KB's notices in lang.
func (d *Service) notice(kb *kefu.KB, lang string) kefu.HandoffMessages {
	if lang != "zh" {
		lang = "en"
	}
	m := defaultNotices[lang]
	if h := kb.Settings.Handoff; h != nil {
		o := h.Messages[lang]
		if o.Queued != "" {
			m.Queued = o.Queued
		}
		if o.AfterHours != "" {
			m.AfterHours = o.AfterHours
		}
	}
	return m
}

// afterHours returns the after-hours notice when the KB's agents are away
// at now ("" when they work, or the KB has no hours).
func (d *Service) afterHours(kb *kefu.KB, lang string, now time.Time) string {
	h := kb.Settings.Handoff
	if h == nil || h.Hours == nil || h.Hours.IsOpen(now) {
		return ""
	}
	msg := d.notice(kb, lang).AfterHours
	back, ok := h.Hours.NextOpen(now)
	when := ""
	switch {
	case !ok && lang == "zh":
		when = "工作时间"
	case !ok:
		when = "during working hours"
	case lang == "zh":
		when = fmt.Sprintf("%d月%d日（%s）%s", back.Month(), back.Day(), zhWeekdays[back.Weekday()], back.Format("15:04"))
	default:
		when = back.Format("Mon 2 Jan 15:04")
	}
	if ok && h.Hours.TimeZone != "" {
		when += " (" + h.Hours.TimeZone + ")"
	}
	return strings.ReplaceAll(msg, "{time}", when)
}

var zhWeekdays = [7]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}
