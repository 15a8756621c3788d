"""Generate realistic two-party Russian telephony test calls with exact ground truth.

Why: the benchmark needs more, and longer, calls than the three in /work/shared/samples, built
the same way so scores on both sets are comparable.  Every call is assembled from real human
speech whose text is known (Asterisk's Russian IVR prompts), so the reference is exact.

Each call ``call-gen-NNN``:

- ``.wav``: 8 kHz stereo PCM16, left = operator, right = client.  Turns alternate operator /
  client starting with the operator, 0.4-2 s of digital silence apart, 1 s tail.  The operator
  side is the prompt untouched; the client side is the same voice made to sound like another
  phone: resampled by +-8-12 % (pitch and tempo move together), band-limited to 300-3300 Hz,
  passed through GSM 6.10, white noise at 30 dB SNR.  Odd-numbered calls put the client on
  hold right after a client turn: 15-25 s of music on hold (at -6 dB) on the operator channel.
- ``.mono.mp3``: the two channels averaged, MP3 32 kbit/s CBR, as cloud PBXs serve calls.
- ``manifest.json``: the schema of the shared samples' manifest.

Unlike the shared samples, whose client voice is ~20 % lower with almost unchanged tempo and
whose MP3s came from ffmpeg, the client here is plainly resampled (no time-scale step) and the
MP3 comes from libsndfile's LAME (same 32 kbit/s CBR MPEG-2.5 stream, no ID3 tag).

Deterministic: call i draws from ``numpy.random.default_rng([seed, i])``, so a call does not
depend on ``--count`` and reruns are byte-identical.

    python benchmarks/make_calls.py --out DIR --count N --seed S \
        [--min-seconds 60 --max-seconds 240]

Sources: Debian asterisk-core-sounds-ru-wav (voice Maxim Topal / ivrvoice.ru, CC-BY-3.0) and
asterisk-moh-opsound-wav (CC-BY-SA).  Keep this attribution wherever a call is copied.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

RATE = 8000
PROMPTS = Path("/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU")
TEXTS = Path("/usr/share/doc/asterisk-core-sounds-ru/core-sounds-ru.txt.gz")
MOH = Path("/usr/share/asterisk/moh")
PACKAGES = {
    PROMPTS: "asterisk-core-sounds-ru-wav",
    TEXTS: "asterisk-core-sounds-ru",
    MOH: "asterisk-moh-opsound-wav",
}
SOURCE = (
    "Debian asterisk-core-sounds-ru-wav (ru_RU_f_IvrvoiceRU, CC-BY-3.0, Maxim Topal, "
    "ivrvoice.ru); music on hold: asterisk-moh-opsound-wav (CC-BY-SA)"
)
LAYOUT = "stereo: left=operator, right=client"
SPEAKERS = ("operator", "client")
PROMPT_SECONDS = (1.0, 35.0)  # shorter ones are lone words (digits, letters)
PAUSE_SECONDS = (0.4, 2.0)
HOLD_SECONDS = (15.0, 25.0)
TAIL_SECONDS = 1.0
PITCH_SHIFT = (0.08, 0.12)
BAND_HZ = (300.0, 3300.0)
SNR_DB = 30.0
MOH_GAIN = 0.5  # the shared samples play the music at -6 dB
# libsndfile picks the CBR bitrate of 8 kHz (MPEG-2.5) MP3 as int(64 - 56 * level) kbit/s; the
# epsilon keeps float rounding from truncating 32 to 31.
MP3_LEVEL = (64 - 32) / (64 - 8) - 1e-9


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str  # path under PROMPTS without ".wav", e.g. "followme/options"
    text: str
    audio: np.ndarray  # float64 mono at RATE


def _present(path: Path) -> bool:
    return path.is_file() or any(path.glob("*.wav"))


def ensure_sources() -> None:
    """Install the Debian sound packages when missing (as root), else say how and exit 2."""
    missing = sorted({pkg for path, pkg in PACKAGES.items() if not _present(path)})
    if not missing:
        return
    args = ["install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        print(f"missing sound packages; run:\n  sudo apt-get {' '.join(args)}", file=sys.stderr)
        sys.exit(2)
    apt = shutil.which("apt-get") or "/usr/bin/apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Fixed argument list, no shell: only the known package names are ever passed.
    subprocess.run([apt, *args], check=True, env=env)  # noqa: S603


def read_texts() -> dict[str, str]:
    """Prompt name -> what is said, from the ``name: text`` lines of the Debian text list."""
    texts: dict[str, str] = {}
    with gzip.open(TEXTS, "rt", encoding="utf-8") as lines:
        for line in lines:
            name, sep, text = line.partition(":")
            if line.startswith(";") or not sep:
                continue
            name = name.strip()
            # One entry repeats its own name ("conf-adminmenu: conf-adminmenu: ..."); not said.
            texts[name] = " ".join(text.split()).removeprefix(f"{name}:").strip()
    return texts


def is_speech(text: str) -> bool:
    # "[beep tone]" and "(1 second of silence)" describe sounds; "Точка [.]" names a symbol.
    return bool(text) and not text.startswith(("[", "(")) and "[" not in text


def read_mono(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float64", always_2d=True)
    mono = audio.mean(axis=1)
    return np.asarray(mono if rate == RATE else soxr.resample(mono, rate, RATE))


def load_prompts() -> list[Prompt]:
    """Every prompt with a known spoken text and a sentence-like length, in name order."""
    prompts = []
    for name, text in sorted(read_texts().items()):
        path = PROMPTS / f"{name}.wav"
        if not is_speech(text) or not path.is_file():
            continue
        audio = read_mono(path)
        if PROMPT_SECONDS[0] <= len(audio) / RATE <= PROMPT_SECONDS[1]:
            prompts.append(Prompt(name, text, audio))
    return prompts


def bandpass(taps: int = 129) -> np.ndarray:
    """Windowed-sinc FIR for the telephone band; linear phase keeps the turn times exact."""
    n = np.arange(taps) - (taps - 1) / 2
    low, high = (f / RATE for f in BAND_HZ)
    kernel: np.ndarray = 2 * high * np.sinc(2 * high * n) - 2 * low * np.sinc(2 * low * n)
    return kernel * np.hamming(taps)


BANDPASS = bandpass()


def gsm_roundtrip(audio: np.ndarray) -> np.ndarray:
    """Encode and decode GSM 6.10 (the mobile full-rate codec) through libsndfile, in memory."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), RATE, format="WAV", subtype="GSM610")
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float64")
    return np.asarray(decoded[: len(audio)])  # GSM pads to whole 320-sample blocks


def client_voice(audio: np.ndarray, pitch: float, rng: np.random.Generator) -> np.ndarray:
    """Make the same speaker sound like a different person on a mobile line."""
    # Declaring the prompt as sampled at RATE * pitch and converting it to RATE scales every
    # frequency by `pitch` and the duration by 1 / pitch: a PSOLA-free pitch shift.
    shifted = soxr.resample(audio, RATE * pitch, RATE)
    phone = gsm_roundtrip(np.convolve(shifted, BANDPASS, mode="same"))
    noise_rms = np.sqrt(np.mean(phone**2)) * 10 ** (-SNR_DB / 20)
    return phone + rng.normal(0.0, noise_rms, len(phone))


def music_clip(music: list[np.ndarray], frames: int, rng: np.random.Generator) -> np.ndarray:
    track = music[int(rng.integers(len(music)))]
    if len(track) < frames:
        track = np.tile(track, frames // len(track) + 1)
    start = int(rng.integers(len(track) - frames + 1))
    return MOH_GAIN * track[start : start + frames]


def seconds(frames: int) -> float:
    return round(frames / RATE, 2)


def build_call(
    index: int,
    seed: int,
    prompts: list[Prompt],
    music: list[np.ndarray],
    span: tuple[float, float],
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One call: float stereo audio (frames, 2) and its turns in manifest form."""
    rng = np.random.default_rng([seed, index])
    target = int((rng.uniform(*span) - TAIL_SECONDS) * RATE)  # keep adding turns until here
    limit = int((span[1] - TAIL_SECONDS) * RATE)  # no turn may end after this
    pitch = 1.0 + float(rng.choice([-1.0, 1.0]) * rng.uniform(*PITCH_SHIFT))
    hold = int(rng.uniform(*HOLD_SECONDS) * RATE) if index % 2 else 0
    # Hold after the 2nd-4th client turn, so the operator is the one who comes back.
    hold_after = 2 * int(rng.integers(2, 5)) if hold else -1
    pieces: list[tuple[int, int, np.ndarray]] = []  # (channel, start frame, audio)
    turns: list[dict[str, Any]] = []
    used: set[str] = set()  # texts, so no words are said twice in one call
    cursor = spoken = 0
    while True:
        if spoken == hold_after:
            pieces.append((0, cursor, music_clip(music, hold, rng)))
            end = cursor + hold
            turns.append(
                {"speaker": "hold", "start": seconds(cursor), "end": seconds(end), "text": ""}
            )
            cursor, hold = end, 0  # no more room to reserve for it
        if cursor >= target and spoken > hold_after:  # the operator is back from any hold
            break
        side = spoken % 2
        start = cursor + int(rng.uniform(*PAUSE_SECONDS) * RATE)
        room = (limit - start - hold) * (pitch if side else 1.0) - RATE // 50  # resample slack
        fits = [p for p in prompts if p.text not in used and len(p.audio) <= room]
        if not fits:
            break
        prompt = fits[int(rng.integers(len(fits)))]
        audio = client_voice(prompt.audio, pitch, rng) if side else prompt.audio
        pieces.append((side, start, audio))
        turns.append(
            {
                "speaker": SPEAKERS[side],
                "start": seconds(start),
                "end": seconds(start + len(audio)),
                "prompt": prompt.name,
                "text": prompt.text,
            }
        )
        used.add(prompt.text)
        cursor, spoken = start + len(audio), spoken + 1
    stereo = np.zeros((cursor + int(TAIL_SECONDS * RATE), 2))
    for channel, start, audio in pieces:
        stereo[start : start + len(audio), channel] = audio
    return stereo, turns


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    # Scale by 32768 so untouched prompts (read as int16 / 32768) come back bit-exact.
    return np.clip(np.round(audio * 32768), -32768, 32767).astype(np.int16)


def write_call(out: Path, name: str, stereo: np.ndarray) -> None:
    pcm = to_pcm16(stereo)
    sf.write(out / f"{name}.wav", pcm, RATE, subtype="PCM_16")
    mono = to_pcm16(pcm.astype(np.float64).mean(axis=1) / 32768)
    mp3 = {"format": "MP3", "subtype": "MPEG_LAYER_III", "bitrate_mode": "CONSTANT"}
    sf.write(out / f"{name}.mono.mp3", mono, RATE, compression_level=MP3_LEVEL, **mp3)


def manifest_entry(name: str, frames: int, turns: list[dict[str, Any]]) -> dict[str, Any]:
    def said_by(speaker: str) -> str:
        return " ".join(t["text"] for t in turns if t["speaker"] == speaker)

    return {
        "name": name,
        "wav": f"{name}.wav",
        "duration_s": seconds(frames),
        "layout": LAYOUT,
        "turns": turns,
        "operator_text": said_by("operator"),
        "client_text": said_by("client"),
        "mp3_mono": f"{name}.mono.mp3",
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--count", type=int, default=10, help="number of calls")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    parser.add_argument("--min-seconds", type=float, default=60.0)
    parser.add_argument("--max-seconds", type=float, default=240.0)
    args = parser.parse_args(argv)
    shortest = HOLD_SECONDS[1] + 20  # a hold call needs the music plus a few turns around it
    if args.count < 1 or args.seed < 0 or not 0 < args.min_seconds <= args.max_seconds:
        parser.error("need --count >= 1, --seed >= 0, 0 < --min-seconds <= --max-seconds")
    if args.max_seconds < shortest:
        parser.error(f"need --max-seconds >= {shortest:g}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_sources()
    prompts = load_prompts()
    music = [read_mono(path) for path in sorted(MOH.glob("*.wav"))]
    args.out.mkdir(parents=True, exist_ok=True)
    span = (args.min_seconds, args.max_seconds)
    calls = []
    for index in range(args.count):
        name = f"call-gen-{index:03d}"
        stereo, turns = build_call(index, args.seed, prompts, music, span)
        write_call(args.out, name, stereo)
        calls.append(manifest_entry(name, len(stereo), turns))
        print(f"{name}: {len(stereo) / RATE:.1f} s, {len(turns)} turns")
    manifest = {"source": SOURCE, "sample_rate": RATE, "calls": calls}
    text = json.dumps(manifest, ensure_ascii=False, indent=1)
    (args.out / "manifest.json").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
