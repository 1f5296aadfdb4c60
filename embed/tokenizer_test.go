package embed

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kefu-dev/kefu/internal/testenv"
)

func TestTokenizerGolden(t *testing.T) {
	for _, dir := range goldenModels(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			max := 128
			cases := readGolden(t, dir)
			if cases[0].MaxSeqLength > 0 {
				max = cases[0].MaxSeqLength
			}
			tok, err := LoadTokenizer(dir, max)
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for _, c := range cases {
				want := c.InputIDs
				if len(want) > max {
					want = want[:max] // use-lite-en's golden ids are untruncated
				}
				got, err := tok.Encode(c.Text)
				if err != nil {
					t.Errorf("%s %q: %v", c.ID, c.Text, err)
					continue
				}
				if !slices.Equal(got, want) {
					bad++
					t.Errorf("%s %q (%s):\n got %v\nwant %v", c.ID, c.Text, c.Note, got, want)
				}
			}
			t.Logf("%d cases, %d mismatches", len(cases), bad)
		})
	}
}

func loadTok(t testing.TB, name string, max int) *Tokenizer {
	t.Helper()
	tok, err := LoadTokenizer(testenv.Model(t, name), max)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func encode(t testing.TB, tok *Tokenizer, s string) []int {
	t.Helper()
	ids, err := tok.Encode(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return ids
}

// TestTokenizerPitfalls checks the defects of sugarme/tokenizer listed in
// ../shared/models/README.md against equivalences HuggingFace guarantees.
func TestTokenizerPitfalls(t *testing.T) {
	en := loadTok(t, "tiny-en", 128)
	same := [][2]string{
		{"Café résumé", "cafe resume"},                         // accents decomposed, then stripped
		{"Cafe\u0301", "cafe"},                                 // a combining accent
		{"non\u00a0breaking\u3000space", "non breaking space"}, // Unicode spaces split words
		{"\ufeffBOM", "bom"},                                   // a leading BOM is dropped, not duplicated
		{"\u200bzero", "zero"},
		{"\ufffdx", "x"},
		{"İstanbul", "istanbul"}, // no panic; the dot above is stripped
	}
	for _, p := range same {
		if a, b := encode(t, en, p[0]), encode(t, en, p[1]); !slices.Equal(a, b) {
			t.Errorf("%q -> %v, %q -> %v", p[0], a, p[1], b)
		}
	}
	// A special token typed in the text is matched; a look-alike is not.
	if ids := encode(t, en, "a [MASK] b"); len(ids) != 5 || ids[2] != 103 {
		t.Errorf("[MASK]: %v", ids)
	}
	if ids := encode(t, en, "[mask]"); slices.Contains(ids, 103) {
		t.Errorf("[mask] matched as special: %v", ids)
	}
	// Truncation keeps [SEP]; counting ignores specials and truncation.
	long := strings.Repeat("hello ", 300)
	ids := encode(t, en, long)
	if len(ids) != 128 || ids[0] != 101 || ids[127] != 102 || en.CountTokens(long) != 300 {
		t.Errorf("long text: %d ids, ends %v, count %d", len(ids), ids[len(ids)-1], en.CountTokens(long))
	}

	// use-lite-en: NFKC must compose ("Cafe\u0301" is "Café"); ids from its README.
	use := loadTok(t, "use-lite-en", 128)
	if a, b := encode(t, use, "Cafe\u0301"), encode(t, use, "Café"); !slices.Equal(a, b) {
		t.Errorf("NFKC: %v vs %v", a, b)
	}
	if ids := encode(t, use, ":)"); !slices.Equal(ids, []int{30, 57, 52}) {
		t.Errorf(`":)" -> %v, want [30 57 52]`, ids)
	}
	if ids := encode(t, use, ""); len(ids) != 0 || use.PadID() != 1 || use.NumSpecial() != 0 {
		t.Errorf("empty: %v, pad %d, specials %d", ids, use.PadID(), use.NumSpecial())
	}
}

// TestFastPreTokenizer compares the pre-tokenizers written here with
// sugarme's on the golden texts (after normalisation, where they must agree).
func TestFastPreTokenizer(t *testing.T) {
	for _, dir := range goldenModels(t) {
		fast, err := LoadTokenizer(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fast.pre == preSugarme {
			t.Errorf("%s: no fast path", dir)
			continue
		}
		slow := *fast
		slow.pre = preSugarme
		for _, c := range readGolden(t, dir) {
			a, errA := fast.Encode(c.Text)
			b, errB := slow.Encode(c.Text)
			if errA != nil || errB != nil || !slices.Equal(a, b) {
				t.Errorf("%s %q: fast %v %v, sugarme %v %v", filepath.Base(dir), c.Text, a, errA, b, errB)
			}
		}
	}
}

// TestWordModelsMatchSugarme compares the WordPiece and Unigram models
// written here with sugarme's, an independent implementation of the same
// algorithms, on words where sugarme is right: the golden texts' words and
// random words of vocabulary pieces, Chinese, base64 and unknown
// characters, all within sugarme's limits (100 characters for WordPiece,
// pieces of 20 bytes for Unigram).
func TestWordModelsMatchSugarme(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789+/=-_.,:;!?'我爱北京天安门的一是不了éüß\u2581\u2581\u2581\t\u0378\U0001F600")
	for _, name := range []string{"tiny-en", "tiny-zh", "use-lite-en"} {
		tok := loadTok(t, name, 0)
		theirs := tok.vocab.(sugarmeModel).Model
		var words []string
		for _, c := range readGolden(t, testenv.Model(t, name)) {
			words = append(words, strings.Fields(c.Text)...)
		}
		for range 3000 {
			var b strings.Builder
			for range 1 + rng.IntN(30) {
				b.WriteRune(alphabet[rng.IntN(len(alphabet))])
			}
			words = append(words, b.String())
		}
		bad := 0
		for _, w := range words {
			if name == "use-lite-en" {
				w = "\u2581" + w // as its normaliser leaves a word
			}
			mine, err := tok.words.tokenize(nil, w, 0)
			if err != nil {
				t.Fatalf("%s %q: %v", name, w, err)
			}
			toks, err := theirs.Tokenize(w)
			if err != nil {
				t.Fatalf("%s %q: sugarme: %v", name, w, err)
			}
			want := make([]int, len(toks))
			for i, tk := range toks {
				want[i] = tk.Id
			}
			if !slices.Equal(mine, want) {
				if bad++; bad <= 10 {
					t.Errorf("%s %q: %v, sugarme %v", name, w, mine, want)
				}
			}
		}
		t.Logf("%s: %d words, %d differ", name, len(words), bad)
	}
}

// TestLongWord checks HuggingFace's max_input_chars_per_word (100 in BERT's
// tokenizer.json): a word of 100 characters is cut into pieces, one of 101
// is [UNK], however long it is.
func TestLongWord(t *testing.T) {
	en := loadTok(t, "tiny-en", 0)
	const unk = 100 // [UNK] in bert-base-uncased
	if ids := encode(t, en, strings.Repeat("ab", 50)); len(ids) < 3 || slices.Contains(ids, unk) {
		t.Errorf("100 characters: %v", ids)
	}
	for _, n := range []int{101, 1 << 20} {
		if ids := encode(t, en, strings.Repeat("a", n-1)+"b"); !slices.Equal(ids, []int{101, unk, 102}) {
			t.Errorf("%d characters: %v, want [CLS] [UNK] [SEP]", n, ids)
		}
	}
}

// TestUnigramUnknowns checks a Unigram vocabulary's unknown characters as
// HuggingFace treats them: a run of them is one unknown token, or with
// byte_fallback one <0xXX> piece per byte when the vocabulary has them all.
func TestUnigramUnknowns(t *testing.T) {
	const vocab = `[["<unk>",0],["▁",-1],["a",-2],["b",-2],["▁ab",-1.5],["<0xC3>",-5],["<0xA9>",-5]]`
	for _, c := range []struct {
		fallback bool
		text     string
		want     []int
	}{
		{false, "ab", []int{4}},
		{false, "abééa", []int{4, 0, 2}},     // éé: one unknown
		{true, "abéa", []int{4, 5, 6, 2}},    // é is C3 A9
		{true, "ab我a", []int{4, 0, 2}},       // 我's bytes are not all there
		{true, "abéé", []int{4, 5, 6, 5, 6}}, // a fused run falls back byte by byte
	} {
		js := fmt.Sprintf(`{"model":{"type":"Unigram","unk_id":0,"byte_fallback":%v,"vocab":%s},
			"normalizer":{"type":"Sequence","normalizers":[{"type":"Replace","pattern":{"String":" "},"content":"▁"},{"type":"Prepend","prepend":"▁"}]},
			"pre_tokenizer":{"type":"Split","pattern":{"String":" "},"behavior":"Removed","invert":false}}`, c.fallback, vocab)
		tok, err := parseTokenizer([]byte(js), 0)
		if err != nil {
			t.Fatal(err)
		}
		if ids := encode(t, tok, c.text); !slices.Equal(ids, c.want) {
			t.Errorf("byte_fallback %v, %q: %v, want %v", c.fallback, c.text, ids, c.want)
		}
	}
}

// TestEncodeStopsEarly: Encode stops tokenising once it has the model's
// limit, and what it returns is the start of the whole text's tokens.
func TestEncodeStopsEarly(t *testing.T) {
	text := strings.Repeat("Refunds take 5 to 7 days; 退款需要五到七天。 ", 20000) // 1 MB
	for _, name := range []string{"tiny-en", "tiny-zh", "use-lite-en"} {
		tok := loadTok(t, name, 128)
		all, err := tok.content(text, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids := encode(t, tok, text)
		n := len(ids) - tok.NumSpecial()
		if n != 128-tok.NumSpecial() || !slices.Equal(ids[len(tok.prefix):len(tok.prefix)+n], all[:n]) {
			t.Errorf("%s: %d ids, not the first of the %d of the whole text", name, len(ids), len(all))
		}
		if got := tok.CountTokens(text); got != len(all) {
			t.Errorf("%s: CountTokens %d, tokens %d", name, got, len(all))
		}
	}
}

// FuzzTokenizer: any text tokenises without panic into valid ids, within
// the limit, framed by [CLS]/[SEP], and consistent with CountTokens.
func FuzzTokenizer(f *testing.F) {
	tok := loadTok(f, "tiny-en", 32)
	zh := loadTok(f, "tiny-zh", 32)
	use := loadTok(f, "use-lite-en", 32)
	for _, s := range []string{"", "Hello, world!", "İ\u0307 ﬁ [MASK]", "\ufeff\u200b�", "我爱北京 [SEP]", ":) ▁:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tk := range []*Tokenizer{tok, zh, use} {
			ids, err := tk.Encode(s)
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			n := tk.CountTokens(s)
			if len(ids) > 32 || len(ids) != min(n, 32-tk.NumSpecial())+tk.NumSpecial() {
				t.Fatalf("%q: %d ids, count %d", s, len(ids), n)
			}
			all, _ := tk.content(s, 0) // Encode's early stop keeps the start
			if content := ids[len(tk.prefix) : len(ids)-len(tk.suffix)]; !slices.Equal(content, all[:len(content)]) {
				t.Fatalf("%q: %v is not the start of %v", s, content, all)
			}
			if tk.NumSpecial() == 2 && (ids[0] != 101 || ids[len(ids)-1] != 102) {
				t.Fatalf("%q: not framed: %v", s, ids)
			}
			for _, id := range ids {
				if id < 0 || id >= tk.tk.GetVocabSize(true) {
					t.Fatalf("%q: id %d out of range", s, id)
				}
			}
		}
	})
}

// FuzzLoadTokenizer: a malformed tokenizer.json is an error, never a panic.
func FuzzLoadTokenizer(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"WordPiece","vocab":{"[UNK]":0,"a":1},"unk_token":"[UNK]"},"normalizer":{"type":"BertNormalizer"},"pre_tokenizer":{"type":"BertPreTokenizer"}}`))
	f.Add([]byte(`{"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0],["a",-1]]},"normalizer":{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Prepend","prepend":"▁"}]},"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>"}},{"Sequence":{"id":"A"}}],"special_tokens":{"<s>":{"ids":[0]}}}}`))
	f.Add([]byte(`{"model":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := parseTokenizer(data, 16)
		if err != nil {
			return
		}
		if _, err := tok.Encode("a b [UNK] é 我"); err != nil {
			t.Logf("encode: %v", err) // an error is fine, a panic is not
		}
	})
}

// longText makes n bytes of text with no spaces or sentence breaks: one
// "word" of letters, a run of Chinese characters, or a base64 blob. The
// content is pseudo-random (fixed seed), so no two stretches repeat.
func longText(kind string, n int) string {
	rng := rand.New(rand.NewPCG(13, uint64(n)))
	var b strings.Builder
	b.Grow(n + 4)
	switch kind {
	case "word":
		for b.Len() < n {
			b.WriteByte(byte('a' + rng.IntN(26)))
		}
	case "han":
		const common = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴"
		runes := []rune(common)
		for b.Len() < n {
			b.WriteRune(runes[rng.IntN(len(runes))])
		}
	case "base64":
		raw := make([]byte, n*3/4+3)
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		b.WriteString(base64.StdEncoding.EncodeToString(raw))
	}
	s := b.String()
	for len(s) > n && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:min(n, len(s))]
}

// BenchmarkTokenizeLong tokenises 100 KiB and 1 MiB of unbroken text with
// each tokenizer type: linear work makes the 1 MiB time ten times the
// 100 KiB one. CountTokens counts the whole text (what the chunker uses);
// Encode stops at the model's sequence limit.
func BenchmarkTokenizeLong(b *testing.B) {
	for _, model := range []string{"tiny-en", "tiny-zh", "use-lite-en"} {
		tok := loadTok(b, model, 128)
		for _, kind := range []string{"word", "han", "base64"} {
			for _, size := range benchSizes {
				text := longText(kind, size)
				name := fmt.Sprintf("%s/%s/%dKiB", model, kind, size>>10)
				b.Run(name+"/count", func(b *testing.B) {
					b.SetBytes(int64(len(text)))
					for b.Loop() {
						tok.CountTokens(text)
					}
				})
				b.Run(name+"/encode", func(b *testing.B) {
					b.SetBytes(int64(len(text)))
					for b.Loop() {
						if _, err := tok.Encode(text); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

var benchSizes = []int{100 << 10, 1 << 20}
