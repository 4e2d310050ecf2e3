// The seed 003 client flow, unchanged in what it sends and listens to:
// socket.io-client v4 with transports ['websocket'], start_interview, one
// submit_answer {questionId, audioBlob} per question_audio, complete_interview,
// plus a forced transport drop in the middle (connection state recovery) and
// the error cases. Prints "ok ..."/"FAIL ..." lines; the runner counts them.
// env: COACH_URL, COACH_WEBM (a webm/opus recording), COACH_POSTING_URL (optional)
import { io } from 'socket.io-client';
import { readFileSync } from 'node:fs';

const URL = process.env.COACH_URL;
const WEBM = readFileSync(process.env.COACH_WEBM);
const POSTING = 'Senior Platform Engineer. We are looking for an engineer with Kubernetes, Terraform and ' +
  'observability experience to lead reliability projects, mentor the team and improve latency.';
const RESUME = '5 years experience in React and Go; led a Kubernetes migration.';
let failed = 0;
function check(name, cond, detail = '') {
  if (cond) console.log(`ok   ${name}`);
  else { failed++; console.log(`FAIL ${name} ${detail}`); }
  return cond;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bytes = (b) => (b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));

function seedSocket(opts = {}) {
  // exactly the seed's options (reconnection settings from its "Connection Management")
  return io(URL, { transports: ['websocket'], autoConnect: true, reconnection: true,
    reconnectionAttempts: 5, reconnectionDelay: 1000, ...opts });
}

function waitFor(sock, event, pred = () => true, ms = 20000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { sock.off(event, h); reject(new Error(`timeout waiting for ${event}`)); }, ms);
    function h(...args) { if (pred(...args)) { clearTimeout(t); sock.off(event, h); resolve(args); } }
    sock.on(event, h);
  });
}

// The whole interview, with a drop after the 4th answer is sent.
async function fullInterview(start) {
  const socket = seedSocket();
  const seen = [];       // [event, questionId|undefined, offset]
  const submitted = new Set();
  const analyses = [];
  let audio = 0, dropped = false, connects = 0, recoveredFlag = null, sidBefore = null, sidAfter = null;
  let questions = null, report = null;
  const done = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('interview timed out')), 90000);
    socket.on('interview_complete', (results, offset) => {
      seen.push(['interview_complete', undefined, offset]); report = results; clearTimeout(t); resolve();
    });
    socket.on('error', (e, offset) => { seen.push(['error', e && e.code, offset]); console.log('# error event', JSON.stringify(e)); });
  });
  socket.on('connect', () => {
    connects++;
    if (connects === 1) { sidBefore = socket.id; socket.emit('start_interview', start); }
    else { sidAfter = socket.id; recoveredFlag = socket.recovered; }
  });
  // seed: "socket.on('reconnect', () => socket.emit('resume_interview', { currentQuestion: 3 }))";
  // in socket.io-client v4 the reconnect event lives on the Manager.
  socket.io.on('reconnect', () => socket.emit('resume_interview', { currentQuestion: 5 }));
  socket.on('questions_generated', (qs, offset) => { seen.push(['questions_generated', undefined, offset]); questions = qs; });
  socket.on('interview_resumed', (r, offset) => { seen.push(['interview_resumed', r.question && r.question.id, offset]); });
  socket.on('question_audio', (data, offset) => {
    seen.push(['question_audio', data.questionId, offset]);
    const b = bytes(data.audioBlob);
    if (b.length > 2 && (b[0] === 0x49 || b[0] === 0xff)) audio++;
    if (submitted.has(data.questionId)) return; // resent after resume_interview
    submitted.add(data.questionId);
    socket.emit('submit_answer', { questionId: data.questionId, audioBlob: WEBM });
    if (data.questionId === 'q4' && !dropped) {
      dropped = true;
      socket.io.engine.close(); // the network drops with the answer in flight
    }
  });
  socket.on('answer_analyzed', (a, offset) => {
    seen.push(['answer_analyzed', a.questionId, offset]); analyses.push(a);
    if (analyses.length === 8) socket.emit('complete_interview');
  });
  await done;
  socket.disconnect();
  return { seen, analyses, questions, report, audio, connects, recoveredFlag, sidBefore, sidAfter };
}

async function interviewChecks(label, start) {
  const t0 = Date.now();
  let r;
  try { r = await fullInterview(start); } catch (e) { check(`${label}: interview completes`, false, e.message); return; }
  console.log(`measure coach_interview_ms=${Date.now() - t0}`);
  check(`${label}: questions_generated has 8 {id,text,type}`, Array.isArray(r.questions) && r.questions.length === 8 &&
    r.questions.every((q, i) => q.id === `q${i + 1}` && typeof q.text === 'string' && q.text && typeof q.type === 'string'),
    JSON.stringify(r.questions));
  const qa = r.seen.filter((e) => e[0] === 'question_audio').map((e) => e[1]);
  check(`${label}: question_audio with mp3 bytes for q1..q8`, ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8'].every((q) => qa.includes(q)) && r.audio >= 8, JSON.stringify(qa));
  check(`${label}: 8 answer_analyzed in order`, r.analyses.map((a) => a.questionId).join() === 'q1,q2,q3,q4,q5,q6,q7,q8',
    r.analyses.map((a) => a.questionId).join());
  const a = r.analyses[0] || {};
  check(`${label}: analysis shape {score, star{situation,task,action,result}, keywordsFound, fillerWords, timeSpent, feedback}`,
    Number.isInteger(a.score) && a.score >= 0 && a.score <= 100 && a.star &&
    ['situation', 'task', 'action', 'result'].every((k) => typeof a.star[k] === 'boolean') &&
    Array.isArray(a.keywordsFound) && Number.isInteger(a.fillerWords) && typeof a.timeSpent === 'number' &&
    typeof a.feedback === 'string' && a.feedback.length > 0, JSON.stringify(a));
  console.log(`# analysis q1: ${JSON.stringify(a)}`);
  // the text posting names latency, the job board's posting does not: keywords follow the posting
  const fromPosting = start.jobDescription ? a.keywordsFound.includes('latency') : !a.keywordsFound.includes('latency');
  check(`${label}: our figures from the words (fillers 4, keywords from the posting, time, pace)`,
    a.fillerWords === 4 && a.keywordsFound.includes('kubernetes') && fromPosting &&
    !a.keywordsFound.includes('with') && a.timeSpent > 0 && a.wordsPerMinute > 0, JSON.stringify(a));
  const rep = r.report || {};
  check(`${label}: interview_complete {overallScore, questions, strengths, improvements, microDrills, followUpQuestion}`,
    Number.isInteger(rep.overallScore) && Array.isArray(rep.questions) && rep.questions.length === 8 &&
    ['strengths', 'improvements', 'microDrills'].every((k) => Array.isArray(rep[k]) && rep[k].length > 0) &&
    typeof rep.followUpQuestion === 'string', JSON.stringify(rep).slice(0, 400));
  const mean = Math.round(r.analyses.reduce((s, x) => s + x.score, 0) / 8);
  check(`${label}: overallScore is the mean of the 8 scores`, rep.overallScore === mean, `${rep.overallScore} vs ${mean}`);
  check(`${label}: reconnected once and the session was recovered (same socket id)`,
    r.connects === 2 && r.recoveredFlag === true && r.sidBefore === r.sidAfter, JSON.stringify([r.connects, r.recoveredFlag, r.sidBefore, r.sidAfter]));
  const offs = r.seen.map((e) => Number(e[2]));
  check(`${label}: every server event carries an offset, 1..N with no gap or repeat (nothing lost across the drop)`,
    offs.every((o, i) => o === i + 1), JSON.stringify(r.seen));
  const order = r.seen.filter((e) => e[0] !== 'interview_resumed' && e[0] !== 'error')
    .map((e) => `${e[0]}:${e[1] || ''}`);
  const firstAudio = (q) => order.indexOf(`question_audio:${q}`);
  const okOrder = order[0] === 'questions_generated:' && [1, 2, 3, 4, 5, 6, 7].every((i) =>
    firstAudio(`q${i}`) < order.indexOf(`answer_analyzed:q${i}`) &&
    order.indexOf(`answer_analyzed:q${i}`) < firstAudio(`q${i + 1}`)) && order[order.length - 1] === 'interview_complete:';
  check(`${label}: event sequence questions -> (audio -> analysis) x8 -> report`, okOrder, JSON.stringify(order));
  check(`${label}: resume_interview after the reconnect re-sent question 5`, r.seen.some((e) => e[0] === 'interview_resumed' && e[1] === 'q5'),
    JSON.stringify(r.seen));
  check(`${label}: no error event`, !r.seen.some((e) => e[0] === 'error'), JSON.stringify(r.seen.filter((e) => e[0] === 'error')));
}

async function errorChecks() {
  // a namespace we do not serve
  const ns = io(URL + '/admin', { transports: ['websocket'], reconnection: false });
  try {
    const [err] = await waitFor(ns, 'connect_error');
    check('CONNECT to /admin -> connect_error "Invalid namespace"', err.message === 'Invalid namespace', err.message);
  } catch (e) { check('CONNECT to /admin -> connect_error', false, e.message); }
  ns.close();

  const s = seedSocket({ reconnection: false });
  await waitFor(s, 'connect');
  const errs = [];
  s.on('error', (e) => errs.push(e));
  async function expectError(name, code, fn) {
    const n = errs.length;
    fn();
    for (let i = 0; i < 100 && errs.length === n; i++) await sleep(50);
    const e = errs[n];
    check(`${name} -> error ${code}`, e && e.code === code && typeof e.message === 'string', JSON.stringify(e));
  }
  await expectError('resume_interview on a session with no interview', 'SESSION_NOT_FOUND', () => s.emit('resume_interview', { currentQuestion: 3 }));
  await expectError('submit_answer before start', 'NOT_STARTED', () => s.emit('submit_answer', { questionId: 'q1', audioBlob: WEBM }));
  await expectError('complete_interview before any answer', 'NO_ANSWERS', () => s.emit('complete_interview'));
  await expectError('unknown event', 'UNKNOWN_EVENT', () => s.emit('hack_the_planet', {}));
  await expectError('start_interview without a posting', 'INVALID_PAYLOAD', () => s.emit('start_interview', { resume: 'x' }));
  await expectError('start_interview with a posting over COACH_MAX_POSTING', 'POSTING_TOO_LARGE',
    () => s.emit('start_interview', { jobDescription: 'x'.repeat(40000), resume: 'y' }));
  s.emit('start_interview', { jobDescription: POSTING, resume: RESUME });
  await waitFor(s, 'question_audio', (d) => d.questionId === 'q1');
  await expectError('start_interview twice', 'ALREADY_STARTED', () => s.emit('start_interview', { jobDescription: POSTING }));
  await expectError('submit_answer out of order (q3 first)', 'OUT_OF_ORDER', () => s.emit('submit_answer', { questionId: 'q3', audioBlob: WEBM }));
  await expectError('submit_answer to an unknown question', 'UNKNOWN_QUESTION', () => s.emit('submit_answer', { questionId: 'q99', audioBlob: WEBM }));
  await expectError('submit_answer with bytes that are no audio', 'INVALID_AUDIO', () => s.emit('submit_answer', { questionId: 'q1', audioBlob: Buffer.from('not audio at all') }));
  await expectError('submit_answer without a binary audioBlob', 'INVALID_PAYLOAD', () => s.emit('submit_answer', { questionId: 'q1', audioBlob: 'AAAA' }));
  s.emit('submit_answer', { questionId: 'q1', audioBlob: WEBM });
  await waitFor(s, 'answer_analyzed', (a) => a.questionId === 'q1');
  await expectError('submit_answer twice for q1', 'ALREADY_ANSWERED', () => s.emit('submit_answer', { questionId: 'q1', audioBlob: WEBM }));
  // an ack requested by the client is answered
  const acked = await new Promise((resolve) => { s.timeout(5000).emit('resume_interview', { currentQuestion: 2 }, (err) => resolve(!err)); });
  check('an event emitted with an ack callback gets its ack', acked);
  s.disconnect();
}

// Every URL a client may not make the server fetch gets the documented error event.
async function ssrfChecks(cases) {
  const s = seedSocket({ reconnection: false });
  await waitFor(s, 'connect');
  for (const [what, url, code] of cases) {
    const p = waitFor(s, 'error', () => true, 30000).catch(() => [null]);
    s.emit('start_interview', { jobDescriptionUrl: url, resume: RESUME });
    const [e] = await p;
    check(`SSRF: ${what} -> error ${code}`, e && e.code === code && typeof e.message === 'string' && e.message.length > 0,
      JSON.stringify(e));
  }
  s.disconnect();
}

// Several seed clients at once, each with its own drop and recovery: no event crosses sessions.
async function parallelChecks(n) {
  const t0 = Date.now();
  const runs = await Promise.allSettled(Array.from({ length: n }, () =>
    fullInterview({ jobDescription: POSTING, resume: RESUME })));
  console.log(`measure coach_parallel_${n}_interviews_ms=${Date.now() - t0}`);
  const good = runs.filter((r) => r.status === 'fulfilled' && r.value.recoveredFlag === true &&
    r.value.analyses.map((a) => a.questionId).join() === 'q1,q2,q3,q4,q5,q6,q7,q8' && r.value.report &&
    r.value.seen.every((e, i) => Number(e[2]) === i + 1));
  check(`${n} interviews at once, each dropped and recovered, all complete with gapless offsets`, good.length === n,
    JSON.stringify(runs.map((r) => r.status === 'fulfilled' ? r.value.seen.length : String(r.reason))));
}

const mode = process.argv[2] || 'all';
if (mode === 'parallel') {
  await parallelChecks(Number(process.env.COACH_PARALLEL || 4));
  process.exit(failed ? 1 : 0);
}
if (mode === 'ssrf') {
  await ssrfChecks(JSON.parse(process.env.COACH_SSRF));
  process.exit(failed ? 1 : 0);
}
try {
  if (mode === 'all' || mode === 'text') await interviewChecks('text posting', { jobDescription: POSTING, resume: RESUME });
  if ((mode === 'all' || mode === 'url') && process.env.COACH_POSTING_URL)
    await interviewChecks('URL posting', { jobDescriptionUrl: process.env.COACH_POSTING_URL, resume: RESUME });
  if (mode === 'all' || mode === 'errors') await errorChecks();
} catch (e) {
  check('client script ran to the end', false, e.stack);
}
process.exit(failed ? 1 : 0);
