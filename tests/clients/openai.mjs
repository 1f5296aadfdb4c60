// Drives kefu's OpenAI-compatible endpoints with the official openai SDK.
// usage: node openai.mjs BASE_URL API_KEY KB QUESTION
// Prints one JSON object per step on its own line; the Go test checks them.
import OpenAI from "openai";

const [base, key, kb, question] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0, timeout: 60_000 });
const out = (o) => console.log(JSON.stringify(o));

const models = await client.models.list();
const ids = [];
for await (const m of models) ids.push(m.id);
out({ step: "models", ids });

const chat = await client.chat.completions.create({
  model: kb,
  messages: [{ role: "system", content: "You are a shop assistant." }, { role: "user", content: question }],
});
out({
  step: "chat", object: chat.object, content: chat.choices[0].message.content,
  finish_reason: chat.choices[0].finish_reason, usage: chat.usage, citations: chat.citations, kefu: chat.kefu,
});

const stream = await client.chat.completions.create({
  model: kb, stream: true, stream_options: { include_usage: true },
  messages: [{ role: "user", content: question }],
});
let content = "", chunks = 0, finish = null, citations = null, kefu = null, usage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    if (c.delta?.content) content += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  if (chunk.citations) citations = chunk.citations;
  if (chunk.kefu) kefu = chunk.kefu;
}
out({ step: "stream", content, chunks, finish_reason: finish, citations, kefu, usage });

// The SDK asks for base64 by default and decodes it; ask for floats too.
const texts = [question, "something else entirely"];
const b64 = await client.embeddings.create({ model: ids[ids.length - 1], input: texts });
const flt = await client.embeddings.create({ model: ids[ids.length - 1], input: texts[0], encoding_format: "float" });
out({
  step: "embeddings", model: b64.model, usage: b64.usage,
  base64: b64.data.map((d) => Array.from(d.embedding)), float: flt.data.map((d) => d.embedding),
});

try {
  await client.chat.completions.create({ model: "no-such-kb", messages: [{ role: "user", content: question }] });
  out({ step: "error", status: 0 });
} catch (e) {
  out({ step: "error", status: e.status, code: e.error?.code ?? e.code, message: e.message });
}
