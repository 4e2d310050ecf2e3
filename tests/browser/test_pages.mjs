// Chromium tests of the embedded pages: /api/stream/test-page (its own automated
// suite) and /interview with fake microphones: an answer with pauses ended by the
// server's VAD (partial transcripts, no button), the same answer ended by the
// "I'm done" button, and the candidate talking over the interviewer (barge-in).
// Run by tests/browser/run.sh, which sets:
//   INTERVIEW_URL  http://127.0.0.1:PORT of the binary
//   MANUAL_URL     the binary with a long VAD_SILENCE_DURATION (the button flow)
//   MOCK_URL       https://127.0.0.1:PORT of tests/mock_openai.py (NODE_EXTRA_CA_CERTS trusts its CA)
//   FAKE_MIC_WAV   the answer Chromium plays as the microphone (FAKE_MIC_SPEECH_END_MS: where it ends)
//   BARGE_MIC_WAV  the speech over the interviewer (BARGE_SPEECH_START_MS: where it starts)
//   ARTIFACTS_DIR  where screenshots go
// Chromium takes one microphone file per browser: each file gets its own launch,
// and plays once (%noloop) from the moment a page opens the microphone.
// Optional: PAGES_DIR=src/dialect/web serves the pages from files instead of the binary
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
const TOTAL_MS = 240_000;
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
// Pages fulfilled by route() have no address, so Chromium's Local Network Access
// checks would treat them as public and block their WebSocket to 127.0.0.1.
if (PAGES_DIR) args.push('--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets');

const BARGE_MIC_WAV = process.env.BARGE_MIC_WAV || '';
function launch(wav) {
  const a = wav ? [...args, `--use-file-for-fake-audio-capture=${wav}%noloop`] : args;
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: a, headless: true });
}

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

const stats = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__interview)));
const MANUAL_URL = process.env.MANUAL_URL || '';
const SPEECH_END_MS = Number(process.env.FAKE_MIC_SPEECH_END_MS || 0);
const BARGE_START_MS = Number(process.env.BARGE_SPEECH_START_MS || 0);
// what the mock transcribes, segment by segment (more segments than these get its default transcript)
const ANSWER_SEGMENTS = ['I have five years of experience', 'building distributed systems', 'mostly in Go and C.'];
const LONG_REPLY = 'Thanks for joining me today and welcome to this practice interview session. '
  + 'I will ask you a few questions about your recent engineering work. '
  + 'Please answer in your own words and take whatever time you need. '
  + 'We will start with your experience running services in production. '
  + 'Tell me about a time when a critical system failed in the middle of the night. '
  + 'Describe what you noticed first and how you found the cause. '
  + 'Then explain what you changed afterwards so that it would not happen again. '
  + 'Finally tell me what you would do differently with what you know now.';
const BARGE_SEGMENTS = ['Sorry to cut in, I know this one,', 'it was a database failover at night.'];
const SHORT_REPLY = 'Good, a failover. How did you notice it and what did you do first?';

async function mock(path, body) {
  const r = await fetch(`${MOCK}/_mock/${path}`, body === undefined ? {}
    : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert(r.ok, `${body === undefined ? 'GET' : 'POST'} /_mock/${path}: ${r.status}`);
  return r.json();
}
const mockRequests = async (endpoint) => (await mock('requests')).filter((q) => q.endpoint === endpoint);

async function waitForTranscript(page, role, count, timeout) {
  await page.waitForFunction(([r, n]) => window.__interview.transcript.filter((t) => t.role === r).length >= n,
    [role, count], { timeout });
}

const eventIndex = (s, type) => s.events.findIndex((e) => e.type === type);

/** Start, hear the opening line, answer (ended by the server's VAD, or by the
 * "I'm done" button with how: 'button'), see and hear the reply. */
async function interviewTurn(page, label, { keyboard = false, how = 'vad' } = {}) {
  // each step needs the previous one: stop at the first failure
  if (!await check(`${label} ready`, async () => {
    await page.waitForFunction(() => window.__interview && window.__interview.state === 'ready', null, { timeout: 10_000 });
  })) return false;
  if (!await check(`${label} start`, async () => {
    if (keyboard) {
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
    await page.waitForFunction(() => window.__interview.state === 'listening', null, { timeout: 20_000 });
    const s = await stats(page);
    assert(s.interruptions.length === 0, `the opening line was interrupted: ${JSON.stringify(s.interruptions)}`);
  })) return false;
  if (!await check(`${label} partial transcripts shown while the candidate speaks`, async () => {
    await page.locator('#transcript li.user.partial').first().waitFor({ timeout: 20_000 });
    const s = await stats(page);
    assert(s.partials.length >= 1 && s.partials[0].text, `partials ${JSON.stringify(s.partials)}`);
    await page.getByText(s.partials[0].text.slice(0, 20)).first().waitFor({ timeout: 2000 });
    await page.screenshot({ path: join(ART, `${label.split(' ')[0]}-partial.png`), fullPage: true });
    return `segment 0 "${s.partials[0].text}" in the page, the answer still going on`;
  })) return false;
  if (how === 'button' && !await check(`${label} "I'm done" ends the answer (no server silence)`, async () => {
    // after the last phrase and a pause that closes its segment, long before the server's silence
    await page.waitForFunction((end) => window.__interview.micStartedAt
      && performance.now() > window.__interview.micStartedAt + end + 700, SPEECH_END_MS, { timeout: 30_000 });
    assert(await page.isEnabled('#done'), '"I\'m done answering" is disabled after speech');
    const t0 = await page.evaluate(() => performance.now());
    await page.tap('#done');
    await page.waitForFunction(() => window.__interview.transcript.some((t) => t.role === 'user'), null, { timeout: 20_000 });
    const s = await stats(page);
    const tr = s.events.find((e) => e.type === 'user_transcript');
    assert(s.doneSent === 1, `send_for_AI_processing sent ${s.doneSent} times`);
    const stop = eventIndex(s, 'speech_stopped');
    assert(stop < 0 || stop > eventIndex(s, 'user_transcript'), 'the server\'s VAD ended the answer, not the button');
    return `user_transcript ${Math.round(tr.t - t0)} ms after the tap`;
  })) return false;
  if (!await check(`${label} answer transcribed${how === 'vad' ? ' (ended by the server\'s VAD, no button)' : ''}`, async () => {
    await waitForTranscript(page, 'user', 1, 40_000);
    const s = await stats(page);
    const text = s.transcript.find((t) => t.role === 'user').text;
    await page.getByText(text.slice(0, 30)).first().waitFor({ timeout: 2000 });
    assert(s.chunksSent > 0, 'no audio_chunk sent');
    const joined = s.partials.map((p) => p.text).filter(Boolean).join(' ');
    assert(text === joined, `user_transcript "${text}" is not the partials joined "${joined}"`);
    assert(s.partials.length >= 2, `${s.partials.length} segment(s): the pauses did not close segments`);
    assert(eventIndex(s, 'user_transcript_partial') < eventIndex(s, 'user_transcript'), 'no partial before the transcript');
    assert(await page.locator('#transcript li.user.partial').count() === 0, 'the answer line is still marked partial');
    if (how === 'vad') {
      assert(s.doneSent === 0, `send_for_AI_processing sent ${s.doneSent} times`);
      const st = s.events.find((e) => e.type === 'speech_started');
      const sp = s.events.find((e) => e.type === 'speech_stopped');
      assert(st && sp, `speech_started ${!!st}, speech_stopped ${!!sp}`);
      return `"${text}", ${s.partials.length} segments, speech ${st.audio_start_ms}..${sp.audio_end_ms} ms, ${s.chunksSent} chunks`;
    }
    return `"${text}", ${s.partials.length} segments, ${s.chunksSent} chunks`;
  })) return false;
  if (!await check(`${label} reply shown`, async () => {
    await waitForTranscript(page, 'ai', 2, 30_000);
    const s = await stats(page);
    const text = s.transcript.filter((t) => t.role === 'ai')[1].text;
    await page.getByText(text.slice(0, 40)).first().waitFor({ timeout: 2000 });
    return `"${text.slice(0, 40)}…"`;
  })) return false;
  return check(`${label} reply played, playback_position reported, listening again`, async () => {
    await page.waitForFunction(() => window.__interview.state === 'listening', null, { timeout: 20_000 });
    const s = await stats(page);
    assert(s.audioDecoded > 0, 'no binary message decoded');
    assert(s.audioDecodeErrors === 0, `${s.audioDecodeErrors} decode errors`);
    assert(s.playbackReports > 0, 'no playback_position sent');
    assert(!s.playing && s.interruptions.length === 0, `playing ${s.playing}, ${s.interruptions.length} interruptions`);
    return `${s.audioDecoded} messages, ${s.playbackReports} playback_position reports, last ${s.lastPlaybackMs} ms`;
  });
}

async function interviewPage() {
  if (MOCK) {
    await mock('reset', {});
    await mock('config', { transcripts: ANSWER_SEGMENTS, delays: { stt_ms: 80, stt_per_audio_s_ms: 40 } });
  }
  const { context, page, errors } = await newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(`${BASE}/interview`);
    const turned = await interviewTurn(page, 'interview');
    await page.screenshot({ path: join(ART, 'interview.png'), fullPage: true });
    if (turned) {
      await check('interview latency line from turn_metrics ("heard you in … · first word in …")', async () => {
        await page.waitForFunction(() => !document.getElementById('latency').hidden, null, { timeout: 5000 });
        const t = await page.locator('#latency').textContent();
        assert(/^heard you in \d+\.\d s · first word in \d+\.\d s/.test(t || ''), `latency line "${t}"`);
        return t;
      });
      await check('interview end', async () => {
        await page.click('#end');
        await page.waitForFunction(() => window.__interview.state === 'ended', null, { timeout: 10_000 });
      });
    }
    await check('interview no page errors', async () => assert(errors.length === 0, errors.join(' | ')));
  } finally {
    await context.close();
  }

  if (MOCK) {
    await check('mock got the answer as WAV segments, each with the earlier text as prompt', async () => {
      const stt = await mockRequests('transcriptions');
      assert(stt.length >= 2, `${stt.length} transcription requests, expected one per segment`);
      for (const q of stt) {
        assert(q.status === 200, `status ${q.status}`);
        assert(q.wav && q.wav.sample_rate === 16000, `wav ${JSON.stringify(q.wav)}`);
      }
      const samples = stt.reduce((n, q) => n + q.samples, 0);
      assert(samples > 3 * 16000, `${samples} samples in all, expected > 3 s of 16 kHz audio`);
      const prompt = (stt[1].fields || {}).prompt || '';
      assert(prompt.includes(stt[0].transcript.replace(/[.]$/, '')), `segment 1 prompt "${prompt}"`);
      return `${stt.length} segments, ${(samples / 16000).toFixed(2)} s of audio`;
    });
  }

  const mobile = await newPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  try {
    await mobile.page.goto(`${BASE}/`);
    await check('interview fits 375px', () => noHorizontalScroll(mobile.page, 375));
    if (MANUAL_URL && MOCK) {
      await mock('reset', {});
      await mock('config', { transcripts: ANSWER_SEGMENTS });
      await mobile.page.goto(`${MANUAL_URL}/`);
      const turned = await interviewTurn(mobile.page, 'interview-mobile (keyboard, "I\'m done" button)',
        { keyboard: true, how: 'button' });
      if (turned) await check('interview-mobile fits 375px after a turn', () => noHorizontalScroll(mobile.page, 375));
      await mobile.page.screenshot({ path: join(ART, 'interview-mobile.png'), fullPage: true });
    }
    await check('interview-mobile no page errors', async () => assert(mobile.errors.length === 0, mobile.errors.join(' | ')));
  } finally {
    await mobile.context.close();
  }
}

// ---- barge-in: the candidate talks over the interviewer ------------------------------

async function bargeInPage() {
  if (!MOCK) return;
  await mock('reset', {});
  // a long opening line, generated slowly: still being generated and played 2.5 s in
  await mock('config', { reply: LONG_REPLY, delays: { token_ms: 40 }, transcripts: BARGE_SEGMENTS });
  const { context, page, errors } = await newPage({ viewport: { width: 1280, height: 900 } });
  const norm = (t) => t.replace(/\s+/g, ' ').trim();
  let cut = null;
  try {
    await page.goto(`${BASE}/interview`);
    if (!await check('barge-in: the interviewer speaks, the microphone stays open', async () => {
      await page.waitForFunction(() => window.__interview.state === 'ready', null, { timeout: 10_000 });
      await page.click('#start');
      await page.waitForFunction(() => window.__interview.state === 'speaking', null, { timeout: 15_000 });
      const c0 = (await stats(page)).chunksSent;
      await page.waitForTimeout(500);
      const s = await stats(page);
      assert(s.playing, 'not playing');
      assert(s.chunksSent > c0, `no audio_chunk sent while the interviewer speaks (${c0} → ${s.chunksSent})`);
      await page.screenshot({ path: join(ART, 'interview-speaking.png'), fullPage: true });
      return `${s.chunksSent - c0} chunks in 500 ms of playback`;
    })) return;
    if (!await check('barge-in: ai_interrupted stops playback at once', async () => {
      await page.waitForFunction(() => window.__interview.interruptions.length > 0, null, { timeout: 15_000 });
      await mock('config', { reply: SHORT_REPLY, delays: { token_ms: 0 } });   // the next reply: short
      const s = await stats(page);
      cut = s.interruptions[0];
      assert(cut.wasPlaying, 'reply audio was not playing when ai_interrupted came');
      assert(!cut.playingAfter, 'audio sources still active after ai_interrupted');
      assert(await page.evaluate(() => document.body.dataset.playing) === 'false', 'body[data-playing] is not false');
      assert(s.state === 'listening', `state ${s.state}`);
      const detected = cut.t - s.micStartedAt - BARGE_START_MS;
      return `interrupted ${Math.round(detected)} ms after the speech onset in the mic file (incl. capture), `
        + `played_ms ${cut.played_ms} (server) vs ${cut.local_ms} (page)`;
    })) return;
    await check('barge-in: no reply audio after the interruption', async () => {
      await page.waitForTimeout(1000);
      const s = await stats(page);
      assert(s.sourcesStarted === cut.sourcesStartedAt, `${s.sourcesStarted - cut.sourcesStartedAt} pieces started after it`);
      assert(!s.playing, 'playing again');
      assert(Math.abs(cut.played_ms - cut.local_ms) <= 500, `server ${cut.played_ms} ms vs page ${cut.local_ms} ms`);
      return `${s.audioDropped} binary messages dropped, ${s.playbackReports} playback_position reports before`;
    });
    await check('barge-in: the transcript shows the reply as heard', async () => {
      const heard = cut.heard_text;
      assert(heard.length > 0, 'empty heard_text (nothing played?)');
      assert(norm(LONG_REPLY).startsWith(norm(heard)) && norm(heard).length < norm(LONG_REPLY).length,
        `heard_text is not a proper prefix of the reply: "${heard}"`);
      const li = page.locator('#transcript li.ai.interrupted');
      assert(await li.count() === 1, `${await li.count()} interrupted lines`);
      const shown = norm(await li.locator('.text').textContent());
      assert(shown === norm(heard), `line shows "${shown}"`);
      assert(/interrupted/i.test(await li.locator('.tag').textContent()), 'no "interrupted" tag');
      return `"…${heard.slice(-50)}" (${heard.length} of ${LONG_REPLY.length} characters)`;
    });
    await check('barge-in: the mock saw the opening chat stream cancelled', async () => {
      const chats = await mockRequests('chat');
      assert(chats.length >= 1 && chats[0].aborted === true, `first chat ${JSON.stringify({ aborted: chats[0]?.aborted, done: chats[0]?.done })}`);
      const tts = await mockRequests('speech');
      return `chat aborted after ${chats[0].token_times ? chats[0].token_times.length : '?'} tokens; `
        + `${tts.filter((q) => q.aborted).length} of ${tts.length} TTS requests aborted`;
    });
    await check('barge-in: the interrupting speech is the answer; the next request holds only what was heard', async () => {
      await waitForTranscript(page, 'user', 1, 30_000);
      await page.waitForFunction(() => window.__interview.transcript.filter((t) => t.role === 'ai').length >= 2
        && window.__interview.state === 'listening', null, { timeout: 30_000 });
      const s = await stats(page);
      assert(s.doneSent === 0, `send_for_AI_processing sent ${s.doneSent} times`);
      const chats = await mockRequests('chat');
      assert(chats.length >= 2, `${chats.length} chat requests`);
      const msgs = chats[1].messages || [];
      const said = msgs.filter((m) => m.role === 'assistant').map((m) => m.content);
      assert(said.length === 1 && said[0] === cut.heard_text,
        `assistant history ${JSON.stringify(said).slice(0, 300)} != heard_text`);
      const last = s.transcript.filter((t) => t.role === 'ai').pop().text;
      assert(last === SHORT_REPLY, `second reply "${last}"`);
      return `answer "${s.transcript.find((t) => t.role === 'user').text}"`;
    });
  } finally {
    await page.screenshot({ path: join(ART, 'interview-barge-in.png'), fullPage: true }).catch(() => {});
    await check('barge-in: no page errors', async () => assert(errors.length === 0, errors.join(' | ')));
    await context.close();
  }
}

// ---- main --------------------------------------------------------------------------

try {
  browser = await launch(WAV);
  await check('GET /api/stream/test-page serves the page', () => checkServed('/api/stream/test-page', 'Run automated tests'));
  await check('GET /interview serves the page', () => checkServed('/interview', 'start_interview'));
  await check('GET / serves the interview page', () => checkServed('/', 'start_interview'));
  await streamPage();
  await interviewPage();
  await tokenPages();
  if (BARGE_MIC_WAV) {
    await browser.close();
    browser = await launch(BARGE_MIC_WAV);
    await bargeInPage();
  }
} catch (err) {
  fail('run', err && err.stack ? err.stack : err);
} finally {
  try { await browser?.close(); } catch { /* ignore */ }
  clearTimeout(hardStop);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
