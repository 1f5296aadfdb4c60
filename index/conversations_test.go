package index

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
)

// turn appends a customer message and a bot answer to a conversation, the
// way a desk does: seqs continue the conversation's count.
func turn(c *kefu.Conversation, q, a string, route kefu.Route) *kefu.ConversationChange {
	ch := &kefu.ConversationChange{}
	c.Messages++
	ch.Messages = append(ch.Messages, kefu.Message{Seq: c.Messages, ID: fmt.Sprint("q", c.Messages), Role: kefu.RoleCustomer, Text: q, Channel: c.Channel})
	c.Messages++
	ch.Messages = append(ch.Messages, kefu.Message{Seq: c.Messages, ID: fmt.Sprint("a", c.Messages), Role: kefu.RoleBot, Text: a,
		Answer: &kefu.Answer{ID: fmt.Sprint("a", c.Messages), Route: route, Text: a}})
	if !slices.Contains(c.Routes, route) {
		c.Routes = append(c.Routes, route)
	}
	return ch
}

func update(t *testing.T, s *Store, kb, id string, fn func(c *kefu.Conversation) (*kefu.ConversationChange, error)) *kefu.Conversation {
	t.Helper()
	c, err := s.UpdateConversation(context.Background(), kb, id, fn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConversationTurnsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	newKB(t, s, "shop")
	newKB(t, s, "help")
	var seen []bool
	c := update(t, s, "shop", "c1", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		seen = append(seen, c.CreatedAt.IsZero())
		c.Channel, c.EndUser = "wechat", "u1"
		ch := turn(c, "怎么退款", "在订单里申请", kefu.RouteFAQ)
		ch.Messages[0].ExternalID = "ext-1"
		rec := kefu.AnswerRecord{ID: "a2", KB: "shop", Question: "怎么退款", ConversationID: "c1", Route: kefu.RouteFAQ}
		ch.Answer = &rec
		return ch, nil
	})
	if !seen[0] || c.Messages != 2 || c.State != kefu.StateBot || c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) {
		t.Fatalf("new conversation %+v (new %v)", c, seen)
	}
	update(t, s, "shop", "c1", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		if c.CreatedAt.IsZero() || c.Messages != 2 {
			t.Errorf("second update sees %+v", c)
		}
		c.State = kefu.StateWaiting
		ch := turn(c, "我要投诉", "正在转人工", kefu.RouteHandoff)
		ch.Votes = map[uint64]int{2: -1}
		return ch, nil
	})
	// A failing update changes nothing, nor does one that breaks the
	// sequence or creates a conversation it then refuses.
	boom := errors.New("boom")
	if _, err := s.UpdateConversation(ctx, "shop", "c1", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		c.State = kefu.StateClosed
		turn(c, "x", "y", kefu.RouteFAQ)
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing update: %v", err)
	}
	if _, err := s.UpdateConversation(ctx, "shop", "c1", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		return &kefu.ConversationChange{Messages: []kefu.Message{{Seq: 9, Role: kefu.RoleNote, Text: "gap"}}}, nil
	}); kefu.ErrorCode(err) != kefu.EINTERNAL {
		t.Fatalf("a gap in the sequence: %v", err)
	}
	if _, err := s.UpdateConversation(ctx, "shop", "new", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.Conversation(ctx, "shop", "new"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Fatalf("a refused new conversation was stored: %v", err)
	}
	// The same channel message twice is a conflict.
	if _, err := s.UpdateConversation(ctx, "shop", "c1", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		ch := turn(c, "怎么退款", "again", kefu.RouteFAQ)
		ch.Messages[0].ExternalID = "ext-1"
		return ch, nil
	}); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Fatalf("a repeated external id: %v", err)
	}
	if _, err := s.UpdateConversation(ctx, "shop", "bad id!", nil); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("an invalid id: %v", err)
	}
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	c, err := s.Conversation(ctx, "shop", "c1")
	if err != nil || c.State != kefu.StateWaiting || c.Messages != 4 || c.EndUser != "u1" || !slices.Equal(c.Routes, []kefu.Route{kefu.RouteFAQ, kefu.RouteHandoff}) {
		t.Fatalf("after reopen: %+v %v", c, err)
	}
	msgs, err := s.Messages(ctx, "shop", "c1", 0, 0)
	if err != nil || len(msgs) != 4 {
		t.Fatalf("messages %d %v", len(msgs), err)
	}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) || m.ConversationID != "c1" || m.KB != "shop" || m.At.IsZero() {
			t.Errorf("message %d: %+v", i, m)
		}
	}
	if msgs[1].Vote != -1 || msgs[1].Answer == nil || msgs[1].Answer.Route != kefu.RouteFAQ || msgs[0].ExternalID != "ext-1" {
		t.Errorf("vote and answer not kept: %+v", msgs[1])
	}
	if after, _ := s.Messages(ctx, "shop", "c1", 2, 1); len(after) != 1 || after[0].Seq != 3 {
		t.Errorf("messages after 2, limit 1: %+v", after)
	}
	if last, _ := s.RecentMessages(ctx, "shop", "c1", 3); len(last) != 3 || last[0].Seq != 2 || last[2].Seq != 4 {
		t.Errorf("recent messages %+v", last)
	}
	if m, err := s.MessageByExternalID(ctx, "shop", "wechat", "ext-1"); err != nil || m.Seq != 1 || m.Text != "怎么退款" {
		t.Errorf("by external id: %+v %v", m, err)
	}
	if oc, err := s.OpenConversation(ctx, "shop", "wechat", "u1"); err != nil || oc.ID != "c1" {
		t.Errorf("open conversation: %+v %v", oc, err)
	}
	if rec, err := s.AnswerRecord(ctx, "shop", "a2"); err != nil || rec.ConversationID != "c1" {
		t.Errorf("the turn's answer record: %+v %v", rec, err)
	}
	// Another KB has no such conversation.
	if _, err := s.Conversation(ctx, "help", "c1"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("c1 in another KB: %v", err)
	}
	if _, err := s.Messages(ctx, "help", "c1", 0, 0); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("c1's messages in another KB: %v", err)
	}
	// A closed conversation is no end user's open one.
	update(t, s, "shop", "c1", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		c.State = kefu.StateClosed
		return nil, nil
	})
	if _, err := s.OpenConversation(ctx, "shop", "wechat", "u1"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("closed conversation still open: %v", err)
	}
}

// Listings read the update and state indexes: filters apply, pages cover
// every conversation once, most recently updated first.
func TestConversationListing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	newKB(t, s, "shop")
	states := []kefu.ConversationState{kefu.StateBot, kefu.StateWaiting, kefu.StateAgent, kefu.StateResolved}
	for i := range 40 {
		update(t, s, "shop", fmt.Sprintf("c%02d", i), func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
			c.Channel, c.State, c.EndUser = "api", states[i%4], fmt.Sprint("u", i%5)
			route := kefu.RouteFAQ
			if i%3 == 0 {
				route = kefu.RouteUnknown
			}
			return turn(c, "q", "a", route), nil
		})
	}
	// c05 is updated again: it moves to the front and to another state.
	update(t, s, "shop", "c05", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		c.State = kefu.StateAgent
		return nil, nil
	})
	all, err := s.Conversations(ctx, "shop", kefu.ConversationFilter{Limit: 1000})
	if err != nil || len(all) != 40 || all[0].ID != "c05" || all[1].ID != "c39" || all[39].ID != "c00" {
		t.Fatalf("all: %d %v, first %s", len(all), err, all[0].ID)
	}
	var paged []string
	f := kefu.ConversationFilter{Limit: 7}
	for {
		page, err := s.Conversations(ctx, "shop", f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			paged = append(paged, c.ID)
		}
		if len(page) < f.Limit {
			break
		}
		f.Until, f.After = page[len(page)-1].UpdatedAt, page[len(page)-1].ID
	}
	var want []string
	for _, c := range all {
		want = append(want, c.ID)
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("pages\n%v\nwant\n%v", paged, want)
	}
	check := func(f kefu.ConversationFilter, keep func(c *kefu.Conversation) bool) {
		t.Helper()
		got, err := s.Conversations(ctx, "shop", f)
		if err != nil {
			t.Fatal(err)
		}
		var exp []string
		for _, c := range all {
			if keep(c) {
				exp = append(exp, c.ID)
			}
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if !slices.Equal(ids, exp) || len(exp) == 0 {
			t.Errorf("filter %+v: %v, want %v", f, ids, exp)
		}
	}
	check(kefu.ConversationFilter{State: kefu.StateAgent, Limit: 100}, func(c *kefu.Conversation) bool { return c.State == kefu.StateAgent })
	check(kefu.ConversationFilter{State: kefu.StateWaiting, Limit: 100}, func(c *kefu.Conversation) bool { return c.State == kefu.StateWaiting })
	check(kefu.ConversationFilter{Route: kefu.RouteUnknown, Limit: 100}, func(c *kefu.Conversation) bool { return slices.Contains(c.Routes, kefu.RouteUnknown) })
	check(kefu.ConversationFilter{EndUser: "u3", State: kefu.StateBot, Limit: 100}, func(c *kefu.Conversation) bool {
		return c.EndUser == "u3" && c.State == kefu.StateBot
	})
	mid := all[20].UpdatedAt
	check(kefu.ConversationFilter{Since: mid, Limit: 100}, func(c *kefu.Conversation) bool { return !c.UpdatedAt.Before(mid) })
	check(kefu.ConversationFilter{State: kefu.StateAgent, Until: mid, Limit: 100}, func(c *kefu.Conversation) bool {
		return c.State == kefu.StateAgent && c.UpdatedAt.Before(mid)
	})
}

func TestPurgeConversations(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	newKB(t, s, "shop")
	for i := range purgeBatch + 20 {
		update(t, s, "shop", fmt.Sprint("old", i), func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
			c.Channel, c.EndUser = "mail", fmt.Sprint("u", i)
			ch := turn(c, "q", "a", kefu.RouteFAQ)
			ch.Messages[0].ExternalID = fmt.Sprint("m", i)
			return ch, nil
		})
	}
	cut := time.Now()
	update(t, s, "shop", "new", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		c.Channel, c.EndUser = "mail", "u0" // u0's latest conversation now
		return turn(c, "q", "a", kefu.RouteFAQ), nil
	})
	n, err := s.PurgeConversations(ctx, "shop", cut)
	if err != nil || n != purgeBatch+20 {
		t.Fatalf("purged %d, %v", n, err)
	}
	left, _ := s.Conversations(ctx, "shop", kefu.ConversationFilter{Limit: 1000})
	if len(left) != 1 || left[0].ID != "new" {
		t.Fatalf("left %d conversations", len(left))
	}
	if _, err := s.Messages(ctx, "shop", "old1", 0, 0); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("messages of a purged conversation: %v", err)
	}
	if _, err := s.MessageByExternalID(ctx, "shop", "mail", "m1"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("external id of a purged message: %v", err)
	}
	if _, err := s.OpenConversation(ctx, "shop", "mail", "u1"); kefu.ErrorCode(err) != kefu.ENOTFOUND {
		t.Errorf("a purged end user's conversation: %v", err)
	}
	if c, err := s.OpenConversation(ctx, "shop", "mail", "u0"); err != nil || c.ID != "new" {
		t.Errorf("u0's newer conversation lost its mapping: %+v %v", c, err)
	}
	// The purged external id may be used again.
	update(t, s, "shop", "again", func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
		ch := turn(c, "q", "a", kefu.RouteFAQ)
		ch.Messages[0].ExternalID, ch.Messages[0].Channel = "m1", "mail"
		return ch, nil
	})
}

// Concurrent writers share commits; each conversation's sequence stays
// whole, and a writer whose function fails does not spoil its batch.
func TestGroupCommitConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	newKB(t, s, "shop")
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for g := range 16 {
		wg.Go(func() {
			for i := range 25 {
				id := "shared"
				if i%2 == 0 {
					id = fmt.Sprint("own", g)
				}
				_, err := s.UpdateConversation(ctx, "shop", id, func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
					if i%7 == 3 {
						turn(c, "x", "y", kefu.RouteFAQ)
						return nil, errors.New("refused")
					}
					return turn(c, fmt.Sprint(g, "-", i), "a", kefu.RouteFAQ), nil
				})
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, id := range append([]string{"shared"}, func() (ids []string) {
		for g := range 16 {
			ids = append(ids, fmt.Sprint("own", g))
		}
		return
	}()...) {
		c, err := s.Conversation(ctx, "shop", id)
		if err != nil {
			t.Fatal(err)
		}
		msgs, _ := s.Messages(ctx, "shop", id, 0, 0)
		if uint64(len(msgs)) != c.Messages {
			t.Fatalf("%s: %d messages, count %d", id, len(msgs), c.Messages)
		}
		for i, m := range msgs {
			if m.Seq != uint64(i+1) {
				t.Fatalf("%s: message %d has seq %d", id, i, m.Seq)
			}
		}
		total += len(msgs) / 2
	}
	if want := 16 * 25; total+failed != want || failed != 16*4 {
		t.Fatalf("%d turns stored and %d refused, want %d in all with %d refused", total, failed, want, 16*4)
	}
}
