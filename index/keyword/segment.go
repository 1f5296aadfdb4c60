package keyword

import (
	"strings"
	"sync"

	"github.com/go-ego/gse"
)

// domainWords are customer-service words that gse's bundled dictionary lacks
// and would otherwise cut into single characters (花呗 → 花 呗). Only atomic
// words are listed: a compound such as 人工客服 would hide 客服 from a query
// that uses it alone.
var domainWords = strings.Fields(`
花呗 借呗 余额宝 天猫 拼多多 运费险 专票 普票 收款码 付款码 网商贷 芝麻分 信用分
提额 降额 绑卡 解绑 到账 价保 包邮 满减 相互宝 揽收 催单 工单
`)

// domainWordFreq is the dictionary frequency given to domainWords: high enough
// that the DAG segmentation keeps them whole.
const domainWordFreq = 2000

var (
	segOnce sync.Once
	seg     *gse.Segmenter
	segErr  error
)

// segmenter returns the shared gse segmenter, loading gse's bundled
// simplified-Chinese dictionary on first use. Loading takes about 1.3 s and
// 130 MB of heap, once per process; the segmenter is read-only afterwards and
// safe for concurrent use.
func segmenter() (*gse.Segmenter, error) {
	segOnce.Do(func() {
		s := &gse.Segmenter{SkipLog: true}
		if err := s.LoadDictEmbed("zh_s"); err != nil {
			segErr = err
			return
		}
		for _, w := range domainWords {
			if err := s.AddToken(w, domainWordFreq, "n"); err != nil {
				segErr = err
				return
			}
		}
		seg = s
	})
	return seg, segErr
}
