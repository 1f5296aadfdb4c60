package answer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kefu-dev/kefu"
)

// maxPolicyBytes bounds the policy file.
const maxPolicyBytes = 1 << 20

// Policy is the global answer policy, read from Options.PolicyFile (JSON) and
// re-read by Service.Reload. Every field is optional; see DefaultPolicy for
// the built-in lists and messages.
type Policy struct {
	// SensitiveWords send a question to a person. They extend the defaults
	// (and each KB's KBSettings.SensitiveWords extend these).
	SensitiveWords []string `json:"sensitive_words,omitempty"`
	// HandoffPhrases are explicit requests for a person ("转人工", "talk to a
	// human"); they extend the defaults.
	HandoffPhrases []string `json:"handoff_phrases,omitempty"`
	// Exceptions contain a trigger without being one ("人工智能" contains
	// "人工"); a trigger inside an exception is ignored.
	Exceptions []string `json:"exceptions,omitempty"`
	// ReplaceDefaults makes the three lists above replace the built-in lists
	// instead of extending them.
	ReplaceDefaults bool `json:"replace_defaults,omitempty"`
	// Threshold and Floor apply to KBs whose settings leave them at zero.
	Threshold float64 `json:"threshold,omitempty"`
	Floor     float64 `json:"floor,omitempty"`
	// Messages override the built-in replies by language ("zh", "en"); empty
	// fields keep the built-in text.
	Messages map[string]Messages `json:"messages,omitempty"`
}

// Messages are the fixed texts of the answerer in one language.
type Messages struct {
	Handoff     string `json:"handoff,omitempty"`     // a person will take over
	Unknown     string `json:"unknown,omitempty"`     // the KB has no answer; offers a person
	Disclaimer  string `json:"disclaimer,omitempty"`  // below the threshold or unverified citations; offers a person
	Fallback    string `json:"fallback,omitempty"`    // the LLM failed: the answer is quoted from the documents
	Interrupted string `json:"interrupted,omitempty"` // follows a partial LLM answer, before the quoted one
}

var (
	// Sensitive words: complaints, the law and authorities (12315 is the
	// consumer-rights hotline, 消协 the consumer association), going public.
	defaultSensitive = append([]string{
		"投诉", "律师", "报警", "人工", "起诉", "法院", "消协", "消费者协会", "12315",
		"工商局", "市场监管", "维权", "仲裁", "曝光", "媒体", "记者", "诈骗", "骗子",
		"complaint", "complaints", "complain", "lawyer", "lawyers", "attorney",
		"police", "human", "humans", "agent", "agents", "sue", "suing", "lawsuit", "legal action",
		"fraud", "scam", "better business bureau", "consumer protection", "escalate", "escalation",
	}, append(sensitiveExtraEN, sensitiveExtraZH...)...)
	// Requests for a person, a manager or someone in charge.
	defaultRequests = append([]string{
		"转人工", "找客服", "人工客服", "真人客服", "找真人", "真人", "叫你们经理", "客服电话",
		"领导", "主管", "经理", "负责人", "上级", "管事的", "找老板", "找你们老板", "叫你们老板", "让你们老板",
		"talk to a human", "speak to a human", "talk to a person", "speak to a person",
		"talk to someone", "speak to someone", "talk to an agent", "speak to an agent",
		"real person", "actual person", "real human", "live agent", "live person", "put me through",
		"customer service representative", "representative", "operator",
		"manager", "supervisor", "in charge", "store owner", "your boss",
	}, generatedRequests()...)
	// Phrases that contain a trigger without being one.
	defaultExceptions = []string{"人工智能", "人工费", "领导力", "产品经理", "项目经理", "客户经理", "主管部门", "真人秀",
		"user agent", "human-readable", "human resources", "travel agent", "sales agent", "real estate agent",
		"password manager", "download manager", "package manager", "in charge of shipping", "issue",
		// Jobs: asking about work as an agent is not asking for one.
		"hiring customer service agents", "hiring customer support agents", "hiring support agents", "hiring agents",
		"hiring a customer service agent", "hiring a customer support agent", "hiring a support agent", "become an agent",
		"become a customer service agent", "agent jobs", "agent job", "agent position", "agent positions",
		"customer service jobs", "招聘客服", "客服招聘", "应聘客服", "客服岗位"}

	defaultMessages = map[string]Messages{
		"zh": {
			Handoff:     "好的，正在为您转接人工客服，客服人员会尽快接手这个对话，请稍候。",
			Unknown:     "抱歉，我在资料中没有找到这个问题的答案，不想给您不准确的信息。如需帮助，请回复“人工”联系人工客服。",
			Disclaimer:  "以上回答可能不完全准确，仅供参考。如需进一步帮助，请回复“人工”联系人工客服。",
			Fallback:    "智能助手暂时不可用，以上内容直接摘自资料，可能不完全对应您的问题。如需进一步帮助，请回复“人工”联系人工客服。",
			Interrupted: "（回答生成中断，以下内容直接摘自资料。）",
		},
		"en": {
			Handoff:     "Sure, I'm transferring you to a human agent, who will take over this conversation shortly.",
			Unknown:     "Sorry, I couldn't find the answer to that in our documents, and I don't want to guess. Reply \"agent\" to reach a person.",
			Disclaimer:  "This answer may not be fully accurate. For more help, reply \"agent\" to reach a person.",
			Fallback:    "Our AI assistant is unavailable right now, so the text above is quoted from our documents and may not fully answer your question. Reply \"agent\" to reach a person.",
			Interrupted: "(The answer was interrupted; here is what our documents say.)",
		},
	}
)

// DefaultPolicy returns the built-in policy: the default hand-off lists, the
// threshold and floor of the kefu package and the zh/en messages.
func DefaultPolicy() Policy {
	msgs := make(map[string]Messages, len(defaultMessages))
	for k, v := range defaultMessages {
		msgs[k] = v
	}
	return Policy{
		SensitiveWords: append([]string(nil), defaultSensitive...),
		HandoffPhrases: append([]string(nil), defaultRequests...),
		Exceptions:     append([]string(nil), defaultExceptions...),
		Threshold:      kefu.DefaultThreshold,
		Floor:          kefu.DefaultFloor,
		Messages:       msgs,
	}
}

// LoadPolicy reads a policy file. Unknown fields are an error, so a typo
// does not silently leave a default in force.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "policy file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicyBytes+1))
	if err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "policy file: %w", err)
	}
	if len(data) > maxPolicyBytes {
		return nil, kefu.Errorf(kefu.ETOOLARGE, "policy file %s is larger than %d bytes", path, maxPolicyBytes)
	}
	return ParsePolicy(data)
}

// ParsePolicy decodes and validates a policy.
func ParsePolicy(data []byte) (*Policy, error) {
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "policy: %w", err)
	}
	if dec.More() {
		return nil, kefu.Errorf(kefu.EINVALID, "policy: trailing data after the JSON object")
	}
	if err := p.validate(); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, "policy: %w", err)
	}
	return &p, nil
}

func (p *Policy) validate() error {
	if p.Threshold < 0 || p.Threshold > 1 || p.Floor < 0 || p.Floor > 1 {
		return errors.New("threshold and floor must be in [0,1]")
	}
	if p.Threshold > 0 && p.Floor > p.Threshold {
		return fmt.Errorf("floor %.2f is above threshold %.2f", p.Floor, p.Threshold)
	}
	if n := len(p.SensitiveWords) + len(p.HandoffPhrases) + len(p.Exceptions); n > maxTriggers {
		return fmt.Errorf("%d hand-off phrases, more than %d", n, maxTriggers)
	}
	for lang := range p.Messages {
		if lang != "zh" && lang != "en" {
			return fmt.Errorf("messages for %q: only zh and en are used", lang)
		}
	}
	return nil
}

// policy is a Policy compiled for use: lists merged with the defaults and
// messages filled in. gen changes with every load, so matchers cached for
// an older policy are not reused.
type policy struct {
	gen        uint64
	sensitive  []string
	requests   []string
	exceptions []string
	threshold  float64
	floor      float64
	msgs       map[string]Messages
}

func compile(p *Policy, gen uint64) *policy {
	if p == nil {
		p = &Policy{}
	}
	c := &policy{gen: gen, threshold: kefu.DefaultThreshold, floor: kefu.DefaultFloor, msgs: make(map[string]Messages)}
	if !p.ReplaceDefaults {
		c.sensitive = append(c.sensitive, defaultSensitive...)
		c.requests = append(c.requests, defaultRequests...)
		c.exceptions = append(c.exceptions, defaultExceptions...)
	}
	c.sensitive = append(c.sensitive, p.SensitiveWords...)
	c.requests = append(c.requests, p.HandoffPhrases...)
	c.exceptions = append(c.exceptions, p.Exceptions...)
	if p.Threshold > 0 {
		c.threshold = p.Threshold
	}
	if p.Floor > 0 {
		c.floor = p.Floor
	}
	for lang, def := range defaultMessages {
		m := p.Messages[lang]
		c.msgs[lang] = Messages{
			Handoff:     or(m.Handoff, def.Handoff),
			Unknown:     or(m.Unknown, def.Unknown),
			Disclaimer:  or(m.Disclaimer, def.Disclaimer),
			Fallback:    or(m.Fallback, def.Fallback),
			Interrupted: or(m.Interrupted, def.Interrupted),
		}
	}
	return c
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// messages returns the texts for lang ("zh" or anything else for English).
func (p *policy) messages(lang string) Messages {
	if lang == "zh" {
		return p.msgs["zh"]
	}
	return p.msgs["en"]
}

// limits returns the threshold and floor for a KB: its own when set, else
// the policy's. A floor above the threshold is lowered to it.
func (p *policy) limits(s kefu.KBSettings) (threshold, floor float64) {
	threshold, floor = p.threshold, p.floor
	if s.Threshold > 0 {
		threshold = s.Threshold
	}
	if s.Floor > 0 {
		floor = s.Floor
	}
	if floor > threshold {
		floor = threshold
	}
	return threshold, floor
}

// mergeLLM returns the LLM a KB uses: the global settings with the KB's
// non-zero fields over them, or nil when no model is configured. A KB that
// names another base URL does not inherit the global API key, so the key is
// never sent to a server it was not meant for.
func mergeLLM(global, kb *kefu.LLMSettings) *kefu.LLMSettings {
	var m kefu.LLMSettings
	if global != nil {
		m = *global
	}
	if kb != nil {
		if kb.BaseURL != "" && kb.BaseURL != m.BaseURL {
			m.BaseURL, m.APIKey = kb.BaseURL, ""
		}
		if kb.Model != "" {
			m.Model = kb.Model
		}
		if kb.APIKey != "" {
			m.APIKey = kb.APIKey
		}
		if kb.Temperature != 0 {
			m.Temperature = kb.Temperature
		}
		if kb.MaxTokens > 0 {
			m.MaxTokens = kb.MaxTokens
		}
		if kb.ContextTokens > 0 {
			m.ContextTokens = kb.ContextTokens
		}
	}
	if m.Model == "" {
		return nil
	}
	if m.MaxTokens <= 0 {
		m.MaxTokens = defaultMaxTokens
	}
	if m.ContextTokens <= 0 {
		m.ContextTokens = defaultContextTokens
	}
	return &m
}
