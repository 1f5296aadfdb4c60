package eval

import (
	_ "embed"
)

// The dev question sets of the demo knowledge bases (eval/questions): the
// demo's first report measures the KBs on them. They are never calibration
// data: the demo KBs calibrate themselves from their content.
var (
	//go:embed questions/shop_dev.jsonl
	shopDev []byte
	//go:embed questions/help_dev.jsonl
	helpDev []byte
)

// DevQuestions returns the file name and content of a demo KB's dev
// question set ("shop" or "help"), or false for any other KB.
func DevQuestions(kb string) (string, []byte, bool) {
	switch kb {
	case "shop":
		return "questions/shop_dev.jsonl", shopDev, true
	case "help":
		return "questions/help_dev.jsonl", helpDev, true
	}
	return "", nil, false
}
