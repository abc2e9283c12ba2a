'use strict';
// ONNX Runtime (onnxruntime-node) port: inference on the ONNX export of the shared model
// (spec.onnx_model, written by `fwbench export --to onnx`), graph optimisations on.
const ort = require('onnxruntime-node');
const {UsageError, Unsupported} = require('../lib/protocol');

const probeModes = () => ({optimized: ''});

class Port {
  static framework = 'onnxruntime-node';
  static version = ort.env.versions.node;
  constructor(spec) {
    this.spec = spec;
    this.framework = Port.framework;
    this.version = Port.version;
    this.compiles = false;
  }
  extra() { return {}; }
  setThreads(threads) {
    // The options the session is created with in build(). onnxruntime-node has no getter for a
    // session's thread counts, so these are read back from the options object (docs/workers.md).
    this.options = {intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
                    graphOptimizationLevel: 'all'};
    return [
      {name: 'onnxruntime-node intra-op (session option intraOpNumThreads)', role: 'compute',
       set: threads, read: this.options.intraOpNumThreads},
      {name: 'onnxruntime-node inter-op (session option interOpNumThreads)', role: 'pinned',
       set: 1, read: this.options.interOpNumThreads},
    ];
  }
  checkSupported() {
    const s = this.spec;
    if (s.mode !== 'optimized') throw new UsageError(`onnxruntime-node has no mode '${s.mode}' (supported: optimized)`);
    if (s.task !== 'infer') throw new Unsupported('onnxruntime-node runs inference only (supported: infer)');
    if (s.precision !== 'fp32' || s.memory_format !== 'contiguous') {
      throw new UsageError('onnxruntime-node runs the fp32 export with contiguous inputs (supported: ' +
                            'precision fp32, memory_format contiguous)');
    }
    if (s.device !== 'cpu') throw new Unsupported('onnxruntime-node here uses the CPU execution provider (supported: cpu)');
    if (!s.onnx_model) throw new UsageError('spec field onnx_model is empty: this worker runs an ONNX model');
  }
  init() {}
  async build() {
    this.session = await ort.InferenceSession.create(this.spec.onnx_model, this.options);
  }
  loadWeights() {}  // the weights are inside the exported model
  toInput(batch) { return new ort.Tensor('float32', batch.x, [batch.n, 3, 32, 32]); }
  async inferStep(x) { await this.session.run({input: x}); }
  release() {}
  async logits(fixed) {
    const out = await this.session.run({input: this.toInput(fixed)});
    return Float32Array.from(out.logits.data);
  }
}

// The user's own ONNX model (workload user_model, docs/your-model.md).
const MODEL_FORMATS = ['onnx'];
const ORT_TYPES = {F32: 'float32', I64: 'int64', I32: 'int32'};

class ModelPort extends Port {
  checkSupported() {
    const s = this.spec;
    if (s.user_model.format !== 'onnx') throw new Unsupported(`onnxruntime-node loads ONNX files, not ${s.user_model.format}`);
    if (s.mode !== 'optimized') throw new UsageError(`onnxruntime-node has no mode '${s.mode}' (supported: optimized)`);
    if (s.task !== 'infer' || s.precision !== 'fp32') {
      throw new Unsupported('onnxruntime-node runs the model as it is (task infer, precision fp32)');
    }
    if (s.device !== 'cpu') throw new Unsupported('onnxruntime-node here uses the CPU execution provider (supported: cpu)');
  }
  async build() {
    this.session = await ort.InferenceSession.create(this.spec.user_model.file, this.options);
    this.output = this.session.outputNames[0];
  }
  toFeeds(feeds) {
    const out = {};
    for (const [name, f] of Object.entries(feeds)) out[name] = new ort.Tensor(ORT_TYPES[f.dtype], f.data, f.shape);
    return out;
  }
  async inferStep(feeds) { await this.session.run(feeds, [this.output]); }
  async firstOutput(feeds) {
    const out = await this.session.run(feeds, [this.output]);
    return out[this.output].data;
  }
}

module.exports = {Port, probeModes, ModelPort, MODEL_FORMATS};
