'use strict';
// CIFAR-10 binary files and the batch algorithm of docs/data.md, bit-identical to src/data/
// (splitmix64 in BigInt, crop-then-flip, float32 normalisation through a lookup table).
const fs = require('fs');
const path = require('path');

const RECORD = 3073;
const M = (1n << 64n) - 1n;
const GOLDEN = 0x9E3779B97F4A7C15n;

class DataError extends Error {}

function mix64(z) {
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & M;
  return z ^ (z >> 31n);
}

class SplitMix64 {
  constructor(state) { this.s = BigInt.asUintN(64, state); }
  next() { this.s = (this.s + GOLDEN) & M; return mix64(this.s); }
  below(n) { return Number(this.next() % BigInt(n)); }
}

function readSplit(dir, split) {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new DataError(`${dir}: not a directory (expected a CIFAR-10 binary folder)`);
  }
  const names = split === 'train' ? [1, 2, 3, 4, 5].map(k => `data_batch_${k}.bin`) : ['test_batch.bin'];
  const missing = names.filter(n => !fs.existsSync(path.join(dir, n)));
  if (missing.length) throw new DataError(`${dir}: missing ${missing.join(', ')}`);
  const parts = names.map(n => {
    const file = path.join(dir, n);
    const raw = fs.readFileSync(file);
    if (raw.length === 0) throw new DataError(`${file}: empty file`);
    if (raw.length % RECORD) {
      throw new DataError(`${file}: truncated record at byte offset ${Math.floor(raw.length / RECORD) * RECORD} ` +
                          `(file is ${raw.length} bytes; CIFAR-10 records are 3073 bytes)`);
    }
    return raw;
  });
  const all = Buffer.concat(parts);
  const count = all.length / RECORD;
  const images = new Uint8Array(count * 3072);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; ++i) {
    const label = all[i * RECORD];
    if (label >= 10) throw new DataError(`${dir}: image ${i} has label ${label}; CIFAR-10 labels are 0-9`);
    labels[i] = label;
    all.copy(images, i * 3072, i * RECORD + 1, (i + 1) * RECORD);
  }
  return {images, labels, count};
}

// LUT[c][v]: each operation rounded to float32, as docs/data.md §4.5 requires.
const f = Math.fround;
const MEAN = [f(0.4914), f(0.4822), f(0.4465)];
const STD = [f(0.2470), f(0.2435), f(0.2616)];
const LUT = [0, 1, 2].map(c => Float32Array.from({length: 256}, (_, v) => f(f(f(f(v) / f(255)) - MEAN[c]) / STD[c])));

class Batcher {
  constructor(set, batchSize, {augment, shuffle, seed}) {
    this.set = set;
    this.n = set.count;
    this.batchSize = batchSize;
    if (this.n < batchSize) throw new DataError(`${this.n} images, fewer than one batch of ${batchSize}`);
    this.augment = augment;
    this.shuffle = shuffle;
    this.seed = BigInt.asUintN(64, BigInt(seed));
    this.perEpoch = Math.floor(this.n / batchSize);
    this.epoch = -1;
    this.order = null;
  }
  epochKey(e) { return this.seed ^ mix64(BigInt(e + 1)); }
  orderOf(e) {
    if (this.epoch !== e) {
      const order = Int32Array.from({length: this.n}, (_, i) => i);
      if (this.shuffle) {
        const rng = new SplitMix64(this.epochKey(e));
        for (let i = this.n - 1; i > 0; --i) {
          const j = rng.below(i + 1);
          const t = order[i]; order[i] = order[j]; order[j] = t;
        }
      }
      this.epoch = e;
      this.order = order;
    }
    return this.order;
  }
  // Writes image k (with the augmentation of position p in epoch e) normalised into out at slot.
  put(out, slot, k, e, p, augment) {
    let dy = 4, dx = 4, flip = false;
    if (augment) {
      const rng = new SplitMix64(mix64(this.epochKey(e) ^ mix64(BigInt(p + 1))));
      dy = rng.below(9); dx = rng.below(9); flip = rng.below(2) === 1;
    }
    const img = this.set.images;
    const base = k * 3072;
    for (let c = 0; c < 3; ++c) {
      const lut = LUT[c];
      for (let y = 0; y < 32; ++y) {
        const sy = y + dy - 4;
        for (let x = 0; x < 32; ++x) {
          const sx = (flip ? 31 - x : x) + dx - 4;
          const v = sy >= 0 && sy < 32 && sx >= 0 && sx < 32 ? img[base + c * 1024 + sy * 32 + sx] : 0;
          out[slot * 3072 + c * 1024 + y * 32 + x] = lut[v];
        }
      }
    }
  }
  // Global batch b: {x: Float32Array [B*3*32*32] NCHW, y: Int32Array [B]}.
  fill(b) {
    const e = Math.floor(b / this.perEpoch);
    const first = (b % this.perEpoch) * this.batchSize;
    const order = this.orderOf(e);
    const x = new Float32Array(this.batchSize * 3072);
    const y = new Int32Array(this.batchSize);
    for (let j = 0; j < this.batchSize; ++j) {
      const k = order[first + j];
      this.put(x, j, k, e, first + j, this.augment);
      y[j] = this.set.labels[k];
    }
    return {x, y, n: this.batchSize};
  }
  // The parity batch: images 0..n-1 in file order, no augmentation.
  fixed(n) {
    const x = new Float32Array(n * 3072);
    const y = new Int32Array(n);
    for (let k = 0; k < n; ++k) { this.put(x, k, k, 0, 0, false); y[k] = this.set.labels[k]; }
    return {x, y, n};
  }
}

module.exports = {readSplit, Batcher, DataError, SplitMix64, mix64};
