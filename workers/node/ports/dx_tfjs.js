'use strict';
// TensorFlow.js's dx port (lib/dx.js): the MLP as a tf.sequential of dense layers, trained with
// model.trainOnBatch and tf.train.sgd, on the wasm backend or the pure-JavaScript cpu backend.
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const wasm = require('@tensorflow/tfjs-backend-wasm');
const tfl = require('@tensorflow/tfjs-layers');
const dx = require('../lib/dx');

const FRAMEWORK = 'TensorFlow.js';
const MODES = ['wasm', 'cpu'];

const version = () => tf.version_core;

function notApplicable(fault, mode, threads) {
  if (!MODES.includes(mode)) return `the TensorFlow.js dx port runs modes ${MODES.join(', ')}, not ${mode}`;
  // The cpu backend is JavaScript on the main thread; the wasm binary has no threads in Node.
  if (threads !== 1) return `tfjs in Node computes on one thread, not ${threads}`;
  if (fault === 'export_unsupported') {
    return 'TensorFlow.js exports no other format than its own layers-model JSON, which holds every ' +
           'tfjs layer (a custom one by its class name): no export to fail';
  }
  return '';
}

async function setUp(mode, threads) {
  if (mode === 'wasm') wasm.setThreadsCount(threads);
  await tf.setBackend(mode);
  await tf.ready();
  if (tf.getBackend() !== mode) throw new Error(`tfjs runs backend ${tf.getBackend()}, not ${mode}`);
  // The cpu backend greets Node users at its first tensor: every program's notice, no fault's.
  tf.dispose(tf.scalar(0));
}

// `classifier`: more options of the classifier layer (shape_mismatch's inputShape).
function mlp(classifier = {}) {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({units: dx.HIDDEN, activation: 'relu', inputShape: [dx.FEATURES],
                              name: 'hidden'}));
  model.add(tfl.layers.dense({units: dx.CLASSES, name: 'classifier', ...classifier}));
  const w = dx.weights();
  for (const name of ['hidden', 'classifier']) {
    // PyTorch's [out, in] -> a Keras kernel's [in, out].
    const {data, shape} = w[`${name}.weight`];
    const values = tf.tidy(() => [tf.transpose(tf.tensor2d(data, shape)), tf.tensor1d(w[`${name}.bias`].data)]);
    model.getLayer(name).setWeights(values);
    tf.dispose(values);
  }
  return model;
}

const oneHot = labels => tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), dx.CLASSES), 'float32'));

function* batches() {
  for (let step = 0; ; ++step) {
    const {x, y} = dx.batch(step);
    yield {xs: tf.tensor2d(x, [dx.BATCH, dx.FEATURES]), ys: oneHot(y)};
  }
}

async function train(window, model, lr, data, steps) {
  model.compile({optimizer: tf.train.sgd(lr), loss: tf.losses.softmaxCrossEntropy});
  for (let i = 0; i < steps; ++i) {
    const {value, done} = data.next();
    if (done) break;
    const loss = await model.trainOnBatch(value.xs, value.ys);
    tf.dispose([value.xs, value.ys]);
    window.step(i, loss);
  }
}

async function shape_mismatch(request, window) {
  const model = mlp({inputShape: [dx.WRONG_IN_FEATURES]});
  await train(window, model, dx.LR, batches(), 4);
  const [inputs] = model.getLayer('classifier').getWeights()[0].shape;
  return `the classifier was built for ${inputs} inputs, not its inputShape [${dx.WRONG_IN_FEATURES}]; ` +
         `${window.steps} steps trained`;
}

async function exploding_loss(request, window) {
  await train(window, mlp(), dx.EXPLODING_LR, batches(), dx.MAX_STEPS);
  return `the loss stayed finite for ${dx.MAX_STEPS} steps`;
}

// tfjs's debug mode checks every kernel's output for NaN and Inf.
async function exploding_loss_checked(request, window) {
  tf.env().set('DEBUG', true);
  try {
    return await exploding_loss(request, window);
  } finally {
    tf.env().set('DEBUG', false);
  }
}

// tfjs-data (tf.data) is not among the workers' packages: the samples as tf.data.generator would
// yield them, batched as its .batch(16) does, with tf.stack.
function* samples() {
  for (let n = 0; n < dx.SAMPLES; ++n) yield {xs: tf.tensor1d(dx.badSample(n)), ys: dx.label(n)};
}

function* batched(items, size) {
  let rows = [];
  for (const row of items) {
    rows.push(row);
    if (rows.length < size) continue;
    const xs = rows.map(r => r.xs);
    const batch = {xs: tf.stack(xs), ys: oneHot(rows.map(r => r.ys))};
    tf.dispose(xs);
    rows = [];
    yield batch;
  }
}

async function bad_batch(request, window) {
  await train(window, mlp(), dx.LR, batched(samples(), dx.BATCH), dx.SAMPLES / dx.BATCH);
  return 'every batch trained';
}

// tfjs has no uint8 tensors: int32 is what tf.browser.fromPixels gives.
async function wrong_dtype(request, window) {
  const x = tf.tensor2d(Int32Array.from(dx.rawPixels(dx.batch(0).x)), [dx.BATCH, dx.FEATURES], 'int32');
  const out = mlp().predict(x);
  await out.data();
  return `inference ran on the int32 pixels: logits [${out.shape}] ${out.dtype}`;
}

module.exports = {FRAMEWORK, version, notApplicable, setUp, shape_mismatch, exploding_loss,
                  exploding_loss_checked, bad_batch, wrong_dtype};
