package retrieve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/kefu-dev/kefu"
)

// CalibrationStore is what a Calibrator reads and writes: KBs, their
// settings and their content.
type CalibrationStore interface {
	kefu.KBReader
	ContentReader
	KBs(ctx context.Context) ([]*kefu.KB, error)
	UpdateKB(ctx context.Context, kb *kefu.KB) error
}

// Calibrator keeps the self-calibration of every KB current: when a KB's
// content or its matching settings change, it learns the KB's synonyms from
// its FAQ phrasings and fits its confidence again (SelfCalibrate), in the
// background, one KB at a time, once the KB has been quiet for a while — so
// an upload of many files is fitted once, after it, and never waits for it.
// A calibration fitted on labelled questions (kefu eval --calibrate) is
// left alone.
type Calibrator struct {
	Retriever *Retriever
	Store     CalibrationStore
	Logger    *slog.Logger
	// Interval is how often every KB is looked at (default 30 s); Changed
	// makes it look at one at once.
	Interval time.Duration
	// Quiet is how long a KB's version must stay put before it is fitted
	// (default 3 s).
	Quiet   time.Duration
	Options SelfCalOptions

	once   sync.Once
	kick   chan string
	mu     sync.Mutex
	seen   map[string]uint64 // KB → version last found calibrated (or not calibratable)
	active string            // the KB being fitted, for Status
}

func (c *Calibrator) init() {
	c.once.Do(func() {
		c.kick = make(chan string, 64)
		c.seen = map[string]uint64{}
		if c.Interval <= 0 {
			c.Interval = 30 * time.Second
		}
		if c.Quiet <= 0 {
			c.Quiet = 3 * time.Second
		}
		if c.Logger == nil {
			c.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

// Changed tells the calibrator that kb changed (an ingest job ended, a
// document was deleted). It does not block.
func (c *Calibrator) Changed(kb string) {
	c.init()
	select {
	case c.kick <- kb:
	default:
	}
}

// Fitting returns the KB being fitted now, or "".
func (c *Calibrator) Fitting() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active
}

// Run checks every KB now and every Interval, and a KB at once when
// Changed names it, until ctx ends.
func (c *Calibrator) Run(ctx context.Context) {
	c.init()
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	c.sweep(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.sweep(ctx)
		case name := <-c.kick:
			c.settle(ctx, name)
		}
	}
}

func (c *Calibrator) sweep(ctx context.Context) {
	kbs, err := c.Store.KBs(ctx)
	if err != nil {
		c.Logger.Warn("self-calibration: listing knowledge bases", "err", err)
		return
	}
	for _, kb := range kbs {
		if ctx.Err() != nil {
			return
		}
		c.settle(ctx, kb.Name)
	}
}

// settle waits for kb to be quiet, then fits it if it needs it.
func (c *Calibrator) settle(ctx context.Context, name string) {
	var last uint64
	for {
		kb, err := c.Store.KB(ctx, name)
		if err != nil {
			return // deleted meanwhile, or the store is closing
		}
		c.mu.Lock()
		seen, ok := c.seen[name]
		c.mu.Unlock()
		if ok && seen == kb.Version {
			return
		}
		if kb.Version == last {
			break
		}
		last = kb.Version
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.Quiet):
		}
	}
	if _, err := c.Calibrate(ctx, name, false); err != nil && ctx.Err() == nil {
		c.Logger.Info("self-calibration skipped", "kb", name, "reason", err.Error())
	}
}

// Calibrate brings kb's self-calibration up to date now: nothing happens
// when its calibration was fitted on labelled questions, or on exactly its
// present content and settings, unless force. It returns the calibration in
// force afterwards.
func (c *Calibrator) Calibrate(ctx context.Context, name string, force bool) (*kefu.Calibration, error) {
	c.init()
	kb, err := c.Store.KB(ctx, name)
	if err != nil {
		return nil, err
	}
	done := func(version uint64) {
		c.mu.Lock()
		c.seen[name] = version
		c.mu.Unlock()
	}
	cal := kb.Settings.Calibration
	if cal != nil && Labelled(cal) && !force {
		done(kb.Version)
		return cal, nil
	}
	fp, err := Fingerprint(ctx, c.Store, kb)
	if err != nil {
		return nil, err
	}
	if cal != nil && cal.Fingerprint == fp && !force {
		done(kb.Version)
		return cal, nil
	}
	c.mu.Lock()
	c.active = name
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.active = ""
		c.mu.Unlock()
	}()
	start := time.Now()
	learned, err := c.Retriever.LearnSynonyms(ctx, kb, c.Store)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(learned, kb.Settings.LearnedSynonyms) {
		if kb, err = c.update(ctx, name, func(s *kefu.KBSettings) { s.LearnedSynonyms = learned }); err != nil {
			return nil, err
		}
	}
	fitted, err := c.Retriever.SelfCalibrate(ctx, kb, c.Store, c.Options)
	if err != nil {
		done(kb.Version) // not calibratable as it is (too little content): wait for a change
		return kb.Settings.Calibration, err
	}
	fitted.Fingerprint = fp
	kb, err = c.update(ctx, name, func(s *kefu.KBSettings) { s.Calibration = fitted })
	if err != nil {
		return nil, err
	}
	done(kb.Version)
	c.Logger.Info("self-calibrated", "kb", name, "questions", fitted.Samples, "precision", fitted.Precision,
		"coverage", fitted.Coverage, "ms", time.Since(start).Milliseconds())
	return fitted, nil
}

// update changes a KB's settings on a fresh read of the KB, so that a
// change made while fitting is not undone.
func (c *Calibrator) update(ctx context.Context, name string, change func(*kefu.KBSettings)) (*kefu.KB, error) {
	kb, err := c.Store.KB(ctx, name)
	if err != nil {
		return nil, err
	}
	change(&kb.Settings)
	if err := c.Store.UpdateKB(ctx, kb); err != nil {
		return nil, err
	}
	return kb, nil
}

// Labelled reports whether a calibration was fitted on labelled questions
// (alone or mixed with self-calibration), which self-calibration then does
// not replace. Calibrations stored before there were sources were all fitted
// on labelled questions.
func Labelled(cal *kefu.Calibration) bool {
	return cal.Source != kefu.CalibrationSelf
}

// Fingerprint identifies what a self-calibration depends on: the KB's
// documents (ids, content hashes, states), its model and the settings that
// change matching (fusion, synonyms, lexicon, reranker).
func Fingerprint(ctx context.Context, content ContentReader, kb *kefu.KB) (string, error) {
	docs, err := content.Documents(ctx, kb.Name)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	type docKey struct {
		ID, Hash string
		Status   kefu.DocStatus
	}
	keys := make([]docKey, len(docs))
	for i, d := range docs {
		keys[i] = docKey{d.ID, d.Hash, d.Status}
	}
	slices.SortFunc(keys, func(a, b docKey) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	s := kb.Settings
	enc := json.NewEncoder(h)
	for _, v := range []any{keys, kb.Model, s.Fusion, s.Synonyms, s.Lexicon, s.Reranker, selfCalVersion} {
		if err := enc.Encode(v); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}

// selfCalVersion changes whenever self-calibration or the features change,
// so that KBs are fitted again by the new code.
const selfCalVersion = "2026-12-07.1"
