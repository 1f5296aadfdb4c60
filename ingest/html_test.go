package ingest

import (
	"os"
	"strings"
	"testing"
)

// blockTexts renders blocks one per line, for comparisons.
func blockTexts(blocks []Block) string {
	var lines []string
	for _, b := range blocks {
		switch b.Kind {
		case BlockHeading:
			lines = append(lines, strings.Repeat("#", b.Level)+" "+b.Text)
		case BlockTable:
			for _, r := range b.Rows {
				lines = append(lines, "| "+strings.Join(r, " | ")+" |")
			}
		case BlockCode:
			lines = append(lines, "```"+b.Lang+"\n"+b.Text+"\n```")
		case BlockPage:
			lines = append(lines, "<page>")
		default:
			lines = append(lines, b.Text)
		}
	}
	return strings.Join(lines, "\n")
}

const helpArticle = `# How do I return an item?
Updated March 2, 2025
You can return most items within 30 days of delivery. The item must be unused and in its original packaging.
## Start a return
1. Go to My Orders and find the order.
2. Click Return or replace items and choose the items.
3. Print the prepaid label and drop the parcel at any post office.
## Refund timelines
Once the warehouse receives your parcel, we refund you within 5 business days.
| Payment method | Time to appear |
| Credit card | 3–5 business days |
| PayPal | 1 business day |
| Gift card | Immediately |
### Items you cannot return
- Perishable goods such as food and flowers.
- Personalized items.
` + "```text\nRMA-2025-000123\n```"

func TestHTMLHelpCenterArticle(t *testing.T) {
	data, err := os.ReadFile("testdata/helpcenter.html")
	if err != nil {
		t.Fatal(err)
	}
	doc := parseOne(t, "return.html", data, Limits{})
	if got := blockTexts(doc.Blocks); got != helpArticle {
		t.Errorf("blocks:\n%s\n\nwant:\n%s", got, helpArticle)
	}
	if doc.Title != "How do I return an item?" {
		t.Errorf("title %q", doc.Title)
	}
	if doc.URL != "https://help.acme.example/hc/en-us/articles/360001-How-do-I-return-an-item" {
		t.Errorf("url %q", doc.URL)
	}
	if doc.Meta["lang"] != "en" {
		t.Errorf("meta %v", doc.Meta)
	}
}

// The same page without semantic markup (an older CMS): no <article>,
// <header>, <nav> or <footer>, only divs with classes. Readability and the
// class heuristics must still find the article.
func TestHTMLDivSoupArticle(t *testing.T) {
	data, err := os.ReadFile("testdata/helpcenter.html")
	if err != nil {
		t.Fatal(err)
	}
	page := strings.NewReplacer(
		"<article", "<div", "</article>", "</div>",
		"<header", "<div", "</header>", "</div>",
		"<nav", "<div", "</nav>", "</div>",
		"<footer", "<div", "</footer>", "</div>",
		"<section", "<div", "</section>", "</div>",
	).Replace(string(data))
	doc := parseOne(t, "return.htm", []byte(page), Limits{})
	got := blockTexts(doc.Blocks)
	for _, want := range []string{
		"You can return most items within 30 days of delivery.",
		"## Start a return", "1. Go to My Orders and find the order.",
		"| PayPal | 1 business day |", "Personalized items.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("article text %q missing from:\n%s", want, got)
		}
	}
	if doc.Title != "How do I return an item?" {
		t.Errorf("title %q", doc.Title)
	}
	for _, menu := range []string{"Orders and Payment", "Gift Cards", "Submit a request", "cookies", "Where is my refund?", "Privacy policy", "All rights reserved", "Track your parcel", "Skip to main content", "Was this article helpful"} {
		if strings.Contains(got, menu) {
			t.Errorf("page furniture %q indexed:\n%s", menu, got)
		}
	}
}

func TestHTMLChineseAndBreaks(t *testing.T) {
	page := `<html><body><main><h1>退款说明</h1><p>审核通过后，
款项会在1-3个工作日内
原路退回。</p><p>第一行<br>第二行</p><ul><li>支付宝<ul><li>1个工作日</li></ul></li></ul></main></body></html>`
	doc := parseOne(t, "zh.html", []byte(page), Limits{})
	want := "# 退款说明\n审核通过后，款项会在1-3个工作日内原路退回。\n第一行\n第二行\n- 支付宝\n- 1个工作日"
	if got := blockTexts(doc.Blocks); got != want {
		t.Errorf("blocks:\n%s\nwant:\n%s", got, want)
	}
	if doc.Blocks[len(doc.Blocks)-1].Level != 2 {
		t.Errorf("nested item level %d, want 2", doc.Blocks[len(doc.Blocks)-1].Level)
	}
}

func TestHTMLSniffedWithoutExtension(t *testing.T) {
	doc := parseOne(t, "page", []byte("<!DOCTYPE html><html><head><title>T</title></head><body><p>Hello there.</p></body></html>"), Limits{})
	if doc.Format != FormatHTML || blockTexts(doc.Blocks) != "Hello there." || doc.Title != "T" {
		t.Errorf("format %q title %q blocks %q", doc.Format, doc.Title, blockTexts(doc.Blocks))
	}
}
