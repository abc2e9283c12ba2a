// Opens a report.html in Debian's Chromium (headless, through playwright-core) and checks that
// the page rendered what the report promises: its tables with rows, every chart of
// charts/specs.json as a visible SVG with its marks, nothing fetched from anywhere, no errors.
// Saves a full-page screenshot.
//   node check_report.mjs RUN_DIR/report.html SCREENSHOT.png
// Exit 0 when every check passed, 1 when one failed (each failure printed), 2 on bad usage.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [reportArg, screenshotArg] = process.argv.slice(2);
if (!reportArg || !screenshotArg) {
  console.error('usage: node check_report.mjs RUN_DIR/report.html SCREENSHOT.png');
  process.exit(2);
}
const report = resolve(reportArg);
const chromiumPath = process.env.FWBENCH_CHROMIUM || '/usr/bin/chromium';
if (!existsSync(chromiumPath)) {
  console.error(`${chromiumPath} not found: install Debian's chromium (scripts/install-deps.sh --test)`);
  process.exit(2);
}
const specs = JSON.parse(readFileSync(join(dirname(report), 'charts', 'specs.json'), 'utf8'));

const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const fetched = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url === pathToFileURL(report).href) return route.continue();
    fetched.push(url);
    return route.abort();
  });
  await page.goto(pathToFileURL(report).href, { waitUntil: 'load' });

  check((await page.title()).startsWith('fwbench report'), `title is "${await page.title()}"`);
  for (const id of ['verdict-matrix', 'snapshot-train', 'snapshot-infer', 'parity', 'environment']) {
    const table = page.locator(`table#${id}`);
    const rows = await table.locator('tbody tr').count();
    const box = rows > 0 ? await table.boundingBox() : null;
    check(rows > 0 && box !== null && box.width > 200 && box.height > 20,
      `table #${id}: ${rows} rows, ${box ? `${Math.round(box.width)}×${Math.round(box.height)} px` : 'not laid out'}`);
  }
  const criteria = await page.locator('table#verdict-matrix tbody tr td:first-child').allTextContents();
  for (const c of ['cold start', 'inference latency', 'inference throughput', 'memory',
    'training throughput', 'compile gain', 'portability', 'deployment']) {
    check(criteria.some((t) => t.startsWith(c)), `verdict matrix has a "${c}" row`);
  }
  check(specs.charts.length >= 4, `${specs.charts.length} charts in charts/specs.json`);
  for (const chart of specs.charts) {
    const svg = page.locator(`figure#chart-${chart.id} svg`);
    const n = await svg.count();
    const box = n === 1 ? await svg.boundingBox() : null;
    const marks = n === 1 ? await svg.locator('g.role-mark path, g.role-mark line, g.role-mark text').count() : 0;
    const values = chart.spec.data?.values?.length ?? 0;
    const bars = n === 1 ? await svg.locator('g.mark-rect.layer_0_marks path').count() : 0;
    const barsOk = !chart.id.startsWith('throughput-') || bars === values;
    check(n === 1 && box !== null && box.width > 200 && box.height > 100 && marks > 0 && barsOk,
      `chart ${chart.id}: ${box ? `${Math.round(box.width)}×${Math.round(box.height)} px` : 'no SVG'}, ` +
      `${marks} marks${chart.id.startsWith('throughput-') ? `, ${bars} bars for ${values} configurations` : ''}`);
  }
  const notRendered = await page.locator('text=Chart not rendered').count();
  check(notRendered === 0, `${notRendered} charts reported as not rendered`);
  check(fetched.length === 0, `nothing fetched beyond the page (${fetched.length}: ${fetched.slice(0, 3).join(', ')})`);
  check(problems.length === 0, `no console or page errors (${problems.slice(0, 3).join('; ')})`);
  await page.screenshot({ path: resolve(screenshotArg), fullPage: true });
  console.log(`screenshot: ${resolve(screenshotArg)}`);
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.log(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');
