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
};
const OPTIONAL = {precision: 'fp32', memory_format: 'contiguous', save_model: false, onnx_model: ''};
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
    ['memory_format', ['contiguous', 'channels_last']], ['workload', ['image_classification']]]) {
    if (!allowed.includes(spec[key])) {
      throw new UsageError(`${file}: field ${key} is '${spec[key]}'; expected one of ${allowed.join(', ')}`);
    }
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
  if (argv.length !== 2 || argv[0].startsWith('-')) {
    process.stderr.write('usage: node worker.js PORT SPEC.json   (ports: ort, tfjs)\n' +
                         '       node worker.js --probe PORT\n');
    return argv.length === 1 && (argv[0] === '-h' || argv[0] === '--help') ? 0 : 2;
  }
  const [portName, specFile] = argv;
  try {
    if (!ports.includes(portName)) throw new UsageError(`unknown port '${portName}' (have: ${ports.join(', ')})`);
    const spec = readSpec(specFile);
    const t0 = now();
    require(path.join(__dirname, '..', 'ports', `${portName}.js`));
    await runTrial(portName, spec, tMain, [t0, now()]);
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
    const {Port, probeModes} = require(file);
    answer = {available: true, framework: Port.framework, version: Port.version, modes: probeModes(),
              precisions: ['fp32'], memory_formats: ['contiguous'], port_file: file, port_files: [file]};
  } catch (e) {
    answer = {available: false, reason: String(e.message || e).split('\n')[0]};
  }
  fs.writeSync(1, JSON.stringify(answer) + '\n');
  return 0;
}

module.exports = {main, UsageError, Unsupported, writeEvent, now};
