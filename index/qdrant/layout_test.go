package qdrant

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu"
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

// keyMatch holds a chunk's keyHit and exactly the distinct terms of a chunk's heading fields
// and of its body that its analysed fields hold, whatever the terms.
func FuzzMatchValue(f *testing.F) {
	f.Add("退款 ¦退 ¦款 多久", "refund ¦多久 ¦到", "", "退款 ¦退 ¦款 ¦退 到账 ¦到 ¦账 a")
	f.Add("", "", "", "")
	f.Add("¦", "¦¦ ¦é ¦e\u0301", "x", "¦\xff")
	f.Fuzz(func(t *testing.T, title, headings, questions, body string) {
		var fields keyword.Fields
		for i, s := range []string{title, headings, questions, body} {
			// Terms as the analyzer makes them: no spaces or line breaks.
			fields[i] = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\n' })
		}
		want := map[string]bool{}
		for i, ts := range fields {
			for _, term := range ts {
				want[fmt.Sprint(keyword.Head(i), term)] = true
			}
		}
		got := map[string]bool{}
		v := matchValue(hitValue("h1", "doc 1", kefu.KindFAQ), &fields)
		if h := hitOf(map[string]*qdrant.Value{keyMatch: qdrant.NewValueString(v)}); h != (hit{"h1", "doc 1", kefu.KindFAQ}) {
			t.Fatalf("keyMatch's hit: %+v", h)
		}
		eachMatch(v,
			func(head bool, term string) { got[fmt.Sprint(head, term)] = true },
			func(head bool, c rune) { got[fmt.Sprint(head, keyword.Mark+string(c))] = true })
		if !maps.Equal(got, want) {
			t.Fatalf("%q: keyMatch holds %v, the fields %v", fields, got, want)
		}
	})
}
