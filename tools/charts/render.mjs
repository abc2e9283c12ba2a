// Renders the report's Vega-Lite charts to SVG files, without a browser or the network.
//   node render.mjs SPECS.json OUT_DIR
// SPECS.json: {"charts": [{"id": "...", "spec": <Vega-Lite spec>}, ...]}, ids are file names.
// stdout, one JSON object per line: first {"vega": "<version>", "vega_lite": "<version>"}, then
// per chart {"id", "file"} or {"id", "error"}: one bad spec costs only its own chart. The exit
// code is non-zero only when the arguments or SPECS.json are unusable.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

function fail(message) {
  process.stderr.write(`render.mjs: ${message}\n`);
  process.exit(2);
}

async function renderSvg(spec) {
  const compiled = vegaLite.compile(spec).spec;
  // The report's data is inline: nothing may be loaded while rendering.
  const loader = vega.loader();
  loader.load = () => Promise.reject(new Error('charts may not load external data'));
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader, logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

async function main() {
  const [specsPath, outDir] = process.argv.slice(2);
  if (!specsPath || !outDir) fail('usage: node render.mjs SPECS.json OUT_DIR');
  let input;
  try {
    input = JSON.parse(readFileSync(specsPath, 'utf8'));
  } catch (e) {
    fail(`${specsPath}: ${e.message}`);
  }
  if (!input || !Array.isArray(input.charts)) fail(`${specsPath}: expected {"charts": [...]}`);
  console.log(JSON.stringify({ vega: vega.version, vega_lite: vegaLite.version }));
  for (const chart of input.charts) {
    const id = String(chart.id);
    if (!/^[A-Za-z0-9_-]+$/.test(id)) {
      console.log(JSON.stringify({ id, error: 'chart id must be letters, digits, - or _' }));
      continue;
    }
    try {
      const file = join(outDir, `${id}.svg`);
      writeFileSync(file, await renderSvg(chart.spec));
      console.log(JSON.stringify({ id, file }));
    } catch (e) {
      console.log(JSON.stringify({ id, error: String(e && e.message ? e.message : e) }));
    }
  }
}

main();
