// The Node.js baseline of `kefu-bench embed --node`: the same model on the
// same token ids through onnxruntime-node, batched the way a careful Node
// user would: texts sorted by length, cut into fixed-size batches, each
// padded to its longest text. Every batch size and session layout below is
// tried; the fastest is the baseline. The model runs on the engine's own
// token ids; when JOB.texts and JOB.tokenizer are given, the texts are also
// tokenised as a Node user would, with Hugging Face's tokenizers.js
// (@huggingface/tokenizers, what Transformers.js uses), timed on its own
// (best of the rounds) and checked against the given ids.
//
// usage: node embed.mjs JOB.json
//   JOB: {"model": path, "output": name or "", "pool": "mean"|"output",
//         "pad_id": n, "cores": n, "rounds": n, "ids": [[...], ...], "vectors": path,
//         "texts": [...], "tokenizer": path, "tokenizer_config": path (optional)}
// Prints one JSON object: every layout's best seconds (and CPU seconds), the
// fastest one and the one of least CPU time, and the tokenising; writes
// the best layout's vectors (float32 little-endian, input order) to JOB.vectors.
// JOB.only = {"layout": name, "batch": n} runs that layout and batch size
// alone (the paired rounds of `kefu-bench embed --paired`).
import { readFileSync, writeFileSync } from "node:fs";
import * as ort from "onnxruntime-node";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const ids = job.ids;
const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length);

function batches(size) {
  const out = [];
  for (let i = 0; i < order.length; i += size) out.push(order.slice(i, i + size));
  return out;
}

function feeds(batch) {
  const len = Math.max(...batch.map((i) => ids[i].length));
  const n = batch.length * len;
  const inputIds = new BigInt64Array(n).fill(BigInt(job.pad_id));
  const mask = new BigInt64Array(n);
  batch.forEach((t, r) => {
    ids[t].forEach((id, j) => {
      inputIds[r * len + j] = BigInt(id);
      mask[r * len + j] = 1n;
    });
  });
  const dims = [batch.length, len];
  const f = {};
  for (const name of inputNames) {
    if (name === "input_ids") f[name] = new ort.Tensor("int64", inputIds, dims);
    else if (name === "attention_mask") f[name] = new ort.Tensor("int64", mask, dims);
    else if (name === "token_type_ids") f[name] = new ort.Tensor("int64", new BigInt64Array(n), dims);
    else throw new Error(`unknown input ${name}`);
  }
  return { f, len };
}

// pool writes each row's unit vector into vecs.
function pool(batch, len, out, vecs) {
  const data = out.data;
  if (job.pool === "output") {
    const dim = out.dims[1];
    batch.forEach((t, r) => {
      const v = data.subarray(r * dim, (r + 1) * dim);
      let s = 0;
      for (const x of v) s += x * x;
      vecs[t] = Float32Array.from(v, (x) => x / Math.sqrt(s));
    });
    return;
  }
  const dim = out.dims[2];
  batch.forEach((t, r) => {
    const v = new Float64Array(dim);
    const n = ids[t].length;
    for (let j = 0; j < n; j++) {
      const o = (r * len + j) * dim;
      for (let d = 0; d < dim; d++) v[d] += data[o + d];
    }
    let s = 0;
    for (let d = 0; d < dim; d++) s += (v[d] / n) ** 2;
    const norm = Math.sqrt(s);
    vecs[t] = Float32Array.from(v, (x) => x / n / norm);
  });
}

async function run(sessions, size) {
  const bs = batches(size);
  const vecs = new Array(ids.length);
  let next = 0;
  // Each session takes the next batch when it is free.
  await Promise.all(
    sessions.map(async (s) => {
      while (next < bs.length) {
        const b = bs[next++];
        const { f, len } = feeds(b);
        const res = await s.run(f);
        pool(b, len, res[job.output || s.outputNames[0]], vecs);
      }
    }),
  );
  return vecs;
}

let layouts = [
  { name: `1 session x ${job.cores} threads`, sessions: 1, threads: job.cores },
  { name: `${job.cores} sessions x 1 thread`, sessions: job.cores, threads: 1 },
];
let sizes = [8, 16, 32, 64];
if (job.only) {
  layouts = layouts.filter((l) => l.name === job.only.layout);
  sizes = [job.only.batch];
  if (layouts.length === 0) throw new Error(`no layout ${job.only.layout}`);
}
const results = [];
let best = null;
let bestCPU = null;
let inputNames = [];
for (const lay of layouts) {
  const sessions = [];
  for (let i = 0; i < lay.sessions; i++) {
    sessions.push(
      await ort.InferenceSession.create(job.model, {
        intraOpNumThreads: lay.threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      }),
    );
  }
  inputNames = sessions[0].inputNames;
  // Warm-up: the first runs size the arenas. Alone (JOB.only), the layout
  // warms up on its own batch size, as the sweep's batch sizes do on their
  // first round, which the fastest-of-rounds leaves out.
  await run(sessions, job.only ? job.only.batch : 32);
  for (const size of sizes) {
    let secs = Infinity;
    let cpu = Infinity; // CPU time of the process (every thread), the steadier figure on a shared machine
    let vecs;
    for (let r = 0; r < job.rounds; r++) {
      const t0 = process.hrtime.bigint();
      const c0 = process.cpuUsage();
      vecs = await run(sessions, size);
      secs = Math.min(secs, Number(process.hrtime.bigint() - t0) / 1e9);
      const c = process.cpuUsage(c0);
      cpu = Math.min(cpu, (c.user + c.system) / 1e6);
    }
    const res = { layout: lay.name, batch: size, seconds: secs, cpu_seconds: cpu };
    results.push(res);
    if (!best || secs < best.seconds) best = { ...res, vecs };
    if (!bestCPU || cpu < bestCPU.cpu_seconds) bestCPU = res;
  }
  for (const s of sessions) await s.release();
}
// Tokenising, as the Node user must before sorting by length.
let tokenize = null;
if (job.texts && job.tokenizer && !job.only) {
  const { Tokenizer } = await import("@huggingface/tokenizers");
  const config = job.tokenizer_config ? JSON.parse(readFileSync(job.tokenizer_config, "utf8")) : {};
  const tok = new Tokenizer(JSON.parse(readFileSync(job.tokenizer, "utf8")), config);
  let secs = Infinity;
  let cpu = Infinity;
  let got;
  for (let r = 0; r < Math.max(job.rounds, 1); r++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    got = job.texts.map((t) => tok.encode(t).ids);
    secs = Math.min(secs, Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6);
  }
  const agree = got.filter((g, i) => g.length === ids[i].length && g.every((x, j) => Number(x) === ids[i][j])).length;
  tokenize = { seconds: secs, cpu_seconds: cpu, texts_agreeing: agree };
}
const dim = best.vecs[0].length;
const flat = new Float32Array(ids.length * dim);
best.vecs.forEach((v, i) => flat.set(v, i * dim));
writeFileSync(job.vectors, Buffer.from(flat.buffer));
delete best.vecs;
console.log(JSON.stringify({ onnxruntime_node: ort.env.versions?.common ?? "", results, best, best_cpu: bestCPU, tokenize }));
