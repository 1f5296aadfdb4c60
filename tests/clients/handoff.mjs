// A visitor on another site, as a chat widget would be: the ws package
// opens kefu's chat with a public key in ?access_token= and the page's
// Origin, asks for a person, and waits for the agent's reply, which must
// arrive live; then writes again, which the bot must not answer.
// usage: node handoff.mjs WS_URL PUBLIC_KEY ORIGIN
// Prints JSON lines: {"handoff": Answer}, {"message": Message, "state": …},
// {"quiet": Answer}, then {"closed": code}.
import WebSocket from "ws";

const [url, key, origin] = process.argv.slice(2);
const ws = new WebSocket(url + "?access_token=" + encodeURIComponent(key), { headers: { Origin: origin } });
let conversation = "";
const states = [];

ws.on("open", () => ws.send(JSON.stringify({ type: "ask", id: "a1", question: "I want to talk to a human" })));
ws.on("message", (data) => {
  const m = JSON.parse(data.toString());
  if (m.type === "error") {
    console.log(JSON.stringify({ error: m }));
    process.exit(1);
  }
  if (m.type === "state") states.push(m.state);
  if (m.id === "a1" && (m.type === "handoff" || m.type === "done")) {
    conversation = m.answer.conversation_id;
    console.log(JSON.stringify({ handoff: m.answer }));
  }
  if (m.type === "message") {
    console.log(JSON.stringify({ message: m.message, conversation_id: m.conversation_id, states }));
    ws.send(JSON.stringify({ type: "ask", id: "a2", question: "Thanks! Are you still there?", conversation_id: conversation }));
  }
  if (m.id === "a2" && (m.type === "done" || m.type === "handoff")) {
    console.log(JSON.stringify({ quiet: m.answer }));
    ws.close(1000, "bye");
  }
});
ws.on("unexpected-response", (req, res) => {
  console.log(JSON.stringify({ refused: res.statusCode }));
  process.exit(0);
});
ws.on("close", (code) => {
  console.log(JSON.stringify({ closed: code }));
  process.exit(0);
});
ws.on("error", (e) => {
  console.error("ws error:", e.message);
  process.exit(1);
});
setTimeout(() => {
  console.error("timeout");
  process.exit(2);
}, 60_000);
