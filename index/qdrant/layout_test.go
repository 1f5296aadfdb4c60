package qdrant

import (
	"slices"
	"testing"

	"github.com/kefu-dev/kefu/index/keyword"
)

// eachTerm reads stored fields in place exactly as decodeFields splits them.
func FuzzEachTerm(f *testing.F) {
	for _, s := range []string{"", "a b\nc", "\n\nx", "a  b \n", "退款 到账\nrefund\n\n\n\n\n\nextra field"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got keyword.Fields
		eachTerm(s, func(field int, term string) { got[field] = append(got[field], term) })
		want := decodeFields(s)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("%q field %d: eachTerm %q, decodeFields %q", s, i, got[i], want[i])
			}
		}
	})
}
