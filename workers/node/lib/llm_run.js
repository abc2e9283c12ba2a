'use strict';
// The LLM export portability matrix's Node runtime (docs/llm.md, "Export portability"): run an
// exported generation *step* ONNX file with onnxruntime-node (`node worker.js --llm-run
// REQUEST.json`), the twin of workers/python/fwbench_workers/llm_export.py's run and generate.
//
// The step: (tokens int64 [B, T], keys/values float32 [L, B, Hkv, S, D], start int64 [1]) ->
// (logits float32 [B, V] of the last position, keys_out, values_out). Greedy generation from
// zero caches: one prefill step, then new_tokens - 1 decode steps; the caches stay ort.Tensors
// from one call to the next, only the argmax of the logits is computed on the host.
const fs = require('fs');
const path = require('path');
const safetensors = require('./safetensors');
const {UsageError} = require('./protocol');

const INPUTS = ['tokens', 'keys', 'values', 'start'];
const OUTPUTS = ['logits', 'keys_out', 'values_out'];
const REQUEST = {file: 'string', prompt: 'string', config: 'string', out: 'string',
                 new_tokens: 'int', cache_len: 'int', threads: 'int'};
const now = () => process.hrtime.bigint();
const seconds = (t0, t1) => Number(t1 - t0) * 1e-9;

// The runtime's or the file's own first line: what a user would search for (as first_line in
// llm_export.py, with the JS error's name in place of Python's exception type).
function firstLine(error, limit = 400) {
  const text = String(error?.message ?? error).trim();
  const line = text.split('\n').map(l => l.trim()).find(l => l) || '';
  return `${error?.name || typeof error}: ${line || String(error)}`.slice(0, limit);
}

// The request's fields that this runtime needs; others (the runtime name included) are the
// caller's. A request that cannot be used is a usage error, not a finding about the runtime.
function readRequest(file) {
  let request;
  try {
    request = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: cannot read the llm-run request: ${e.message}`);
  }
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw new UsageError(`${file}: the llm-run request must be a JSON object`);
  }
  for (const [field, type] of Object.entries(REQUEST)) {
    const v = request[field];
    const ok = type === 'int' ? Number.isInteger(v) && v >= 1 : typeof v === type;
    if (!ok) throw new UsageError(`${file}: field ${field} must be ${type === 'int' ? 'an integer >= 1' : 'a string'}`);
  }
  if ('repeats' in request && !Number.isInteger(request.repeats)) {
    throw new UsageError(`${file}: field repeats must be an integer`);
  }
  return request;
}

// tokens [1, P] of prompt.safetensors as a BigInt64Array (an int32 prompt is widened, as
// llm_export.py's astype(int64) does). The decode steps feed [1, 1]: one sequence.
function readPrompt(file) {
  let t;
  try {
    t = safetensors.read(file).tokens;
  } catch (e) {
    throw new UsageError(`${file}: cannot read the prompt: ${e.message}`);
  }
  if (!t || !['I64', 'I32'].includes(t.dtype) || t.shape.length !== 2 || t.shape[0] !== 1 || t.shape[1] < 1) {
    throw new UsageError(`${file}: expected a tensor "tokens" of I64 [1, P]`);
  }
  const data = t.data instanceof BigInt64Array ? t.data : BigInt64Array.from(t.data, BigInt);
  return {data, length: t.shape[1]};
}

// [L, B, Hkv, S, D] from config.json, as cache_shape in llm_export.py.
function cacheShape(configFile, batch, cacheLen) {
  let c;
  try {
    c = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  } catch (e) {
    throw new UsageError(`${configFile}: cannot read the checkpoint's config: ${e.message}`);
  }
  for (const k of ['num_hidden_layers', 'num_key_value_heads', 'hidden_size', 'num_attention_heads']) {
    if (!Number.isInteger(c?.[k]) || c[k] < 1) {
      throw new UsageError(`${configFile}: field ${k} must be an integer >= 1`);
    }
  }
  return [c.num_hidden_layers, batch, c.num_key_value_heads, cacheLen,
          Math.floor(c.hidden_size / c.num_attention_heads)];
}

// The names to feed and fetch: the spec's own when the file has them all; otherwise the file's,
// by position (an exporter that renamed them kept their order).
function ioNames(have, want, what) {
  if (want.every(n => have.includes(n))) return want;
  if (have.length !== want.length) {
    throw new Error(`the model's ${what} are [${have.join(', ')}]; the step has ${want.length} ` +
                    `(${want.join(', ')})`);
  }
  return have;
}

// Index of the largest of the first row's values; the first of equal ones, and a NaN wins, as
// numpy's and torch's argmax.
function argmax(data, count) {
  let best = 0;
  for (let i = 0; i < count; ++i) {
    const v = data[i];
    if (Number.isNaN(v)) return i;
    if (v > data[best]) best = i;
  }
  return best;
}

// A loaded step: call(tokens, keys, values, start) -> {logits, keys, values}, all ort.Tensors.
class Step {
  constructor(ort, session) {
    this.ort = ort;
    this.session = session;
    this.inputs = ioNames(session.inputNames, INPUTS, 'inputs');
    this.outputs = ioNames(session.outputNames, OUTPUTS, 'outputs');
  }
  tokens(data, length) { return new this.ort.Tensor('int64', data, [1, length]); }
  start(p) { return new this.ort.Tensor('int64', BigInt64Array.of(BigInt(p)), [1]); }
  zeros(shape) { return new this.ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)), shape); }
  async call(tokens, keys, values, start) {
    const [t, k, v, s] = this.inputs;
    const out = await this.session.run({[t]: tokens, [k]: keys, [v]: values, [s]: start});
    const [l, ko, vo] = this.outputs;
    return {logits: out[l], keys: out[ko], values: out[vo]};
  }
}

const vocab = logits => logits.dims[logits.dims.length - 1];

// Greedy generation as generate() in llm_export.py: the prompt and zero caches are made before
// the clock starts; a decode step's token tensor is made inside it, as every runtime does.
// Returns {tokens, logits (the prefill's first row, Float32Array), prefill_s, decode_s}.
async function generate(step, prompt, newTokens, shape) {
  let keys = step.zeros(shape);
  let values = step.zeros(shape);
  const x = step.tokens(prompt.data, prompt.length);
  const t0 = now();
  let r = await step.call(x, keys, values, step.start(0));
  let tok = argmax(r.logits.data, vocab(r.logits));
  const t1 = now();
  const first = r.logits.data.slice(0, vocab(r.logits));  // for parity: in neither phase's time
  const tokens = [tok];
  const tDecode = now();
  for (let i = 1; i < newTokens; ++i) {
    ({keys, values} = r);  // the outputs are the next call's inputs, as they are
    r = await step.call(step.tokens(BigInt64Array.of(BigInt(tok)), 1), keys, values,
                        step.start(prompt.length + i - 1));
    tok = argmax(r.logits.data, vocab(r.logits));
    tokens.push(tok);
  }
  const t2 = now();
  return {tokens, logits: first, prefill_s: seconds(t0, t1), decode_s: seconds(tDecode, t2)};
}

// --llm-run: load the file, one untimed generation, then `repeats` timed ones. A runtime that is
// missing, a file it refuses or a step that fails is an answer (ok false), not an error of fwbench.
async function run(request) {
  let ort;
  const answer = {ok: false, runtime: `onnxruntime-node (Node ${process.version})`};
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    return {...answer, stage: 'load', reason: firstLine(e)};
  }
  answer.runtime = `onnxruntime-node ${ort.env.versions.node} (Node ${process.version})`;
  const runtime = request.runtime ?? 'onnxruntime-node';
  if (runtime !== 'onnxruntime-node') {
    return {...answer, stage: 'load', reason: `unknown runtime '${runtime}' (have: onnxruntime-node)`};
  }
  const prompt = readPrompt(request.prompt);
  const shape = cacheShape(request.config, 1, request.cache_len);
  // As ports/ort.js: exactly `threads` compute threads, graph optimisations on.
  const options = {intraOpNumThreads: request.threads, interOpNumThreads: 1,
                   executionMode: 'sequential', graphOptimizationLevel: 'all'};
  let step;
  const t0 = now();
  try {
    step = new Step(ort, await ort.InferenceSession.create(request.file, options));
  } catch (e) {
    return {...answer, stage: 'load', reason: firstLine(e)};
  }
  answer.load_s = seconds(t0, now());
  try {
    await generate(step, prompt, request.new_tokens, shape);  // warm-up, untimed
    answer.prefill_s = [];
    answer.decode_s = [];
    const repeats = Math.max(1, request.repeats ?? 3);
    for (let r = 0; r < repeats; ++r) {
      const g = await generate(step, prompt, request.new_tokens, shape);
      if (r === 0) {
        answer.tokens = g.tokens;
        fs.mkdirSync(request.out, {recursive: true});
        const file = path.join(request.out, 'logits.safetensors');
        safetensors.write(file, {logits: {dtype: 'F32', shape: [1, g.logits.length], data: g.logits}});
        answer.logits = file;
      }
      answer.prefill_s.push(g.prefill_s);
      answer.decode_s.push(g.decode_s);
    }
  } catch (e) {
    return {...answer, stage: 'run', reason: firstLine(e)};
  }
  answer.ok = true;
  return answer;
}

module.exports = {run, readRequest, generate, argmax, ioNames, firstLine, cacheShape, readPrompt};
