package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/retrieve"
)

// shopQuestions are labelled questions for the demo shop FAQ, written for
// it as a support team would label its own traffic: two paraphrases of each
// entry and some questions it cannot answer. The demo fits the shop KB's
// confidence on them, the way `kefu eval --kb shop --questions FILE
// --calibrate` does for a team's own KB.
//
//go:embed demo/shop_questions.jsonl
var shopQuestions []byte

// calibrateDemo fits the demo shop KB's confidence on shopQuestions.
func (a *app) calibrateDemo(ctx context.Context, kbName string, e kefu.Embedder, out io.Writer) error {
	faqs, err := a.faqIndex(ctx, kbName)
	if err != nil {
		return err
	}
	set, err := parseQuestions("demo/shop_questions.jsonl", shopQuestions, faqs)
	if err != nil {
		return err
	}
	kb, err := a.store.KB(ctx, kbName)
	if err != nil {
		return err
	}
	samples, err := retrieve.SamplesFor(ctx, a.retriever(e), kb, set)
	if err != nil {
		return err
	}
	cal, err := retrieve.FitLogistic(samples, nil, 1.0)
	if err != nil {
		return err
	}
	cal.Model, cal.FittedOn = kb.Model, fmt.Sprintf("demo/shop_questions.jsonl, %d labelled questions", len(samples))
	kb.Settings.Calibration = cal
	if err := a.store.UpdateKB(ctx, kb); err != nil {
		return err
	}
	if out != nil {
		fmt.Fprintf(out, "kefu: calibrated %q on %d labelled demo questions\n", kbName, len(samples))
	}
	return nil
}
