'use strict';
// TensorFlow.js port: the ResNet built with the Layers API (NHWC), weights from the shared
// .safetensors, training with SGD (momentum, PyTorch-style weight decay) and inference, on the
// wasm backend or the pure-JavaScript cpu backend.
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const wasm = require('@tensorflow/tfjs-backend-wasm');
const tfl = require('@tensorflow/tfjs-layers');
const safetensors = require('../lib/safetensors');
const {UsageError, Unsupported} = require('../lib/protocol');

// tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel: it cannot train a CNN.
const WASM_NO_TRAINING = 'tfjs/wasm cannot train convolutions: tfjs-backend-wasm ' +
  `${tf.version_core} has no Conv2DBackpropFilter kernel (use tfjs/cpu for training)`;
const probeModes = () => ({wasm: '', 'wasm/train': WASM_NO_TRAINING, cpu: ''});
const ARCHS = {
  resnet18: ['basic', [2, 2, 2, 2]], resnet34: ['basic', [3, 4, 6, 3]],
  resnet50: ['bottleneck', [3, 4, 6, 3]], resnet101: ['bottleneck', [3, 4, 23, 3]],
  resnet152: ['bottleneck', [3, 8, 36, 3]],
};

// Builds torchvision's ResNet; `layers` maps torchvision module names (conv1, layer1.0.bn2,
// fc, …) to the Keras layers that hold their weights. PyTorch's symmetric padding is an
// explicit zero-padding layer: TF's 'same' pads stride-2 convolutions asymmetrically.
function buildResNet(arch, stem, numClasses) {
  if (!ARCHS[arch]) throw new UsageError(`unknown model.arch '${arch}' (${Object.keys(ARCHS).join(', ')})`);
  if (stem !== 'cifar' && stem !== 'imagenet') throw new UsageError(`unknown model.stem '${stem}' (cifar, imagenet)`);
  const [block, counts] = ARCHS[arch];
  const layers = {};
  const input = tfl.input({shape: [32, 32, 3]});  // the workload's CIFAR-size images
  const conv = (x, name, filters, k, stride, pad) => {
    if (pad > 0) x = tfl.layers.zeroPadding2d({padding: pad}).apply(x);
    layers[name] = tfl.layers.conv2d({filters, kernelSize: k, strides: stride, padding: 'valid', useBias: false});
    return layers[name].apply(x);
  };
  const bn = (x, name) => {
    layers[name] = tfl.layers.batchNormalization({axis: -1, epsilon: 1e-5, momentum: 0.9});
    return layers[name].apply(x);
  };
  const relu = x => tfl.layers.reLU().apply(x);
  let x = stem === 'cifar' ? conv(input, 'conv1', 64, 3, 1, 1) : conv(input, 'conv1', 64, 7, 2, 3);
  x = relu(bn(x, 'bn1'));
  if (stem === 'imagenet') {
    // Zero padding equals -inf padding here: the inputs are ReLU outputs, never negative.
    x = tfl.layers.maxPooling2d({poolSize: 3, strides: 2, padding: 'valid'})
      .apply(tfl.layers.zeroPadding2d({padding: 1}).apply(x));
  }
  const expansion = block === 'basic' ? 1 : 4;
  let inPlanes = 64;
  counts.forEach((n, stage) => {
    const planes = 64 << stage;
    for (let b = 0; b < n; ++b) {
      const stride = b === 0 && stage > 0 ? 2 : 1;
      const p = `layer${stage + 1}.${b}`;
      let out;
      if (block === 'basic') {
        out = relu(bn(conv(x, `${p}.conv1`, planes, 3, stride, 1), `${p}.bn1`));
        out = bn(conv(out, `${p}.conv2`, planes, 3, 1, 1), `${p}.bn2`);
      } else {
        out = relu(bn(conv(x, `${p}.conv1`, planes, 1, 1, 0), `${p}.bn1`));
        out = relu(bn(conv(out, `${p}.conv2`, planes, 3, stride, 1), `${p}.bn2`));
        out = bn(conv(out, `${p}.conv3`, planes * 4, 1, 1, 0), `${p}.bn3`);
      }
      let shortcut = x;
      if (stride !== 1 || inPlanes !== planes * expansion) {
        shortcut = bn(conv(x, `${p}.downsample.0`, planes * expansion, 1, stride, 0), `${p}.downsample.1`);
      }
      x = relu(tfl.layers.add().apply([out, shortcut]));
      inPlanes = planes * expansion;
    }
  });
  x = tfl.layers.globalAveragePooling2d({}).apply(x);
  layers.fc = tfl.layers.dense({units: numClasses});
  const output = layers.fc.apply(x);
  return {model: tfl.model({inputs: input, outputs: output}), layers};
}

// torchvision tensors -> Keras weights: conv OIHW -> HWIO, linear [out, in] -> [in, out].
function loadWeights(layers, file) {
  const t = safetensors.read(file);
  const get = (name, shape) => {
    const e = t[name];
    if (!e) throw new UsageError(`${file}: tensor '${name}' is missing`);
    if (shape && e.shape.join() !== shape.join()) {
      throw new UsageError(`${file}: tensor '${name}' has shape [${e.shape}], the model needs [${shape}]`);
    }
    return tf.tensor(e.data, e.shape, 'float32');
  };
  for (const [name, layer] of Object.entries(layers)) {
    const shapes = layer.getWeights().map(w => w.shape);
    // tidy: the untransposed tensors are freed too (they would stay in the wasm heap).
    const weights = tf.tidy(() => {
      if (layer.getClassName() === 'Conv2D') {
        const [h, w, i, o] = shapes[0];
        return [tf.transpose(get(`${name}.weight`, [o, i, h, w]), [2, 3, 1, 0])];
      }
      if (layer.getClassName() === 'BatchNormalization') {
        const c = shapes[0];
        return ['weight', 'bias', 'running_mean', 'running_var'].map(k => get(`${name}.${k}`, c));
      }
      const [i, o] = shapes[0];
      return [tf.transpose(get(`${name}.weight`, [o, i])), get(`${name}.bias`, [o])];
    });
    layer.setWeights(weights);
    weights.forEach(w => w.dispose());
  }
}

class Port {
  static framework = 'tensorflow.js';
  static version = tf.version_core;
  constructor(spec) {
    this.spec = spec;
    this.framework = Port.framework;
    this.version = Port.version;
    this.compiles = false;
    this.train = spec.task === 'train';
  }
  extra() { return {}; }
  setThreads(threads) {
    // TensorFlow.js in Node computes on one thread: the cpu backend is JavaScript on the main
    // thread, and the wasm binary has no threads outside a browser's cross-origin isolation.
    // A trial of more threads would not run what its configuration names.
    if (threads !== 1) {
      throw new Unsupported(`tfjs in Node computes on one thread; this configuration names ${threads} ` +
                            '(run it with threads = [1], e.g. --threads 1)');
    }
    const name = this.spec.mode === 'wasm' ? 'tfjs wasm (one thread in Node; checked in init)'
                                           : 'tfjs cpu (JavaScript main thread)';
    return [{name, role: 'compute', set: 1, read: 1}];
  }
  checkSupported() {
    const s = this.spec;
    if (s.mode !== 'wasm' && s.mode !== 'cpu') throw new UsageError(`tfjs has no mode '${s.mode}' (supported: wasm, cpu)`);
    if (s.mode === 'wasm' && s.task === 'train') throw new Unsupported(WASM_NO_TRAINING);
    if (s.precision !== 'fp32') throw new UsageError('tfjs computes in fp32 only (supported: precision fp32)');
    if (s.memory_format !== 'contiguous') {
      throw new UsageError('tfjs layouts are NHWC by construction (supported: memory_format contiguous)');
    }
    if (s.device !== 'cpu') throw new Unsupported('tfjs in Node has no CUDA backend here (supported: cpu)');
  }
  async init() {
    // The wasm binary fwbench ships runs single-threaded in Node (threads need a browser's
    // cross-origin isolation); the count actually used is reported on stderr.
    if (this.spec.mode === 'wasm') wasm.setThreadsCount(this.spec.threads);
    await tf.setBackend(this.spec.mode);
    await tf.ready();
    if (this.spec.mode === 'wasm' && wasm.getThreadsCount() !== this.spec.threads) {
      throw new Error(`tfjs wasm runs ${wasm.getThreadsCount()} threads, not the spec's ${this.spec.threads}`);
    }
    process.stderr.write(`tfjs backend ${tf.getBackend()}` +
      (this.spec.mode === 'wasm' ? `, threads ${wasm.getThreadsCount()}\n` : '\n'));
  }
  build() {
    const m = this.spec.model;
    ({model: this.model, layers: this.layers} = buildResNet(m.arch, m.stem, m.num_classes));
  }
  loadWeights(file) {
    loadWeights(this.layers, file);
    if (this.train) {
      const o = this.spec.optimizer;
      this.optimizer = tf.train.momentum(o.lr, o.momentum);
      this.variables = this.model.trainableWeights.map(w => w.read());
    }
  }
  // NCHW float32 (the batch algorithm's layout) -> NHWC tensors.
  toInput(batch) {
    return tf.tidy(() => {
      const x = tf.transpose(tf.tensor4d(batch.x, [batch.n, 3, 32, 32]), [0, 2, 3, 1]);
      return {x, y: this.train ? tf.oneHot(tf.tensor1d(batch.y, 'int32'), this.spec.model.num_classes) : null};
    });
  }
  release(input) { tf.dispose([input.x, input.y].filter(Boolean)); }
  trainStep({x, y}) {
    const wd = this.spec.optimizer.weight_decay;
    const {value, grads} = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, this.model.apply(x, {training: true})), this.variables);
    // PyTorch's SGD adds weight_decay * w to every parameter's gradient before momentum.
    const decayed = {};
    for (const v of this.variables) decayed[v.name] = tf.tidy(() => tf.add(grads[v.name], tf.mul(v, wd)));
    this.optimizer.applyGradients(decayed);
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads), ...Object.values(decayed)]);
    return loss;
  }
  inferStep({x}) {
    const out = this.model.apply(x, {training: false});
    out.dataSync();
    out.dispose();
  }
  logits(fixed) {
    const input = this.toInput(fixed);
    const out = this.model.apply(input.x, {training: false});
    const data = Float32Array.from(out.dataSync());
    tf.dispose([out, input.x]);
    return data;
  }
}

module.exports = {Port, probeModes};
