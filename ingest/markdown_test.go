package ingest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu/internal/testenv"
)

func TestMarkdownStructure(t *testing.T) {
	src := "---\ntitle: \"Returns & Refunds\"\nslug: /returns\nsidebar_position: 3\ntags: [a, b]\n---\n" +
		"# Returns\n\nIntro line one\ncontinues here.\n\n" +
		"## Refunds {#refunds}\n\n" +
		"1. Open **My Orders**.\n2. Click `Refund`.\n   - Nested *bullet*.\n\n" +
		"| Method | Days |\n|---|---|\n| Card | 3 |\n| PayPal | 1 |\n\n" +
		"```bash\ncurl -X POST /refund\n\necho done\n```\n\n" +
		"### Timing\n\n> Quoted tip.\n\n![screenshot](img.png)\n\n---\n\n中文第一行\n第二行。\n"
	doc := parseOne(t, "returns.md", []byte(src), Limits{})
	want := "# Returns\nIntro line one continues here.\n## Refunds\n1. Open My Orders.\n2. Click Refund.\n- Nested bullet.\n" +
		"| Method | Days |\n| Card | 3 |\n| PayPal | 1 |\n```bash\ncurl -X POST /refund\n\necho done\n```\n### Timing\nQuoted tip.\n中文第一行第二行。"
	if got := blockTexts(doc.Blocks); got != want {
		t.Errorf("blocks:\n%s\nwant:\n%s", got, want)
	}
	if doc.Title != "Returns & Refunds" || doc.URL != "/returns" || doc.Meta["sidebar_position"] != "3" {
		t.Errorf("title %q url %q meta %v", doc.Title, doc.URL, doc.Meta)
	}
	// Levels: the nested bullet is one list deeper.
	for _, b := range doc.Blocks {
		if b.Text == "- Nested bullet." && b.Level != 2 {
			t.Errorf("nested item level %d", b.Level)
		}
	}
}

func TestMDXSyntaxDropped(t *testing.T) {
	src := "---\nslug: /faq\n---\n# FAQs\n\nimport TOCInline from '@theme/TOCInline';\nimport Tabs from '@theme/Tabs';\n\n" +
		"<TOCInline toc={toc} />\n\n:::tip NOTE\nKeep the **tip** text.\n:::\n\n" +
		"<Tabs\n  defaultValue=\"linux\"\n  values={[\n    {label: 'Linux', value: 'linux'},\n  ]}>\n  <TabItem value=\"linux\">\n\n  ```bash\n  init-ollama\n  ```\n  </TabItem>\n</Tabs>\n\n" +
		"{/* a comment */}\n\nText with <span id=\"x\"></span>inline JSX and <Badge>kept words</Badge>.\n\n" +
		"```mdx-code-block\n<APITable>\n```\n\n| A | B |\n|---|---|\n| 1 | 2 |\n\n```mdx-code-block\n</APITable>\n```\n\nexport const x = 1;\n"
	doc := parseOne(t, "faq.mdx", []byte(src), Limits{})
	want := "# FAQs\nKeep the tip text.\n```bash\ninit-ollama\n```\nText with inline JSX and kept words.\n| A | B |\n| 1 | 2 |"
	if got := blockTexts(doc.Blocks); got != want {
		t.Errorf("blocks:\n%s\nwant:\n%s", got, want)
	}
	if doc.Title != "FAQs" || doc.URL != "/faq" {
		t.Errorf("title %q url %q", doc.Title, doc.URL)
	}
}

// Every document of the demo help center parses, and no MDX/Docusaurus
// syntax reaches the text.
func TestDemoHelpCenter(t *testing.T) {
	root := testenv.Shared(t, "data/demo/help")
	ups, skipped := Walk(root)
	if len(ups) < 100 {
		t.Fatalf("%d uploads", len(ups))
	}
	for _, s := range skipped {
		if !strings.HasSuffix(s.Source, "_category_.json") && !strings.HasSuffix(s.Source, "LICENSE") {
			t.Errorf("unexpected skip: %s: %s", s.Source, s.Reason)
		}
	}
	ch := &Chunker{Counter: wordCounter{}, MaxTokens: 256}
	chunks := 0
	for _, up := range ups {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(up.Name)))
		if err != nil {
			t.Fatal(err)
		}
		docs, err := Parse(context.Background(), up.Name, data, Limits{})
		if err != nil {
			t.Errorf("%s: %v", up.Name, err)
			continue
		}
		d := docs[0]
		if d.Title == "" || d.Empty() {
			t.Errorf("%s: title %q, %d blocks", up.Name, d.Title, len(d.Blocks))
		}
		for _, b := range d.Blocks {
			if b.Kind == BlockCode {
				continue
			}
			txt := b.Text + strings.Join(flatten(b.Rows), " ")
			for _, bad := range []string{"import TOCInline", "<Tabs", "<TabItem", "</TabItem", ":::", "{toc}", "APITable", "defaultValue="} {
				if strings.Contains(txt, bad) {
					t.Errorf("%s: syntax %q in %s %q", up.Name, bad, b.Kind, txt)
				}
			}
		}
		for _, c := range ch.Chunk(d) {
			chunks++
			if c.Tokens > 256 || c.Tokens != (wordCounter{}).CountTokens(c.ContextText()) {
				t.Errorf("%s: chunk %d has %d tokens", up.Name, c.Seq, c.Tokens)
			}
		}
	}
	// The FAQ page, in detail.
	data, _ := os.ReadFile(filepath.Join(root, "faq.mdx"))
	doc := parseOne(t, "faq.mdx", data, Limits{})
	if doc.Title != "FAQs" || doc.URL != "/faq" {
		t.Errorf("faq.mdx title %q url %q", doc.Title, doc.URL)
	}
	found := false
	for _, c := range ch.Chunk(doc) {
		if c.HeadingPath() == "FAQs > General features > What sets RAGFlow apart from other RAG products?" {
			found = strings.Contains(c.Text, "Fine-grained document parsing") && strings.HasPrefix(c.Text, `The "garbage in garbage out" status quo`)
		}
	}
	if !found {
		t.Error("faq.mdx: the first question's chunk is missing or wrong")
	}
	t.Logf("%d documents, %d chunks", len(ups), chunks)
}

func flatten(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// Deep container nesting, which goldmark parses in quadratic time, is
// flattened to maxMDContainers markers and maxMDIndent columns; the text
// stays.
func TestMarkdownDeepNesting(t *testing.T) {
	got := flattenNesting(strings.Repeat("> ", 5000) + "deep text\n" + strings.Repeat("- ", 5000) + "item\n" + strings.Repeat(" ", 1000) + "- far")
	lines := strings.Split(got, "\n")
	if strings.Count(lines[0], ">") != maxMDContainers || !strings.HasSuffix(lines[0], "deep text") {
		t.Errorf("quotes: %d markers, %q", strings.Count(lines[0], ">"), lines[0][len(lines[0])-20:])
	}
	if strings.Count(lines[1], "-") != maxMDContainers || !strings.HasSuffix(lines[1], "item") {
		t.Errorf("lists: %d markers", strings.Count(lines[1], "-"))
	}
	if lines[2] != strings.Repeat(" ", maxMDIndent)+"- far" {
		t.Errorf("indent %d", len(lines[2])-len(strings.TrimLeft(lines[2], " ")))
	}
	src := "> quoted\n> > nested\n\n- a\n  - b\n"
	if flattenNesting(src) != src {
		t.Error("shallow nesting changed")
	}
	doc := parseOne(t, "deep.md", []byte(strings.Repeat(">", 200000)+" deep text"), Limits{})
	if blockTexts(doc.Blocks) != "deep text" {
		t.Errorf("deep quote: %q", blockTexts(doc.Blocks))
	}
}
