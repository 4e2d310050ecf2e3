// Chromium tests of the embedded pages: /api/stream/test-page (its own automated
// suite) and /interview (a whole turn with a fake microphone).
// Run by tests/browser/run.sh, which sets:
//   INTERVIEW_URL  http://127.0.0.1:PORT of the binary
//   MOCK_URL       https://127.0.0.1:PORT of tests/mock_openai.py (NODE_EXTRA_CA_CERTS trusts its CA)
//   FAKE_MIC_WAV   WAV file Chromium uses as the microphone
//   ARTIFACTS_DIR  where screenshots go
// Optional: PAGES_DIR=src/web serves the pages from files instead of the binary
// (page routes are intercepted; WebSockets and the API still go to the binary).
// Prints "ok <name>" / "FAIL <name> <detail>", then "N passed, N failed".
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const BASE = process.env.INTERVIEW_URL || 'http://127.0.0.1:8000';
const MOCK = process.env.MOCK_URL || '';
const WAV = process.env.FAKE_MIC_WAV || '';
const ART = process.env.ARTIFACTS_DIR || 'build/artifacts';
const PAGES_DIR = process.env.PAGES_DIR || '';
const TOTAL_MS = 180_000;
mkdirSync(ART, { recursive: true });

let passed = 0;
let failed = 0;
function ok(name, extra = '') { passed++; console.log(`ok ${name}${extra ? ` (${extra})` : ''}`); }
function fail(name, detail) { failed++; console.log(`FAIL ${name} ${String(detail).replace(/\s+/g, ' ').slice(0, 600)}`); }
async function check(name, fn) {
  try {
    const extra = await fn();
    ok(name, extra || '');
    return true;
  } catch (err) {
    fail(name, err && err.message ? err.message : err);
    return false;
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

let browser = null;
const hardStop = setTimeout(() => {
  fail('total', `hard timeout after ${TOTAL_MS / 1000} s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1); // playwright kills the browser on exit
}, TOTAL_MS);

const args = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required',
];
if (WAV) args.push(`--use-file-for-fake-audio-capture=${WAV}`);
// Pages fulfilled by route() have no address, so Chromium's Local Network Access
// checks would treat them as public and block their WebSocket to 127.0.0.1.
if (PAGES_DIR) args.push('--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets');

async function newPage(opts = {}) {
  const context = await browser.newContext({ permissions: ['microphone'], ...opts });
  if (PAGES_DIR) {
    const serve = (file) => (route) => route.fulfill({
      status: 200, contentType: 'text/html; charset=utf-8', body: readFileSync(join(PAGES_DIR, file)),
    });
    await context.route(`${BASE}/interview`, serve('interview.html'));
    await context.route(`${BASE}/`, serve('interview.html'));
    await context.route(`${BASE}/api/stream/test-page`, serve('stream_test.html'));
  }
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  return { context, page, errors };
}

async function noHorizontalScroll(page, width) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  assert(w <= width, `page is ${w}px wide at a ${width}px viewport (horizontal scrolling)`);
}

// ---- pages are served --------------------------------------------------------------

async function checkServed(path, marker) {
  if (PAGES_DIR) return 'from PAGES_DIR';
  const r = await fetch(BASE + path);
  const body = await r.text();
  assert(r.status === 200, `GET ${path}: ${r.status}`);
  assert(/^text\/html/.test(r.headers.get('content-type') || ''), `content-type ${r.headers.get('content-type')}`);
  assert(body.includes(marker), `GET ${path}: body is not the page (no ${JSON.stringify(marker)})`);
  return `${body.length} bytes`;
}

// ---- stream test page --------------------------------------------------------------

async function streamPage() {
  const { context, page, errors } = await newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(`${BASE}/api/stream/test-page`);
    await check('stream_test manual connect and ping', async () => {
      await page.click('#connect');
      await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'connected', null, { timeout: 5000 });
      await page.click('#send-ping');
      await page.waitForFunction(() => /"type":"pong"/.test(document.querySelector('#log').textContent), null, { timeout: 5000 });
    });
    const ran = await check('stream_test automated suite', async () => {
      await page.click('#run-tests');
      await page.waitForFunction(() => window.__testResults && window.__testResults.done, null, { timeout: 60_000 });
      const r = await page.evaluate(() => window.__testResults);
      for (const d of r.details) console.log(`   ${d.ok ? 'pass' : 'FAIL'} ${d.name}${d.detail ? ` — ${d.detail}` : ''}`);
      assert(r.details.length >= 12, `only ${r.details.length} checks ran`);
      assert(r.failed === 0, `${r.failed} of ${r.passed + r.failed} checks failed`);
      return `${r.passed} checks`;
    });
    await page.screenshot({ path: join(ART, 'stream_test.png'), fullPage: true });
    // the suite's 404 checks make Chromium log "Failed to load resource: ... 404"
    const real = errors.filter((e) => !/Failed to load resource: the server responded with a status of 404/.test(e));
    if (ran !== undefined) await check('stream_test no page errors', async () => assert(real.length === 0, real.join(' | ')));
  } finally {
    await context.close();
  }
  const mobile = await newPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  try {
    await mobile.page.goto(`${BASE}/api/stream/test-page`);
    await check('stream_test fits 375px', () => noHorizontalScroll(mobile.page, 375));
    await mobile.page.screenshot({ path: join(ART, 'stream_test-mobile.png'), fullPage: true });
  } finally {
    await mobile.context.close();
  }
}

// ---- pages against a server with INTERVIEW_AUTH_TOKEN ------------------------------

const TOKEN_URL = process.env.TOKEN_URL || '';
const AUTH_TOKEN = process.env.AUTH_TOKEN || '';

async function tokenPages() {
  if (!TOKEN_URL || PAGES_DIR) return;
  const { context, page, errors } = await newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await check('token: stream_test without #token cannot connect (401 on the upgrade)', async () => {
      await page.goto(`${TOKEN_URL}/api/stream/test-page`);
      await page.click('#connect');
      await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'error',
        null, { timeout: 5000 });
    });
    await check('token: stream_test with #token=<token> connects (subprotocol bearer.<token>) and pings', async () => {
      await page.goto(`${TOKEN_URL}/api/stream/test-page#token=${AUTH_TOKEN}`);
      await page.reload();
      await page.click('#connect');
      await page.waitForFunction(() => document.querySelector('#status').dataset.state === 'connected', null, { timeout: 5000 });
      await page.click('#send-ping');
      await page.waitForFunction(() => /"type":"pong"/.test(document.querySelector('#log').textContent), null, { timeout: 5000 });
    });
    await check('token: stream_test automated suite passes with the token (WebSockets and status fetches)', async () => {
      await page.click('#run-tests');
      await page.waitForFunction(() => window.__testResults && window.__testResults.done, null, { timeout: 60_000 });
      const r = await page.evaluate(() => window.__testResults);
      for (const d of r.details) if (!d.ok) console.log(`   FAIL ${d.name}${d.detail ? ` — ${d.detail}` : ''}`);
      assert(r.failed === 0, `${r.failed} of ${r.passed + r.failed} checks failed`);
      return `${r.passed} checks`;
    });
    await check('token: interview page with #token=<token> reaches ready', async () => {
      await page.goto(`${TOKEN_URL}/#token=${AUTH_TOKEN}`);
      await page.reload();
      await page.waitForFunction(() => window.__stats && window.__stats.state === 'ready', null, { timeout: 10_000 });
    });
    void errors;
  } finally {
    await context.close();
  }
}

// ---- interview page ----------------------------------------------------------------

const stats = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__stats)));

async function waitForTranscript(page, role, count, timeout) {
  await page.waitForFunction(([r, n]) => window.__stats.transcript.filter((t) => t.role === r).length >= n,
    [role, count], { timeout });
}

async function interviewTurn(page, label, startWithKeyboard) {
  // each step needs the previous one: stop at the first failure
  if (!await check(`${label} ready`, async () => {
    await page.waitForFunction(() => window.__stats && window.__stats.state === 'ready', null, { timeout: 10_000 });
  })) return false;
  if (!await check(`${label} start`, async () => {
    if (startWithKeyboard) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
      assert(focused === 'start', `first Tab focuses #${focused}, expected #start`);
      await page.keyboard.press('Enter');
    } else {
      await page.click('#start');
    }
    await waitForTranscript(page, 'ai', 1, 20_000);
    const s = await stats(page);
    const text = s.transcript.find((t) => t.role === 'ai').text;
    assert(text.length > 0, 'empty interview_started message');
    await page.getByText(text.slice(0, 40)).first().waitFor({ timeout: 2000 });
    return `"${text.slice(0, 40)}…"`;
  })) return false;
  if (!await check(`${label} listening after the opening line`, async () => {
    await page.waitForFunction(() => window.__stats.state === 'listening', null, { timeout: 20_000 });
  })) return false;
  if (!await check(`${label} answer transcribed`, async () => {
    await waitForTranscript(page, 'user', 1, 40_000);
    const s = await stats(page);
    const text = s.transcript.find((t) => t.role === 'user').text;
    await page.getByText(text.slice(0, 30)).first().waitFor({ timeout: 2000 });
    assert(s.chunksSent > 0, 'no audio_chunk sent');
    return `"${text}", ${s.chunksSent} chunks`;
  })) return false;
  if (!await check(`${label} reply shown`, async () => {
    await waitForTranscript(page, 'ai', 2, 30_000);
    const s = await stats(page);
    const text = s.transcript.filter((t) => t.role === 'ai')[1].text;
    await page.getByText(text.slice(0, 40)).first().waitFor({ timeout: 2000 });
    return `"${text.slice(0, 40)}…"`;
  })) return false;
  return check(`${label} audio decoded`, async () => {
    await page.waitForFunction(() => window.__stats.state === 'listening', null, { timeout: 20_000 });
    const s = await stats(page);
    assert(s.audioDecoded > 0, 'no binary message decoded');
    assert(s.audioDecodeErrors === 0, `${s.audioDecodeErrors} decode errors`);
    return `${s.audioDecoded} messages`;
  });
}

const mockTranscriptions = async () => {
  const r = await fetch(`${MOCK}/_mock/requests`);
  assert(r.ok, `GET ${MOCK}/_mock/requests: ${r.status}`);
  return (await r.json()).filter((q) => q.endpoint === 'transcriptions');
};

async function interviewPage() {
  const before = MOCK ? (await mockTranscriptions()).length : 0;
  const { context, page, errors } = await newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(`${BASE}/interview`);
    const turned = await interviewTurn(page, 'interview', false);
    await page.screenshot({ path: join(ART, 'interview.png'), fullPage: true });
    if (turned) {
      await check('interview end', async () => {
        await page.click('#end');
        await page.waitForFunction(() => window.__stats.state === 'ended', null, { timeout: 10_000 });
      });
    }
    await check('interview no page errors', async () => assert(errors.length === 0, errors.join(' | ')));
  } finally {
    await context.close();
  }

  if (MOCK) {
    await check('mock got the answer as a WAV transcription', async () => {
      const stt = (await mockTranscriptions()).slice(before);
      assert(stt.length > 0, 'no transcription request from the interview page');
      const q = stt[0];
      assert(q.status === 200, `status ${q.status}`);
      assert(q.samples > 16000, `samples ${q.samples}, expected > 1 s of 16 kHz audio`);
      assert(q.wav && q.wav.sample_rate === 16000, `wav ${JSON.stringify(q.wav)}`);
      return `${q.samples} samples (${(q.samples / 16000).toFixed(2)} s)`;
    });
  }

  const mobile = await newPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  try {
    await mobile.page.goto(`${BASE}/`);
    await check('interview fits 375px', () => noHorizontalScroll(mobile.page, 375));
    const turned = await interviewTurn(mobile.page, 'interview-mobile (keyboard)', true);
    if (turned) await check('interview-mobile fits 375px after a turn', () => noHorizontalScroll(mobile.page, 375));
    await mobile.page.screenshot({ path: join(ART, 'interview-mobile.png'), fullPage: true });
    await check('interview-mobile no page errors', async () => assert(mobile.errors.length === 0, mobile.errors.join(' | ')));
  } finally {
    await mobile.context.close();
  }
}

// ---- main --------------------------------------------------------------------------

try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args, headless: true });
  await check('GET /api/stream/test-page serves the page', () => checkServed('/api/stream/test-page', 'Run automated tests'));
  await check('GET /interview serves the page', () => checkServed('/interview', 'start_interview'));
  await check('GET / serves the interview page', () => checkServed('/', 'start_interview'));
  await streamPage();
  await interviewPage();
  await tokenPages();
} catch (err) {
  fail('run', err && err.stack ? err.stack : err);
} finally {
  try { await browser?.close(); } catch { /* ignore */ }
  clearTimeout(hardStop);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
