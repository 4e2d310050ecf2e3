// Socket.IO connection state recovery across instances (issue 17), driven by
// tests/integ/test_sio_redis.py: socket.io-client v4 starts an interview on
// instance A (COACH_URL), answers q1 and q2, then its transport is cut; the
// Manager is pointed at instance B (COACH_URL_B) and reconnects there with
// {pid, offset}. Prints "# dropped" when cut (the runner then checks Redis and
// kills A), then ok/FAIL lines: recovered, same id, offsets consecutive, the
// missed q3 audio replayed, q3 answered on B, the report covers q1..q3.
// env: COACH_URL, COACH_URL_B, COACH_WEBM
import { io } from 'socket.io-client';
import { readFileSync } from 'node:fs';

const WEBM = readFileSync(process.env.COACH_WEBM);
const POSTING = 'Senior Platform Engineer: Kubernetes, Terraform, observability; lead reliability and latency work.';
let failed = 0;
function check(name, cond, detail = '') {
  if (cond) console.log(`ok   ${name}`);
  else { failed++; console.log(`FAIL ${name} ${detail}`); }
  return cond;
}

// reconnect after a fixed 3 s: the runner kills A in between
const socket = io(process.env.COACH_URL, { transports: ['websocket'], reconnection: true,
  reconnectionAttempts: 5, reconnectionDelay: 3000, randomizationFactor: 0 });
const offsets = [];       // every server event's offset, in arrival order
const events = [];        // [event, questionId, connection number]
let connects = 0, idBefore = null, idAfter = null, recovered = null, report = null, droppedAt = null;
const answered = new Set();

const done = new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error('timed out')), 60000);
  socket.on('interview_complete', (r) => { report = r; clearTimeout(t); resolve(); });
});
socket.onAny((event, ...args) => {
  const off = args[args.length - 1];
  offsets.push(Number(off));
  const d = args[0] || {};
  events.push([event, d.questionId, connects]);
  if (event === 'error') console.log('# error event', JSON.stringify(d));
});
socket.on('connect', () => {
  connects++;
  if (connects === 1) {
    idBefore = socket.id;
    socket.emit('start_interview', { jobDescription: POSTING, resume: 'Go, Kubernetes.' });
  } else {
    idAfter = socket.id;
    recovered = socket.recovered;
  }
});
socket.on('question_audio', (data) => {
  if (answered.has(data.questionId) || answered.size === 3) return; // three answers, then the report
  answered.add(data.questionId);
  socket.emit('submit_answer', { questionId: data.questionId, audioBlob: WEBM });
});
socket.on('answer_analyzed', (a) => {
  if (a.questionId === 'q2' && connects === 1) {
    // cut the transport the moment q2's analysis is in: q3's audio is still
    // being made on A, so it reaches the client only through the replay on B
    socket.io.uri = process.env.COACH_URL_B;
    droppedAt = offsets[offsets.length - 1];
    socket.io.engine.close();
    console.log('# dropped');
  } else if (a.questionId === 'q3') {
    socket.emit('complete_interview');
  }
});

try {
  await done;
} catch (e) {
  check('interview finished', false, e.message + ' ' + JSON.stringify(events));
}
socket.disconnect();
check('reconnected once, to B', connects === 2, `connects=${connects}`);
check('socket.recovered === true on B', recovered === true, `recovered=${recovered}`);
check('same socket id after recovery', idBefore && idBefore === idAfter, `${idBefore} ${idAfter}`);
// An event A had already sent when the client closed its transport is held
// in socket.io-client's receive buffer (the socket is disconnected) and
// emitted on reconnect, while the client's offset still names the event
// before it, so B replays it too: Socket.IO recovery is at-least-once. Only
// such an event, the one right after the drop, may come twice.
const uniq = offsets.filter((o, i) => i === 0 || o !== offsets[i - 1]);
const gaps = uniq.filter((o, i) => i > 0 && o !== uniq[i - 1] + 1);
const dups = offsets.filter((o, i) => i > 0 && o === offsets[i - 1]);
check('offsets consecutive across instances (no gap; a repeat only of the event in flight at the drop)',
  uniq[0] === 1 && gaps.length === 0 && dups.every((o) => o === droppedAt + 1) && dups.length <= 1,
  JSON.stringify(offsets) + ` dropped at ${droppedAt}`);
console.log(`# offsets ${JSON.stringify(offsets)}`);
const q3audio = events.filter((e) => e[0] === 'question_audio' && e[1] === 'q3');
check('q3 audio (made on A around the cut) reaches the client through B\'s replay',
  q3audio.length >= 1 && q3audio.length <= 1 + dups.length, JSON.stringify(q3audio));
const a3 = events.filter((e) => e[0] === 'answer_analyzed' && e[1] === 'q3');
check('the third answer analysed on B', a3.length === 1 && a3[0][2] === 2, JSON.stringify(events));
const qs = report ? report.questions : [];
const got = qs.filter((q) => q.answered).map((q) => q.id);
check('the final report covers q1, q2 and q3', JSON.stringify(got) === '["q1","q2","q3"]', JSON.stringify(got));
check('no error events', !events.some((e) => e[0] === 'error'), JSON.stringify(events));
process.exit(failed ? 1 : 0);
