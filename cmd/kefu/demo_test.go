package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/answer"
	"github.com/kefu-dev/kefu/internal/testenv"
)

// demoApp seeds the demo knowledge bases into a fresh data directory with
// the real embedding model, as `kefu serve --demo` does on first start.
func demoApp(t *testing.T) (*app, kefu.Embedder) {
	t.Helper()
	lib := testenv.RequireORT(t)
	demo := testenv.Shared(t, "data/demo")
	testenv.Model(t, "use-lite-en")
	t.Setenv("KEFU_SHARED", testenv.SharedDir())
	a, err := newApp(common{dataDir: t.TempDir(), ortLib: lib, model: "use-lite-en", logLevel: "error"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	e, err := a.embedder(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.demoSeeder(e).Seed(ctx, demo); err != nil {
		t.Fatal(err)
	}
	// Each KB calibrated itself from its content (no labelled questions)
	// and has a first report for the console, measured on its dev
	// questions; seeding again changes nothing.
	versions := map[string]uint64{}
	for _, name := range []string{"shop", "help"} {
		kb, err := a.store.KB(ctx, name)
		if err != nil || kb.Settings.Calibration == nil || kb.Settings.Calibration.Source != kefu.CalibrationSelf ||
			kb.Settings.Calibration.Fingerprint == "" || kb.Settings.Calibration.Precision == 0 {
			t.Fatalf("%s: %+v %v", name, kb, err)
		}
		b, err := a.store.ReportFile(ctx, name, kefu.ReportSummary)
		if err != nil || !strings.Contains(string(b), "calibration") || !strings.Contains(string(b), `"answers"`) || !strings.Contains(string(b), name+"_dev.jsonl") {
			t.Fatalf("%s report: %v", name, err)
		}
		versions[name] = kb.Version
	}
	if err := a.demoSeeder(e).Seed(ctx, demo); err != nil {
		t.Fatal(err)
	}
	for name, v := range versions {
		if kb, _ := a.store.KB(ctx, name); kb.Version != v {
			t.Fatalf("seeding again changed %s: version %d → %d", name, v, kb.Version)
		}
	}
	return a, e
}

// shopAnswers reads the demo FAQ: question → answer.
func shopAnswers(t *testing.T) map[string]string {
	f, err := os.Open(filepath.Join(testenv.Shared(t, "data/demo"), "shop_faq.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows[1:] {
		out[r[0]] = r[1]
	}
	return out
}

// The answer policy on the real demo shop KB: FAQ questions and their
// paraphrases are answered from the FAQ (plainly, or with a disclaimer when
// the confidence is middling), questions the FAQ cannot answer get no
// invented answer, sensitive ones go to a person. The KB calibrated itself:
// no labelled question was used.
func TestDemoShopRouting(t *testing.T) {
	a, e := demoApp(t)
	faq := shopAnswers(t)
	svc, err := a.answerer(a.retriever(e), answer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	answered := []kefu.Route{kefu.RouteFAQ, kefu.RouteDisclaimer}
	for _, c := range []struct {
		q      string
		routes []kefu.Route
		faq    string // the FAQ entry whose answer the text must hold
	}{
		{"怎么申请退款？", []kefu.Route{kefu.RouteFAQ}, "怎么申请退款？"},
		{"How do I request a refund?", []kefu.Route{kefu.RouteFAQ}, "How do I request a refund?"},
		{"钱多久能退回来", answered, "退款多久能到账？"},
		{"我想查一下物流", answered, "我的快递到哪了？"},
		{"发票怎么开", answered, "怎么开发票？"},
		{"how long until my refund shows up", answered, "How long does a refund take?"},
		// Two FAQ entries (return policy, damaged items) fit about equally:
		// answering is optional here, a wrong answer is not.
		{"can I return an item I don't want anymore", append(answered, kefu.RouteUnknown), "What is your return policy?"},
		{"火星上有水吗", []kefu.Route{kefu.RouteUnknown}, ""},
		{"what's a good pasta recipe", []kefu.Route{kefu.RouteUnknown}, ""},
		{"我要投诉你们", []kefu.Route{kefu.RouteHandoff}, ""},
		{"转人工", []kefu.Route{kefu.RouteHandoff}, ""},
		{"I want to speak to a lawyer", []kefu.Route{kefu.RouteHandoff}, ""},
	} {
		ans, err := svc.Ask(context.Background(), kefu.AskRequest{KB: "shop", Question: c.q}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		ok := false
		for _, r := range c.routes {
			ok = ok || ans.Route == r
		}
		if !ok {
			t.Errorf("%q: route %s (confidence %.2f), want one of %v; text %q", c.q, ans.Route, ans.Confidence, c.routes, ans.Text)
			continue
		}
		if c.faq != "" && ans.Route != kefu.RouteUnknown && !strings.Contains(ans.Text, faq[c.faq]) {
			t.Errorf("%q: text %q does not hold the answer of %q", c.q, ans.Text, c.faq)
		}
		if c.faq == "" && ans.Route == kefu.RouteUnknown && len(ans.Citations) != 0 {
			t.Errorf("%q: an unknown answer cites %v", c.q, ans.Citations)
		}
		t.Logf("%-45q %-10s %.2f", c.q, ans.Route, ans.Confidence)
	}
	un, err := a.store.Unanswered(context.Background(), "shop", 50)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, r := range un {
		listed = append(listed, r.Question)
	}
	if !strings.Contains(strings.Join(listed, "|"), "火星上有水吗") {
		t.Errorf("unanswered questions %v lack the out-of-scope one", listed)
	}
}

// A follow-up is rewritten into a standalone query before retrieval.
func TestDemoFollowUp(t *testing.T) {
	a, e := demoApp(t)
	svc, err := a.answerer(a.retriever(e), answer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := svc.Ask(ctx, kefu.AskRequest{KB: "shop", Question: "怎么申请退款？", ConversationID: "c1"}, nil)
	if err != nil || first.Route != kefu.RouteFAQ {
		t.Fatalf("first question: %+v %v", first, err)
	}
	next, err := svc.Ask(ctx, kefu.AskRequest{KB: "shop", Question: "那运费呢？", ConversationID: "c1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("follow-up: query %q route %s confidence %.2f", next.Query, next.Route, next.Confidence)
	if next.Route == kefu.RouteHandoff {
		t.Errorf("follow-up handed off: %+v", next)
	}
}
