package desk_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

// The walk-through: a complaint hands off; the next message is not
// answered by the bot but stored for the agent; an agent claims, replies
// (live to the customer's watcher), resolves; the customer's next message
// goes back to the bot. Every step is stored, with its webhook events, and
// survives a restart.
func TestHandoffWalkThrough(t *testing.T) {
	r := newRig(t)
	r.subscribeAll(t)
	first := r.ask(t, kefu.AskRequest{Question: "怎么申请退款？"})
	id := first.ConversationID
	if first.Route != kefu.RouteFAQ || first.State != kefu.StateBot || !strings.HasPrefix(id, "c_") {
		t.Fatalf("first answer %+v", first)
	}
	var mu sync.Mutex
	var live []kefu.LiveEvent
	stop := r.desk.Watch("shop", id, func(ev kefu.LiveEvent) {
		mu.Lock()
		live = append(live, ev)
		mu.Unlock()
	})
	defer stop()

	h := r.ask(t, kefu.AskRequest{Question: "我要投诉", ConversationID: id})
	if h.Route != kefu.RouteHandoff || h.Handoff != kefu.TriggerSensitive || h.State != kefu.StateWaiting {
		t.Fatalf("complaint: %+v", h)
	}
	calls := r.ret.calls()
	quiet := r.ask(t, kefu.AskRequest{Question: "退款多久能到账？", ConversationID: id})
	if quiet.Route != kefu.RouteAgent || quiet.Text != "" || quiet.State != kefu.StateWaiting || r.ret.calls() != calls {
		t.Fatalf("while waiting the bot answered: %+v (retrievals %d → %d)", quiet, calls, r.ret.calls())
	}
	r.restart(t)
	c := r.act(t, id, kefu.ActionClaim, "alice", "")
	if c.State != kefu.StateAgent || c.Assignee != "alice" || c.Trigger != kefu.TriggerSensitive {
		t.Fatalf("claimed %+v", c)
	}
	stop() // the watcher belonged to the desk before the restart
	stop = r.desk.Watch("shop", id, func(ev kefu.LiveEvent) {
		mu.Lock()
		live = append(live, ev)
		mu.Unlock()
	})
	r.act(t, id, kefu.ActionReply, "alice", "您好，我来帮您处理退款。")
	r.act(t, id, kefu.ActionNote, "alice", "VIP customer")
	again := r.ask(t, kefu.AskRequest{Question: "好的，谢谢", ConversationID: id})
	if again.Route != kefu.RouteAgent || again.Text != "" || r.ret.calls() != calls {
		t.Fatalf("while claimed: %+v", again)
	}
	r.act(t, id, kefu.ActionResolve, "alice", "")
	back := r.ask(t, kefu.AskRequest{Question: "How do I request a refund?", ConversationID: id})
	if back.Route != kefu.RouteFAQ || back.State != kefu.StateBot {
		t.Fatalf("after resolve: %+v", back)
	}
	want := []string{"customer", "bot", "customer", "bot", "event:handoff", "customer", "event:claimed", "agent", "note", "customer",
		"event:resolved", "event:reopened", "customer", "bot"}
	msgs := r.messages(t, id)
	if got := roles(msgs); !slices.Equal(got, want) {
		t.Fatalf("transcript\n%v\nwant\n%v", got, want)
	}
	for _, m := range msgs {
		if m.Role == kefu.RoleCustomer && m.RequestID != "req_test" {
			t.Errorf("message %d has request id %q", m.Seq, m.RequestID)
		}
	}
	if a := msgs[3].Answer; a == nil || a.Handoff != kefu.TriggerSensitive || msgs[7].Author != "alice" {
		t.Errorf("hand-off answer %+v, reply by %q", a, msgs[7].Author)
	}
	mu.Lock()
	var kinds []string
	for _, ev := range live {
		k := ev.Kind
		if ev.Message != nil {
			k += ":" + string(ev.Message.Role)
		}
		kinds = append(kinds, k)
	}
	mu.Unlock()
	wantLive := []string{"message:customer", "message:bot", "message:event", "state", "message:customer", // before the restart
		"message:agent", "message:note", "message:customer", "message:event", "state", "message:event", "message:customer", "message:bot", "state"}
	if !slices.Equal(kinds, wantLive) {
		t.Errorf("live events %v, want %v", kinds, wantLive)
	}
	evs := r.events(t)
	count := map[kefu.EventType]int{}
	for _, e := range evs {
		count[e]++
	}
	if count[kefu.EventHandoffRequested] != 1 || count[kefu.EventConversationResolved] != 1 || count[kefu.EventConversationMessage] != len(want) || count[kefu.EventAnswerUnknown] != 0 {
		t.Errorf("events %v", count)
	}
	var hand struct {
		Conversation kefu.Conversation
		Trigger      string
		Message      kefu.Message
	}
	ev := r.eventData(t, kefu.EventHandoffRequested, &hand)
	if hand.Trigger != kefu.TriggerSensitive || hand.Conversation.State != kefu.StateWaiting || hand.Message.Text != "我要投诉" || ev.RequestID != "req_test" {
		t.Errorf("handoff.requested %+v (request id %q)", hand, ev.RequestID)
	}
	// A closed conversation takes no more messages.
	r.act(t, id, kefu.ActionClose, "alice", "")
	if _, err := r.desk.Ask(context.Background(), kefu.AskRequest{KB: "shop", Question: "还在吗", ConversationID: id}, nil); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Fatalf("a message to a closed conversation: %v", err)
	}
}

// Follow-ups are rewritten from the stored turns, also by a desk started
// after the turns were written.
func TestFollowUpFromStoredTurns(t *testing.T) {
	r := newRig(t)
	a := r.ask(t, kefu.AskRequest{Question: "怎么申请退款？", ConversationID: "u1"})
	r.restart(t)
	b := r.ask(t, kefu.AskRequest{Question: "那运费呢？", ConversationID: a.ConversationID})
	if b.Query != "申请退款 运费" || b.Route != kefu.RouteFAQ || b.Text != faqs["七天无理由退货怎么算？"] {
		t.Fatalf("follow-up after a restart: query %q route %s text %q", b.Query, b.Route, b.Text)
	}
	// Another conversation has no history.
	if c := r.ask(t, kefu.AskRequest{Question: "那运费呢？", ConversationID: "u2"}); c.Query != "" || c.Route != kefu.RouteUnknown {
		t.Fatalf("a new conversation borrowed a topic: %+v", c)
	}
}

func TestRepeatedUnknownHandsOff(t *testing.T) {
	r := newRig(t)
	r.subscribeAll(t)
	a := r.ask(t, kefu.AskRequest{Question: "火星上有水吗"})
	if a.Route != kefu.RouteUnknown || a.State != kefu.StateBot {
		t.Fatalf("first unknown %+v", a)
	}
	b := r.ask(t, kefu.AskRequest{Question: "那月球呢有没有水", ConversationID: a.ConversationID})
	if b.Route != kefu.RouteHandoff || b.Handoff != kefu.TriggerUnknown || b.State != kefu.StateWaiting {
		t.Fatalf("second unknown in a row %+v", b)
	}
	if got := r.events(t); !slices.Contains(got, kefu.EventAnswerUnknown) || !slices.Contains(got, kefu.EventHandoffRequested) {
		t.Errorf("events %v", got)
	}
	// With the trigger off, unknown answers stay with the bot.
	r.setHandoff(t, &kefu.HandoffSettings{Triggers: []string{kefu.TriggerSensitive, kefu.TriggerRequest}})
	c := r.ask(t, kefu.AskRequest{Question: "火星上有水吗"})
	for range 3 {
		c = r.ask(t, kefu.AskRequest{Question: "火星上有水吗", ConversationID: c.ConversationID})
	}
	if c.Route != kefu.RouteUnknown || c.State != kefu.StateBot {
		t.Fatalf("unknown trigger off: %+v", c)
	}
	// Three in a row, when the KB says so.
	r.setHandoff(t, &kefu.HandoffSettings{Unknowns: 3})
	d := r.ask(t, kefu.AskRequest{Question: "火星上有水吗"})
	d = r.ask(t, kefu.AskRequest{Question: "火星上有水吗", ConversationID: d.ConversationID})
	if d.Route != kefu.RouteUnknown {
		t.Fatalf("second of three: %+v", d)
	}
	if d = r.ask(t, kefu.AskRequest{Question: "火星上有水吗", ConversationID: d.ConversationID}); d.Route != kefu.RouteHandoff {
		t.Fatalf("third of three: %+v", d)
	}
}

// With the request trigger off, "human" alone stays with the bot; right
// after a thumbs-down it hands off.
func TestThumbsDownThenHuman(t *testing.T) {
	r := newRig(t)
	r.subscribeAll(t)
	r.setHandoff(t, &kefu.HandoffSettings{Triggers: []string{kefu.TriggerSensitive, kefu.TriggerThumbsDown}})
	a := r.ask(t, kefu.AskRequest{Question: "How do I request a refund?"})
	b := r.ask(t, kefu.AskRequest{Question: "real person", ConversationID: a.ConversationID})
	if b.Route == kefu.RouteHandoff {
		t.Fatalf("request trigger off, yet handed off: %+v", b)
	}
	c := r.ask(t, kefu.AskRequest{Question: "How do I request a refund?", ConversationID: a.ConversationID})
	if err := r.desk.Feedback(context.Background(), "shop", kefu.Feedback{AnswerID: c.ID, Vote: -1, Comment: "useless"}); err != nil {
		t.Fatal(err)
	}
	d := r.ask(t, kefu.AskRequest{Question: "real person", ConversationID: a.ConversationID})
	if d.Route != kefu.RouteHandoff || d.Handoff != kefu.TriggerThumbsDown || d.State != kefu.StateWaiting {
		t.Fatalf("thumbs-down then a request: %+v", d)
	}
	var fb struct{ Feedback kefu.FeedbackRecord }
	r.eventData(t, kefu.EventFeedbackCreated, &fb)
	if fb.Feedback.Vote != -1 || fb.Feedback.Question != "How do I request a refund?" || fb.Feedback.Answer != c.Text || fb.Feedback.ConversationID != a.ConversationID {
		t.Errorf("feedback.created %+v", fb.Feedback)
	}
	list, err := r.store.FeedbackList(context.Background(), "shop", -1, 10)
	if err != nil || len(list) != 1 || list[0].Comment != "useless" || list[0].Answer != c.Text {
		t.Errorf("feedback list %+v %v", list, err)
	}
	for _, m := range r.messages(t, a.ConversationID) {
		if m.ID == c.ID && m.Vote != -1 {
			t.Errorf("the answer's message lost its vote: %+v", m)
		}
	}
}

// An agent who steps in without a hand-off: the customer is told once that
// a person will reply; a released conversation goes back to the bot.
func TestAgentStepsIn(t *testing.T) {
	r := newRig(t)
	a := r.ask(t, kefu.AskRequest{Question: "How do I request a refund?"})
	c := r.act(t, a.ConversationID, kefu.ActionClaim, "bob", "")
	if c.State != kefu.StateAgent || c.Trigger != kefu.TriggerAgent {
		t.Fatalf("claimed %+v", c)
	}
	n := r.ask(t, kefu.AskRequest{Question: "hello?", ConversationID: a.ConversationID})
	if n.Route != kefu.RouteAgent || !strings.Contains(n.Text, "a person will reply") {
		t.Fatalf("first message to an agent: %+v", n)
	}
	if n2 := r.ask(t, kefu.AskRequest{Question: "hello??", ConversationID: a.ConversationID}); n2.Text != "" {
		t.Fatalf("notice twice: %+v", n2)
	}
	r.act(t, a.ConversationID, kefu.ActionRelease, "bob", "")
	if b := r.ask(t, kefu.AskRequest{Question: "How do I request a refund?", ConversationID: a.ConversationID}); b.Route != kefu.RouteFAQ {
		t.Fatalf("after release: %+v", b)
	}
}

// Actions that do not fit change nothing: a conversation of another KB is
// not found, a claimed conversation is not taken without force, a bot
// conversation is not released.
func TestActionsRefused(t *testing.T) {
	r := newRig(t)
	a := r.ask(t, kefu.AskRequest{Question: "我要投诉"})
	id := a.ConversationID
	before := len(r.messages(t, id))
	ctx := context.Background()
	check := func(kb, kind, agent, text string, force bool, code string) {
		t.Helper()
		_, err := r.desk.Act(ctx, kb, id, kefu.AgentAction{Kind: kind, Agent: agent, Text: text, Force: force})
		if kefu.ErrorCode(err) != code {
			t.Errorf("%s %s by %q: %v, want %s", kb, kind, agent, err, code)
		}
	}
	check("help", kefu.ActionClaim, "alice", "", false, kefu.ENOTFOUND)
	check("help", kefu.ActionReply, "alice", "hi", false, kefu.ENOTFOUND)
	check("shop", "transfer", "alice", "", false, kefu.EINVALID)
	check("shop", kefu.ActionReply, "alice", "", false, kefu.EINVALID)
	check("shop", kefu.ActionClaim, "", "", false, kefu.EINVALID)
	check("shop", kefu.ActionReply, "alice", strings.Repeat("x", 20<<10), false, kefu.ETOOLARGE)
	if _, err := r.desk.Act(ctx, "shop", "nope", kefu.AgentAction{Kind: kefu.ActionClaim, Agent: "a"}); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("claim of a missing conversation: %v", err)
	}
	if _, err := r.store.Conversation(ctx, "shop", "nope"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("an action created a conversation: %v", err)
	}
	if got := len(r.messages(t, id)); got != before {
		t.Fatalf("refused actions added %d messages", got-before)
	}
	r.act(t, id, kefu.ActionClaim, "alice", "")
	check("shop", kefu.ActionClaim, "bob", "", false, kefu.ECONFLICT)
	check("shop", kefu.ActionClaim, "bob", "", true, "")
	r.act(t, id, kefu.ActionRelease, "bob", "")
	check("shop", kefu.ActionRelease, "bob", "", false, kefu.ECONFLICT)
}

// A channel's retried message is answered once: the retry gets the same
// reply and changes nothing; the same id with other text is a conflict.
// Replies to a channel with an outbound URL are enqueued for it.
func TestChannelMessagesIdempotent(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if err := r.store.PutChannel(ctx, &kefu.Channel{Name: "wechat", KB: "shop", OutboundURL: "http://127.0.0.1:1/out", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	req := kefu.AskRequest{KB: "shop", Question: "怎么申请退款？", Channel: "wechat", EndUser: "wx_1", ExternalID: "m1"}
	a := r.ask(t, req)
	b := r.ask(t, req)
	if !b.Replayed || b.ID != a.ID || b.Text != a.Text || b.ConversationID != a.ConversationID || a.Replayed {
		t.Fatalf("replay %+v of %+v", b, a)
	}
	if n := len(r.messages(t, a.ConversationID)); n != 2 {
		t.Fatalf("%d messages after a replay", n)
	}
	other := req
	other.Question = "别的问题"
	if _, err := r.desk.Ask(ctx, other, nil); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Fatalf("the same id with other text: %v", err)
	}
	// The end user's next message continues their conversation.
	c := r.ask(t, kefu.AskRequest{Question: "我要投诉", Channel: "wechat", EndUser: "wx_1", ExternalID: "m2"})
	if c.ConversationID != a.ConversationID {
		t.Fatalf("a new conversation for the same end user: %s", c.ConversationID)
	}
	ds, _ := r.store.Deliveries(ctx, kefu.DeliveryFilter{Target: kefu.TargetChannel, TargetID: "wechat"})
	if len(ds) != 2 {
		t.Fatalf("%d replies for the channel, want 2", len(ds))
	}
	var rep struct {
		EndUser   string `json:"end_user_id"`
		InReplyTo string `json:"in_reply_to"`
		Text      string
	}
	r.eventData(t, kefu.EventChannelReply, &rep)
	if rep.EndUser != "wx_1" || rep.InReplyTo != "m2" || rep.Text != c.Text {
		t.Errorf("channel reply %+v", rep)
	}
}

// Outside service hours a hand-off says when agents are back.
func TestAfterHours(t *testing.T) {
	r := newRig(t)
	r.setHandoff(t, &kefu.HandoffSettings{Hours: &kefu.ServiceHours{TimeZone: "Asia/Shanghai", Open: []kefu.OpenHours{{Days: "mon-fri", From: "09:00", To: "18:00"}}}})
	sh, _ := time.LoadLocation("Asia/Shanghai")
	r.now = time.Date(2026, 3, 7, 22, 0, 0, 0, sh) // a Saturday night
	a := r.ask(t, kefu.AskRequest{Question: "我要投诉"})
	if a.Route != kefu.RouteHandoff || !strings.Contains(a.Text, "非工作时间") || !strings.Contains(a.Text, "3月9日（周一）09:00") {
		t.Fatalf("after hours: %q", a.Text)
	}
	r.now = time.Date(2026, 3, 9, 10, 0, 0, 0, sh)
	b := r.ask(t, kefu.AskRequest{Question: "I want to file a complaint"})
	if strings.Contains(b.Text, "away") {
		t.Fatalf("in hours: %q", b.Text)
	}
}

func TestPurgeByRetention(t *testing.T) {
	r := newRig(t)
	a := r.ask(t, kefu.AskRequest{Question: "怎么申请退款？"})
	kb, _ := r.store.KB(context.Background(), "shop")
	kb.Settings.RetentionDays = 1
	r.store.UpdateKB(context.Background(), kb)
	r.now = time.Now().Add(12 * time.Hour)
	if n, err := r.desk.Purge(context.Background()); err != nil || n["shop"] != 0 {
		t.Fatalf("purged within the retention: %v %v", n, err)
	}
	r.now = time.Now().Add(25 * time.Hour)
	if n, err := r.desk.Purge(context.Background()); err != nil || n["shop"] != 1 {
		t.Fatalf("purged %v %v", n, err)
	}
	if _, err := r.store.Conversation(context.Background(), "shop", a.ConversationID); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Fatal(err)
	}
}

// A vote on an answer whose conversation was purged still reaches the
// answer log and the feedback.created webhook, without a conversation.
func TestFeedbackAfterPurge(t *testing.T) {
	r := newRig(t)
	r.subscribeAll(t)
	ctx := context.Background()
	a := r.ask(t, kefu.AskRequest{Question: "How do I request a refund?"})
	r.now = time.Now().Add(24 * time.Hour)
	if n, err := r.store.PurgeConversations(ctx, "shop", r.now); err != nil || n != 1 {
		t.Fatalf("purged %d %v", n, err)
	}
	if err := r.desk.Feedback(ctx, "shop", kefu.Feedback{AnswerID: a.ID, Vote: -1, Comment: "late"}); err != nil {
		t.Fatalf("feedback after purge: %v", err)
	}
	var fb struct{ Feedback kefu.FeedbackRecord }
	r.eventData(t, kefu.EventFeedbackCreated, &fb)
	if fb.Feedback.Vote != -1 || fb.Feedback.Answer != a.Text || fb.Feedback.ConversationID != "" {
		t.Errorf("feedback.created %+v", fb.Feedback)
	}
	list, err := r.store.FeedbackList(ctx, "shop", -1, 10)
	if err != nil || len(list) != 1 || list[0].Comment != "late" {
		t.Errorf("feedback list %+v %v", list, err)
	}
}

// Bad customer messages are refused before anything is stored.
func TestAskRefused(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for name, c := range map[string]struct {
		req  kefu.AskRequest
		code string
	}{
		"empty":       {kefu.AskRequest{KB: "shop", Question: "  "}, kefu.EINVALID},
		"long":        {kefu.AskRequest{KB: "shop", Question: strings.Repeat("退", 2000)}, kefu.ETOOLARGE},
		"bad id":      {kefu.AskRequest{KB: "shop", Question: "hi", ConversationID: "a b"}, kefu.EINVALID},
		"no kb":       {kefu.AskRequest{KB: "nope", Question: "hi"}, kefu.ENOTFOUND},
		"big meta":    {kefu.AskRequest{KB: "shop", Question: "hi", Metadata: map[string]string{"k": strings.Repeat("v", 5000)}}, kefu.ETOOLARGE},
		"not utf8":    {kefu.AskRequest{KB: "shop", Question: "\xff\xfe"}, kefu.EINVALID},
		"long ext id": {kefu.AskRequest{KB: "shop", Question: "hi", Channel: "mail", ExternalID: strings.Repeat("x", 300)}, kefu.ETOOLARGE},
	} {
		if _, err := r.desk.Ask(ctx, c.req, nil); kefu.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	if cs, _ := r.store.Conversations(ctx, "shop", kefu.ConversationFilter{}); len(cs) != 0 {
		t.Fatalf("refused messages stored %d conversations", len(cs))
	}
}
