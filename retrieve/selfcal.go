package retrieve

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/text"
)

// ContentReader lists a KB's documents and chunks, which self-calibration
// makes its questions from. kefu.Store implements it.
type ContentReader interface {
	Documents(ctx context.Context, kb string) ([]*kefu.Document, error)
	Chunks(ctx context.Context, kb, docID string) ([]*kefu.Chunk, error)
}

// SelfCalOptions configure SelfCalibrate. The zero value is the default.
type SelfCalOptions struct {
	// MaxItems bounds the FAQ entries and passages questions are made from
	// (default 300, sampled evenly when the KB has more).
	MaxItems int
	// MaxQuestions bounds the questions made from them (default 1500,
	// sampled evenly), which bounds the time a fit takes.
	MaxQuestions int
	// OffTopic are questions no KB of a shop, a product or a service
	// answers; nil means OffTopicQuestions.
	OffTopic []string
	// Labelled are a team's labelled samples, mixed into the fit.
	Labelled []Sample
	// Threshold is where precision and coverage are measured (default
	// kefu.DefaultThreshold).
	Threshold float64
	// Progress, when set, is called as questions are asked.
	Progress func(done, total int)
	// Observe, when set, sees every generated question with how it was
	// made and its sample (for inspection and reports).
	Observe func(question, kind string, s Sample)
}

// SelfCalFeatures are the features a self-calibration fits on, and the sign
// each weight must have: +1 where more of the feature can only mean a better
// answer, -1 where it can only mean a worse one, 0 where either may hold. A
// fitted weight of the wrong sign is a quirk of the generated questions, not
// a property of answers, so its feature is dropped and the fit redone.
var SelfCalFeatures = []struct {
	Name string
	Sign int
}{
	{"question_cover", +1}, {"answer_cover", +1}, {"cover", +1}, {"unknown", -1}, {"unknown_specific", -1}, {"missing", -1}, {"evidence", +1}, {"char_cover", +1},
	{"matched", +1}, {"content", 0}, {"cover_margin", +1}, {"qa_agreement", +1},
	{"keyword_margin", +1}, {"agreement", +1}, {"vector_on", 0}, {"hit_vector", +1}, {"vector_margin", +1}, {"restated", +1},
}

// probe is one generated question with what answers it: an FAQ entry or a
// passage's document, or nothing.
type probe struct {
	text  string
	chunk string // the FAQ entry that answers it; "" for passages and negatives
	doc   string // the document that answers it (passages); "" otherwise
	kind  string // how it was made, for the report
	group int    // 0 or 1: the half it is measured in when held out
	// leave is the chunk a key_replaced near-miss was made from, left out
	// of the search it is asked in (see generator.ask); "" otherwise.
	leave string
}

// SelfCalibrate fits kb's confidence from its own content, with no labelled
// questions. It asks the KB questions whose answers are known: each FAQ
// phrasing as written, shortened, reworded with synonyms and framed as
// people type; sentences and headings of passages. And questions it cannot
// answer: near-misses made from its own entries (the key term replaced by
// one the KB never mentions, a slot added that it does not cover) and
// off-topic questions. A logistic fit over the answerability and ranking
// features of SelfCalFeatures maps them to the probability that the top hit
// answers. Held-out precision and coverage are measured by fitting on the
// questions of half the entries and testing on the other half, each way.
func (r *Retriever) SelfCalibrate(ctx context.Context, kb *kefu.KB, content ContentReader, opts SelfCalOptions) (*kefu.Calibration, error) {
	start := time.Now()
	if opts.MaxItems <= 0 {
		opts.MaxItems = 300
	}
	if opts.MaxQuestions <= 0 {
		opts.MaxQuestions = 1500
	}
	if opts.OffTopic == nil {
		opts.OffTopic = OffTopicQuestions()
	}
	if opts.Threshold <= 0 {
		opts.Threshold = kefu.DefaultThreshold
	}
	g := &generator{r: r, kb: kb, rng: rand.New(rand.NewPCG(fnvHash(kb.Name), 1)), known: map[string]bool{}}
	items, err := g.items(ctx, content, opts.MaxItems)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "knowledge base %q has no content to calibrate on", kb.Name)
	}
	probes, err := g.probes(ctx, items)
	if err != nil {
		return nil, err
	}
	if len(probes) > opts.MaxQuestions {
		step := float64(len(probes)) / float64(opts.MaxQuestions)
		kept := make([]probe, 0, opts.MaxQuestions)
		for i := range opts.MaxQuestions {
			kept = append(kept, probes[int(float64(i)*step)])
		}
		probes = kept
	}
	for i, q := range opts.OffTopic {
		probes = append(probes, probe{text: q, kind: "off_topic", group: i % 2})
	}
	samples := make([]Sample, 0, len(probes))
	groups := make([]int, 0, len(probes))
	families := make([]string, 0, len(probes))
	sampleKinds := make([]string, 0, len(probes))
	kinds := map[string]int{}
	for i, p := range probes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if opts.Progress != nil && i%50 == 0 {
			opts.Progress(i, len(probes))
		}
		c, res, err := g.ask(ctx, p.text, p.leave)
		if err != nil {
			return nil, err
		}
		if res == nil {
			continue // nothing the keyword side could analyse
		}
		if p.kind == "off_topic" && len(res.Hits) > 0 && res.Features.Cover >= 0.75 && res.Features.Unknown == 0 {
			continue // this KB may well answer it
		}
		_ = c
		rel := false
		if len(res.Hits) > 0 {
			top := res.Hits[0].Chunk
			rel = p.chunk != "" && top.ID == p.chunk || p.doc != "" && top.DocID == p.doc
		}
		samples = append(samples, Sample{Features: res.Features, Relevant: rel})
		if opts.Observe != nil {
			opts.Observe(p.text, p.kind, samples[len(samples)-1])
		}
		groups = append(groups, p.group)
		families = append(families, family(p))
		sampleKinds = append(sampleKinds, p.kind)
		kinds[p.kind]++
	}
	weigh(samples, families, sampleKinds)
	if opts.Progress != nil {
		opts.Progress(len(probes), len(probes))
	}

	// Held out: fit on one half, measure on the other, both ways.
	var conf, weights []float64
	var relevant []bool
	for held := 0; held < 2; held++ {
		var train, test []Sample
		for i, s := range samples {
			if groups[i] == held {
				test = append(test, s)
			} else {
				train = append(train, s)
			}
		}
		cal, err := fitSigned(append(train, opts.Labelled...))
		if err != nil {
			return nil, err
		}
		for _, s := range test {
			conf = append(conf, Confidence(s.Features, cal))
			relevant = append(relevant, s.Relevant)
			weights = append(weights, s.weight())
		}
	}
	// Measured in the proportions the fit assumes traffic has (familyShare).
	held := WeightedReliability(conf, relevant, weights, opts.Threshold)
	cal, err := fitSigned(append(samples, opts.Labelled...))
	if err != nil {
		return nil, err
	}
	pos := 0
	for _, s := range samples {
		if s.Relevant {
			pos++
		}
	}
	cal.Source = kefu.CalibrationSelf
	if len(opts.Labelled) > 0 {
		cal.Source = kefu.CalibrationMixed
	}
	cal.Model = kb.Model
	cal.Samples = len(samples) + len(opts.Labelled)
	cal.ECE = held.ECE
	cal.Precision, cal.Coverage, cal.Threshold = held.Precision, held.Coverage, opts.Threshold
	cal.FittedOn = fmt.Sprintf("self-calibration of %q: %d questions made from %d entries and passages (%d answered by their source), %d off-topic; %s",
		kb.Name, len(samples), len(items), pos, kinds["off_topic"], kindSummary(kinds))
	cal.Version = kb.Version
	cal.Took = time.Since(start).Round(time.Millisecond).String()
	return cal, nil
}

// Families of probes and the share of the fit's weight each gets, whatever
// their numbers: questions the KB answers as much as those it does not, and
// among these, near-misses made from its own entries as much as off-topic
// ones (which are many and easy).
var familyShare = map[string]float64{"answerable": 0.8, "near_miss": 0.1, "off_topic": 0.1}

func family(p probe) string {
	switch {
	case p.kind == "off_topic":
		return "off_topic"
	case p.chunk == "" && p.doc == "":
		return "near_miss"
	}
	return "answerable"
}

// weigh gives each family its share of the weight, split evenly between
// the kinds of questions in it: a few hard fragments count as much as many
// easy rewordings.
func weigh(samples []Sample, families, kinds []string) {
	perKind := map[string]int{}
	kindsOf := map[string]map[string]bool{}
	for i, f := range families {
		perKind[kinds[i]]++
		if kindsOf[f] == nil {
			kindsOf[f] = map[string]bool{}
		}
		kindsOf[f][kinds[i]] = true
	}
	for i, f := range families {
		samples[i].Weight = familyShare[f] * float64(len(samples)) / float64(len(kindsOf[f])*perKind[kinds[i]])
	}
}

func kindSummary(kinds map[string]int) string {
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, kinds[k])
	}
	return strings.Join(parts, ", ")
}

// fitSigned fits SelfCalFeatures and drops, one at a time, a feature whose
// weight has the wrong sign.
func fitSigned(samples []Sample) (*kefu.Calibration, error) {
	names := make([]string, 0, len(SelfCalFeatures))
	sign := map[string]int{}
	for _, f := range SelfCalFeatures {
		names = append(names, f.Name)
		sign[f.Name] = f.Sign
	}
	for {
		cal, err := FitLogistic(samples, names, selfCalLambda)
		if err != nil {
			return nil, err
		}
		worst, worstW := -1, 0.0
		for i, w := range cal.Weights {
			if s := sign[cal.Features[i]]; s != 0 && w*float64(s) < 0 && -w*float64(s) > worstW {
				worst, worstW = i, -w*float64(s)
			}
		}
		if worst < 0 {
			return cal, nil
		}
		names = slices.Delete(names, worst, worst+1)
	}
}

func fnvHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// generator makes and asks the questions of one self-calibration.
type generator struct {
	r      *Retriever
	kb     *kefu.KB
	rng    *rand.Rand
	known  map[string]bool // analysed words: does the KB hold them?
	slots  []slot          // near-miss material the KB never mentions
	common []string        // the KB's commonest content words
}

// item is an FAQ entry or a passage questions are made from.
type item struct {
	chunk *kefu.Chunk
	group int
}

// items lists up to max FAQ entries and passages, spread over the KB.
func (g *generator) items(ctx context.Context, content ContentReader, max int) ([]item, error) {
	docs, err := content.Documents(ctx, g.kb.Name)
	if err != nil {
		return nil, err
	}
	var all []*kefu.Chunk
	for _, d := range docs {
		if d.Status != kefu.DocIndexed {
			continue
		}
		cs, err := content.Chunks(ctx, g.kb.Name, d.ID)
		if err != nil {
			return nil, err
		}
		all = append(all, cs...)
		if len(all) > 50*max {
			break // enough to sample from
		}
	}
	if len(all) > max {
		step := float64(len(all)) / float64(max)
		picked := make([]*kefu.Chunk, 0, max)
		for i := range max {
			picked = append(picked, all[int(float64(i)*step)])
		}
		all = picked
	}
	out := make([]item, len(all))
	for i, c := range all {
		out[i] = item{chunk: c, group: int(fnvHash(c.ID) % 2)}
	}
	return out, nil
}

// ask runs a question through the online path with the KB's settings, as
// if chunk leave (when not "") were not in the KB.
func (g *generator) ask(ctx context.Context, q, leave string) (*kefu.Candidates, *kefu.Retrieval, error) {
	query, fusion, err := prepare(g.kb, kefu.Query{Text: q, K: 10})
	if err != nil {
		return nil, nil, err
	}
	c, err := g.r.Candidates(ctx, g.kb, query, fusion)
	if err != nil {
		return nil, nil, err
	}
	if leave != "" {
		drop := func(s kefu.Scored) bool { return s.ChunkID == leave }
		c.Keyword = slices.DeleteFunc(c.Keyword, drop)
		c.Vector = slices.DeleteFunc(c.Vector, drop)
	}
	if len(c.QueryTerms) == 0 {
		return c, nil, nil
	}
	res, err := g.r.Rank(ctx, g.kb, c, query, fusion)
	return c, res, err
}

// words analyses text through the KB's keyword index.
func (g *generator) words(ctx context.Context, s string) ([]kefu.QueryTerm, error) {
	c, err := g.r.Index.Search(ctx, g.kb.Name, kefu.SearchRequest{Query: s, K: 1})
	if err != nil {
		return nil, err
	}
	for _, t := range c.QueryTerms {
		if t.Kind == kefu.TermWord {
			g.known[t.Text] = t.DF > 0
		}
	}
	return c.QueryTerms, nil
}

// phrase is a text as its words: surfaces in order, with flags.
type phrase struct {
	words    []kefu.QueryTerm // words only, in order
	synonyms map[int][]string // word index → synonym surfaces
	zh       bool
}

func (g *generator) phraseOf(ctx context.Context, s string) (phrase, error) {
	ts, err := g.words(ctx, s)
	if err != nil {
		return phrase{}, err
	}
	p := phrase{synonyms: map[int][]string{}, zh: text.Lang(s) == "zh"}
	at := map[int]int{}
	for i, t := range ts {
		if t.Kind == kefu.TermWord {
			at[i] = len(p.words)
			p.words = append(p.words, t)
		}
	}
	// Rewordings keep to the phrase's language: a customer rewords in the
	// words of the language they write in (the bilingual lexicon's
	// translations would make a question the other language's entry
	// answers as well).
	for _, t := range ts {
		if t.Kind == kefu.TermSynonym && len(t.For) == 1 && t.DF > 0 && text.HasHan(t.Surface) == p.zh {
			if j, ok := at[t.For[0]]; ok {
				p.synonyms[j] = append(p.synonyms[j], t.Surface)
			}
		}
	}
	return p, nil
}

func (p phrase) join(words []string) string {
	if p.zh {
		return strings.Join(words, "")
	}
	return strings.Join(words, " ")
}

func (p phrase) surfaces() []string {
	out := make([]string, len(p.words))
	for i, w := range p.words {
		out[i] = w.Surface
	}
	return out
}

// content returns the indexes of the content words, rarest first.
func (p phrase) content() []int {
	var out []int
	for i, w := range p.words {
		if !w.Function {
			out = append(out, i)
		}
	}
	slices.SortStableFunc(out, func(a, b int) int {
		da, db := p.words[a].DF, p.words[b].DF
		if da == 0 {
			da = 1 << 30
		}
		if db == 0 {
			db = 1 << 30
		}
		return da - db
	})
	return out
}

// holds reports whether the phrase has the analysed word.
func (p phrase) holds(term string) bool {
	for _, w := range p.words {
		if w.Text == term {
			return true
		}
	}
	return false
}

// key returns the index of the rarest content word the KB knows, or -1.
func (p phrase) key() int {
	for _, i := range p.content() {
		if p.words[i].DF > 0 {
			return i
		}
	}
	return -1
}

// commonWords returns up to n of the KB's common content words (held by
// many chunks, in the script of the question) that chunk c does not hold,
// picked at random.
func (g *generator) commonWords(zh bool, c *kefu.Chunk, n int) []string {
	text := strings.ToLower(c.ContextText() + " " + strings.Join(c.Questions, " "))
	var fit []string
	for _, w := range g.common {
		if (text2lang(w) == "zh") == zh && !strings.Contains(text, strings.ToLower(w)) {
			fit = append(fit, w)
		}
	}
	if len(fit) == 0 {
		return nil
	}
	g.rng.Shuffle(len(fit), func(i, j int) { fit[i], fit[j] = fit[j], fit[i] })
	return fit[:min(n, len(fit), 1+g.rng.IntN(n))]
}

func text2lang(s string) string { return text.Lang(s) }

// loadCommon finds the KB's common content words: those of its FAQ
// questions and passages held by the most chunks.
func (g *generator) loadCommon(ctx context.Context, items []item) error {
	df := map[string]int{}
	surf := map[string]string{}
	for i, it := range items {
		if i == 200 {
			break
		}
		s := it.chunk.ContextText()
		if len(it.chunk.Questions) > 0 {
			s = strings.Join(it.chunk.Questions, "\n") + "\n" + it.chunk.Text
		}
		ts, err := g.words(ctx, s)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t.Kind == kefu.TermWord && !t.Function && t.DF > 1 {
				df[t.Text] = t.DF
				surf[t.Text] = t.Surface
			}
		}
	}
	words := make([]string, 0, len(df))
	for w := range df {
		words = append(words, w)
	}
	slices.SortFunc(words, func(a, b string) int {
		if df[a] != df[b] {
			return df[b] - df[a]
		}
		return strings.Compare(a, b)
	})
	for _, w := range words[:min(len(words), 40)] {
		g.common = append(g.common, surf[w])
	}
	return nil
}

// probes makes the questions of every item.
func (g *generator) probes(ctx context.Context, items []item) ([]probe, error) {
	if err := g.loadSlots(ctx); err != nil {
		return nil, err
	}
	if err := g.loadCommon(ctx, items); err != nil {
		return nil, err
	}
	var out []probe
	for _, it := range items {
		c := it.chunk
		var texts []string
		answer := c.Text
		if c.Kind == kefu.KindFAQ && len(c.Questions) > 0 {
			texts = c.Questions
			if len(texts) > 3 {
				texts = texts[:3]
			}
		} else {
			texts = passageQuestions(c, g.rng)
		}
		pos := func(text, kind string) probe {
			if c.Kind == kefu.KindFAQ {
				return probe{text: text, chunk: c.ID, kind: kind, group: it.group}
			}
			return probe{text: text, doc: c.DocID, kind: kind, group: it.group}
		}
		neg := func(text, kind string) probe { return probe{text: text, kind: kind, group: it.group} }
		ans, err := g.phraseOf(ctx, answer)
		if err != nil {
			return nil, err
		}
		for _, t := range texts {
			p, err := g.phraseOf(ctx, t)
			if err != nil {
				return nil, err
			}
			out = append(out, pos(t, "as_written"))
			surf := p.surfaces()
			cont := p.content()
			// Shortened: without its commonest content word, or without
			// function words.
			if len(cont) >= 2 {
				drop := cont[len(cont)-1]
				out = append(out, pos(p.join(slices.Delete(slices.Clone(surf), drop, drop+1)), "shortened"))
			}
			if len(cont) < len(p.words) && len(cont) >= 1 {
				var kept []string
				for _, i := range cont {
					kept = append(kept, surf[i])
				}
				slices.SortFunc(kept, func(a, b string) int { return strings.Index(t, a) - strings.Index(t, b) })
				out = append(out, pos(p.join(kept), "terse"))
			}
			// Reworded: a word replaced by a synonym the KB holds.
			for _, i := range cont {
				if syn := p.synonyms[i]; len(syn) > 0 {
					w := slices.Clone(surf)
					w[i] = syn[g.rng.IntN(len(syn))]
					out = append(out, pos(p.join(w), "reworded"))
					break
				}
			}
			// The dressed questions below start from an entry's phrasing as
			// a customer says it (loosely): few type an FAQ's question word
			// for word, and positives that all restate it teach the fit that
			// only a restatement is right. A passage's questions are already
			// clipped from its text.
			say := func() (string, []string) {
				if c.Kind == kefu.KindFAQ {
					w := g.loosely(p)
					return p.join(w), w
				}
				return t, slices.Clone(surf)
			}
			said, _ := say()
			// Framed as people type, and with everyday context the KB does
			// not know (today, my phone…).
			out = append(out, pos(frame(said, p.zh, g.rng), "framed"))
			// With some of the KB's common words that the entry does not
			// hold (处理, 页面, 信息…), everyday context the KB does not know
			// (today, my phone…), or both with a word reworded: people say
			// more than the FAQ, and say it their way. Real paraphrases look
			// like these more than like the FAQ's own wording, so there are
			// several of each.
			for range 3 {
				if w := g.commonWords(p.zh, c, 2); len(w) > 0 {
					_, words := say()
					out = append(out, pos(p.join(append(words, w...)), "common_added"))
				}
			}
			for range 2 {
				if s, ok := g.slot(p.zh, "context"); ok {
					q, _ := say()
					out = append(out, pos(withContext(q, s, p.zh), "context_added"))
				}
			}
			// Fragments: about half the content words, in order. In a KB of
			// near-duplicates (thousands of user questions) a fragment's top
			// hit is often another entry, as a real question's is; where
			// the vocabulary is distinct it is not.
			if len(cont) >= 2 {
				for range 2 {
					var w []string
					for i := range surf {
						if slices.Contains(cont, i) && g.rng.IntN(2) == 0 {
							w = append(w, surf[i])
						}
					}
					if len(w) == 0 || len(w) == len(cont) {
						continue
					}
					out = append(out, pos(p.join(append(w, g.commonWords(p.zh, c, 1)...)), "fragment"))
				}
			}
			for range 2 {
				w := slices.Clone(surf)
				for _, i := range cont {
					if syn := p.synonyms[i]; len(syn) > 0 && g.rng.IntN(2) == 0 {
						w[i] = syn[g.rng.IntN(len(syn))]
					}
				}
				w = append(w, g.commonWords(p.zh, c, 1)...)
				q := p.join(w)
				if s, ok := g.slot(p.zh, "context"); ok && g.rng.IntN(2) == 0 {
					q = withContext(q, s, p.zh)
				}
				out = append(out, pos(q, "mixed_rewording"))
			}
			// With the answer's words: the key word of the question and the
			// two rarest of the answer. And its counterpart, the question's
			// key word with a detail the answer mentions in passing but the
			// question does not ask about (优惠券 + 叠加, when the answer
			// says sale items cannot be stacked with coupons): sometimes the
			// answer covers it (积分 + 有效期), often it does not, and words
			// alone cannot tell which, so such matches must not look certain.
			if k := p.key(); k >= 0 && c.Kind == kefu.KindFAQ {
				w := []string{surf[k]}
				var detail string
				for _, j := range ans.content() {
					aw := ans.words[j]
					if aw.DF == 0 || slices.Contains(w, aw.Surface) {
						continue
					}
					if len(w) < 3 {
						w = append(w, aw.Surface)
					}
					if detail == "" && aw.DF <= 2 && !p.holds(aw.Text) {
						detail = aw.Surface
					}
				}
				if len(w) > 1 {
					out = append(out, pos(p.join(w), "answer_words"))
				}
				if detail != "" {
					out = append(out, neg(p.join([]string{surf[k], detail}), "answer_detail"))
				}
			}
			// Near-misses: the key word replaced by something the KB never
			// mentions; a slot it does not cover added; a detail of another
			// entry's answer added.
			//
			// The key replaced is asked without the entry it was made from:
			// with it, its top hit is that entry, holding word for word all
			// of the question but the new thing, and no other entry comes
			// close. A real question about a thing the KB never mentions
			// reaches entries that share some of its words, often several
			// alike; asked with their source, these near-misses looked like
			// a shortened answer of that entry (high question cover, a large
			// cover_margin), not like a real near-miss. An added slot or
			// detail keeps its source: a real one does reach the entry it
			// extends (两张优惠券能一起用吗 the coupon entry).
			if k := p.key(); k >= 0 {
				if s, ok := g.slot(p.zh, "thing"); ok {
					w := slices.Clone(surf)
					w[k] = s
					out = append(out, probe{text: p.join(w), kind: "key_replaced", group: it.group, leave: c.ID})
				}
			}
			if s, ok := g.slot(p.zh, "ask"); ok {
				out = append(out, neg(p.join(append(slices.Clone(surf), s)), "slot_added"))
			}
		}
	}
	return out, nil
}

// loosely says phrase p as customers do: each function word (怎么, 可以,
// do, please…) kept or dropped at random, the content words as written.
// All of p when nothing would be left.
func (g *generator) loosely(p phrase) []string {
	var w []string
	for _, word := range p.words {
		if word.Function && g.rng.IntN(2) == 0 {
			continue
		}
		w = append(w, word.Surface)
	}
	if len(w) == 0 {
		return p.surfaces()
	}
	return w
}

// withContext adds everyday context to a question.
func withContext(q, ctx string, zh bool) string {
	if zh {
		return ctx + q
	}
	return strings.TrimRight(q, "?.") + " " + ctx
}

// frame dresses a question the way people type it.
func frame(q string, zh bool, rng *rand.Rand) string {
	if zh {
		pre := []string{"请问", "你好，", "我想问一下", "麻烦问下", "亲，", "急！", ""}
		suf := []string{"", "？？", "呢", "啊", "，谢谢"}
		q = strings.TrimRight(q, "？?。")
		return pre[rng.IntN(len(pre))] + q + suf[rng.IntN(len(suf))]
	}
	pre := []string{"hi, ", "quick question: ", "hey ", "please, ", "hello. ", ""}
	suf := []string{"", "??", " thanks", " asap", " pls"}
	q = strings.TrimRight(q, "?.")
	if q == "" {
		return q
	}
	return pre[rng.IntN(len(pre))] + strings.ToLower(q[:1]) + q[1:] + suf[rng.IntN(len(suf))]
}

// passageQuestions makes up to three questions from a passage: its heading
// path or title, when it is words rather than a name (a file name or an id
// such as "d17"), and one or two of its sentences, clipped when long.
func passageQuestions(c *kefu.Chunk, rng *rand.Rand) []string {
	var out []string
	for _, h := range append(slices.Clone(c.Headings), c.Title) {
		if wordy(h, c) {
			out = append(out, h)
			break
		}
	}
	var good []string
	for _, s := range text.Sentences(c.Text) {
		n := len([]rune(s))
		if text.Lang(s) == "zh" && n >= 6 || len(strings.Fields(s)) >= 4 {
			if n <= 300 {
				good = append(good, s)
			}
		}
	}
	for range min(2, len(good)) {
		s := good[rng.IntN(len(good))]
		out = append(out, clip(s, rng))
	}
	return out
}

// wordy reports whether a heading or title says something: not empty, not
// the document's id or source name, and not a name with no words in it.
func wordy(h string, c *kefu.Chunk) bool {
	h = strings.TrimSpace(h)
	if h == "" || h == c.DocID || h == c.Source || strings.ContainsAny(h, "/\\") {
		return false
	}
	if dot := strings.LastIndexByte(h, '.'); dot > 0 && dot >= len(h)-5 && !strings.Contains(h, " ") {
		return false // a file name: faq.mdx, report_2024.pdf
	}
	letters := 0
	for _, r := range h {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return letters >= 3 || text.Lang(h) == "zh" && letters >= 2
}

// clip keeps a sentence's middle: people ask with part of what a passage
// says, not all of it.
func clip(s string, rng *rand.Rand) string {
	r := []rune(s)
	if text.Lang(s) == "zh" {
		if len(r) <= 16 {
			return s
		}
		n := min(len(r), 8+rng.IntN(8))
		at := rng.IntN(len(r) - n + 1)
		return string(r[at : at+n])
	}
	w := strings.Fields(s)
	n := min(len(w), 4+rng.IntN(5))
	at := rng.IntN(len(w) - n + 1)
	return strings.Join(w[at:at+n], " ")
}

// slot is near-miss material: a thing or an ask, in one language.
type slot struct {
	text string
	zh   bool
	kind string // "thing" (replaces a key word) or "ask" (added)
}

// loadSlots keeps the near-miss material whose words the KB never holds.
func (g *generator) loadSlots(ctx context.Context) error {
	for _, s := range nearMissSlots {
		ts, err := g.words(ctx, s.text)
		if err != nil {
			return err
		}
		unknown := true
		for _, t := range ts {
			if t.Kind == kefu.TermWord && !t.Function && t.DF > 0 {
				unknown = false
			}
		}
		if unknown {
			g.slots = append(g.slots, s)
		}
	}
	return nil
}

func (g *generator) slot(zh bool, kind string) (string, bool) {
	var fit []string
	for _, s := range g.slots {
		if s.zh == zh && s.kind == kind {
			fit = append(fit, s.text)
		}
	}
	if len(fit) == 0 {
		return "", false
	}
	return fit[g.rng.IntN(len(fit))], true
}

// nearMissSlots are things and asks a customer-service KB may well not
// cover: ways to pay, goods and services of other trades, and asks that
// change what a question is about (transfer, combine, cash out…). Those a
// KB does mention are left out when it is calibrated.
var nearMissSlots = func() []slot {
	var out []slot
	add := func(zh bool, kind, list string) {
		for _, s := range strings.Split(list, "|") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, slot{text: s, zh: zh, kind: kind})
			}
		}
	}
	add(true, "thing", `比特币|数字人民币|礼品卡|购物卡|京东白条|云闪付|现金支票|外币|美元|港币|储值卡|加密货币|机票|酒店|保险|贷款|股票|基金|火车票|话费|宠物|二手车|房租|学费|医保|社保|公积金|彩票|游戏币|点卡|油卡`)
	add(true, "ask", `可以转让给别人吗|能和其他优惠叠加吗|可以兑换成现金吗|能提现吗|可以合并付款吗|能拆分吗|可以延期吗|能冻结吗|可以注销吗|能加急吗|周末可以吗|海外可以用吗|能批量操作吗|可以预约上门吗|能开在别人名下吗|能用比特币吗|可以送给朋友吗|能退到别的账户吗`)
	add(false, "thing", `Bitcoin|crypto|gift card|Apple Pay|Venmo|wire transfer|Klarna|cheque|foreign currency|store credit|plane ticket|hotel room|insurance|loan|stocks|train ticket|phone bill|pet|used car|rent|tuition|lottery ticket|game coins|fuel card`)
	add(true, "context", `今天|昨天|刚刚|上周|三天了|这周|早上|晚上|衣服|鞋子|手机|电脑|耳机|杯子|孩子|老公|老婆|朋友|家里|着急|急用|快点|这次|上次|第一次|又`)
	add(false, "context", `today|yesterday|last week|for three days|this morning|tonight|my shoes|this shirt|my phone|my laptop|the headphones|my kid|my wife|a friend|at home|urgent|asap|again|this time|first time`)
	add(false, "ask", `can I transfer it to a friend|combined with another discount|can I cash it out|can I split it|can I postpone it|can I freeze it|on weekends|from abroad|in bulk|with Bitcoin|to someone else's account|as a gift to my friend|for a business account|in installments without interest`)
	return out
}()

// selfCalLambda is the L2 penalty of self-calibration fits: strong enough
// that correlated features (cover, question cover, character cover) share
// their weight instead of pulling one another across zero.
var selfCalLambda = 100.0

// Learned synonyms: an FAQ entry's phrasings say the same thing in other
// words, so a word that one phrasing uses where another uses another is a
// synonym the KB itself teaches. Pairs seen in at least minLearnedPairs
// entries become rules.
const (
	minLearnedPairs = 2
	maxLearnedRules = 200
)

// LearnSynonyms finds synonym rules (Solr format, one equivalence per
// line) in the phrasings of kb's FAQ entries: content words that differ
// between two phrasings of one entry, in several entries.
func (r *Retriever) LearnSynonyms(ctx context.Context, kb *kefu.KB, content ContentReader) ([]string, error) {
	g := &generator{r: r, kb: kb, known: map[string]bool{}}
	docs, err := content.Documents(ctx, kb.Name)
	if err != nil {
		return nil, err
	}
	type pair struct{ a, b string }
	count := map[pair]int{}
	entries := 0
	for _, d := range docs {
		if d.Status != kefu.DocIndexed {
			continue
		}
		cs, err := content.Chunks(ctx, kb.Name, d.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if c.Kind != kefu.KindFAQ || len(c.Questions) < 2 {
				continue
			}
			if entries++; entries > 5000 {
				break
			}
			qs := c.Questions
			if len(qs) > 8 {
				qs = qs[:8]
			}
			sets := make([]map[string]string, len(qs)) // analysed word → surface
			for i, q := range qs {
				ts, err := g.words(ctx, q)
				if err != nil {
					return nil, err
				}
				sets[i] = map[string]string{}
				for _, t := range ts {
					if t.Kind == kefu.TermWord && !t.Function {
						sets[i][t.Text] = t.Surface
					}
				}
			}
			seen := map[pair]bool{}
			for i := range sets {
				for j := i + 1; j < len(sets); j++ {
					for a, sa := range sets[i] {
						if _, ok := sets[j][a]; ok {
							continue
						}
						for b, sb := range sets[j] {
							if _, ok := sets[i][b]; ok {
								continue
							}
							p := pair{sa, sb}
							if sb < sa {
								p = pair{sb, sa}
							}
							if !seen[p] {
								seen[p] = true
								count[p]++
							}
						}
					}
				}
			}
		}
	}
	var pairs []pair
	for p, n := range count {
		if n >= minLearnedPairs {
			pairs = append(pairs, p)
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		if count[x] != count[y] {
			return count[y] - count[x]
		}
		return strings.Compare(x.a+"\x00"+x.b, y.a+"\x00"+y.b)
	})
	if len(pairs) > maxLearnedRules {
		pairs = pairs[:maxLearnedRules]
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.a + ", " + p.b
	}
	return out, nil
}
