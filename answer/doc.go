// Package answer answers customers' questions from a knowledge base: it
// routes each question by policy, answers from the evidence with citations,
// says so when it is unsure, and hands off to a person when it should.
// Service implements kefu.Answerer. It imports the root, internal/text and
// internal/netguard, never another stage: retrieval comes in as a
// kefu.Retriever, KB settings as a kefu.KBReader, the log as a
// kefu.AnswerLog.
//
// # Routing policy
//
// Every question goes through these steps, in order; the first that applies
// gives the answer's route.
//
//  1. Hand-off ("handoff"). The question contains a sensitive word or an
//     explicit request for a person. The reply, in the question's language,
//     says a human will take over; nothing is retrieved and no LLM is asked.
//     Defaults: sensitive words 投诉 律师 报警 人工 起诉 法院 消协 complaint(s)
//     complain lawyer(s) attorney police human(s) agent(s); requests 转人工
//     找客服 人工客服 真人客服 找真人 叫你们经理 客服电话 "talk/speak to a
//     human/person/someone/an agent", "real person", "live agent", "customer
//     service representative", "your manager". A KB adds words with
//     KBSettings.SensitiveWords (e.g. 退款 to send every refund question to a
//     person); the policy file adds or replaces the lists. Matching is one
//     Aho-Corasick automaton over all phrases, case- and width-insensitive
//     (ＨＵＭＡＮ is human). Phrases that begin or end with a Latin letter or
//     digit match at word boundaries only, and plurals are listed on
//     purpose: "agents" hands off because it is listed, "humanity",
//     "superhuman" and "agentless" do not. Han characters count as
//     boundaries ("找human" hands off). Exceptions contain a trigger without
//     being one and silence it: defaults 人工智能, 人工费, "user agent",
//     "human-readable". Note that the shop FAQ entry 怎么联系人工客服？ is
//     therefore handed off, which is what its asker wants.
//
//  2. Confident answer: Retrieval.Confidence ≥ threshold (default 0.85;
//     the retriever's confidence is calibrated). When the top hit is an FAQ
//     entry its stored answer is returned as is ("faq", citation [1], no
//     LLM). Otherwise, with an LLM configured, an answer generated from the
//     numbered evidence ("generated"); without one, an extractive answer
//     ("extractive"): the sentences of the top three hits sharing the most
//     terms with the query (query terms are lower-cased words without stop
//     words and Chinese character bigrams; sentences with at least half the
//     best overlap are kept, at most three and about 600 characters), each
//     group cited [n].
//
//  3. Unsure answer: floor ≤ confidence < threshold (floor default 0.40).
//     The same answer as in step 2, followed by a disclaimer in the
//     question's language (Chinese or English) that offers a person; route
//     "disclaimer".
//
//  4. No answer ("unknown"): confidence below the floor, or no hits. A fixed
//     reply says the answer is not in the documents and offers a person. The
//     LLM is never asked to answer without evidence. When the conversation's
//     last turns were unknown too, one fewer than the KB's
//     Handoff.Unknowns (2), and the "unknown" trigger is on, the question
//     is handed off instead (route "handoff", Answer.Handoff "unknown").
//
// A KB's Threshold and Floor override the policy file's, which override
// the defaults; zero means "not set". The reply language is that of the
// question (internal/text.Lang); a question with no detectable language
// (digits, emoji) keeps the conversation's.
//
// The disclaimer is part of Answer.Text, after a blank line, so surfaces
// that show only text still show it; Answer.Disclaimer repeats it for
// frontends that style it apart.
//
// # Citations
//
// The prompt numbers the evidence [1], [2]… and asks the model to cite it.
// The answer is filtered as it streams: [n], ［n］, 【n】 and lists [1, 2]
// are rewritten [1][2]; numbers that point to no evidence are removed (with
// the space before them) before the user sees them. An answer that cited
// missing evidence, or that cites nothing, gets the disclaimer and the
// "disclaimer" route. Answer.Citations lists only the cited evidence, by
// number. FAQ answers carry their entry as citation 1 without a marker in
// the text.
//
// # LLM
//
// Any OpenAI-compatible chat API (go-openai): base URL, model, key,
// temperature, max tokens and context window come from the KB's LLM settings
// field by field over Options.LLM (a KB naming another base URL does not
// inherit the global key). Answers stream token by token to onDelta. Each
// request carries the X-Request-ID of the API request it serves
// (kefu.RequestID of its context).
//
//   - Deadlines are timers that cancel the request: FirstTokenTimeout (20 s)
//     from the request to the first token, then IdleTimeout (15 s) between
//     chunks. There is no whole-request timeout, so long answers stream.
//   - 429 and 5xx answers are retried (Retries, 2) with exponential backoff
//     from RetryBackoff (300 ms, jittered) before the first token only; other
//     4xx, stalls and failures after the first token are not retried.
//   - A stream that ends without a finish reason, ends for a reason other
//     than stop or length, sends a malformed chunk or an error event, or
//     stalls, is a failure. So is an empty answer.
//   - On failure the answer falls back: the extractive answer with a
//     disclaimer saying the assistant is unavailable (route "disclaimer").
//     Text already streamed stays and is followed by a notice that the answer
//     was interrupted, then the extractive answer. Fallbacks are not cached.
//   - One circuit breaker per base URL and model opens after
//     BreakerFailures (5) consecutive failed calls; while it is open the
//     fallback is served at once, and after BreakerCooldown (30 s) one trial
//     call decides. Calls whose caller went away do not count.
//   - Context budget: evidence is added most relevant first while it fits
//     ContextTokens (default 8192) minus MaxTokens (default 512) minus the
//     system prompt and question; a first piece too long for the window is
//     cut, and when nothing fits the answer is extractive. Tokens are
//     estimated without the model's tokenizer: one per Han character, one
//     per four bytes of other text, one per line break.
//
// # Conversations
//
// The answerer keeps no conversations: a request brings its conversation's
// history (AskRequest.History, the stored turns a kefu.Desk reads), of
// which it reads the last Turns (5). A question that looks like a
// follow-up is rewritten into a standalone query before retrieval, and
// Answer.Query holds the query retrieval ran when it differs from the
// question. Looking like a follow-up: it starts with a marker (那, 那么, 还有,
// 另外, 如果, "and", "what about", "how about", "also"…) or ends with 呢, or
// is short and uses a pronoun (它, 这个, "it", "that"…), or is very short
// (≤ 6 Chinese characters or ≤ 3 words) and has no question word of its own
// (运费？ is a follow-up, 你们老板是谁 is not).
//
// With an LLM, the LLM rewrites it from the conversation (RewriteTimeout,
// 3 s). Without one, or when the LLM fails, a heuristic builds a candidate:
// the topic of the last turn that was not handed off (its query without
// question words and English stop words) followed by the follow-up without
// its markers: 怎么申请退款？ then 那运费呢？ gives 申请退款 运费; "When will
// my order ship?" then "and for international orders?" gives "order ship
// for international orders". Short Chinese questions are often complete
// (怎么开发票), so the candidate is used only when the question as asked
// retrieves below the threshold and the candidate retrieves with more
// confidence; that costs a second retrieval for such questions only.
//
// # Cache
//
// Answers are cached (CacheSize 1024, CacheTTL 10 min) under the KB name,
// the KB version and the standalone query folded (case, width, punctuation
// and spacing ignored). Any change to a KB bumps its version, so its old
// answers are never served; Reload empties the cache. A cached answer costs
// no retrieval and no LLM call and has Cached set; it is logged like any
// other. Hand-offs are decided before the cache and never stored; LLM
// fallbacks are not stored (an outage must not outlive itself); every other
// route is, "unknown" included.
//
// # Logging and metrics
//
// Every answer is written to Options.AnswerLog (kefu.AnswerLog) with its route,
// confidence, cited chunk ids, timings, text and request id, so the store can list unanswered
// questions (routes disclaimer and unknown); and to Options.Logger as one
// "answer" line with the same fields (never the question's text), plus the
// hand-off trigger, the rewrite method and the fallback reason when there
// is one. Options.Observer receives answers by route, cache hits, and each
// LLM call's latency, tokens, attempts and outcome.
//
// # Policy file
//
// Options.PolicyFile is JSON read at New and by Service.Reload (the server
// calls it on SIGHUP); a broken file is refused and the policy in force
// stays. Example:
//
//	{
//	  "sensitive_words": ["赔偿", "chargeback"],
//	  "handoff_phrases": ["我要退货退款"],
//	  "exceptions": ["人工费用"],
//	  "threshold": 0.85,
//	  "floor": 0.4,
//	  "messages": {"en": {"disclaimer": "I may be wrong; reply \"agent\" for a person."}}
//	}
//
// Messages are handoff, unknown, disclaimer, fallback and interrupted, for
// "zh" and "en"; DefaultPolicy returns the built-in ones.
package answer
