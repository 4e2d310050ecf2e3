// The seed 003 client in a real browser: headless Chromium (system binary,
// playwright-core) loads socket.io-client's own browser bundle, connects with
// transports ['websocket'], and answers every question with a MediaRecorder
// recording ('audio/webm;codecs=opus', as the seed's AudioRecorder) of the fake
// microphone (espeak-ng speech), sent as a Blob in submit_answer.
// env: COACH_URL, COACH_WAV (fake microphone), CHROMIUM (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

// the package's own browser bundle (its exports map does not expose dist/ to resolve())
const BUNDLE = readFileSync(new URL('./node_modules/socket.io-client/dist/socket.io.min.js', import.meta.url));
let failed = 0;
function check(name, cond, detail = '') {
  if (cond) console.log(`ok   ${name}`);
  else { failed++; console.log(`FAIL ${name} ${detail}`); }
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>seed 003 client</title>
<script src="/socket.io.min.js"></script>
<script>
window.result = { events: [], errors: [], done: false };
async function record(ms) {           // the seed's AudioRecorder, whole recording as one Blob
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, sampleRate: 44100 } });
  const rec = new MediaRecorder(stream, { mimeType: 'audio/webm;codecs=opus' });
  const parts = [];
  rec.ondataavailable = (e) => parts.push(e.data);
  const stopped = new Promise((r) => (rec.onstop = r));
  rec.start(1000);                    // "Send data every second"
  await new Promise((r) => setTimeout(r, ms));
  rec.stop();
  await stopped;
  stream.getTracks().forEach((t) => t.stop());
  return new Blob(parts, { type: 'audio/webm;codecs=opus' });
}
function start(url, posting) {
  const socket = io(url, { transports: ['websocket'], autoConnect: true, reconnection: true, reconnectionAttempts: 5, reconnectionDelay: 1000 });
  const answered = new Set();
  socket.on('connect_error', (e) => window.result.errors.push('connect_error ' + e.message));
  socket.on('error', (e) => window.result.errors.push(JSON.stringify(e)));
  socket.on('connect', () => socket.emit('start_interview', { jobDescription: posting, resume: '5 years experience in React...' }));
  socket.on('questions_generated', (questions) => window.result.events.push(['questions_generated', questions.length]));
  socket.on('question_audio', async (data) => {
    const blob = new Blob([data.audioBlob], { type: 'audio/mpeg' });   // the seed's AudioPlayer input
    window.result.events.push(['question_audio', data.questionId, blob.size]);
    if (answered.has(data.questionId)) return;
    answered.add(data.questionId);
    const audioBlob = await record(1200);
    window.result.events.push(['recorded', data.questionId, audioBlob.size, audioBlob.type]);
    socket.emit('submit_answer', { questionId: data.questionId, audioBlob });
  });
  socket.on('answer_analyzed', (analysis) => {
    window.result.events.push(['answer_analyzed', analysis.questionId, analysis.score]);
    if (window.result.events.filter((e) => e[0] === 'answer_analyzed').length === 8) socket.emit('complete_interview');
  });
  socket.on('interview_complete', (results) => {
    window.result.events.push(['interview_complete', results.overallScore, results.questions.length]);
    window.result.done = true;
    socket.disconnect();
  });
}
</script>`;

const args = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  `--use-file-for-fake-audio-capture=${process.env.COACH_WAV}`,
  '--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets'];
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args, headless: true });
try {
  const context = await browser.newContext({ permissions: ['microphone'] });
  const page = await context.newPage();
  await page.route('http://localhost/coach.html', (r) => r.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: PAGE }));
  await page.route('http://localhost/socket.io.min.js', (r) => r.fulfill({ status: 200, contentType: 'text/javascript', body: BUNDLE }));
  await page.goto('http://localhost/coach.html');
  const t0 = Date.now();
  await page.evaluate(([url, posting]) => start(url, posting), [process.env.COACH_URL,
    'Senior Platform Engineer: Kubernetes, Terraform, observability; lead the team and improve latency.']);
  await page.waitForFunction(() => window.result.done || window.result.errors.length > 0, null, { timeout: 90000 }).catch(() => {});
  const r = await page.evaluate(() => window.result);
  console.log(`measure coach_browser_interview_ms=${Date.now() - t0}`);
  const rec = r.events.filter((e) => e[0] === 'recorded');
  check('browser: socket.io-client bundle connects over WebSocket and gets 8 questions',
    r.events.some((e) => e[0] === 'questions_generated' && e[1] === 8), JSON.stringify(r));
  check('browser: question audio arrives as binary and makes a Blob', r.events.filter((e) => e[0] === 'question_audio' && e[2] > 0).length >= 8,
    JSON.stringify(r.events.filter((e) => e[0] === 'question_audio')));
  check('browser: 8 MediaRecorder webm/opus Blobs sent', rec.length === 8 && rec.every((e) => e[2] > 0 && e[3].startsWith('audio/webm')),
    JSON.stringify(rec));
  check('browser: 8 answers analysed and the report received', r.done && r.events.filter((e) => e[0] === 'answer_analyzed').length === 8,
    JSON.stringify(r.events.slice(-3)));
  check('browser: no error', r.errors.length === 0, JSON.stringify(r.errors));
} catch (e) {
  check('browser run', false, e.stack);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
