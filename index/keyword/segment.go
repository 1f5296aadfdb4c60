package keyword

import (
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-ego/gse"

	"github.com/kefu-dev/kefu/internal/text"
)

// domainWords are customer-service words that gse's bundled dictionary lacks
// and would otherwise cut into single characters (花呗 → 花 呗). Only atomic
// words are listed: a compound such as 人工客服 would hide 客服 from a query
// that uses it alone.
var domainWords = strings.Fields(`
花呗 借呗 余额宝 天猫 拼多多 运费险 专票 普票 收款码 付款码 网商贷 芝麻分 信用分
提额 降额 绑卡 解绑 到账 价保 包邮 满减 相互宝 揽收 催单 工单
微信 云闪付 网银 免密 返现 抵现 抵用券 唯品会 抖音
顺丰 中通 申通 韵达 极兔 德邦 闪送 丰巢 自提 揽件 派件 取件 寄件 清关 海淘 直邮
登入 换绑 漏发 错发 少件 缺件 断货 下架 晒单 差评 延保
`)

// domainWordFreq is the dictionary frequency given to domainWords: high enough
// that the DAG segmentation keeps them whole.
const domainWordFreq = 2000

// segmenter returns the shared gse segmenter, loaded on first use; it is
// read-only afterwards and safe for concurrent use.
var segmenter = sync.OnceValues(loadSegmenter)

// loadSegmenter loads gse's bundled simplified-Chinese dictionary and the
// domain words: over a second and 133 MB of heap (BenchmarkLoadSegmenter).
func loadSegmenter() (*gse.Segmenter, error) {
	s := &gse.Segmenter{SkipLog: true}
	if err := s.LoadDictEmbed("zh_s"); err != nil {
		return nil, err
	}
	for _, w := range domainWords {
		if err := s.AddToken(w, domainWordFreq, "n"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Preload loads the segmenter's dictionary and the Traditional → Simplified
// converter now rather than at the first Chinese text, which would otherwise
// wait for them (over a second; BenchmarkLoadSegmenter), and builds the
// Levenshtein automata builders of typo correction, which the first
// misspelt Latin word would wait for (about 4 ms,
// BenchmarkTypoAutomataBuilders). kefu serve calls it
// while it starts.
func Preload() error {
	if _, err := segmenter(); err != nil {
		return err
	}
	if _, _, err := levBuilders(); err != nil {
		return err
	}
	return text.LoadSimplifier()
}

// singleCharSpecificity is the specificity of a Chinese word of one
// character: gse's dictionary rates 坏, 钱 and 换 as rare as 比特币.
const singleCharSpecificity = 0.5

// specificity is how rare a word is in the language at large, from the
// frequencies of gse's dictionary (jieba's, counted over a general corpus):
// log(total/freq) over log(total), 1 for a word it does not hold;
// singleCharSpecificity for one character. Only Chinese words have one;
// others get -1.
func specificity(word string) float64 {
	if !text.HasHan(word) {
		return -1
	}
	seg, err := segmenter()
	if err != nil {
		return -1
	}
	if utf8.RuneCountInString(word) == 1 {
		// gse's dictionary counts few single characters (坏, 钱, 换 come out
		// as rare as 比特币): a word of one character is a common word of
		// the language, never a name the KB lacks. It weighs about half.
		return singleCharSpecificity
	}
	freq, _, ok := seg.Find(word)
	total := seg.Dict.TotalFreq()
	if !ok || freq <= 0 || total <= 1 {
		return 1
	}
	return math.Min(1, math.Max(0, math.Log(total/freq)/math.Log(total)))
}
