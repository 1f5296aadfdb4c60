// Package desk runs conversations between customers, the bot and human
// agents: it is kefu's help desk. Service implements kefu.Desk (and so
// kefu.Answerer): every surface that answers customers goes through it.
//
// # A customer message
//
// Service.Ask finds the conversation (the request's id; else the end
// user's open conversation on a channel; else a new id, which every
// surface returns), refuses a closed one, and answers a channel message it
// has seen before (same channel, same external id) with the reply it gave
// then, changing nothing (Answer.Replayed). Then:
//
//   - While the bot has the conversation (state bot, or resolved: the
//     message reopens it), the bot answers (Options.Answerer) with the
//     conversation's stored turns as history. A hand-off answer moves the
//     conversation to waiting; outside the KB's service hours the answer
//     ends with when agents are back.
//   - While a person has it (waiting, agent), the bot is silent: the
//     message is stored and passed on, and the first such message since
//     the hand-off gets a notice that a person will reply (route "agent").
//
// The customer message, the reply, the answer log's record, the state
// change and the webhook events are written in one transaction of the
// store (kefu.ConversationStore.UpdateConversation), after the answer:
// one commit per message, as the answer log alone cost before, and none of
// them without the others after a crash. The answerer must therefore have
// no AnswerLog of its own (the desk logs every answer).
//
// # Agents
//
// Service.Act claims (waiting → agent), replies (claiming when nobody
// has), adds internal notes, releases (back to the bot), resolves (the
// next customer message goes back to the bot) and closes conversations.
// Each writes the message or the state change with its events in one
// transaction; a conversation of another KB is not found and nothing
// changes.
//
// # Events
//
// Webhook events are enqueued in the transaction of the change they
// report: handoff.requested, conversation.message (every message, notes
// included), conversation.resolved (resolve and close), answer.unknown and
// feedback.created; channel.reply carries each reply to a configured
// channel's outbound URL. Live events (kefu.LiveEvent) go to Watch's
// watchers once the transaction is committed.
//
// # Retention
//
// Service.Run purges, every hour, the conversations last updated more than
// each KB's RetentionDays (90) ago; Service.Purge does it once.
//
// The package imports the root and internal/text, never another stage.
package desk
