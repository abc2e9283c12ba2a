'use strict';
// The trial protocol (docs/protocol.md, version 1) for Node workers: the spec, the event
// stream, the set-up phases, the step loop with its budget, the parity output. A port
// (ports/<name>.js) provides the framework's own work only.
const fs = require('fs');
const path = require('path');
const cifar = require('./cifar');
const safetensors = require('./safetensors');

const VERSION = 1;
const now = () => process.hrtime.bigint();  // CLOCK_MONOTONIC ns on Linux

class UsageError extends Error {}
class Unsupported extends Error {}

// BigInt timestamps are written as exact JSON integers.
function writeEvent(event, fields) {
  const line = JSON.stringify({event, ...fields}, (k, v) => (typeof v === 'bigint' ? `#big#${v}` : v))
    .replace(/"#big#(-?\d+)"/g, '$1');
  fs.writeSync(1, line + '\n');
}

const FIELDS = {
  protocol_version: 'int', trial_id: 'string', config_id: 'string', workload: 'string',
  task: 'string', backend: 'string', mode: 'string', device: 'string', threads: 'int',
  precision: 'string', memory_format: 'string', save_model: 'boolean', seed: 'int',
  model: 'object', data: 'object', weights: 'string', batch_size: 'int', parity_batch: 'int',
  optimizer: 'object', budget: 'object', output_dir: 'string', onnx_model: 'string',
  user_model: 'object',
};
const OPTIONAL = {precision: 'fp32', memory_format: 'contiguous', save_model: false, onnx_model: '',
                  user_model: null};
// Workload "user_model" (docs/your-model.md): the model file, its inputs, the shared input rows.
const USER_MODEL = {file: 'string', format: 'string', inputs_file: 'string', inputs: 'object',
                    entry: 'string', import_path: 'string'};
const USER_MODEL_OPTIONAL = {entry: '', import_path: ''};
const USER_INPUT = {name: 'string', dtype: 'string', shape: 'object'};
const NESTED = {
  model: {arch: 'string', stem: 'string', num_classes: 'int'},
  data: {format: 'string', dir: 'string', augment: 'boolean', shuffle: 'boolean'},
  optimizer: {name: 'string', lr: 'number', momentum: 'number', weight_decay: 'number'},
  budget: {min_steps: 'int', max_steps: 'int', min_seconds: 'number', max_seconds: 'number'},
};

function checkFields(obj, fields, where, file, optional = {}) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new UsageError(`${file}: ${where || 'the spec'} must be a JSON object`);
  }
  for (const key of Object.keys(obj)) {
    if (!(key in fields)) {
      throw new UsageError(`${file}: unknown field ${where}${key} (protocol version ${VERSION} has: ` +
                           `${Object.keys(fields).sort().join(', ')})`);
    }
  }
  const out = {};
  for (const [key, type] of Object.entries(fields)) {
    if (!(key in obj)) {
      if (key in optional) { out[key] = optional[key]; continue; }
      throw new UsageError(`${file}: missing field ${where}${key}`);
    }
    const v = obj[key];
    const ok = type === 'int' ? Number.isInteger(v) : type === 'object' ? typeof v === 'object' : typeof v === type;
    if (!ok) throw new UsageError(`${file}: field ${where}${key} must be ${type}, got ${JSON.stringify(v)}`);
    out[key] = v;
  }
  return out;
}

function readSpec(file) {
  let raw;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: cannot read the trial spec: ${e.message}`);
  }
  const spec = checkFields(raw, FIELDS, '', file, OPTIONAL);
  if (spec.protocol_version !== VERSION) {
    throw new UsageError(`${file}: protocol_version ${spec.protocol_version}; this worker speaks version ${VERSION}`);
  }
  for (const [key, fields] of Object.entries(NESTED)) spec[key] = checkFields(spec[key], fields, key + '.', file);
  for (const [key, allowed] of [['task', ['train', 'infer']], ['precision', ['fp32', 'bf16']],
    ['memory_format', ['contiguous', 'channels_last']],
    ['workload', ['image_classification', 'user_model']]]) {
    if (!allowed.includes(spec[key])) {
      throw new UsageError(`${file}: field ${key} is '${spec[key]}'; expected one of ${allowed.join(', ')}`);
    }
  }
  if (spec.workload === 'user_model') {
    if (spec.user_model === null) throw new UsageError(`${file}: workload user_model needs the user_model object`);
    const um = checkFields(spec.user_model, USER_MODEL, 'user_model.', file, USER_MODEL_OPTIONAL);
    if (!Array.isArray(um.inputs) || um.inputs.length === 0) {
      throw new UsageError(`${file}: user_model.inputs must be a non-empty list of {name, dtype, shape}`);
    }
    um.inputs = um.inputs.map((i, n) => checkFields(i, USER_INPUT, `user_model.inputs[${n}].`, file));
    spec.user_model = um;
  }
  // JSON numbers are doubles here: a seed above 2^53 would not be the seed C++ and Python use.
  if (!Number.isSafeInteger(spec.seed) || spec.seed < 0) {
    throw new UsageError(`${file}: field seed ${spec.seed} is outside 0..2^53-1, which the Node ` +
                         'workers can represent exactly; use a smaller seed');
  }
  if (spec.threads < 1 || spec.batch_size < 1 || spec.parity_batch < 0) {
    throw new UsageError(`${file}: threads and batch_size must be >= 1, parity_batch >= 0`);
  }
  return spec;
}

// This process's own peak memory (VmHWM): process.resourceUsage().maxRSS is ru_maxrss, which on
// Linux starts at what fwbench held when it exec'd this worker.
function peakRssBytes() {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch (e) {
    // no /proc: fall back below
  }
  return process.resourceUsage().maxRSS * 1024;
}

function budgetLeft(b, steps, elapsed) {
  if (b.max_steps > 0 && steps >= b.max_steps) return false;
  if (elapsed >= b.max_seconds) return false;
  return steps < b.min_steps || elapsed < b.min_seconds;
}

async function phase(name, fn) {
  const t0 = now();
  const result = await fn();
  writeEvent('phase', {name, t0, t1: now()});
  return result;
}

async function runTrial(portName, spec, tMain, importSpan) {
  const portFile = path.join(__dirname, '..', 'ports', `${portName}.js`);
  const {Port} = require(portFile);
  const port = new Port(spec);
  const train = spec.task === 'train';
  // One compute pool of the spec's threads, set before anything runs (docs/workers.md).
  const threadPools = port.setThreads(spec.threads);
  writeEvent('hello', {
    protocol_version: VERSION, t: now(), t_main: tMain, pid: process.pid, framework: port.framework,
    framework_version: port.version, backend: spec.backend, mode: spec.mode, device: spec.device,
    threads: spec.threads, thread_pools: threadPools,
    extra: {precision: spec.precision, memory_format: spec.memory_format, port_files: [portFile],
            ...port.extra()},
  });
  writeEvent('phase', {name: 'import', t0: importSpan[0], t1: importSpan[1]});
  for (const [file, what] of [[spec.weights, 'weights'], [spec.onnx_model, 'onnx_model']]) {
    if (file && !(fs.existsSync(file) && fs.statSync(file).isFile())) {
      throw new UsageError(`${file}: the file of spec field ${what} does not exist or is not a file`);
    }
  }
  port.checkSupported();
  await phase('init', () => port.init());
  await phase('build', () => port.build());
  await phase('load_weights', () => port.loadWeights(spec.weights));
  const batcher = await phase('data', () => {
    const set = cifar.readSplit(spec.data.dir, train ? 'train' : 'test');
    return new cifar.Batcher(set, spec.batch_size, {
      augment: spec.data.augment && train, shuffle: spec.data.shuffle && train, seed: spec.seed});
  });
  if (port.compiles) await phase('compile', () => port.compile(batcher.fill(0), batcher.fill(1)));

  let steps = 0;
  let firstT0 = 0n;
  for (;;) {
    const elapsed = steps === 0 ? 0 : Number(now() - firstT0) * 1e-9;
    if (!budgetLeft(spec.budget, steps, elapsed)) break;
    const input = port.toInput(batcher.fill(steps));  // outside the timed region
    const t0 = now();
    if (steps === 0) firstT0 = t0;
    if (train) {
      const loss = await port.trainStep(input);
      writeEvent('step', {i: steps, t0, t1: now(), samples: spec.batch_size, loss});
    } else {
      await port.inferStep(input);
      writeEvent('step', {i: steps, t0, t1: now(), samples: spec.batch_size, loss: null});
    }
    port.release(input);
    ++steps;
  }
  writeEvent('metric', {name: 'peak_rss_bytes', value: peakRssBytes(), unit: 'bytes'});
  if (!train && spec.parity_batch > 0) {
    const n = Math.min(spec.parity_batch, batcher.n);
    const fixed = batcher.fixed(n);
    const logits = await port.logits(fixed);
    const file = path.join(spec.output_dir, 'logits.safetensors');
    safetensors.write(file, {
      logits: {dtype: 'F32', shape: [n, logits.length / n], data: logits},
      inputs: {dtype: 'F32', shape: [n, 3, 32, 32], data: fixed.x},
    });
    writeEvent('output', {name: 'logits', path: file});
  }
  writeEvent('done', {t: now(), steps});
}

// The user's own model (docs/your-model.md): every step feeds the next batch_size rows of the
// shared input file (the same rows, in the same order, for every backend) and runs the model; the
// parity output is its first output on the first parity_batch rows, at the timed batch size.
async function runUserModelTrial(portName, spec, tMain, importSpan) {
  const portFile = path.join(__dirname, '..', 'ports', `${portName}.js`);
  const {ModelPort} = require(portFile);
  if (!ModelPort) throw new Unsupported(`the ${portName} port does not run user models`);
  const um = spec.user_model;
  const port = new ModelPort(spec);
  const threadPools = port.setThreads(spec.threads);
  writeEvent('hello', {
    protocol_version: VERSION, t: now(), t_main: tMain, pid: process.pid, framework: port.framework,
    framework_version: port.version, backend: spec.backend, mode: spec.mode, device: spec.device,
    threads: spec.threads, thread_pools: threadPools,
    extra: {workload: 'user_model', format: um.format, precision: spec.precision,
            port_files: [portFile]},
  });
  writeEvent('phase', {name: 'import', t0: importSpan[0], t1: importSpan[1]});
  for (const [file, what] of [[um.file, 'user_model.file'], [um.inputs_file, 'user_model.inputs_file']]) {
    if (!(fs.existsSync(file) && fs.statSync(file).isFile())) {
      throw new UsageError(`${file}: the file of spec field ${what} does not exist or is not a file`);
    }
  }
  port.checkSupported();
  await phase('init', () => port.init());
  await phase('build', () => port.build());
  const {arrays, count} = await phase('data', () => {
    const tensors = safetensors.read(um.inputs_file);
    let rows = Infinity;
    const out = {};
    for (const i of um.inputs) {
      const t = tensors[i.name];
      const dtype = {float32: 'F32', int64: 'I64', int32: 'I32'}[i.dtype];
      if (!t || t.dtype !== dtype || t.shape.slice(1).join('x') !== i.shape.join('x')) {
        throw new UsageError(`${um.inputs_file}: expected a tensor "${i.name}" of ${i.dtype} ` +
                             `[rows, ${i.shape.join(', ')}]`);
      }
      rows = Math.min(rows, t.shape[0]);
      out[i.name] = {t, row: i.shape.reduce((a, b) => a * b, 1)};
    }
    if (!(rows > 0)) throw new UsageError(`${um.inputs_file}: no input rows`);
    return {arrays: out, count: rows};
  });
  const batch = spec.batch_size;
  // Rows first..first+n (cycling), one typed array per input.
  const feeds = (first, n) => {
    const f = {};
    for (const [name, {t, row}] of Object.entries(arrays)) {
      const data = new t.data.constructor(n * row);
      for (let r = 0; r < n; ++r) {
        const src = ((first + r) % count) * row;
        data.set(t.data.subarray(src, src + row), r * row);
      }
      f[name] = {data, shape: [n, ...t.shape.slice(1)], dtype: t.dtype};
    }
    return f;
  };
  if (port.compiles) await phase('compile', () => port.compile(port.toFeeds(feeds(0, batch))));
  let steps = 0;
  let firstT0 = 0n;
  for (;;) {
    const elapsed = steps === 0 ? 0 : Number(now() - firstT0) * 1e-9;
    if (!budgetLeft(spec.budget, steps, elapsed)) break;
    const x = port.toFeeds(feeds(steps * batch, batch));  // outside the timed region
    const t0 = now();
    if (steps === 0) firstT0 = t0;
    await port.inferStep(x);
    writeEvent('step', {i: steps, t0, t1: now(), samples: batch, loss: null});
    ++steps;
  }
  writeEvent('metric', {name: 'peak_rss_bytes', value: peakRssBytes(), unit: 'bytes'});
  if (spec.parity_batch > 0) {
    const n = Math.min(spec.parity_batch, count);
    const chunks = [];
    for (let start = 0; start < n; start += batch) {  // at the timed batch size
      const real = Math.min(batch, n - start);
      const out = await port.firstOutput(port.toFeeds(feeds(start, batch)));
      const per = out.length / batch;
      chunks.push(Float32Array.from(out.subarray(0, real * per), Number));
    }
    const logits = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) { logits.set(c, at); at += c.length; }
    const first = arrays[um.inputs[0].name];
    const inputs = Float32Array.from(first.t.data.subarray(0, n * first.row), Number);
    const file = path.join(spec.output_dir, 'logits.safetensors');
    safetensors.write(file, {
      logits: {dtype: 'F32', shape: [n, logits.length / n], data: logits},
      inputs: {dtype: 'F32', shape: [n, first.row], data: inputs},
    });
    writeEvent('output', {name: 'logits', path: file});
  }
  writeEvent('done', {t: now(), steps});
}

function errorExit(kind, message, code) {
  writeEvent('error', {kind, message});
  return code;
}

async function main(argv, tMain) {
  // Libraries log to stdout at times; the protocol owns it (events are written to fd 1
  // directly with fs.writeSync, everything else goes to stderr, the trial's stderr.log).
  const toStderr = (...a) => process.stderr.write(a.map(String).join(' ') + '\n');
  console.log = console.info = console.warn = console.debug = console.dir = console.table = toStderr;
  process.stdout.write = (chunk, ...rest) => process.stderr.write(chunk, ...rest);
  const ports = ['ort', 'tfjs'];
  if (argv.length === 2 && argv[0] === '--probe') return probe(argv[1], ports);
  if (argv.length === 2 && argv[0] === '--llm-run') return llmRun(argv[1]);
  const dx = argv.length === 3 && argv[0] === '--dx';
  if (!dx && (argv.length !== 2 || argv[0].startsWith('-'))) {
    process.stderr.write('usage: node worker.js PORT SPEC.json   (ports: ort, tfjs)\n' +
                         '       node worker.js --probe PORT\n' +
                         '       node worker.js --dx FRAMEWORK REQUEST.json   one injected fault ' +
                         '(fwbench dx, docs/dx.md)\n' +
                         '       node worker.js --llm-run REQUEST.json   run an exported LLM step ' +
                         '(fwbench llm-export, docs/llm.md)\n');
    return argv.length === 1 && (argv[0] === '-h' || argv[0] === '--help') ? 0 : 2;
  }
  const [portName, specFile] = argv;
  try {
    if (dx) return await require('./dx').run(argv[1], argv[2]);
    if (!ports.includes(portName)) throw new UsageError(`unknown port '${portName}' (have: ${ports.join(', ')})`);
    const spec = readSpec(specFile);
    const t0 = now();
    require(path.join(__dirname, '..', 'ports', `${portName}.js`));
    if (spec.workload === 'user_model') {
      await runUserModelTrial(portName, spec, tMain, [t0, now()]);
    } else {
      await runTrial(portName, spec, tMain, [t0, now()]);
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof cifar.DataError || e instanceof safetensors.SafetensorsError) {
      return errorExit('usage', e.message, 2);
    }
    if (e instanceof Unsupported) return errorExit('unsupported', e.message, 1);
    process.stderr.write(`${e.stack || e}\n`);
    return errorExit('runtime', `${e.name}: ${e.message}`, 1);
  }
}

function probe(portName, ports) {
  let answer;
  try {
    if (!ports.includes(portName)) throw new Error(`unknown port '${portName}' (have: ${ports.join(', ')})`);
    const file = path.join(__dirname, '..', 'ports', `${portName}.js`);
    const {Port, probeModes, ModelPort, MODEL_FORMATS} = require(file);
    answer = {available: true, framework: Port.framework, version: Port.version, modes: probeModes(),
              precisions: ['fp32'], memory_formats: ['contiguous'], port_file: file, port_files: [file],
              workloads: ['image_classification', ...(ModelPort ? ['user_model'] : [])],
              model_formats: MODEL_FORMATS || []};
  } catch (e) {
    answer = {available: false, reason: String(e.message || e).split('\n')[0]};
  }
  fs.writeSync(1, JSON.stringify(answer) + '\n');
  return 0;
}

// --llm-run (lib/llm_run.js): the answer is one JSON line on stdout and the exit code 0, also
// when the runtime fails (ok false); a request that cannot be used is a message on stderr, exit 2.
async function llmRun(requestFile) {
  try {
    const llm = require('./llm_run');
    const answer = await llm.run(llm.readRequest(requestFile));
    fs.writeSync(1, JSON.stringify(answer) + '\n');
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof safetensors.SafetensorsError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    process.stderr.write(`${e.stack || e}\n`);
    return 1;
  }
}

module.exports = {main, UsageError, Unsupported, writeEvent, now};
