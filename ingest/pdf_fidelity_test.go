package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxPDFCER bounds the character error rate of the text extracted from the
// fixtures against their source text: one wrong character in 200, a split
// or glued word every few paragraphs, or a stray list bullet or table
// rule. Such errors cost little in search and leave room for the next
// Chromium or LibreOffice to lay a line out differently; the garbling this
// guards against ("r etur n", "ø :" for 退货政策) was 2-7% and 99%.
const maxPDFCER = 0.005

// TestPDFFidelity extracts the fixtures of testdata/pdf, made from their
// .md sources by scripts/pdf-fixtures.sh with Chromium (print to PDF) and
// LibreOffice Writer (export as PDF), in English and Chinese, and measures
// the character error rate against the reference text (NAME.txt, written
// by the same script from the source, independently of this package).
func TestPDFFidelity(t *testing.T) {
	pdfs, err := filepath.Glob("testdata/pdf/*.pdf")
	if err != nil || len(pdfs) < 12 {
		t.Fatalf("fixtures: %v %v", pdfs, err)
	}
	for _, path := range pdfs {
		base := filepath.Base(path)
		src := strings.SplitN(base, ".", 2)[0]
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := os.ReadFile(filepath.Join("testdata/pdf", src+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			doc := parseOne(t, base, data, Limits{})
			// Chromium names the PDF after the page's address (NAME.html),
			// LibreOffice leaves the title out: both give way to the heading.
			if first, _, _ := strings.Cut(string(ref), "\n"); doc.Title != first {
				t.Errorf("title %q, want the first heading %q", doc.Title, first)
			}
			var got []string
			for _, b := range doc.Blocks {
				if b.Kind != BlockPage {
					got = append(got, strings.TrimLeft(b.Text, "•◦▪ "))
				}
			}
			// Each line of the reference is a block (paragraph, heading, list
			// item, table row): count those read as one block.
			blocks := map[string]bool{}
			for _, g := range got {
				blocks[cerText(g)] = true
			}
			lines := strings.Split(strings.TrimSpace(string(ref)), "\n")
			whole := 0
			for _, l := range lines {
				if blocks[cerText(l)] {
					whole++
				} else {
					t.Logf("not a block of its own: %q", l)
				}
			}
			// One may not be: a paragraph across a page break is two blocks
			// (a chunk cites one page), a table cell may wrap.
			if t.Logf("%d of %d blocks whole", whole, len(lines)); len(lines)-whole > 1 {
				t.Errorf("%d of %d blocks of the source read as one block each", whole, len(lines))
			}
			want, have := cerText(string(ref)), cerText(strings.Join(got, "\n"))
			d := levenshtein([]rune(want), []rune(have))
			cer := float64(d) / float64(len([]rune(want)))
			t.Logf("CER %.4f (%d edits / %d chars)", cer, d, len([]rune(want)))
			if cer > maxPDFCER {
				t.Errorf("CER %.4f > %.2f\nwant %s\ngot  %s", cer, maxPDFCER, want, have)
			}
		})
	}
}

// cerText is the text a character error rate is measured on: white space
// runs become one space, and white space next to a CJK character, which
// Chinese typesetting does not use and word segmentation ignores, is dropped.
func cerText(s string) string {
	fields := strings.Fields(s)
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			prev := []rune(fields[i-1])
			next := []rune(f)
			if !isWide(prev[len(prev)-1]) && !isWide(next[0]) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(f)
	}
	return b.String()
}

// levenshtein is the edit distance of two rune strings (insertions,
// deletions and substitutions, each costing one).
func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
