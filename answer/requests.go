package answer

// Requests for a person come in many small variations ("speak with someone",
// "talk to the head of support", 叫老板来, 找个人): the built-in list is
// generated from a verb and a role, so every verb reaches every role rather
// than the few pairs someone thought to write down.

// requestVerbsEN ask to be put in touch; each is followed by a role.
var requestVerbsEN = []string{
	"talk to", "talk with", "speak to", "speak with", "chat with",
	"connect me to", "connect me with", "transfer me to", "put me through to",
	"get me", "let me talk to", "let me speak to", "give me",
}

// personRolesEN are the roles that can only be a person; they follow a
// verb of requestVerbsEN or a want of requestWantsEN.
var personRolesEN = []string{
	"someone", "somebody", "a human", "a person", "a real person", "a live person", "an agent", "a live agent",
	"a real agent", "a representative", "a rep", "a staff member", "a member of staff", "an employee", "a manager",
	"your manager", "a supervisor", "your supervisor", "a real human", "a human being", "someone real", "a live chat agent",
	"a support agent", "a customer service rep", "a customer service representative", "a customer service agent",
	"someone from your team", "someone from support", "a member of your team", "someone who can help",
}

// otherRolesEN follow a verb of requestVerbsEN only: after a want they may
// name a thing ("i want the owner's manual", "i need support for…").
var otherRolesEN = []string{
	"anyone", "anybody", "the manager", "the supervisor", "the head", "your head", "the boss", "your boss", "the owner",
	"customer service", "customer support", "support staff", "staff", "your staff", "customer care", "support",
	"your support team", "the support team",
}

// requestWantsEN say what the customer needs.
var requestWantsEN = []string{"i need", "i want", "i'd like", "can i get", "can i have", "how do i reach", "how can i reach"}

// requestFixedEN are requests that do not follow the verb-role pattern.
var requestFixedEN = []string{
	"is anyone there", "is anybody there", "anyone i can talk to", "anyone i can speak to", "someone i can talk to",
	"someone i can speak to", "contact support", "contact customer service", "call me back", "someone call me",
	"customer service number", "customer service phone", "phone number for customer service", "can a staff member",
}

// botRefusalsEN turn the bot away ("a person, not a bot").
var botRefusalsEN = []string{"not a bot", "not a robot", "not a machine", "not an ai", "no bots", "no more bots", "stop the bot"}

// requestVerbsZH summon or ask for someone; each is followed by a role,
// optionally with 你们/个/一个 between.
var requestVerbsZH = []string{"找", "叫", "让", "喊", "换", "要", "转", "转接", "接", "给我找", "给我接", "联系", "呼叫", "接通"}

// requestRolesZH are who a customer asks for. 老板 alone is not a request:
// Chinese shoppers address the seller as 老板 ("老板，有货吗").
var requestRolesZH = []string{"人工", "真人", "活人", "客服", "人工客服", "老板", "领导", "经理", "主管", "负责人", "管事的", "上级", "店长",
	"店主", "掌柜", "掌柜的", "在线客服", "客服人员", "客服专员", "工作人员"}

// talkWithZH and talkVerbsZH make "跟客服说", "和你们经理沟通": a role
// between "with" and a verb of speaking.
var (
	talkWithZH  = []string{"跟", "和", "与", "同"}
	talkVerbsZH = []string{"说", "聊", "沟通", "谈", "讲", "反映", "对话", "联系"}
)

// requestFixedZH are requests that do not follow the verb-role pattern.
var requestFixedZH = []string{"找个人", "换个人", "叫个人", "来个人", "换人", "有人吗", "有人在吗", "有没有人", "不要机器人", "别用机器人",
	"人呢", "有活人吗", "客服在吗", "客服在不在", "客服呢", "有客服吗", "客服在哪", "不想跟机器人", "不想和机器人", "机器人听不懂", "听不懂人话",
	"找售后", "转售后", "找你们售后", "找你们的售后", "联系售后", "售后电话", "找卖家", "联系卖家", "找店家", "联系店家",
	"给我回电话", "回个电话", "打电话给我", "给我打电话", "电话联系我"}

// sensitiveExtraEN and sensitiveExtraZH are threats of payment disputes and
// complaints to regulators, beside the lawyers and police of the base list.
var (
	sensitiveExtraEN = []string{
		"chargeback", "charge back", "dispute the charge", "ftc", "federal trade commission", "attorney general",
		"small claims", "bbb", "ombudsman", "trading standards", "report you", "reporting you", "regulator",
		"leave a bad review", "leave a negative review", "one-star review", "1-star review",
	}
	sensitiveExtraZH = []string{"举报", "告你们", "315", "黑猫投诉", "银保监", "消费者权益", "给你们差评", "给差评", "打差评", "差评警告", "升级处理"}
)

// generatedRequests returns every verb-role pair of both languages and the
// fixed phrases.
func generatedRequests() []string {
	var out []string
	roles := append(append([]string(nil), personRolesEN...), otherRolesEN...)
	for _, v := range requestVerbsEN {
		for _, r := range roles {
			out = append(out, v+" "+r)
		}
	}
	for _, v := range requestWantsEN {
		for _, r := range personRolesEN {
			out = append(out, v+" "+r)
		}
	}
	out = append(out, botRefusalsEN...)
	out = append(out, requestFixedEN...)
	for _, v := range requestVerbsZH {
		for _, r := range requestRolesZH {
			for _, mid := range []string{"", "你们", "个", "一个", "你们的"} {
				out = append(out, v+mid+r)
			}
		}
	}
	for _, w := range talkWithZH {
		for _, r := range requestRolesZH {
			for _, mid := range []string{"", "你们", "你们的"} {
				for _, v := range talkVerbsZH {
					out = append(out, w+mid+r+v)
				}
			}
		}
	}
	return append(out, requestFixedZH...)
}
