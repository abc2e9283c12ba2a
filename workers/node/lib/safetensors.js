'use strict';
// The .safetensors format (https://github.com/huggingface/safetensors) for the Node workers:
// read the shared initial weights, write the parity logits.
const fs = require('fs');

const DTYPES = {
  F32: [Float32Array, 4], F64: [Float64Array, 8], I64: [BigInt64Array, 8], I32: [Int32Array, 4],
  U8: [Uint8Array, 1], I8: [Int8Array, 1],
};

class SafetensorsError extends Error {}

function read(path) {
  const blob = fs.readFileSync(path);
  if (blob.length < 8) {
    throw new SafetensorsError(`${path}: ${blob.length} bytes, too short for a safetensors header`);
  }
  const n = Number(blob.readBigUInt64LE(0));
  if (n > blob.length - 8) {
    throw new SafetensorsError(`${path}: header length ${n} exceeds the file (${blob.length} bytes)`);
  }
  let header;
  try {
    header = JSON.parse(blob.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    throw new SafetensorsError(`${path}: the header is not valid JSON (${e.message})`);
  }
  const dataStart = 8 + n;
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const kind = DTYPES[info.dtype];
    if (!kind) throw new SafetensorsError(`${path}: tensor '${name}': unsupported dtype ${info.dtype}`);
    const [Ctor, size] = kind;
    const [begin, end] = info.data_offsets;
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (!(begin <= end && dataStart + end <= blob.length && end - begin === count * size)) {
      throw new SafetensorsError(`${path}: tensor '${name}': data_offsets [${begin}, ${end}) do not fit ` +
                                 `shape [${info.shape}] of ${info.dtype}`);
    }
    // Copy into an aligned buffer: the data section need not be aligned for the typed array.
    const bytes = new Uint8Array(end - begin);
    blob.copy(bytes, 0, dataStart + begin, dataStart + end);
    tensors[name] = {dtype: info.dtype, shape: info.shape, data: new Ctor(bytes.buffer)};
  }
  return tensors;
}

// tensors: {name: {dtype: 'F32', shape: [...], data: Float32Array}}; written atomically.
function write(path, tensors) {
  const header = {};
  const chunks = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    const raw = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = {dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + raw.length]};
    chunks.push(raw);
    offset += raw.length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  const tmp = `${path}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([len, Buffer.from(text), ...chunks]));
  fs.renameSync(tmp, path);
}

module.exports = {read, write, SafetensorsError};
