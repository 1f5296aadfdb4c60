package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/desk"
	"github.com/kefu-dev/kefu/models"
)

// TurnWrites is the store's conversation-turn throughput at one number of
// concurrent writers.
type TurnWrites struct {
	Writers      int     `json:"writers"`
	Turns        int     `json:"turns"`
	TurnsPerS    float64 `json:"turns_per_s"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	WithWebhooks bool    `json:"with_webhooks"` // a subscription wanted conversation.message
}

// ConversationsReport is the result of Conversations.
type ConversationsReport struct {
	Writes []TurnWrites `json:"writes"`
	// The latency of asks: the answerer logging its answers (as before
	// conversations were stored) against the desk storing each turn with
	// its answer log record, in turn on the same questions.
	Asks        int     `json:"asks"`
	BaseP50MS   float64 `json:"base_p50_ms"`
	BaseP99MS   float64 `json:"base_p99_ms"`
	DeskP50MS   float64 `json:"desk_p50_ms"`
	DeskP99MS   float64 `json:"desk_p99_ms"`
	AddedP50MS  float64 `json:"added_p50_ms"` // desk minus base, per percentile
	AddedP99MS  float64 `json:"added_p99_ms"`
	AddedMeanMS float64 `json:"added_mean_ms"`
	FsyncP50MS  float64 `json:"fsync_p50_ms"` // one bbolt commit of one small write, this disk
	FsyncP99MS  float64 `json:"fsync_p99_ms"`
	Model       string  `json:"model"`
	Note        string  `json:"note"`
}

// ConversationsOptions configure Conversations. Zero fields take the
// defaults.
type ConversationsOptions struct {
	Model    string        // embedding model; "" is the best available
	ORTLib   string        // ONNX Runtime library; "" looks it up
	Duration time.Duration // per writers count, default 5 s
	Asks     int           // asks timed per way, default 1000
	Log      io.Writer
}

// Conversations measures conversation turn writes per second (1, 8 and 64
// concurrent writers, with and without a webhook subscription) and the
// latency storing turns adds to an ask.
func Conversations(ctx context.Context, o ConversationsOptions) (*ConversationsReport, error) {
	def(&o.Duration, 5*time.Second)
	def(&o.Asks, 1000)
	rep := &ConversationsReport{Note: "store on this machine's disk, every commit fsynced; a turn is a customer message and an answer " +
		"(300 characters, one citation) with its answer log record, written by group commit; asks: the shop FAQ's questions and as many " +
		"it cannot answer, answer cache off, in-process (no HTTP), base and desk alternating"}
	f50, f99, err := fsyncLatency()
	if err != nil {
		return nil, err
	}
	rep.FsyncP50MS, rep.FsyncP99MS = f50, f99
	for _, hooks := range []bool{false, true} {
		for _, w := range []int{1, 8, 64} {
			if o.Log != nil {
				fmt.Fprintf(o.Log, "turn writes: %d writers, webhooks %v…\n", w, hooks)
			}
			r, err := turnWrites(ctx, w, hooks, o.Duration)
			if err != nil {
				return nil, err
			}
			rep.Writes = append(rep.Writes, *r)
		}
	}
	if o.Log != nil {
		fmt.Fprintln(o.Log, "asks with and without stored turns…")
	}
	if err := askLatency(ctx, o, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// fsyncLatency times 500 single small writes to a bbolt file: what one
// commit costs here.
func fsyncLatency() (p50, p99 float64, err error) {
	s, done, err := tempStore("kefu-bench-fsync-")
	if err != nil {
		return 0, 0, err
	}
	defer done()
	var lat []float64
	for i := range 500 {
		t0 := time.Now()
		if err := s.PutSubscription(context.Background(), &kefu.Subscription{ID: "w", URL: "http://127.0.0.1:1/", Events: kefu.EventTypes, Secret: fmt.Sprint(i)}); err != nil {
			return 0, 0, err
		}
		lat = append(lat, ms(time.Since(t0)))
	}
	return pct(lat, 50), pct(lat, 99), nil
}

// benchAnswer is an answer of realistic size.
var benchAnswer = strings.Repeat("审核通过后，款项会在1-3个工作日内原路退回。", 14)

func turnWrites(ctx context.Context, writers int, hooks bool, dur time.Duration) (*TurnWrites, error) {
	s, done, err := tempStore("kefu-bench-turns-")
	if err != nil {
		return nil, err
	}
	defer done()
	if err := s.CreateKB(ctx, &kefu.KB{Name: "bench", Model: "bench@0", Settings: kefu.DefaultSettings()}); err != nil {
		return nil, err
	}
	if hooks {
		if err := s.PutSubscription(ctx, &kefu.Subscription{ID: "w", URL: "http://127.0.0.1:1/", Events: []kefu.EventType{kefu.EventConversationMessage}, Secret: "s"}); err != nil {
			return nil, err
		}
	}
	var (
		mu  sync.Mutex
		lat []float64
		wg  sync.WaitGroup
		bad error
	)
	stop := time.Now().Add(dur)
	for g := range writers {
		wg.Go(func() {
			var mine []float64
			for i := 0; time.Now().Before(stop); i++ {
				id := fmt.Sprintf("c%d-%d", g, i/10)
				a := &kefu.Answer{ID: fmt.Sprintf("a%d-%d", g, i), Text: benchAnswer, Route: kefu.RouteFAQ, Confidence: 0.97, ConversationID: id,
					Citations: []kefu.Citation{{N: 1, DocID: "shop_faq.csv", ChunkID: "0123456789abcdef", Snippet: benchAnswer[:90]}}}
				t0 := time.Now()
				_, err := s.UpdateConversation(ctx, "bench", id, func(c *kefu.Conversation) (*kefu.ConversationChange, error) {
					ch := &kefu.ConversationChange{}
					c.Channel = kefu.ChannelAPI
					for _, m := range []kefu.Message{{ID: "q", Role: kefu.RoleCustomer, Text: "退款多久能到账？"}, {ID: a.ID, Role: kefu.RoleBot, Text: a.Text, Answer: a}} {
						c.Messages++
						m.Seq = c.Messages
						ch.Messages = append(ch.Messages, m)
						if hooks {
							ev, err := kefu.NewEvent(ctx, kefu.EventConversationMessage, "bench", map[string]any{"conversation": c, "message": m})
							if err != nil {
								return nil, err
							}
							ch.Events = append(ch.Events, ev)
						}
					}
					rec := a.Record("bench", "退款多久能到账？", "", time.Now())
					ch.Answer = &rec
					return ch, nil
				})
				if err != nil {
					mu.Lock()
					bad = err
					mu.Unlock()
					return
				}
				mine = append(mine, ms(time.Since(t0)))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if bad != nil {
		return nil, bad
	}
	return &TurnWrites{Writers: writers, Turns: len(lat), TurnsPerS: float64(len(lat)) / dur.Seconds(),
		P50MS: pct(lat, 50), P99MS: pct(lat, 99), WithWebhooks: hooks}, nil
}

// askLatency times the answerer with its own answer log against the desk
// over it, asking the same question in turn.
func askLatency(ctx context.Context, o ConversationsOptions, rep *ConversationsReport) error {
	dir, err := sharedDir()
	if err != nil {
		return err
	}
	csv := filepath.Join(dir, "data", "demo", "shop_faq.csv")
	questions, err := faqQuestions(csv)
	if err != nil {
		return err
	}
	for _, q := range questions[:len(questions)/2] {
		questions = append(questions, "Do you sell "+q+" on Mars?")
	}
	s, err := startServer(ctx, o.Model, o.ORTLib, func(s *server) error {
		data, err := os.ReadFile(csv)
		if err != nil {
			return err
		}
		if _, err := models.EnsureKB(ctx, s.store, "shop", s.e, nil); err != nil {
			return err
		}
		_, err = s.ing.Ingest(ctx, "shop", []kefu.Upload{{Name: "shop_faq.csv", Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(data))), nil }}}, nil)
		return err
	})
	if err != nil {
		return err
	}
	defer s.close()
	rep.Model = string(s.e.ModelID())
	quiet := slog.New(slog.DiscardHandler)
	base, err := answer.New(answer.Options{Retriever: s.ret, KBs: s.store, AnswerLog: s.store, Logger: quiet, CacheSize: -1})
	if err != nil {
		return err
	}
	bot, err := answer.New(answer.Options{Retriever: s.ret, KBs: s.store, Logger: quiet, CacheSize: -1})
	if err != nil {
		return err
	}
	d, err := desk.New(desk.Options{Store: s.store, Log: s.store, Answerer: bot, KBs: s.store, Logger: quiet})
	if err != nil {
		return err
	}
	var bl, dl []float64
	conv := ""
	for i := range o.Asks + 50 {
		q := questions[i%len(questions)]
		t0 := time.Now()
		if _, err := base.Ask(ctx, kefu.AskRequest{KB: "shop", Question: q}, nil); err != nil {
			return err
		}
		t1 := time.Now()
		if i%5 == 0 {
			conv = ""
		}
		a, err := d.Ask(ctx, kefu.AskRequest{KB: "shop", Question: q, ConversationID: conv}, nil)
		if err != nil {
			return err
		}
		if a.State != kefu.StateBot {
			conv = "" // a hand-off: the next asks start another conversation
		} else {
			conv = a.ConversationID
		}
		t2 := time.Now()
		if i >= 50 { // warm-up
			bl, dl = append(bl, ms(t1.Sub(t0))), append(dl, ms(t2.Sub(t1)))
		}
	}
	rep.Asks = len(bl)
	rep.BaseP50MS, rep.BaseP99MS = pct(bl, 50), pct(bl, 99)
	rep.DeskP50MS, rep.DeskP99MS = pct(dl, 50), pct(dl, 99)
	rep.AddedP50MS, rep.AddedP99MS = rep.DeskP50MS-rep.BaseP50MS, rep.DeskP99MS-rep.BaseP99MS
	var sum float64
	for i := range bl {
		sum += dl[i] - bl[i]
	}
	rep.AddedMeanMS = sum / float64(len(bl))
	return nil
}
