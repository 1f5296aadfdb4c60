// Drives kefu's WebSocket chat with the ws package: the key goes in
// ?access_token= as a browser's would; several asks share the socket.
// usage: node ws.mjs WS_URL API_KEY QUESTION [QUESTION...]
// Prints {"id": {...}} per ask, then {"closed": code} when the server closes.
import WebSocket from "ws";

const [url, key, ...questions] = process.argv.slice(2);
const ws = new WebSocket(url + "?access_token=" + encodeURIComponent(key));
const asks = new Map();
questions.forEach((q, i) => asks.set("q" + (i + 1), { question: q, deltas: [], events: [] }));
let pending = asks.size;

ws.on("open", () => {
  for (const [id, a] of asks) ws.send(JSON.stringify({ type: "ask", id, question: a.question }));
  ws.send(JSON.stringify({ type: "bogus", id: "x" }));
});
ws.on("message", (data) => {
  const m = JSON.parse(data.toString());
  if (m.id === "x") {
    console.log(JSON.stringify({ bogus: m }));
    return;
  }
  const a = asks.get(m.id);
  if (!a) throw new Error("message for an unknown id: " + data);
  a.events.push(m.type);
  if (m.type === "delta") a.deltas.push(m.text);
  if (m.type === "citations") a.citations = m.citations;
  if (m.type === "done" || m.type === "handoff" || m.type === "error") {
    a.end = m;
    console.log(JSON.stringify({ [m.id]: { events: a.events, text: a.deltas.join(""), citations: a.citations, end: m } }));
    if (--pending === 0) ws.close(1000, "bye");
  }
});
ws.on("close", (code) => {
  console.log(JSON.stringify({ closed: code }));
  process.exit(0);
});
ws.on("error", (e) => {
  console.error("ws error:", e.message);
  process.exit(1);
});
setTimeout(() => { console.error("timeout"); process.exit(2); }, 60_000);
