package retrieve

import (
	"math"

	"github.com/kefu-dev/kefu"
)

// ComputeFeatures describes a search's candidates and its fused top hit for
// the confidence model.
func ComputeFeatures(c *kefu.Candidates, hits []kefu.Hit) kefu.Features {
	var f kefu.Features
	if len(c.Vector) > 0 {
		f.TopVector = c.Vector[0].Score
		if len(c.Vector) > 1 {
			f.VectorMargin = c.Vector[0].Score - c.Vector[1].Score
		} else {
			f.VectorMargin = c.Vector[0].Score
		}
	}
	if len(c.Keyword) > 0 {
		f.TopKeyword = c.Keyword[0].Score
		if top := c.Keyword[0].Score; top > 0 {
			if len(c.Keyword) > 1 {
				f.KeywordMargin = (top - c.Keyword[1].Score) / top
			} else {
				f.KeywordMargin = 1
			}
		}
	}
	if len(c.Keyword) > 0 && len(c.Vector) > 0 && c.Keyword[0].ChunkID == c.Vector[0].ChunkID {
		f.Agreement = 1
	}
	if len(hits) > 0 {
		top := hits[0].Chunk.ID
		for _, s := range c.Keyword {
			if s.ChunkID == top {
				f.Coverage = s.Coverage
				break
			}
		}
	}
	f.QueryTerms = float64(len(c.Terms))
	return f
}

// Confidence maps features to the probability that the top hit is relevant,
// with the KB's calibration when it has one, else DefaultCalibration.
func Confidence(f kefu.Features, cal *kefu.Calibration) float64 {
	if cal == nil || len(cal.Weights) == 0 {
		cal = DefaultCalibration()
	}
	return Predict(cal, f)
}

// Predict applies a logistic calibration to features.
func Predict(cal *kefu.Calibration, f kefu.Features) float64 {
	x := featureMap(f)
	z := cal.Bias
	for i, name := range cal.Features {
		if i >= len(cal.Weights) {
			break
		}
		v := x[name]
		if i < len(cal.Mean) {
			v -= cal.Mean[i]
		}
		if i < len(cal.Scale) && cal.Scale[i] > 0 {
			v /= cal.Scale[i]
		}
		z += cal.Weights[i] * v
	}
	return sigmoid(z)
}

func featureMap(f kefu.Features) map[string]float64 {
	v := f.Vector()
	m := make(map[string]float64, len(v))
	for i, name := range kefu.FeatureNames {
		m[name] = v[i]
	}
	return m
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// DefaultCalibration is the mapping a KB uses until `kefu eval --calibrate`
// fits its own. It relies only on features that do not depend on the
// embedding model or the corpus' score scale: how much of the query the top
// keyword hit covers, how far it leads the runner-up, and whether both
// searches agree.
func DefaultCalibration() *kefu.Calibration {
	return &kefu.Calibration{
		Kind:     "logistic",
		Features: []string{"coverage", "keyword_margin", "agreement"},
		Mean:     []float64{0, 0, 0},
		Scale:    []float64{1, 1, 1},
		Weights:  []float64{6, 3, 1},
		Bias:     -4.5,
		FittedOn: "default (hand-set; see retrieve.DefaultCalibration)",
	}
}
