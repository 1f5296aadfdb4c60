package answer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanCitations(t *testing.T) {
	cases := []struct {
		in      string
		n       int
		out     string
		cited   []int
		removed int
	}{
		{"Ships in 24 hours [1].", 3, "Ships in 24 hours [1].", []int{1}, 0},
		{"A [1] and B [2][3].", 3, "A [1] and B [2][3].", []int{1, 2, 3}, 0},
		{"A [1, 3] B [2，3、1]", 3, "A [1][3] B [2][3][1]", []int{1, 2, 3}, 0},
		{"全角［2］和【3】", 3, "全角[2]和[3]", []int{2, 3}, 0},
		{"dangling [7] here", 3, "dangling here", nil, 1},
		{"mixed [1, 7]", 3, "mixed [1]", []int{1}, 1},
		{"zero [0] and [00]", 3, "zero and", nil, 2},
		{"spaces [ 2 ] ok", 3, "spaces [2] ok", []int{2}, 0},
		{"dup [2,2]", 3, "dup [2]", []int{2}, 0},
		{"year [2024] stays", 3, "year [2024] stays", nil, 0},
		{"[note] stays, [1a] too", 3, "[note] stays, [1a] too", nil, 0},
		{"link [1](http://x)", 3, "link [1](http://x)", []int{1}, 0},
		{"nested [[1]]", 3, "nested [[1]]", []int{1}, 0},
		{"glue [7[9]] none", 3, "glue none", nil, 2}, // no [7] forms around the removed [9]
		{"glue [1[9]]", 3, "glue [1]", []int{1}, 1},
		{"kept [1[2]]", 3, "kept [1[2]]", []int{2}, 0},
		{"open at end [1", 3, "open at end [1", nil, 0},
		{"no evidence [1]", 0, "no evidence", nil, 1},
		{"trailing space   ", 3, "trailing space", nil, 0},
		{"", 3, "", nil, 0},
	}
	for _, c := range cases {
		out, cited, removed := cleanCitations(c.in, c.n)
		if out != c.out || fmt.Sprint(cited) != fmt.Sprint(c.cited) && len(cited)+len(c.cited) > 0 || removed != c.removed {
			t.Errorf("cleanCitations(%q, %d) = %q %v %d, want %q %v %d", c.in, c.n, out, cited, removed, c.out, c.cited, c.removed)
		}
	}
}

// TestCiteFilterSplits: the stream gives the same text however the model
// splits its tokens, and never shows an invalid citation.
func TestCiteFilterSplits(t *testing.T) {
	in := "Delivery takes 7-15 days [1]. Tracking [2,9] updates hourly [ 3 ]; see 【4】 and [x]."
	want, _, _ := cleanCitations(in, 3)
	if want != "Delivery takes 7-15 days [1]. Tracking [2] updates hourly [3]; see and [x]." {
		t.Fatalf("whole: %q", want)
	}
	rs := []rune(in)
	for size := 1; size <= len(rs); size++ {
		var got strings.Builder
		f := newCiteFilter(3, func(s string) {
			if strings.Contains(s, "[4]") || strings.Contains(s, "9]") {
				t.Errorf("size %d: emitted invalid piece %q", size, s)
			}
			got.WriteString(s)
		})
		for i := 0; i < len(rs); i += size {
			f.Write(string(rs[i:min(i+size, len(rs))]))
		}
		f.Flush()
		if got.String() != want {
			t.Fatalf("split %d: %q, want %q", size, got.String(), want)
		}
	}
}

var citeRE = regexp.MustCompile(`\[(\d{1,3})\]`)

// FuzzCitations: for any text, evidence count and split, the filtered text
// is the same streamed or whole, filtering it again changes nothing, and
// every citation left in it is within 1..n and listed as cited.
func FuzzCitations(f *testing.F) {
	for _, s := range []string{"a [1] b [7]", "【1，2】", "[[1]", "[ 3 , 4 ]x", "[1", "  [9]  ", "[0001]"} {
		f.Add(s, uint8(3), uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, n, split uint8) {
		if !utf8.ValidString(s) || len(s) > 4096 {
			t.Skip()
		}
		evidence := int(n % 10)
		whole, cited, _ := cleanCitations(s, evidence)
		size := int(split%16) + 1
		var streamed strings.Builder
		fl := newCiteFilter(evidence, func(p string) { streamed.WriteString(p) })
		rs := []rune(s)
		for i := 0; i < len(rs); i += size {
			fl.Write(string(rs[i:min(i+size, len(rs))]))
		}
		fl.Flush()
		if streamed.String() != whole {
			t.Fatalf("streamed %q, whole %q", streamed.String(), whole)
		}
		again, cited2, removed2 := cleanCitations(whole, evidence)
		if again != whole || removed2 != 0 || fmt.Sprint(cited2) != fmt.Sprint(cited) {
			t.Fatalf("not idempotent: %q -> %q (removed %d, cited %v vs %v)", whole, again, removed2, cited2, cited)
		}
		set := make(map[int]bool)
		for _, k := range cited {
			if k < 1 || k > evidence {
				t.Fatalf("cited %d with %d pieces of evidence", k, evidence)
			}
			set[k] = true
		}
		for _, m := range citeRE.FindAllStringSubmatch(whole, -1) {
			k, _ := strconv.Atoi(m[1])
			// Brackets inside text that was not a citation ("[[1]" keeps its
			// first bracket) still hold only valid citations.
			if !set[k] {
				t.Fatalf("text %q keeps [%d], cited %v", whole, k, cited)
			}
		}
	})
}

// cleanCitations filters a whole text the way the stream is filtered: it
// returns the text citing only evidence 1..n, the valid numbers cited and
// how many citations were removed.
func cleanCitations(s string, n int) (string, []int, int) {
	var b strings.Builder
	f := newCiteFilter(n, func(p string) { b.WriteString(p) })
	f.Write(s)
	f.Flush()
	return b.String(), f.Cited(), f.removed
}
