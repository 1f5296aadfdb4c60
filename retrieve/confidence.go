package retrieve

import (
	"math"
	"slices"

	"github.com/kefu-dev/kefu"
)

// ComputeFeatures describes a search's candidates and its fused top hit for
// the confidence model.
func ComputeFeatures(query string, c *kefu.Candidates, hits []kefu.Hit) kefu.Features {
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
	if len(c.Vector) > 0 {
		f.VectorOn = 1
		if len(hits) > 0 {
			for _, s := range c.Vector {
				if s.ChunkID == hits[0].Chunk.ID {
					f.HitVector = s.Score
					break
				}
			}
		}
	}
	answerability(&f, c, hits)
	if len(hits) > 0 {
		f.Restated = restated(query, hits[0].Chunk)
	}
	return f
}

// Caps on the confidence that hold whatever a calibration says.
const (
	// OneWordCap bounds the confidence when the top hit holds at most one
	// of the query's content words and the vector side does not vouch for
	// it: a one-word overlap is never evidence enough to answer plainly,
	// however lonely the match.
	OneWordCap = 0.8
	// VouchCosine is the cosine at which the vector side vouches for a hit
	// (the encoder knows the query's language and finds it as close as a
	// paraphrase).
	VouchCosine = 0.8
	// restatedAll is the share of a question's characters and words a
	// query must hold to restate it (积分怎么用？ asked as 积分怎么用): then a
	// single word is the whole question, not a one-word overlap.
	restatedAll = 0.9
	// rivalMargin and rivalCover bound the keyword margin and cover margin
	// of a top hit with a rival about as good.
	rivalMargin = 0.1
	rivalCover  = 0.05
	// outcovered is how much more of the query's content another entry
	// may hold than the top hit before the top hit cannot be answered
	// plainly: the ranking and the words disagree.
	outcovered = 0.1
)

// Confidence maps features to the probability that the top hit is relevant,
// with the KB's calibration when it has one, else DefaultCalibration, and
// applies OneWordCap.
func Confidence(f kefu.Features, cal *kefu.Calibration) float64 {
	if cal == nil || len(cal.Weights) == 0 {
		cal = DefaultCalibration()
	}
	p := Predict(f, cal)
	if f.QueryTerms > 0 && f.Matched < 2 && f.HitVector < VouchCosine && f.Restated < restatedAll {
		p = min(p, OneWordCap)
	}
	if f.QueryTerms > 0 && f.CoverMargin < -outcovered {
		p = min(p, OneWordCap)
	}
	// A rival about as good: the two best documents score within
	// rivalMargin of each other and hold the query alike. Which one is
	// meant cannot be told from the words (a KB of near-duplicate
	// questions is full of these).
	if f.QueryTerms > 0 && f.KeywordMargin < rivalMargin && f.CoverMargin <= rivalCover &&
		f.Restated < restatedAll && f.HitVector < VouchCosine {
		p = min(p, OneWordCap)
	}
	return p
}

// Predict applies a logistic calibration to features.
func Predict(f kefu.Features, cal *kefu.Calibration) float64 {
	x := f.Vector()
	z := cal.Bias
	for i, name := range cal.Features {
		if i >= len(cal.Weights) {
			break
		}
		var v float64 // a feature this build does not know counts as 0
		if j := slices.Index(kefu.FeatureNames, name); j >= 0 {
			v = x[j]
		}
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

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// DefaultCalibration is the mapping a KB uses until `kefu eval --calibrate`
// fits its own: a logistic regression over the three features that do not
// depend on the embedding model or on the corpus' score scale (how much of
// the query the top hit covers, how far the best keyword hit leads the
// runner-up, whether both searches agree), fitted on the pooled train splits
// of the shared datasets (SciFact, 809 queries, and afqmc_faq_zh, 688) with
// use-lite-en. On their test splits it is conservative: SciFact precision
// 0.95 at 0.85 (coverage 0.07), afqmc_faq_zh never reaching 0.85. A KB of
// near-duplicate FAQ entries gets low confidence from it even for exact
// matches; calibrating the KB on a few dozen labelled questions fixes that
// (see EVAL.md).
func DefaultCalibration() *kefu.Calibration {
	return &kefu.Calibration{
		Kind:     "logistic",
		Features: []string{"coverage", "keyword_margin", "agreement"},
		Mean:     []float64{0.6214383885492777, 0.0886635458825244, 0.04676018704074816},
		Scale:    []float64{0.2112910290938951, 0.08460591630347732, 0.21112477814947495},
		Weights:  []float64{-0.10693655493383487, 0.4323333456103161, 0.577820752189587},
		Bias:     -0.6420093861082916,
		FittedOn: "default: scifact train + afqmc_faq_zh train, use-lite-en (retrieve.DefaultCalibration)",
		Samples:  809 + 688,
	}
}
