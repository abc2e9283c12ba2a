'use strict';
// Developer experience (`fwbench dx`, docs/dx.md) for the Node workers: what
// workers/python/fwbench_workers/dx.py is for Python, with the same model, weights, samples,
// faults and events. A port (ports/dx_<framework>.js) provides FRAMEWORK, version(),
// notApplicable(fault, mode), setUp(mode, threads) (in Node a backend is picked with its threads)
// and a function per fault it runs, fault(request, window): it returns a note (outcome silent),
// throws what the framework threw (error), or its loss stops being finite (loop).
//
// What the user would see goes to request.error_file: during the fault, process.stdout and
// process.stderr (and so console.*) write to it, followed by a thrown error as Node prints an
// uncaught one. Native code that writes to fd 2 itself is not caught: Node cannot redirect an fd.
const fs = require('fs');
const path = require('path');
const util = require('util');
const {UsageError, writeEvent, now} = require('./protocol');

const FAULTS = ['shape_mismatch', 'exploding_loss', 'exploding_loss_checked', 'bad_batch',
                'wrong_dtype', 'export_unsupported'];
const FRAMEWORKS = ['tfjs', 'ort'];

const SAMPLES = 64, FEATURES = 3072, HIDDEN = 64, CLASSES = 10, BATCH = 16;
const LR = 0.05;
const EXPLODING_LR = LR * 1e4;
const MAX_STEPS = 100;  // the exploding-loss faults give up after this many steps
const WRONG_IN_FEATURES = 60;  // shape_mismatch: classifier built for 60 inputs, fed hidden's 64
const BAD_SAMPLE = 37;  // bad_batch: this sample (in the third batch) has BAD_FEATURES values
const BAD_FEATURES = 3071;

// {name: {data, shape}} in PyTorch's layout ([out, in]); biases zero. Computed in doubles and
// rounded to float32 as NumPy does in dx.py.
function weights() {
  const matrix = (rows, cols, f) => {
    const data = new Float32Array(rows * cols);
    for (let o = 0; o < rows; ++o) for (let i = 0; i < cols; ++i) data[o * cols + i] = f(o, i);
    return {data, shape: [rows, cols]};
  };
  return {
    'hidden.weight': matrix(HIDDEN, FEATURES, (o, i) => 0.02 * Math.sin(0.37 * o + 0.11 * i + 1.0)),
    'hidden.bias': {data: new Float32Array(HIDDEN), shape: [HIDDEN]},
    'classifier.weight': matrix(CLASSES, HIDDEN, (o, i) => 0.1 * Math.cos(0.23 * o + 0.51 * i)),
    'classifier.bias': {data: new Float32Array(CLASSES), shape: [CLASSES]},
  };
}

function sample(n, features = FEATURES) {
  const x = new Float32Array(features);
  for (let k = 0; k < features; ++k) x[k] = 0.5 * Math.sin(0.013 * (n * FEATURES + k) + 0.7);
  return x;
}

const label = n => n % CLASSES;
const batchIndices = step => Array.from({length: BATCH}, (_, j) => (step * BATCH + j) % SAMPLES);

// {x: Float32Array [16 * 3072], y: Int32Array [16]} of `step`.
function batch(step) {
  const idx = batchIndices(step);
  const x = new Float32Array(BATCH * FEATURES);
  idx.forEach((n, j) => x.set(sample(n), j * FEATURES));
  return {x, y: Int32Array.from(idx, label)};
}

// wrong_dtype: the 0-255 uint8 pixels a user forgot to convert and scale. float32 arithmetic and
// rounding half to even, as np.round((x + 0.5) * 255.0) on float32.
function rawPixels(x) {
  return Uint8Array.from(x, v => {
    const p = Math.fround(Math.fround(v + 0.5) * 255);
    const r = Math.round(p);
    return r - p === 0.5 && r % 2 === 1 ? r - 1 : r;
  });
}

// bad_batch: the dataset's item n, one of which has the wrong length.
const badSample = n => sample(n, n === BAD_SAMPLE ? BAD_FEATURES : FEATURES);

// Raised by this loop's own check (not the framework's) when the loss is NaN or Inf.
class NonFinite extends Error {}

// What a fault function reports through: the steps it completed and their losses.
class Window {
  constructor() { this.steps = 0; }
  step(i, loss) {
    loss = Number(loss);
    const finite = Number.isFinite(loss);
    writeEvent('dx_step', {i, loss: finite ? loss : null, finite});
    ++this.steps;
    if (!finite) {
      const said = Number.isNaN(loss) ? 'nan' : loss > 0 ? 'inf' : '-inf';  // as dx.py says it
      throw new NonFinite(`loss is ${said} after step ${i}`);
    }
  }
}

// process.stdout, process.stderr and console write to `file` while `fn` runs; console formats its
// arguments as Node's own does (protocol.js's console of the trials joins them).
const CONSOLE = ['log', 'info', 'warn', 'error', 'debug'];
async function intoFile(file, fn) {
  const fd = fs.openSync(file, 'a');
  const streams = [process.stdout, process.stderr];
  const saved = [streams.map(s => s.write), CONSOLE.map(m => console[m])];
  const write = (chunk, encoding, callback) => {
    fs.writeSync(fd, typeof chunk === 'string' ? chunk : Buffer.from(chunk));
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  };
  for (const s of streams) s.write = write;
  for (const m of CONSOLE) console[m] = (...args) => write(util.format(...args) + '\n');
  try {
    return await fn();
  } finally {
    streams.forEach((s, k) => { s.write = saved[0][k]; });
    CONSOLE.forEach((m, k) => { console[m] = saved[1][k]; });
    fs.closeSync(fd);
  }
}

// As Node prints an uncaught error (its stack and own properties), less this driver's frames.
const DRIVER = [__filename, path.join(__dirname, 'protocol.js'), path.join(__dirname, '..', 'worker.js')];
function printed(e) {
  return util.inspect(e).split('\n').filter(l => !DRIVER.some(f => l.includes(f))).join('\n');
}

const REQUEST = {fault: 'string', mode: 'string', threads: 'int', error_file: 'string',
                 onnx_model: 'string'};

function readRequest(file) {
  let request;
  try {
    request = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: cannot read the dx request: ${e.message}`);
  }
  for (const [field, type] of Object.entries(REQUEST)) {
    const v = request?.[field];
    if (!(type === 'int' ? Number.isInteger(v) : typeof v === type)) {
      throw new UsageError(`${file}: field ${field} must be a ${type}`);
    }
  }
  if (!FAULTS.includes(request.fault)) {
    throw new UsageError(`${file}: unknown fault '${request.fault}' (have: ${FAULTS.join(', ')})`);
  }
  return request;
}

// One fault in one framework; resolves to the exit code (0 whatever the fault did).
async function run(framework, requestFile) {
  const request = readRequest(requestFile);
  if (!FRAMEWORKS.includes(framework)) {
    throw new UsageError(`unknown framework '${framework}' (have: ${FRAMEWORKS.join(', ')})`);
  }
  const portFile = path.join(__dirname, '..', 'ports', `dx_${framework}.js`);
  const port = require(portFile);
  writeEvent('dx_hello', {framework: port.FRAMEWORK, version: port.version(), language: 'javascript',
                          mode: request.mode, threads: request.threads, port_file: portFile});
  const reason = port.notApplicable(request.fault, request.mode, request.threads);
  if (reason) {
    writeEvent('dx_end', {outcome: 'n/a', reason});
    return 0;
  }
  const fault = port[request.fault];
  if (typeof fault !== 'function') {
    throw new UsageError(`the ${framework} dx port has no function for fault ${request.fault}`);
  }
  await port.setUp(request.mode, request.threads);
  const window = new Window();
  const end = await intoFile(request.error_file, async () => {
    writeEvent('dx_start', {t: now()});
    try {
      const note = await fault(request, window);
      return {outcome: 'silent', t: now(), note: note || ''};
    } catch (e) {
      const t = now();
      if (e instanceof NonFinite) return {outcome: 'loop', t, message: e.message};
      // Where the error's own text starts, after what the framework printed before it.
      const errorOffset = fs.statSync(request.error_file).size;
      process.stderr.write(printed(e) + '\n');
      return {outcome: 'error', t, exception: e?.constructor?.name ?? typeof e,
              error_offset: errorOffset};
    }
  });
  writeEvent('dx_end', {steps: window.steps, ...end});
  return 0;
}

module.exports = {
  FAULTS, FRAMEWORKS, SAMPLES, FEATURES, HIDDEN, CLASSES, BATCH, LR, EXPLODING_LR, MAX_STEPS,
  WRONG_IN_FEATURES, BAD_SAMPLE, BAD_FEATURES, weights, sample, label, batchIndices, batch,
  rawPixels, badSample, NonFinite, Window, run,
};
