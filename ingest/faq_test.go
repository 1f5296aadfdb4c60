package ingest

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestShopFAQ(t *testing.T) {
	data, err := os.ReadFile(testenv.Shared(t, "data/demo/shop_faq.csv"))
	if err != nil {
		t.Fatal(err)
	}
	doc := parseOne(t, "shop_faq.csv", data, Limits{})
	if len(doc.FAQs) != 40 {
		t.Fatalf("%d entries, want 40", len(doc.FAQs))
	}
	first := doc.FAQs[0]
	if first.Questions[0] != "怎么申请退款？" || first.Category != "售后" || first.Lang != "zh" || !strings.HasPrefix(first.Answer, "在“我的订单”中找到对应订单") || first.Row != 2 {
		t.Errorf("first entry %+v", first)
	}
	langs := map[string]int{}
	for _, e := range doc.FAQs {
		langs[e.Lang]++
	}
	if langs["zh"] != 20 || langs["en"] != 20 {
		t.Errorf("languages %v, want 20 zh and 20 en", langs)
	}
	chunks := (&Chunker{Counter: wordCounter{}}).Chunk(doc)
	if len(chunks) != 40 {
		t.Fatalf("%d chunks", len(chunks))
	}
	c := chunks[0]
	if c.Kind != kefu.KindFAQ || c.Text != first.Answer || !reflect.DeepEqual(c.Questions, first.Questions) || c.Category != "售后" || c.ID != "shop_faq.csv#0" || c.Hash != c.ContentHash() || c.Meta["row"] != "2" {
		t.Errorf("first chunk %+v", c)
	}
}

func TestFAQHeadersAndPhrasings(t *testing.T) {
	csv := "标准问题,相似问法（用|分隔）,答案,分类,语言\n" +
		"怎么退款,如何退款|退款流程；申请退款,在订单页申请。,售后,中文\n" +
		"\"多久到账\",\"几天到账\n到账时间\",1-3个工作日。,售后,\n" +
		"退款能取消吗,,在订单页申请。,,\n" + // same answer: another phrasing of entry 1
		",,,,\n" +
		"How long is shipping?,Delivery time; shipping days,Two days.,Shipping,English\n" +
		"When will it arrive?,,,,\n" // no answer: a phrasing of the entry above (merged cell)
	doc := parseOne(t, "faq.csv", []byte(csv), Limits{})
	want := []FAQ{
		{Questions: []string{"怎么退款", "如何退款", "退款流程", "申请退款", "退款能取消吗"}, Answer: "在订单页申请。", Category: "售后", Lang: "zh", Row: 2},
		{Questions: []string{"多久到账", "几天到账", "到账时间"}, Answer: "1-3个工作日。", Category: "售后", Lang: "zh", Row: 3},
		{Questions: []string{"How long is shipping?", "Delivery time", "shipping days", "When will it arrive?"}, Answer: "Two days.", Category: "Shipping", Lang: "en", Row: 6},
	}
	if !reflect.DeepEqual(doc.FAQs, want) {
		t.Errorf("entries\n%+v\nwant\n%+v", doc.FAQs, want)
	}
}

func TestFAQEnglishHeadersTSV(t *testing.T) {
	tsv := "Q\tA\tAlternatives\tTopic\tURL\nReset password?\tUse the link.\tForgot password | Lost password\tAccount\thttps://x/reset\n"
	doc := parseOne(t, "faq.tsv", []byte(tsv), Limits{})
	want := []FAQ{{Questions: []string{"Reset password?", "Forgot password", "Lost password"}, Answer: "Use the link.", Category: "Account", Lang: "en", URL: "https://x/reset", Row: 2}}
	if !reflect.DeepEqual(doc.FAQs, want) {
		t.Errorf("entries %+v", doc.FAQs)
	}
}

func TestFAQTwoColumnsWithoutHeader(t *testing.T) {
	doc := parseOne(t, "pairs.csv", []byte("营业时间？,每天9点到21点。\nDo you ship abroad?,\"Yes, to 30 countries.\"\n"), Limits{})
	if len(doc.FAQs) != 2 || doc.FAQs[0].Questions[0] != "营业时间？" || doc.FAQs[1].Answer != "Yes, to 30 countries." {
		t.Errorf("entries %+v", doc.FAQs)
	}
}

func TestFAQNotASheet(t *testing.T) {
	_, err := Parse(context.Background(), "prices.csv", []byte("sku,name,price\n1,pen,2\n"), Limits{})
	wantRefusal(t, err, kefu.EUNSUPPORTED, "prices.csv", "question")
}

func TestFAQRowLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("question,answer\n")
	for i := 0; i < 101; i++ {
		fmt.Fprintf(&b, "q%d,a%d\n", i, i)
	}
	_, err := Parse(context.Background(), "shop.csv", []byte(b.String()), Limits{MaxRows: 100})
	wantRefusal(t, err, kefu.ETOOLARGE, "shop.csv: more than 100 rows (limit --max-rows)")
	doc := parseOne(t, "shop.csv", []byte(b.String()), Limits{MaxRows: 101})
	if len(doc.FAQs) != 101 {
		t.Errorf("%d entries", len(doc.FAQs))
	}
}

// A CSV exported by Excel on Chinese Windows is GBK; it is detected by its
// content, whatever its name says.
func TestFAQGBK(t *testing.T) {
	utf := "问题,答案,分类\n怎么申请退款？,在“我的订单”中申请售后。,售后\n发票怎么开？,结算页选择开具发票。,发票\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(utf)
	if err != nil {
		t.Fatal(err)
	}
	doc := parseOne(t, "export.csv", []byte(gbk), Limits{})
	if len(doc.FAQs) != 2 || doc.FAQs[0].Questions[0] != "怎么申请退款？" || doc.FAQs[1].Category != "发票" {
		t.Errorf("entries %+v", doc.FAQs)
	}
}

func TestXLSXFAQ(t *testing.T) {
	data := xlsxOf(t, map[string][][]string{
		"FAQ": {
			{"问题", "相似问题", "回答", "类别"},
			{"怎么改地址", "修改收货地址\n地址填错了", "发货前在订单页修改。", "物流"},
			{"", "", "", ""},
			{"可以开专票吗", "", "可以，上传营业执照。", "发票"},
		},
		"Notes": {{"just", "some", "notes", "here"}},
	})
	doc := parseOne(t, "faq.xlsx", data, Limits{})
	want := []FAQ{
		{Questions: []string{"怎么改地址", "修改收货地址", "地址填错了"}, Answer: "发货前在订单页修改。", Category: "物流", Lang: "zh", Row: 2},
		{Questions: []string{"可以开专票吗"}, Answer: "可以，上传营业执照。", Category: "发票", Lang: "zh", Row: 4},
	}
	if !reflect.DeepEqual(doc.FAQs, want) || doc.Format != FormatXLSX {
		t.Errorf("entries %+v", doc.FAQs)
	}
}

func TestXLSXLimits(t *testing.T) {
	rows := [][]string{{"question", "answer"}}
	for i := 0; i < 60; i++ {
		rows = append(rows, []string{fmt.Sprintf("q%d", i), "a"})
	}
	data := xlsxOf(t, map[string][][]string{"S": rows})
	_, err := Parse(context.Background(), "shop.xlsx", data, Limits{MaxRows: 50})
	wantRefusal(t, err, kefu.ETOOLARGE, "shop.xlsx: more than 50 rows (limit --max-rows)")

	// A sheet that unpacks past the limit is refused before excelize reads it.
	big := [][]string{{"question", "answer"}}
	for i := 0; i < 3000; i++ {
		big = append(big, []string{fmt.Sprintf("%d%s", i, strings.Repeat("重复的问题", 20)), fmt.Sprintf("%d%s", i, strings.Repeat("重复的答案", 20))})
	}
	data = xlsxOf(t, map[string][][]string{"S": big})
	_, err = Parse(context.Background(), "bomb.xlsx", data, Limits{MaxDecompressedBytes: 256 << 10})
	wantRefusal(t, err, kefu.ETOOLARGE, "bomb.xlsx", "--max-unpacked-bytes")
}

// Workbooks inside an archive share its decompression budget: each fits,
// together they do not.
func TestXLSXInZIPShareTheBudget(t *testing.T) {
	rows := [][]string{{"question", "answer"}}
	for i := 0; i < 1000; i++ {
		rows = append(rows, []string{fmt.Sprintf("%d%s", i, strings.Repeat("重复的问题", 10)), fmt.Sprintf("%d%s", i, strings.Repeat("重复的答案", 10))})
	}
	book := string(xlsxOf(t, map[string][][]string{"S": rows}))
	zr, err := zip.NewReader(strings.NewReader(book), int64(len(book)))
	if err != nil {
		t.Fatal(err)
	}
	var unpacked int64
	for _, f := range zr.File {
		unpacked += int64(f.UncompressedSize64)
	}
	lim := Limits{MaxDecompressedBytes: unpacked*5/2 + 64<<10} // two workbooks and the archive, not three
	if _, err := Parse(context.Background(), "two.zip", zipOf(t, "a.xlsx", book, "b.xlsx", book), lim); err != nil {
		t.Fatalf("two workbooks within the budget: %v", err)
	}
	_, err = Parse(context.Background(), "three.zip", zipOf(t, "a.xlsx", book, "b.xlsx", book, "c.xlsx", book), lim)
	wantRefusal(t, err, kefu.ETOOLARGE, "--max-unpacked-bytes")
}

func TestXLSXNoFAQSheet(t *testing.T) {
	data := xlsxOf(t, map[string][][]string{"S": {{"sku", "name", "price"}, {"1", "pen", "2"}}})
	_, err := Parse(context.Background(), "stock.xlsx", data, Limits{})
	wantRefusal(t, err, kefu.EUNSUPPORTED, "stock.xlsx", "no FAQ sheet")
}

// Twenty thousand phrasings of one answer are one entry (phrasings are
// deduplicated through a set, not by scanning the list).
func TestFAQManyPhrasings(t *testing.T) {
	var b strings.Builder
	b.WriteString("question,answer\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "question number %d,The same answer.\n", i)
	}
	b.WriteString("QUESTION NUMBER 7,The same answer.\n") // case is kept: a new phrasing
	b.WriteString("question number ７,The same answer.\n") // full-width 7 folds to a duplicate
	doc := parseOne(t, "many.csv", []byte(b.String()), Limits{})
	if len(doc.FAQs) != 1 || len(doc.FAQs[0].Questions) != 20001 {
		t.Errorf("%d entries, %d phrasings", len(doc.FAQs), len(doc.FAQs[0].Questions))
	}
}
