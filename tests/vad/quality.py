#!/usr/bin/python3
"""Quality evaluation of the VAD (src/parse/vad.c) on generated speech.

Usage: /usr/bin/python3 tests/vad/quality.py [--build OUT | --bin VAD_EVAL] [--keep DIR]
  --build OUT   compile tests/vad/vad_eval.c with gcc to OUT (default build/vad_eval)
  --bin PATH    use an already built vad_eval
  --keep DIR    write the generated WAV files to DIR (default: a temporary directory)

Each condition is a voice (espeak-ng voice, speed, set of sentences) and a
noise (none, pink or brown from sox, mixed at 20 or 10 dB SNR). Its file is
  1.0 s lead-in, answer 1 = u1 +600 ms+ u2 +200 ms+ u3, 1.5 s,
  answer 2 = u4 +400 ms+ u5, 1.5 s,
with noise over the whole file. Utterances are espeak-ng clips resampled to
16 kHz mono and trimmed to the frames of the clean clip whose RMS is within
TRIM_DB of its loudest 10 ms frame: that trimmed span is the ground truth.
The noise level for an SNR is set from the RMS of the trimmed speech.
With noise, an answer's true onset and end are moved inwards to the first
and last 10 ms frame where the clean speech is audible: its energy after the
standard 0.97 pre-emphasis at least equals the noise's in the same frame
(local SNR >= 0 dB). Sound buried under the noise (the release of a final
"p" at 10 dB SNR, 7 dB below the pink noise) is no requirement for any
detector; the end error against the clean-only truth is printed too
("end_clean"), for information.

Requirements, per condition (each counts once in the last line):
  onset   both answers: speech_started at pos within ONSET_MS of the true onset
          (the decision time "at" is reported as latency, not judged: it is
          pos + 30 ms, more when the first sound is buried in the noise)
  end     both answers: speech_stopped decided silence_ms +- END_MS after the
          true end of the answer (pos within END_MS of it)
  noends  no speech_stopped inside an answer (pauses of 200/400/600 ms < 700)
          and exactly one speech_started per answer, none elsewhere
  noise   no speech_started on 10 s of that condition's noise alone (digital
          silence for the clean condition)
Informational: PAUSE events at the 400/600 ms pauses (TRANSCRIBE_PAUSE 300)
and none at the 200 ms one.
Last line: "vad_quality: N passed, M failed".
"""
import array
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RATE = 16000
SILENCE_MS = 700
PAUSE_MS = 300
THRESHOLD = 0.5
ONSET_MS = 100
END_MS = 60
TRIM_DB = 40.0  # ground-truth speech: frames within 40 dB of the clip's loudest

SENTENCES = {
    "A": ["I have worked on distributed systems for about five years",
          "Mostly in Go and some C",
          "The hardest part was the storage layer",
          "We moved from a single database to sharded clusters",
          "It took about a year"],
    "B": ["My favourite project was a payment service",
          "It handled thousands of requests per second",
          "Latency mattered a lot",
          "I would say teamwork is my strongest skill",
          "I like to pair on difficult problems"],
    "C": ["Sure, let me think about that",
          "In my last role I led a team of four engineers",
          "We shipped a new search feature every quarter",
          "Testing was always part of the plan",
          "I learned to say no to scope creep"],
    "D": ["Yes",
          "Three years at a small startup, then two at a bank",
          "Python, mostly",
          "Thank you for asking",
          "That is all from me"],
}
VOICES = [("en-us", 140, "A"), ("en-gb", 180, "B"), ("en-us", 180, "C"),
          ("en-gb", 140, "D"), ("en-us+f3", 160, "B")]
NOISES = [None, ("pinknoise", 20), ("pinknoise", 10), ("brownnoise", 20), ("brownnoise", 10)]
PAUSES = [(600, 200), (400,)]  # inside answer 1 and answer 2
LEAD_MS, GAP_MS, TAIL_MS = 1000, 1500, 1500


def need_tools():
    missing = [t for t in ("espeak-ng", "sox", "gcc") if not shutil.which(t)]
    if missing:
        pkgs = [p for p in ("espeak-ng", "sox") if p in missing]
        if pkgs:
            subprocess.run(["apt-get", "install", "-y", "-qq"] + pkgs, check=False,
                           stdout=subprocess.DEVNULL)
            if any(not shutil.which(p) for p in pkgs):
                subprocess.run(["apt-get", "update", "-qq"], check=False)
                subprocess.run(["apt-get", "install", "-y", "-qq"] + pkgs, check=True,
                               stdout=subprocess.DEVNULL)


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == RATE
        a = array.array("h")
        a.frombytes(w.readframes(w.getnframes()))
    if sys.byteorder != "little":
        a.byteswap()
    return a


def write_wav(path, samples):
    a = array.array("h", samples)
    if sys.byteorder != "little":
        a.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(a.tobytes())


def rms(a):
    return math.sqrt(sum(x * x for x in a) / len(a)) if a else 0.0


def utterance(tmp, voice, speed, text, idx):
    raw = os.path.join(tmp, "u%d_raw.wav" % idx)
    out = os.path.join(tmp, "u%d.wav" % idx)
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text], check=True)
    subprocess.run(["sox", "-R", raw, "-r", str(RATE), "-c", "1", "-b", "16", out], check=True)
    a = read_wav(out)
    f = RATE // 100
    levels = [rms(a[i:i + f]) for i in range(0, len(a) - f + 1, f)]
    peak = max(levels)
    on = [i for i, lv in enumerate(levels) if lv > 0 and 20 * math.log10(lv / peak) > -TRIM_DB]
    return a[on[0] * f:(on[-1] + 1) * f]


def noise(tmp, kind, seconds, seed):
    out = os.path.join(tmp, "%s_%d.wav" % (kind, seed))
    # -R: repeatable; vol 0.5 leaves headroom (scaled again below)
    subprocess.run(["sox", "-R", "-n", "-r", str(RATE), "-c", "1", "-b", "16", out,
                    "synth", "%.3f" % seconds, kind, "vol", "0.5"], check=True)
    return read_wav(out)


def build_condition(tmp, voice, speed, sset):
    """Clean signal, truth [(onset_ms, end_ms, [pause (start_ms, len_ms)])], speech RMS."""
    utts = [utterance(tmp, voice, speed, t, i) for i, t in enumerate(SENTENCES[sset])]
    sig = array.array("h", [0] * (LEAD_MS * RATE // 1000))
    truth, speech = [], array.array("h")
    k = 0
    for ai, pauses in enumerate(PAUSES):
        onset = len(sig) * 1000 / RATE
        plist = []
        for j in range(len(pauses) + 1):
            sig.extend(utts[k])
            speech.extend(utts[k])
            k += 1
            if j < len(pauses):
                plist.append((len(sig) * 1000 / RATE, pauses[j]))
                sig.extend([0] * (pauses[j] * RATE // 1000))
        truth.append((onset, len(sig) * 1000 / RATE, plist))
        sig.extend([0] * ((GAP_MS if ai + 1 < len(PAUSES) else TAIL_MS) * RATE // 1000))
    return sig, truth, rms(speech)


def emph_energy(a, lo, hi):
    return sum((a[i] - 0.97 * a[i - 1]) ** 2 for i in range(max(lo, 1), hi))


def audible(truth, sig, nz, gain):
    """truth with each answer's onset and end moved to audible frames."""
    f = RATE // 100
    out = []
    for onset, end, plist in truth:
        frames = range(int(onset * RATE / 1000) // f, int(end * RATE / 1000) // f)
        ok = [i for i in frames
              if emph_energy(sig, i * f, i * f + f) >= gain * gain * emph_energy(nz, i * f, i * f + f)]
        out.append((ok[0] * f * 1000 / RATE, (ok[-1] + 1) * f * 1000 / RATE, plist) if ok else (onset, end, plist))
    return out


def mix(sig, nz, gain):
    return [max(-32768, min(32767, int(round(s + gain * n)))) for s, n in zip(sig, nz)]


def run_vad(binary, path):
    out = subprocess.run([binary, "-t", str(THRESHOLD), "-s", str(SILENCE_MS), "-p", str(PAUSE_MS), path],
                         check=True, capture_output=True, text=True).stdout
    return [e for e in map(json.loads, out.splitlines()) if "event" in e]


def judge(events, truth):
    """(onset errors, end errors, false ends, onset ok, end ok, noends ok, pause info)."""
    starts = [e for e in events if e["event"] == "speech_started"]
    stops = [e for e in events if e["event"] == "speech_stopped"]
    pauses = [e for e in events if e["event"] == "pause"]
    on_err, lat, end_err, false_ends, on_ok, end_ok = [], [], [], 0, True, True
    pause_hit = pause_expected = pause_false = 0
    used_starts = 0
    for onset, end, plist in truth:
        win_lo, win_hi = onset - 500, end + SILENCE_MS + 500
        s_in = [e for e in starts if win_lo <= e["pos_ms"] <= win_hi]
        used_starts += len(s_in)
        if s_in:
            err = s_in[0]["pos_ms"] - onset
            lat.append(s_in[0]["at_ms"] - onset)
            on_err.append(err)
            on_ok &= abs(err) <= ONSET_MS
        else:
            on_err.append(None)
            lat.append(None)
            on_ok = False
        if len(s_in) != 1:
            false_ends += max(0, len(s_in) - 1)
        premature = [e for e in stops if onset < e["at_ms"] < end + SILENCE_MS - END_MS]
        false_ends += len(premature)
        good = [e for e in stops if onset < e["at_ms"] <= win_hi and e not in premature]
        if good:
            err = good[0]["at_ms"] - end - SILENCE_MS
            end_err.append(err)
            end_ok &= abs(err) <= END_MS
        else:
            end_err.append(None)
            end_ok = False
        for pstart, plen in plist:
            hit = any(abs(e["pos_ms"] - pstart) <= 100 for e in pauses)
            if plen >= PAUSE_MS:
                pause_expected += 1
                pause_hit += hit
            else:
                pause_false += hit
    stray = len(starts) - used_starts
    noends_ok = false_ends == 0 and stray == 0
    return (on_err, lat, end_err, false_ends + stray, on_ok, end_ok, noends_ok,
            (pause_hit, pause_expected, pause_false))


def fmt(vals):
    return "/".join("miss" if v is None else "%+.0f" % v for v in vals)


def main():
    args = sys.argv[1:]
    binary, keep = None, None
    build_out = os.path.join(ROOT, "build", "vad_eval")
    while args:
        a = args.pop(0)
        if a == "--bin":
            binary = args.pop(0)
        elif a == "--build":
            build_out = args.pop(0)
        elif a == "--keep":
            keep = args.pop(0)
        else:
            sys.exit(__doc__)
    need_tools()
    if binary is None:
        os.makedirs(os.path.dirname(os.path.abspath(build_out)), exist_ok=True)
        subprocess.run(["gcc", "-std=c17", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + os.path.join(ROOT, "src"),
                        "-o", build_out, os.path.join(ROOT, "tests/vad/vad_eval.c"),
                        os.path.join(ROOT, "src/parse/vad.c")], check=True)
        binary = build_out
    tmp = keep or tempfile.mkdtemp(prefix="vadq")
    os.makedirs(tmp, exist_ok=True)
    passed = failed = 0
    print("%-22s %-13s %-10s %-10s %-10s %-9s %-11s %-10s %s" % (
        "condition", "onset_err_ms", "latency", "end_err_ms", "end_clean", "false_end",
                                                      "noise_start", "pauses", "result"))
    seed = 1
    for voice, speed, sset in VOICES:
        sig, truth, srms = build_condition(tmp, voice, speed, sset)
        for nz in NOISES:
            name = "%s/%d/%s/%s" % (voice, speed, sset, "clean" if nz is None else "%s%d" % (nz[0][:4], nz[1]))
            base = os.path.join(tmp, name.replace("/", "_"))
            if nz is None:
                mixed, alone, truth_a = list(sig), [0] * (10 * RATE), truth
            else:
                seed += 1
                n = noise(tmp, nz[0], len(sig) / RATE + 10.5, seed)
                gain = srms / (10 ** (nz[1] / 20)) / rms(n)
                mixed = mix(sig, n, gain)
                alone = mix([0] * (10 * RATE), n[len(sig):len(sig) + 10 * RATE], gain)
                truth_a = audible(truth, sig, n, gain)
            write_wav(base + ".wav", mixed)
            write_wav(base + "_noise.wav", alone)
            events = run_vad(binary, base + ".wav")
            on_err, lat, end_err, fends, on_ok, end_ok, noends_ok, pinfo = judge(events, truth_a)
            end_clean = judge(events, truth)[2]
            nstarts = sum(e["event"] == "speech_started" for e in run_vad(binary, base + "_noise.wav"))
            oks = [on_ok, end_ok, noends_ok, nstarts == 0]
            passed += sum(oks)
            failed += len(oks) - sum(oks)
            bad = [k for k, ok in zip(("onset", "end", "noends", "noise"), oks) if not ok]
            print("%-22s %-13s %-10s %-10s %-10s %-9d %-11d %-10s %s" % (
                name, fmt(on_err), fmt(lat), fmt(end_err), fmt(end_clean), fends, nstarts,
                "%d/%d +%d" % pinfo, "ok" if not bad else "FAIL " + ",".join(bad)), flush=True)
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    print("vad_quality: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
