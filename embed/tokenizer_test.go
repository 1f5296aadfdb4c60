package embed

import (
	"path/filepath"
	"slices"
	"testing"
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
