package retrieve

import (
	"embed"
	"strings"
	"sync"
)

//go:embed offtopic/*.txt
var offtopicFiles embed.FS

// OffTopicQuestions are the off-topic questions shipped with kefu, in
// Chinese and English (offtopic/zh.txt, offtopic/en.txt: general
// knowledge, chit-chat and other trades' questions), which self-calibration
// asks every KB as questions it should not answer confidently.
var OffTopicQuestions = sync.OnceValue(func() []string {
	var out []string
	for _, name := range []string{"offtopic/en.txt", "offtopic/zh.txt"} {
		b, err := offtopicFiles.ReadFile(name)
		if err != nil {
			panic(err) // embedded at build time
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
	}
	return out
})
