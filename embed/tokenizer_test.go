package embed

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
