package retrieve

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kefu-dev/kefu"
)

// trueP is the known model the samples are drawn from.
func trueP(f kefu.Features) float64 { return sigmoid(-3 + 4*f.Coverage + 2*f.Agreement) }

// drawn samples from trueP.
func drawn(r *rand.Rand, n int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		f := kefu.Features{Coverage: r.Float64(), TopVector: r.Float64()}
		if r.Float64() < 0.4 {
			f.Agreement = 1
		}
		out[i] = Sample{Features: f, Relevant: r.Float64() < trueP(f)}
	}
	return out
}

func TestFitLogisticRecoversKnownModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	train := drawn(r, 20000)
	cal, err := FitLogistic(train, []string{"coverage", "agreement", "top_vector"}, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	// Back from standardised to raw weights: w_raw = w / scale.
	raw := func(i int) float64 { return cal.Weights[i] / cal.Scale[i] }
	if math.Abs(raw(0)-4) > 0.3 || math.Abs(raw(1)-2) > 0.2 || math.Abs(raw(2)) > 0.2 {
		t.Errorf("raw weights %.3f %.3f %.3f, want about 4, 2, 0", raw(0), raw(1), raw(2))
	}
	// On fresh samples the fitted probabilities are the true model's, so
	// the confidence is calibrated: at 0.85 and above, 85% are relevant.
	worst, confident, hit := 0.0, 0, 0
	for _, s := range drawn(r, 20000) {
		p := Predict(s.Features, cal)
		worst = max(worst, math.Abs(p-trueP(s.Features)))
		if p >= 0.85 {
			confident++
			if s.Relevant {
				hit++
			}
		}
	}
	if worst > 0.03 {
		t.Errorf("fitted probability off the true one by up to %.4f", worst)
	}
	if confident > 0 && float64(hit)/float64(confident) < 0.85 {
		t.Errorf("precision at 0.85 is %.3f", float64(hit)/float64(confident))
	}
}

func TestFitLogisticRefusesDegenerateData(t *testing.T) {
	s := make([]Sample, 50)
	if _, err := FitLogistic(s, nil, 1); err == nil {
		t.Error("all-irrelevant samples must be refused")
	}
	if _, err := FitLogistic(s[:5], nil, 1); err == nil {
		t.Error("5 samples must be refused")
	}
}

func TestReliabilityHandComputed(t *testing.T) {
	// Bin 0.9-1.0: 0.95, 0.95 (one relevant): conf 0.95, acc 0.5.
	// Bin 0.1-0.2: 0.15, 0.15 (none relevant): conf 0.15, acc 0.
	conf := []float64{0.95, 0.95, 0.15, 0.15}
	rel := []bool{true, false, false, false}
	r := Reliability(conf, rel, 0.85)
	want := 0.5*math.Abs(0.5-0.95) + 0.5*math.Abs(0-0.15)
	if math.Abs(r.ECE-want) > 1e-12 {
		t.Errorf("ECE %v, want %v", r.ECE, want)
	}
	if r.Coverage != 0.5 || r.Precision != 0.5 || r.Confident != 2 {
		t.Errorf("coverage %v precision %v confident %d", r.Coverage, r.Precision, r.Confident)
	}
	if r.Bins[9].Count != 2 || r.Bins[1].Count != 2 {
		t.Errorf("bins %+v", r.Bins)
	}
}
