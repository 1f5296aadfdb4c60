// A webhook receiver, as a team would write one with Node's own crypto: it
// checks each request's Kefu-Signature (HMAC-SHA256 over "t.body" with the
// endpoint's secret, compared in constant time, timestamp within 5 minutes)
// and prints one JSON line per request it received:
//   {"event_id","type","delivery","attempt","request_id","verified","status","reason","data"}
// It answers 200 to verified requests, 400 to unverified ones, 503 while
// "down". The test steers it with POST /control {"secret"?, "down"?}.
// usage: node receiver.mjs   (prints {"listening": PORT} first)
import http from "node:http";
import crypto from "node:crypto";

let secret = "";
let down = false;

function verify(header, raw) {
  if (!header) return "no signature";
  const parts = Object.fromEntries(
    header.split(",").map((p) => {
      const i = p.indexOf("=");
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()];
    }),
  );
  const t = Number(parts.t);
  if (!Number.isInteger(t)) return "no timestamp";
  if (Math.abs(Date.now() / 1000 - t) > 300) return "stale";
  const want = crypto.createHmac("sha256", secret).update(`${parts.t}.`).update(raw).digest();
  const got = Buffer.from(parts.v1 || "", "hex");
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return "bad signature";
  return "";
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const raw = Buffer.concat(chunks);
    if (req.url === "/control") {
      const c = JSON.parse(raw.toString("utf8"));
      if (c.secret !== undefined) secret = c.secret;
      if (c.down !== undefined) down = c.down;
      res.end("ok");
      return;
    }
    const reason = verify(req.headers["kefu-signature"], raw);
    let ev = {};
    try {
      ev = JSON.parse(raw.toString("utf8"));
    } catch {}
    const status = down ? 503 : reason ? 400 : 200;
    console.log(
      JSON.stringify({
        event_id: ev.id,
        type: ev.type,
        header_event_id: req.headers["kefu-event-id"],
        delivery: req.headers["kefu-delivery-id"],
        attempt: Number(req.headers["kefu-delivery-attempt"]),
        request_id: req.headers["x-request-id"] || "",
        verified: reason === "",
        reason,
        status,
        data: ev.data,
      }),
    );
    res.statusCode = status;
    if (status === 503) res.setHeader("Retry-After", "0");
    res.end(status === 200 ? "thanks" : reason || "down");
  });
});
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ listening: server.address().port })));
