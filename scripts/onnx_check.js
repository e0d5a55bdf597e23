#!/usr/bin/env node
// onnx_check.js: run an exported tinyqat model in ONNX Runtime on the
// MNIST test set and compare its integer logits with tinyqat's runtime.
//
//   node scripts/onnx_check.js --ort DIR --model MODEL.onnx --data DATA_DIR
//        [--min-top1 F] [--min-identical F] [--max-lsb N] [--batch N] [--json]
//        [--quant-precision]
//
// DIR is the folder whose node_modules holds onnxruntime-node (1.30);
// DATA_DIR is what `go run ./scripts/onnxdata` wrote (images, tinyqat's
// logits and layer outputs, and debug.onnx, the same graph with every
// layer as an output, and exact.i32, every weighted, add and mean layer
// computed from its definition with one exact rounding). ONNX Runtime runs
// on one thread. --quant-precision sets ONNX Runtime's session option
// session.x64quantprecision=1: on x86-64 CPUs without VNNI its default
// u8s8 kernels multiply with VPMADDUBSW, whose int16 pair sums saturate
// (a known limitation: microsoft/onnxruntime issue #14642), so the option, which widens the
// operands to int16 first, is what makes its int8 arithmetic exact there.
//
// Per layer it reports how many values differ, how many of those are the
// layer's own (the sample reached the layer with identical inputs in both
// engines) rather than carried from an earlier layer, and which engine
// departs from the exactly rounded value.
//
// Exit status: 0 when the thresholds hold, 1 when one fails, 2 when ONNX
// Runtime or the files cannot be loaded (never a silent skip).
'use strict';
const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const a = { batch: 1000, minTop1: 0.999, minIdentical: 0.99, maxLsb: 1, json: false, quantPrecision: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = () => { if (i + 1 >= argv.length) fail(`${k} needs a value`); return argv[++i]; };
    switch (k) {
      case '--ort': a.ort = v(); break;
      case '--model': a.model = v(); break;
      case '--data': a.data = v(); break;
      case '--batch': a.batch = parseInt(v(), 10); break;
      case '--min-top1': a.minTop1 = parseFloat(v()); break;
      case '--min-identical': a.minIdentical = parseFloat(v()); break;
      case '--max-lsb': a.maxLsb = parseInt(v(), 10); break;
      case '--json': a.json = true; break;
      case '--quant-precision': a.quantPrecision = true; break;
      default: fail(`unknown argument ${k}`);
    }
  }
  if (!a.ort || !a.model || !a.data) fail('--ort, --model and --data are required');
  if (!(a.batch >= 1)) fail('--batch must be positive');
  return a;
}

function fail(msg) {
  console.error('onnx_check: ' + msg);
  process.exit(2);
}

function readI32(file) {
  const b = fs.readFileSync(file);
  return new Int32Array(b.buffer, b.byteOffset, b.length / 4);
}

// argmax returns the first index of the largest value, as the Go runtime does.
function argmax(v, off, k) {
  let best = 0;
  for (let j = 1; j < k; j++) if (v[off + j] > v[off + best]) best = j;
  return best;
}

async function runAll(ort, session, images, meta, n, batch, outputs) {
  const size = meta.c * meta.h * meta.w;
  const got = {};
  for (let s = 0; s < n; s += batch) {
    const b = Math.min(batch, n - s);
    const x = new ort.Tensor('float32', images.subarray(s * size, (s + b) * size), [b, meta.c, meta.h, meta.w]);
    const r = await session.run({ input: x }, outputs);
    for (const name of outputs) {
      const t = r[name];
      if (!got[name]) got[name] = { type: t.type, parts: [] };
      got[name].parts.push(Int32Array.from(t.data));
    }
  }
  for (const name of outputs) {
    const parts = got[name].parts, total = parts.reduce((a, p) => a + p.length, 0);
    const all = new Int32Array(total);
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    got[name].data = all;
  }
  return got;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    fail(`cannot load onnxruntime-node from ${a.ort}: ${e.message}`);
  }
  const meta = JSON.parse(fs.readFileSync(path.join(a.data, 'meta.json'), 'utf8'));
  const imgBuf = fs.readFileSync(path.join(a.data, 'images.f32'));
  const images = new Float32Array(imgBuf.buffer, imgBuf.byteOffset, imgBuf.length / 4);
  const ours = readI32(path.join(a.data, 'logits.i32'));
  const n = meta.n, k = meta.classes;
  if (ours.length !== n * k || images.length !== n * meta.c * meta.h * meta.w) fail('data files do not match meta.json');
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
  if (a.quantPrecision) opts.extra = { session: { x64quantprecision: '1' } };
  const session = await ort.InferenceSession.create(a.model, opts);
  const t0 = process.hrtime.bigint();
  const res = await runAll(ort, session, images, meta, n, a.batch, ['logits_q']);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const theirs = res.logits_q.data;
  if (theirs.length !== n * k) fail(`ONNX Runtime gave ${theirs.length} logits, want ${n * k}`);

  let top1 = 0, identical = 0, identicalSamples = 0, maxLsb = 0, accOurs = 0, accOrt = 0;
  const hist = {};
  for (let i = 0; i < n; i++) {
    const po = argmax(ours, i * k, k), pt = argmax(theirs, i * k, k);
    if (po === pt) top1++;
    if (po === meta.labels[i]) accOurs++;
    if (pt === meta.labels[i]) accOrt++;
    let same = true;
    for (let j = 0; j < k; j++) {
      const d = theirs[i * k + j] - ours[i * k + j];
      if (d === 0) identical++; else same = false;
      maxLsb = Math.max(maxLsb, Math.abs(d));
      hist[d] = (hist[d] || 0) + 1;
    }
    if (same) identicalSamples++;
  }
  const result = {
    model: a.model, arch: meta.arch, mode: meta.mode, samples: n, logits: n * k,
    ort_version: require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node', 'package.json')).version,
    top1_agreement: top1 / n, identical_logits: identical / (n * k), differing_logits: n * k - identical,
    identical_samples: identicalSamples / n, max_lsb_diff: maxLsb, diff_histogram: hist,
    tinyqat_acc: accOurs / n, ort_acc: accOrt / n, ort_seconds: seconds,
  };

  // Per layer, on the debug graph (every layer an output).
  const debugPath = path.join(a.data, 'debug.onnx');
  if (meta.layer_samples > 0 && fs.existsSync(debugPath)) {
    const ls = meta.layer_samples;
    const layerBuf = readI32(path.join(a.data, 'layers.i32'));
    const exactPath = path.join(a.data, 'exact.i32');
    const exactBuf = fs.existsSync(exactPath) ? readI32(exactPath) : null;
    const dbg = await ort.InferenceSession.create(debugPath, opts);
    const oname = l => l.index < 0 ? 'layer_input' : 'layer' + l.index;
    const names = meta.layers.map(oname);
    const got = await runAll(ort, dbg, images, meta, ls, a.batch, names.concat(['logits_q']));
    let sameAsPlain = true;
    for (let i = 0; i < ls * k; i++) if (got.logits_q.data[i] !== theirs[i]) { sameAsPlain = false; break; }
    result.debug_graph_matches_plain = sameAsPlain;
    result.layers = [];
    // sameIn[s]: sample s reached the current layer with identical inputs
    // in both engines, so a difference there is that layer's own (its
    // rounding), not one carried from an earlier layer.
    // sameOutOf[v]: per sample, whether value v (−1: the input) is the
    // same in both engines; a layer's inputs are l.inputs (a graph).
    const sameOutOf = {};
    for (const l of meta.layers) {
      const sameIn = new Array(ls).fill(true);
      for (const v of l.inputs || []) {
        const so = sameOutOf[v];
        for (let s = 0; s < ls; s++) sameIn[s] = sameIn[s] && so[s];
      }
      const g = got[oname(l)];
      const off = g.type === 'uint8' ? meta.act_offset : 0;
      const ref = layerBuf.subarray(l.offset / 4, l.offset / 4 + ls * l.size);
      // exact: the layer computed from its definition with one exact
      // rounding (half to even) from tinyqat's input to it; it judges
      // tinyqat on every sample and ONNX Runtime where its input is the same.
      const exact = exactBuf && l.exact_offset >= 0 ? exactBuf.subarray(l.exact_offset / 4, l.exact_offset / 4 + ls * l.size) : null;
      let differ = 0, mx = 0, own = 0, ownValues = 0, oursInexact = 0, ortInexact = 0;
      const sameOut = new Array(ls).fill(true);
      for (let s = 0; s < ls; s++) {
        if (sameIn[s]) ownValues += l.size;
        for (let j = 0; j < l.size; j++) {
          const i = s * l.size + j, d = Math.abs(g.data[i] - off - ref[i]);
          if (d) { differ++; mx = Math.max(mx, d); sameOut[s] = false; if (sameIn[s]) own++; }
          if (exact) {
            if (ref[i] !== exact[i]) oursInexact++;
            if (sameIn[s] && g.data[i] - off !== exact[i]) ortInexact++;
          }
        }
      }
      const row = { layer: l.index, kind: l.kind, name: l.name || '', values: ref.length, differ, max_lsb: mx,
        values_with_same_input: ownValues, differ_with_same_input: own };
      if (exact) Object.assign(row, { tinyqat_not_exact: oursInexact, ort_not_exact_with_same_input: ortInexact });
      result.layers.push(row);
      sameOutOf[l.index] = sameOut;
    }
    result.layer_samples = ls;
    const first = result.layers.find(l => l.differ > 0);
    result.first_divergence = first ? `layer ${first.layer} (${first.kind} ${first.name})` : '';
  }

  const failures = [];
  if (result.top1_agreement < a.minTop1) failures.push(`top-1 agreement ${result.top1_agreement} < ${a.minTop1}`);
  if (result.identical_logits < a.minIdentical) failures.push(`identical logits ${result.identical_logits} < ${a.minIdentical}`);
  if (result.max_lsb_diff > a.maxLsb) failures.push(`max difference ${result.max_lsb_diff} LSB > ${a.maxLsb}`);
  result.pass = failures.length === 0;
  result.failures = failures;

  const pct = v => (100 * v).toFixed(4) + '%';
  console.log(`ONNX Runtime ${result.ort_version} vs tinyqat runtime, ${meta.arch} ${meta.mode}, ${n} test images (${seconds.toFixed(2)} s in ORT)`);
  console.log(`  accuracy          tinyqat ${pct(result.tinyqat_acc)}   ONNX Runtime ${pct(result.ort_acc)}`);
  console.log(`  top-1 agreement   ${pct(result.top1_agreement)}`);
  console.log(`  identical logits  ${pct(result.identical_logits)} (${result.differing_logits} of ${n * k} differ); identical samples ${pct(result.identical_samples)}`);
  console.log(`  max difference    ${maxLsb} LSB; ORT − tinyqat histogram ${JSON.stringify(hist)}`);
  if (result.layers) {
    console.log(`  per layer, first ${result.layer_samples} images (debug graph gives the plain graph's logits: ${result.debug_graph_matches_plain}):`);
    console.log('    ("own": values of samples whose input to the layer is identical in both engines, so the difference is that layer\'s rounding)');
    console.log('    ("exact": the layer from its definition, rounded once, half to even, from the same input)');
    for (const l of result.layers) {
      let line = `    layer ${String(l.layer).padStart(2)} ${l.kind.padEnd(13)} ${String(l.values).padStart(9)} values, ${String(l.differ).padStart(6)} differ, max ${l.max_lsb} LSB; own ${l.differ_with_same_input} of ${l.values_with_same_input}`;
      if (l.tinyqat_not_exact !== undefined) line += `; not exact: tinyqat ${l.tinyqat_not_exact} of ${l.values}, ORT ${l.ort_not_exact_with_same_input} of ${l.values_with_same_input}`;
      console.log(line);
    }
    console.log(result.first_divergence ? `  first divergence at ${result.first_divergence}` : '  every layer identical');
  }
  for (const f of failures) console.log('  FAIL: ' + f);
  if (a.json) console.log(JSON.stringify(result));
  process.exit(result.pass ? 0 : 1);
}

main().catch(e => fail(e && e.stack ? e.stack : String(e)));
