'use strict';
// Entry point of the Node workers: node worker.js PORT SPEC.json (docs/protocol.md); also --probe
// PORT, --dx FRAMEWORK REQUEST.json (fwbench dx, lib/dx.js) and --llm-run REQUEST.json (an exported
// LLM step, lib/llm_run.js).
const T_MAIN = process.hrtime.bigint();  // before any framework is loaded: the protocol's t_main
require('./lib/protocol').main(process.argv.slice(2), T_MAIN).then(code => {
  process.exitCode = code;
});
