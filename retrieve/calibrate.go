package retrieve

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/kefu-dev/kefu"
)

// Sample is one query's confidence features and whether its top hit was
// relevant.
type Sample struct {
	Features kefu.Features
	Relevant bool
	// Weight is how much the sample counts in a fit; 0 counts as 1.
	Weight float64
}

func (s Sample) weight() float64 {
	if s.Weight > 0 {
		return s.Weight
	}
	return 1
}

// FitLogistic fits P(top hit relevant | features) by L2-regularised logistic
// regression over the named features (all of kefu.FeatureNames when nil),
// standardised first so the weights are comparable and the fit is well
// conditioned. It is written here rather than taken from a library: it is a
// few lines of Newton's method on at most a handful of features, and the
// product's confidence should not hinge on a numerical dependency.
func FitLogistic(samples []Sample, features []string, lambda float64) (*kefu.Calibration, error) {
	if len(features) == 0 {
		features = kefu.FeatureNames
	}
	pos := 0
	for _, s := range samples {
		if s.Relevant {
			pos++
		}
	}
	if len(samples) < 20 || pos == 0 || pos == len(samples) {
		return nil, kefu.Errorf(kefu.EINVALID, "calibration needs at least 20 queries with both relevant and irrelevant top hits (got %d, %d relevant)", len(samples), pos)
	}
	idx := make([]int, len(features))
	for i, f := range features {
		if idx[i] = slices.Index(kefu.FeatureNames, f); idx[i] < 0 {
			return nil, kefu.Errorf(kefu.EINVALID, "unknown feature %q", f)
		}
	}
	d := len(features)
	n := len(samples)
	x := make([][]float64, n)
	mean := make([]float64, d)
	scale := make([]float64, d)
	for i, s := range samples {
		v := s.Features.Vector()
		x[i] = make([]float64, d)
		for j := range features {
			x[i][j] = v[idx[j]]
			mean[j] += x[i][j]
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := range x {
		for j := range x[i] {
			scale[j] += (x[i][j] - mean[j]) * (x[i][j] - mean[j])
		}
	}
	for j := range scale {
		scale[j] = math.Sqrt(scale[j] / float64(n))
		if scale[j] < 1e-12 {
			scale[j] = 1 // a constant feature: its weight stays 0 under L2
		}
		for i := range x {
			x[i][j] = (x[i][j] - mean[j]) / scale[j]
		}
	}
	// Newton's method on [bias, w]; lambda penalises w only.
	w := make([]float64, d+1)
	for iter := 0; iter < 100; iter++ {
		grad := make([]float64, d+1)
		hess := make([][]float64, d+1)
		for k := range hess {
			hess[k] = make([]float64, d+1)
		}
		for i := range x {
			z := w[0]
			for j := 0; j < d; j++ {
				z += w[j+1] * x[i][j]
			}
			p := sigmoid(z)
			y := 0.0
			if samples[i].Relevant {
				y = 1
			}
			sw := samples[i].weight()
			r := (p - y) * sw
			q := math.Max(p*(1-p), 1e-9) * sw
			row := append([]float64{1}, x[i]...)
			for a := 0; a <= d; a++ {
				grad[a] += r * row[a]
				for b := 0; b <= d; b++ {
					hess[a][b] += q * row[a] * row[b]
				}
			}
		}
		for a := 1; a <= d; a++ {
			grad[a] += lambda * w[a]
			hess[a][a] += lambda
		}
		step, ok := solve(hess, grad)
		if !ok {
			return nil, kefu.Errorf(kefu.EINTERNAL, "calibration fit did not converge (singular system)")
		}
		maxStep := 0.0
		for a := range w {
			w[a] -= step[a]
			maxStep = math.Max(maxStep, math.Abs(step[a]))
		}
		if maxStep < 1e-9 {
			break
		}
	}
	return &kefu.Calibration{
		Kind: "logistic", Features: append([]string(nil), features...), Mean: mean, Scale: scale,
		Weights: w[1:], Bias: w[0], Samples: n, FittedAt: time.Now().UTC(),
	}, nil
}

// solve solves a·x = b by Gaussian elimination with partial pivoting.
func solve(a [][]float64, b []float64) ([]float64, bool) {
	n := len(b)
	m := make([][]float64, n)
	for i := range a {
		m[i] = append(append([]float64(nil), a[i]...), b[i])
	}
	for c := 0; c < n; c++ {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if math.Abs(m[p][c]) < 1e-12 {
			return nil, false
		}
		m[c], m[p] = m[p], m[c]
		for r := c + 1; r < n; r++ {
			f := m[r][c] / m[c][c]
			for k := c; k <= n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := m[r][n]
		for k := r + 1; k < n; k++ {
			s -= m[r][k] * x[k]
		}
		x[r] = s / m[r][r]
	}
	return x, true
}

// Bin is one bar of a reliability diagram.
type Bin struct {
	Lo, Hi     float64 `json:"-"`
	Range      string  `json:"range"`
	Count      int     `json:"count"`
	Confidence float64 `json:"confidence"` // mean predicted
	Accuracy   float64 `json:"accuracy"`   // share relevant
}

// CalibrationReport measures how well confidences match outcomes.
type CalibrationReport struct {
	ECE       float64 `json:"ece"`
	Threshold float64 `json:"threshold"`
	Precision float64 `json:"precision"` // relevant share among confidence ≥ threshold
	Coverage  float64 `json:"coverage"`  // share of queries with confidence ≥ threshold
	Confident int     `json:"confident"` // queries with confidence ≥ threshold
	Queries   int     `json:"queries"`
	Bins      []Bin   `json:"bins"`
	Source    string  `json:"source"` // which mapping produced the confidences
}

// PrecisionText is the precision at the threshold for reports: "n/a" when
// no query reached it.
func (r CalibrationReport) PrecisionText() string {
	if r.Confident == 0 {
		return "n/a (no query reached the threshold)"
	}
	return fmt.Sprintf("%.4f", r.Precision)
}

// Reliability bins confidences into ten equal-width bins and computes the
// expected calibration error and the precision and coverage at threshold.
func Reliability(conf []float64, relevant []bool, threshold float64) CalibrationReport {
	return WeightedReliability(conf, relevant, nil, threshold)
}

// WeightedReliability is Reliability with each query counting its weight
// (nil: 1 each), for samples drawn in other proportions than the traffic
// they stand for. Counts stay counts of queries.
func WeightedReliability(conf []float64, relevant []bool, weights []float64, threshold float64) CalibrationReport {
	const nb = 10
	r := CalibrationReport{Threshold: threshold, Queries: len(conf)}
	bins := make([]Bin, nb)
	binW := make([]float64, nb)
	for i := range bins {
		bins[i].Lo, bins[i].Hi = float64(i)/nb, float64(i+1)/nb
		bins[i].Range = fmt.Sprintf("%.1f-%.1f", bins[i].Lo, bins[i].Hi)
	}
	var total, confW, hitW float64
	for i, c := range conf {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		total += w
		b := min(int(c*nb), nb-1)
		bins[b].Count++
		binW[b] += w
		bins[b].Confidence += w * c
		if relevant[i] {
			bins[b].Accuracy += w
		}
		if c >= threshold {
			r.Confident++
			confW += w
			if relevant[i] {
				hitW += w
			}
		}
	}
	for i := range bins {
		if w := binW[i]; w > 0 {
			bins[i].Confidence /= w
			bins[i].Accuracy /= w
			r.ECE += w / total * math.Abs(bins[i].Accuracy-bins[i].Confidence)
		}
	}
	r.Bins = bins
	if total > 0 {
		r.Coverage = confW / total
	}
	if confW > 0 {
		r.Precision = hitW / confW
	}
	return r
}
