#!/usr/bin/env bash
# Set up everything transformers-aasp needs on a fresh Debian/Ubuntu machine, idempotently:
#   1. system packages: ffmpeg (torchcodec / datasets 5 audio decoding, the pipeline's mp3 input),
#      espeak-ng (speech in the embedded default corpus) and the recordings of the real-audio corpus
#      (asterisk-core-sounds-{en,es,fr,it,ru}-wav, musescore-general-soundfont, sonic-pi-samples);
#   2. a virtualenv in $VENV (default .venv) with this package, editable, and its [dev] extra (= [train] + [demo] +
#      pytest and ruff; pyproject.toml says what each extra is for);
#   3. tinysoundfont without its declared pyaudio dependency (it renders offline without it, and pyaudio does
#      not build without PortAudio headers).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
recordings=(asterisk-core-sounds-{en,es,fr,it,ru}-wav musescore-general-soundfont sonic-pi-samples)
for package in "${recordings[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "[setup] missing system packages: ${missing[*]}. Install them, e.g.: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

stamp="$VENV/.aasp-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ corpora/pyproject.toml -nt "$stamp" ]; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  echo "[setup] installing transformers-aasp[dev] into $VENV (first time: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # the package and the repository's corpora plug-in (corpora/: the embedded and real-recordings corpora, not in the wheel)
  "$VENV/bin/python" -m pip install -q -e ".[dev]" -e ./corpora
  "$VENV/bin/python" -m pip install -q --no-deps "tinysoundfont>=0.3"
  touch "$stamp"
fi
echo "[setup] ready: $VENV"
