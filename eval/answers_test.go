package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSeparationHandComputed checks the ceiling and AUROC on rows worked
// out by hand.
func TestSeparationHandComputed(t *testing.T) {
	rows := []AnswerRow{
		{Kind: "paraphrase", Right: true, Confidence: 0.95},
		{Kind: "paraphrase", Right: true, Confidence: 0.70},
		{Kind: "paraphrase", Right: true, Confidence: 0.60}, // ties a negative
		{Kind: "paraphrase", Right: false, Confidence: 0.90},
		{Kind: "exact", Right: true, Confidence: 0.99},
		{Kind: "handoff", Handoff: true, None: true}, // neither side
		{Kind: "near_miss", None: true, Confidence: 0.80},
		{Kind: "off_topic", None: true, Confidence: 0.60},
	}
	sep := separationOf(rows, func(r *AnswerRow) bool { return r.Kind == "paraphrase" })
	// Four answerable paraphrases; one right answer (0.95) is above the
	// most confident negative (0.80). Pairs of a right answer and a
	// negative: 0.95 beats both (2), 0.70 beats one (1), 0.60 ties one and
	// loses one (0.5): 3.5 of 6.
	want := Separation{Answerable: 4, Negatives: 2, MaxNegative: 0.80, Ceiling: 0.25, AUROC: 3.5 / 6}
	if sep != want {
		t.Fatalf("got %+v, want %+v", sep, want)
	}
	all := separationOf(rows, func(*AnswerRow) bool { return true })
	if all.Answerable != 5 || all.Ceiling != 2.0/5 {
		t.Fatalf("all: got %+v, want 5 answerable and ceiling 0.4", all)
	}
	if none := separationOf(rows[:5], func(*AnswerRow) bool { return true }); none.Negatives != 0 || none.AUROC != 0 {
		t.Fatalf("without negatives: got %+v", none)
	}
}

// TestSeparationAUROCAgainstPairs compares AUROC with a count over every
// pair, on random confidences with many ties.
func TestSeparationAUROCAgainstPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		var rows []AnswerRow
		for range 1 + r.IntN(40) {
			rows = append(rows, AnswerRow{Right: r.IntN(4) > 0, Confidence: float64(r.IntN(20)) / 20})
		}
		for range 1 + r.IntN(40) {
			rows = append(rows, AnswerRow{None: true, Confidence: float64(r.IntN(20)) / 20})
		}
		wins, n := 0.0, 0
		for _, a := range rows {
			if a.None || !a.Right {
				continue
			}
			for _, b := range rows {
				if !b.None {
					continue
				}
				n++
				switch {
				case a.Confidence > b.Confidence:
					wins++
				case a.Confidence == b.Confidence:
					wins += 0.5
				}
			}
		}
		sep := separationOf(rows, func(*AnswerRow) bool { return true })
		if n == 0 {
			continue
		}
		if got, want := sep.AUROC, wins/float64(n); math.Abs(got-want) > 1e-12 {
			t.Fatalf("AUROC %v, pairs say %v", got, want)
		}
	}
}
