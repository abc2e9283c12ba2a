'use strict';
// onnxruntime-node's dx port (lib/dx.js): a session on the dx model's ONNX file (request.onnx_model,
// written by fwbench_worker.py --dx-onnx), graph optimisations on, as ports/ort.js runs it. A
// runtime trains nothing: only the faults of the data it is fed apply, and the session is created
// inside the fault window, where loading is part of what the user does.
const ort = require('onnxruntime-node');
const dx = require('../lib/dx');

const FRAMEWORK = 'onnxruntime-node';
const MODES = ['optimized'];
const NOT_TRAINED = 'a runtime: it runs a model file, it does not train one';
const REASONS = {shape_mismatch: NOT_TRAINED, exploding_loss: NOT_TRAINED, exploding_loss_checked: NOT_TRAINED,
                 export_unsupported: 'a runtime: it exports nothing'};

const version = () => ort.env.versions.node;

function notApplicable(fault, mode) {
  if (!MODES.includes(mode)) return `the ${FRAMEWORK} dx port runs modes ${MODES.join(', ')}, not ${mode}`;
  return REASONS[fault] || '';
}

let options;
function setUp(mode, threads) {
  options = {intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
             graphOptimizationLevel: 'all'};
}

// A note of what ran, `what`, when the runtime takes it.
async function run(request, x, what) {
  const session = await ort.InferenceSession.create(request.onnx_model, options);
  const {logits} = await session.run({input: x});
  return `the runtime ran ${what}: logits [${logits.dims}] ${logits.type}`;
}

async function wrong_dtype(request, window) {
  const x = new ort.Tensor('uint8', dx.rawPixels(dx.batch(0).x), [dx.BATCH, dx.FEATURES]);
  return run(request, x, 'the uint8 pixels');
}

// The batch that holds the bad sample, as a pipeline that cuts every row to the shortest hands it
// to the runtime: [16, BAD_FEATURES].
async function bad_batch(request, window) {
  const x = new Float32Array(dx.BATCH * dx.BAD_FEATURES);
  dx.batchIndices(Math.floor(dx.BAD_SAMPLE / dx.BATCH))
    .forEach((n, j) => x.set(dx.sample(n, dx.BAD_FEATURES), j * dx.BAD_FEATURES));
  return run(request, new ort.Tensor('float32', x, [dx.BATCH, dx.BAD_FEATURES]),
             `a batch of ${dx.BAD_FEATURES} features`);
}

module.exports = {FRAMEWORK, version, notApplicable, setUp, wrong_dtype, bad_batch};
