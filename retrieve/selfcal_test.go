package retrieve_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index"
	"github.com/kefu-dev/kefu/internal/testenv"
	"github.com/kefu-dev/kefu/retrieve"
)

// faqStore builds an embedded store with one FAQ KB, keyword search only
// (no embedding model: how Chinese is searched here), from entries of
// phrasings and answers.
func faqStore(t *testing.T, entries [][2][]string) (*index.Store, *retrieve.Retriever) {
	t.Helper()
	st, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.CreateKB(ctx, &kefu.KB{Name: "faq", Dim: 2, Settings: kefu.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	putEntries(t, st, "faq.csv", entries)
	return st, &retrieve.Retriever{Index: st, KBs: st}
}

func putEntries(t *testing.T, st *index.Store, docID string, entries [][2][]string) {
	t.Helper()
	chunks := make([]kefu.Chunk, len(entries))
	vecs := make([][][]float32, len(entries))
	for i, e := range entries {
		chunks[i] = kefu.Chunk{Kind: kefu.KindFAQ, Questions: e[0], Text: strings.Join(e[1], "")}
		chunks[i].Hash = chunks[i].ContentHash()
		for range chunks[i].EmbedTexts() {
			vecs[i] = append(vecs[i], []float32{1, 0}) // never searched: the retriever has no model
		}
	}
	doc := &kefu.Document{ID: docID, KB: "faq", Source: docID, Format: "csv", Hash: docID, Status: kefu.DocIndexed}
	if err := st.PutDocument(context.Background(), doc, chunks, vecs); err != nil {
		t.Fatal(err)
	}
}

// shopEntries reads the demo shop FAQ.
func shopEntries(t *testing.T) [][2][]string {
	f, err := os.Open(filepath.Join(testenv.Shared(t, "data/demo"), "shop_faq.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out [][2][]string
	for _, r := range rows[1:] {
		out = append(out, [2][]string{{r[0]}, {r[1]}})
	}
	return out
}

func confidence(t *testing.T, r *retrieve.Retriever, q string) float64 {
	t.Helper()
	res, err := r.Retrieve(context.Background(), "faq", kefu.Query{Text: q})
	if err != nil {
		t.Fatal(err)
	}
	return res.Confidence
}

// A KB calibrates itself from its content: the fit is measured on held-out
// questions, keeps the signs the features must have, answers the FAQ's
// own questions plainly and no near-miss or off-topic question.
func TestSelfCalibrate(t *testing.T) {
	st, r := faqStore(t, shopEntries(t))
	ctx := context.Background()
	kb, err := st.KB(ctx, "faq")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	cal, err := r.SelfCalibrate(ctx, kb, st, retrieve.SelfCalOptions{Observe: func(q, kind string, s retrieve.Sample) {
		if !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\nheld out: precision %.3f coverage %.3f ece %.3f", cal.FittedOn, cal.Precision, cal.Coverage, cal.ECE)
	if cal.Source != kefu.CalibrationSelf || cal.Samples < 400 || cal.Threshold != kefu.DefaultThreshold {
		t.Errorf("calibration %+v", cal)
	}
	if cal.Precision < 0.9 || cal.Coverage <= 0.05 {
		t.Errorf("held-out precision %.3f, coverage %.3f", cal.Precision, cal.Coverage)
	}
	for _, k := range []string{"as_written", "key_replaced", "slot_added", "answer_detail", "off_topic"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("no %s questions among %v", k, kinds)
		}
	}
	sign := map[string]int{}
	for _, f := range retrieve.SelfCalFeatures {
		sign[f.Name] = f.Sign
	}
	for i, f := range cal.Features {
		if w := cal.Weights[i]; w*float64(sign[f]) < 0 {
			t.Errorf("feature %s: weight %.3f against its sign %d", f, w, sign[f])
		}
	}
	kb.Settings.Calibration = cal
	if err := st.UpdateKB(ctx, kb); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"怎么申请退款？", "How do I request a refund?", "可以开增值税专用发票吗？"} {
		if c := confidence(t, r, q); c < kefu.DefaultThreshold {
			t.Errorf("the FAQ's own question %q: confidence %.3f", q, c)
		}
	}
	// Neither in the shipped off-topic questions nor made from the KB.
	for _, q := range []string{"量子计算机的原理是什么", "你们支持比特币支付吗", "How do I renew my passport?", "Can I pay with a cheque from abroad?"} {
		if c := confidence(t, r, q); c >= kefu.DefaultThreshold {
			t.Errorf("%q: confidence %.3f", q, c)
		}
	}
}

// A near-miss made by replacing an entry's key word is asked as if that
// entry were not in the KB: in a KB whose entries share no content word, it
// then holds none of the question, as a question about a thing the KB never
// mentions holds none of an unrelated entry.
func TestSelfCalibrateKeyReplacedLeavesItsSource(t *testing.T) {
	n := 0
	observeSelfCal(t, [][2][]string{
		{{"How do I reset my password?"}, {"Open the settings page and choose reset password."}},
		{{"When will my parcel arrive?"}, {"Parcels arrive within three working days."}},
		{{"Which languages does the manual cover?"}, {"The manual is printed in German and Spanish."}},
	}, func(q, kind string, s retrieve.Sample) {
		if kind != "key_replaced" {
			return
		}
		n++
		if s.Relevant || s.Features.QuestionCover > 0 || s.Features.Cover > 0 {
			t.Errorf("key_replaced %q: relevant %v, question cover %.2f, cover %.2f (its source was searched)", q, s.Relevant, s.Features.QuestionCover, s.Features.Cover)
		}
	})
	if n == 0 {
		t.Fatal("no key_replaced near-misses made")
	}
}

// The calibrator fits a KB once per content, again when it changes, and
// leaves a calibration fitted on labelled questions alone.
func TestCalibrator(t *testing.T) {
	st, r := faqStore(t, shopEntries(t))
	ctx := context.Background()
	c := &retrieve.Calibrator{Retriever: r, Store: st}
	first, err := c.Calibrate(ctx, "faq", false)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := st.KB(ctx, "faq")
	if kb.Settings.Calibration == nil || kb.Settings.Calibration.Fingerprint != first.Fingerprint || first.Fingerprint == "" {
		t.Fatalf("stored %+v", kb.Settings.Calibration)
	}
	again, err := c.Calibrate(ctx, "faq", false)
	if err != nil || !again.FittedAt.Equal(first.FittedAt) {
		t.Errorf("unchanged KB fitted again: %v %v", again.FittedAt, err)
	}
	putEntries(t, st, "more.csv", [][2][]string{{{"会员卡可以借给家人用吗？"}, {"会员权益仅限本人使用。"}}})
	third, err := c.Calibrate(ctx, "faq", false)
	if err != nil || third.Fingerprint == first.Fingerprint || !third.FittedAt.After(first.FittedAt) {
		t.Errorf("changed KB not fitted again: %+v %v", third, err)
	}
	kb, _ = st.KB(ctx, "faq")
	labelled := *third
	labelled.Source, labelled.FittedOn = kefu.CalibrationLabelled, "a team's questions"
	kb.Settings.Calibration = &labelled
	if err := st.UpdateKB(ctx, kb); err != nil {
		t.Fatal(err)
	}
	putEntries(t, st, "more2.csv", [][2][]string{{{"可以预约上门取件吗？"}, {"可以，在退货页面选择上门取件。"}}})
	if got, err := c.Calibrate(ctx, "faq", false); err != nil || got.FittedOn != "a team's questions" {
		t.Errorf("a labelled calibration was replaced: %+v %v", got, err)
	}
}

// A KB too small to calibrate keeps the default and is not tried again
// until it changes.
func TestCalibratorTinyKB(t *testing.T) {
	st, r := faqStore(t, [][2][]string{{{"怎么退款"}, {"在订单页申请。"}}})
	c := &retrieve.Calibrator{Retriever: r, Store: st}
	if _, err := c.Calibrate(context.Background(), "faq", false); err == nil {
		t.Fatal("a one-entry KB calibrated")
	}
	if kb, _ := st.KB(context.Background(), "faq"); kb.Settings.Calibration != nil {
		t.Errorf("calibration stored: %+v", kb.Settings.Calibration)
	}
}

// Words that one phrasing of an entry uses where another uses another, in
// several entries, are learned as synonyms.
func TestLearnSynonyms(t *testing.T) {
	st, r := faqStore(t, [][2][]string{
		{{"快递多久能到", "包裹多久能到"}, {"一般三天。"}},
		{{"快递丢了怎么办", "包裹丢了怎么办"}, {"联系客服补发。"}},
		{{"快递破损了", "包裹破损了"}, {"拍照申请理赔。"}},
		{{"发票怎么开"}, {"在订单页申请。"}},
	})
	kb, _ := st.KB(context.Background(), "faq")
	rules, err := r.LearnSynonyms(context.Background(), kb, st)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rules, "包裹, 快递") {
		t.Errorf("learned %v, want 包裹, 快递", rules)
	}
	for _, rule := range rules {
		if strings.Contains(rule, "发票") {
			t.Errorf("learned %q from an entry with one phrasing", rule)
		}
	}
}

// The dressed positives of an FAQ entry (framed, with common words, with
// context) say its question loosely, as customers do, not word for word:
// some drop its question word.
func TestSelfCalibrateDressedQuestionsAreLoose(t *testing.T) {
	dressed, loose := 0, 0
	observeSelfCal(t, [][2][]string{
		{{"How do I reset my password?"}, {"Open the settings page and choose reset password."}},
		{{"How can I track my parcel?"}, {"Parcels can be tracked on the orders page."}},
		{{"Which languages does the manual cover?"}, {"The manual is printed in German and Spanish."}},
	}, func(q, kind string, s retrieve.Sample) {
		if kind != "framed" && kind != "common_added" && kind != "context_added" {
			return
		}
		lq := strings.ToLower(q)
		if !strings.Contains(lq, "reset") || !strings.Contains(lq, "password") {
			return // another entry's
		}
		dressed++
		if !strings.Contains(lq, "how") {
			loose++
		}
	})
	if dressed < 3 {
		t.Fatalf("%d dressed questions of the password entry, want at least 3", dressed)
	}
	if loose == 0 {
		t.Errorf("none of %d dressed questions of %q drops its question word \"how\"", dressed, "How do I reset my password?")
	}
}

// observeSelfCal self-calibrates a KB of these FAQ entries (questions,
// answer) and calls observe with every question it makes.
func observeSelfCal(t *testing.T, entries [][2][]string, observe func(q, kind string, s retrieve.Sample)) {
	t.Helper()
	st, r := faqStore(t, entries)
	ctx := context.Background()
	kb, err := st.KB(ctx, "faq")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SelfCalibrate(ctx, kb, st, retrieve.SelfCalOptions{Observe: observe}); err != nil {
		t.Fatal(err)
	}
}
