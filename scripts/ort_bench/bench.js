#!/usr/bin/env node
// bench.js: ONNX Runtime (int8 QDQ model and float32 model) beside
// tinyqat's int8 runtime and float32 runtime on the same exported model,
// one thread each, alternating rounds; prints a table of µs per image
// (median of rounds, with the fastest and slowest round in brackets) by
// wall time, then by the CPU time of the timing process (on a busy
// machine the wall time also counts the waits for a core; with several
// threads the CPU time is their sum).
//
//   node bench.js --ort DIR --int8 MODEL.onnx [--float MODEL.onnx] [--identity MODEL.onnx]
//        --tinyqat "CMD ARGS..." --images images.f32 --shape C,H,W
//        [--batches 1,64,1000] [--rounds 5] [--per-round 2000] [--threads 1]
//        [--tinyqat-threads 2,...] [--int8-exact] [--json]
//
// --int8-exact also times the int8 model in a second session with ONNX
// Runtime's option session.x64quantprecision=1 ("ORT int8 (QDQ, exact)"):
// on x86-64 CPUs without VNNI its default u8s8 kernels saturate int16
// pair sums (see scripts/onnx_check.js --quant-precision); this mode
// does not, so it is the peer whose results tinyqat's are compared with.
//
// --tinyqat is the command that times tinyqat's runtime for one round and
// prints {"batch": µs per image} (scripts/ort_bench/main.go); it is run
// with GOMAXPROCS=--threads, and once more per round with each of
// --tinyqat-threads (engines "tinyqat int8 (N threads)"), so that
// tinyqat's multi-core figures are measured in the same rounds. Without
// --float there is no ORT float32 engine. --identity is a graph of one
// Identity node on the same float32 [N, C, H, W] input ("input" to
// "output"; scripts/ort_bench/main.go --identity writes it): timed like the
// other ONNX Runtime sessions, with the same options and in the same
// rounds, it is the cost of a call that does no work, mostly
// onnxruntime-node's own per-call cost ("ORT Identity (binding cost)"),
// at batch 1; at larger batches it is mostly the copy of its output, the
// whole batch, where the models return ten logits per image.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

function fail(msg) { console.error('ort_bench: ' + msg); process.exit(2); }

function parseArgs(argv) {
  const a = { batches: [1, 64, 1000], rounds: 5, perRound: 2000, threads: 1, tinyqatThreads: [], json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = () => { if (i + 1 >= argv.length) fail(`${k} needs a value`); return argv[++i]; };
    switch (k) {
      case '--ort': a.ort = v(); break;
      case '--int8': a.int8 = v(); break;
      case '--float': a.float = v(); break;
      case '--identity': a.identity = v(); break;
      case '--tinyqat': a.tinyqat = v(); break;
      case '--images': a.images = v(); break;
      case '--shape': a.shape = v().split(',').map(Number); break;
      case '--batches': a.batches = v().split(',').map(Number); break;
      case '--rounds': a.rounds = parseInt(v(), 10); break;
      case '--per-round': a.perRound = parseInt(v(), 10); break;
      case '--threads': a.threads = parseInt(v(), 10); break;
      case '--tinyqat-threads': a.tinyqatThreads = v().split(',').filter(Boolean).map(Number); break;
      case '--json': a.json = true; break;
      case '--int8-exact': a.int8Exact = true; break;
      default: fail(`unknown argument ${k}`);
    }
  }
  if (!a.ort || !a.int8 || !a.tinyqat || !a.images || !a.shape) fail('missing arguments (see the header)');
  for (const n of [a.rounds, a.perRound, a.threads, ...a.batches, ...a.tinyqatThreads]) {
    if (!Number.isInteger(n) || n < 1) fail(`bad number ${n}: --rounds, --per-round, --threads, --batches and --tinyqat-threads take positive integers`);
  }
  if (a.shape.length !== 3 || a.shape.some(n => !Number.isInteger(n) || n < 1)) fail(`bad --shape ${a.shape}: want C,H,W`);
  a.tinyqatThreads = [...new Set(a.tinyqatThreads)].filter(t => t !== a.threads);
  return a;
}

const median = v => { const s = [...v].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let ort;
  try { ort = require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node')); } catch (e) { fail(`cannot load onnxruntime-node: ${e.message}`); }
  const buf = fs.readFileSync(a.images);
  const images = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const [C, H, W] = a.shape, size = C * H * W;
  const opts = { intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
  const sessions = { 'ORT int8 (QDQ)': await ort.InferenceSession.create(a.int8, opts) };
  if (a.int8Exact) {
    sessions['ORT int8 (QDQ, exact)'] = await ort.InferenceSession.create(a.int8, { ...opts, extra: { session: { x64quantprecision: '1' } } });
  }
  if (a.float) sessions['ORT float32'] = await ort.InferenceSession.create(a.float, opts);
  const IDENTITY = 'ORT Identity (binding cost)';
  if (a.identity) sessions[IDENTITY] = await ort.InferenceSession.create(a.identity, opts);
  const feeds = {};
  for (const b of a.batches) {
    if (b * size > images.length) fail(`batch ${b} needs more images than the file holds`);
    feeds[b] = { input: new ort.Tensor('float32', images.slice(0, b * size), [b, C, H, W]) };
  }
  // Only the integer logits (or the float logits) are fetched.
  const fetches = { 'ORT int8 (QDQ)': ['logits_q'], 'ORT float32': ['logits'], [IDENTITY]: ['output'] };
  for (const [name, s] of Object.entries(sessions)) for (const b of a.batches) await s.run(feeds[b], fetches[name]); // warm-up

  // Wall time per image (key b) and the process's CPU time (user and
  // system, all threads: key 'cpu:' + b), which on a busy machine leaves
  // out the waits for a core.
  async function timeORT(name) {
    const s = sessions[name], r = {};
    for (const b of a.batches) {
      const calls = Math.max(1, Math.ceil(a.perRound / b));
      const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
      for (let i = 0; i < calls; i++) await s.run(feeds[b], fetches[name]);
      r[b] = Number(process.hrtime.bigint() - t0) / 1e3 / (calls * b);
      const c = process.cpuUsage(c0);
      r['cpu:' + b] = (c.user + c.system) / (calls * b);
    }
    return r;
  }
  function timeTinyqat(threads) {
    const [cmd, ...args] = a.tinyqat.split(' ').filter(Boolean);
    const p = spawnSync(cmd, args.concat(['--batches', a.batches.join(','), '--images', String(a.perRound)]),
      { env: { ...process.env, GOMAXPROCS: String(threads) }, encoding: 'utf8' });
    if (p.status !== 0) fail(`tinyqat round failed: ${p.stderr || p.error}`);
    return JSON.parse(p.stdout.trim().split('\n').pop());
  }

  // One tinyqat process per round and thread count times the int8 runtime
  // and, when its command has --float, the float32 model ("float:B" keys).
  const withFloat = a.tinyqat.includes('--float');
  const suffix = t => t === a.threads ? '' : ` (${t} threads)`;
  const tq = [a.threads, ...a.tinyqatThreads].map(t => ({ t, int8: 'tinyqat int8' + suffix(t), float: 'tinyqat float32' + suffix(t) }));
  const engines = [...tq.flatMap(x => [x.int8, ...(withFloat ? [x.float] : [])]), ...Object.keys(sessions)];
  const samples = Object.fromEntries(engines.map(e => [e, Object.fromEntries(a.batches.map(b => [b, []]))]));
  const cpuSamples = Object.fromEntries(engines.map(e => [e, Object.fromEntries(a.batches.map(b => [b, []]))]));
  const timed = [...tq, ...Object.keys(sessions)];
  for (let r = 0; r < a.rounds; r++) {
    // Rotate the order each round so no engine always runs first.
    for (let j = 0; j < timed.length; j++) {
      const e = timed[(r + j) % timed.length];
      if (typeof e === 'string') {
        const res = await timeORT(e);
        for (const b of a.batches) { samples[e][b].push(res[b]); cpuSamples[e][b].push(res['cpu:' + b]); }
        continue;
      }
      const res = timeTinyqat(e.t);
      for (const b of a.batches) {
        samples[e.int8][b].push(res[b]);
        cpuSamples[e.int8][b].push(res['cpu:' + b]);
        if (withFloat) { samples[e.float][b].push(res['float:' + b]); cpuSamples[e.float][b].push(res['cpu:float:' + b]); }
      }
    }
  }
  const table = (smp, what) => {
    const rows = engines.map(e => ({ engine: e, us_per_image: Object.fromEntries(a.batches.map(b => [b, median(smp[e][b])])),
      best_us_per_image: Object.fromEntries(a.batches.map(b => [b, Math.min(...smp[e][b])])),
      worst_us_per_image: Object.fromEntries(a.batches.map(b => [b, Math.max(...smp[e][b])])) }));
    console.log(`${what} µs per image, median of ${a.rounds} alternating rounds (fastest–slowest in brackets), ${a.threads} thread(s), ~${a.perRound} images per batch size per round; onnxruntime-node ${ortVersion}`);
    console.log('| engine | ' + a.batches.map(b => `batch ${b}`).join(' | ') + ' |');
    console.log('|---|' + a.batches.map(() => '---').join('|') + '|');
    for (const r of rows) console.log(`| ${r.engine} | ` + a.batches.map(b => `${r.us_per_image[b].toFixed(2)} (${r.best_us_per_image[b].toFixed(2)}–${r.worst_us_per_image[b].toFixed(2)})`).join(' | ') + ' |');
    const row = name => rows.find(r => r.engine === name);
    const ratio = (label, num, den) => console.log(`${label} throughput (${what}): ` + a.batches.map(b => `batch ${b} ${(row(num).us_per_image[b] / row(den).us_per_image[b]).toFixed(2)}x`).join(', '));
    const threads = n => `${n} thread${n === 1 ? '' : 's'}`, ortTh = threads(a.threads);
    for (const x of tq) {
      const th = threads(x.t);
      ratio(`tinyqat int8 (${th}) / ORT int8 (${ortTh})`, 'ORT int8 (QDQ)', x.int8);
      if (withFloat && a.float) ratio(`tinyqat float32 (${th}) / ORT float32 (${ortTh})`, 'ORT float32', x.float);
      if (withFloat) ratio(`tinyqat int8 / tinyqat float32 (${th} each)`, x.float, x.int8);
      // CPU time adds up the threads: no speed-up to read there.
      if (x.t !== a.threads && what === 'wall') ratio(`tinyqat int8 ${th} / ${ortTh}`, tq[0].int8, x.int8);
    }
    if (a.identity && a.batches.includes(1)) {
      // At batch 1, what ONNX Runtime int8 costs beyond a call that does no
      // work (difference of medians), and tinyqat int8 beside that. Not at
      // larger batches: there the Identity graph's cost is mostly copying
      // its output (the whole batch of images, where the models return ten
      // logits per image), not a per-call cost.
      const net = row('ORT int8 (QDQ)').us_per_image[1] - row(IDENTITY).us_per_image[1];
      console.log(`batch 1 (${what}): ORT int8 minus ORT Identity ${net.toFixed(2)} µs per image, ` +
        `${(net / row(tq[0].int8).us_per_image[1]).toFixed(2)}x tinyqat int8 (${threads(a.threads)})`);
    }
    return rows;
  };
  const ortVersion = require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node', 'package.json')).version;
  const rows = table(samples, 'wall');
  // The CPU time of the timing process (tinyqat's own; Node's for ONNX
  // Runtime, its binding included): on a busy machine it leaves out the
  // waits for a core that the wall time counts.
  const cpuRows = table(cpuSamples, 'CPU');
  if (a.json) console.log(JSON.stringify({ ort_version: ortVersion, threads: a.threads, rounds: a.rounds, rows, samples, cpu_rows: cpuRows, cpu_samples: cpuSamples }));
}

main().catch(e => fail(e && e.stack ? e.stack : String(e)));
