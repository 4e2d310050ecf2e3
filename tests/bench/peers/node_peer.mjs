// Benchmark peer: Node with the `ws` package, the same protocol subset on /ws/{id}:
// ping -> pong, audio_chunk (int16 array) -> amplitude (RMS / 32768), and the seed 001
// turn against the mock (whole transcription, whole chat reply, whole TTS, then audio).
// Usage: node node_peer.mjs PORT   (env OPENAI_BASE_URL, OPENAI_API_KEY; NODE_EXTRA_CA_CERTS)
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const BASE = process.env.OPENAI_BASE_URL || '';
const KEY = process.env.OPENAI_API_KEY || '';
const ts = () => new Date().toISOString();

function wav(samples) {
  const b = Buffer.alloc(44 + samples.length * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + samples.length * 2, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(16000, 24);
  b.writeUInt32LE(32000, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34); b.write('data', 36);
  b.writeUInt32LE(samples.length * 2, 40);
  samples.forEach((s, i) => b.writeInt16LE(s > 32767 ? s - 65536 : s, 44 + i * 2));
  return b;
}

async function turn(ws, history, audio) {
  const auth = { Authorization: 'Bearer ' + KEY };
  ws.send(JSON.stringify({ type: 'thinking', message: 'Let me consider your response...', timestamp: ts() }));
  const form = new FormData();
  form.append('model', 'whisper-1');
  form.append('file', new Blob([wav(audio)], { type: 'audio/wav' }), 'audio.wav');
  let r = await fetch(BASE + '/audio/transcriptions', { method: 'POST', headers: auth, body: form });
  if (!r.ok) throw new Error('transcription ' + r.status);
  history.push({ role: 'user', content: (await r.json()).text });
  r = await fetch(BASE + '/chat/completions', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: history, max_tokens: 150 }) });
  if (!r.ok) throw new Error('chat ' + r.status);
  const reply = (await r.json()).choices[0].message.content;
  history.push({ role: 'assistant', content: reply });
  ws.send(JSON.stringify({ type: 'thinking_complete', timestamp: ts() }));
  r = await fetch(BASE + '/audio/speech', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input: reply, response_format: 'mp3' }) });
  if (!r.ok) throw new Error('tts ' + r.status);
  const mp3 = Buffer.from(await r.arrayBuffer());
  for (let i = 0; i < mp3.length; i += 4096) {
    ws.send(JSON.stringify({ type: 'ai_audio_chunk', amplitude: 0.5, timestamp: ts() }));
    ws.send(mp3.subarray(i, i + 4096));
  }
  ws.send(JSON.stringify({ type: 'ai_response_complete', text: reply, timestamp: ts() }));
}

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  if (!/^\/ws\/[^/]+$/.test(req.url)) { ws.close(1008); return; }
  let audio = [];
  const history = [{ role: 'system', content: 'You are an interviewer.' }];
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let m;
    try { m = JSON.parse(data); } catch { ws.send(JSON.stringify({ type: 'error', code: 'INVALID_JSON' })); return; }
    if (m.type === 'ping') ws.send(JSON.stringify({ type: 'pong', timestamp: ts() }));
    else if (m.type === 'audio_chunk') {
      const d = m.data;
      let sum = 0;
      for (const s of d) sum += s * s;
      for (const s of d) audio.push(s);
      const rms = d.length ? Math.sqrt(sum / d.length) : 0;
      ws.send(JSON.stringify({ type: 'amplitude', value: Math.round(Math.min(rms / 32768, 1) * 10000) / 10000, timestamp: ts() }));
    } else if (m.type === 'send_for_AI_processing') {
      const a = audio; audio = [];
      turn(ws, history, a).catch((e) => ws.send(JSON.stringify({ type: 'error', message: String(e), code: 'AI_RESPONSE_ERROR', timestamp: ts() })));
    }
  });
});
