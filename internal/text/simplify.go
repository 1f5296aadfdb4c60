package text

import (
	"sync"
	"unicode/utf8"

	"github.com/longbridgeapp/opencc"
)

// t2s converts Traditional Chinese to Simplified with OpenCC's dictionaries
// (phrases first, then characters), so that 怎麼申請退款 finds 怎么申请退款 and a
// Traditional FAQ answers Simplified questions. The keyword analyzer runs
// queries and content through it, the hand-off matcher questions.
type t2s struct {
	cc   *opencc.OpenCC
	trad map[rune]bool // runes that t2s changes on their own
}

// LoadSimplifier builds the shared converter now rather than at the first
// Traditional text (about 50 ms: OpenCC's dictionaries, then the set of
// Traditional-only runes).
func LoadSimplifier() error {
	_, err := converter()
	return err
}

var converter = sync.OnceValues(func() (*t2s, error) {
	cc, err := opencc.New("t2s")
	if err != nil {
		return nil, err
	}
	c := &t2s{cc: cc, trad: map[rune]bool{}}
	for _, block := range [][2]rune{{0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xF900, 0xFAFF}} {
		for r := block[0]; r <= block[1]; r++ {
			if out, err := cc.Convert(string(r)); err == nil && out != string(r) {
				c.trad[r] = true
			}
		}
	}
	return c, nil
})

// Simplify returns b converted to Simplified Chinese, or b itself when it
// holds no Traditional-only character: OpenCC converts about 2 MB/s, and
// most text needs no conversion, which this check finds at memory speed.
func Simplify(b []byte) []byte {
	c, err := converter()
	if err != nil {
		return b // the dictionaries are embedded; this cannot fail short of a broken build
	}
	need := false
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r >= 0x3400 && c.trad[r] {
			need = true
			break
		}
		i += n
	}
	if !need {
		return b
	}
	out, err := c.cc.Convert(string(b))
	if err != nil {
		return b
	}
	return []byte(out)
}
