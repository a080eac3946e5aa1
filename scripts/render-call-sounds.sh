#!/usr/bin/env bash
# Renders the guardian-call prompts into Asterisk sound files. ARI has no text-to-speech: the telephony
# service plays "sound:protectogram/<name>" (AriProvider, services/telephony/ari/ari_provider.h), and this
# script makes the file behind each name beforehand, with espeak-ng, then sox (or ffmpeg) for Asterisk's
# formats: 8 kHz mono 16-bit WAV (<name>.wav) and raw mu-law (<name>.ulaw, what a G.711 trunk plays without
# transcoding).
#
# The name rule is PromptSoundName (libs/providers/ari/ari.h), so the two always agree without a registry:
#   name = "prompt-" + the first 16 hex digits of sha256("<language>|<text>")
# e.g. printf '%s|%s' ru-RU 'Нажмите 1' | sha256sum | cut -c1-16  ->  prompt-5fe0255f054ffae3.
# The text must be byte for byte the prompt the service sends (UTF-8, no trailing newline), and the language
# exactly its language ("ru-RU"): a changed text is a new file, never a stale one.
#
# Usage:
#   scripts/render-call-sounds.sh OUT_DIR [PROMPTS_FILE]
#     PROMPTS_FILE (or standard input): one prompt per line, "<language><TAB><text>"; blank lines and lines
#     starting with '#' are skipped; a CR before the newline is dropped.
#   Environment: ESPEAK_SPEED (words per minute, default 150), ESPEAK_VOICE (an espeak-ng voice for every
#   line; default: from the language, "ru-RU" -> ru, "en-US" -> en-us), FORCE=1 (render files that exist).
#   Writes OUT_DIR/<name>.wav and OUT_DIR/<name>.ulaw per prompt, and OUT_DIR/manifest.tsv
#   ("<name><TAB><language><TAB><text>", appended).
# Then install them where Asterisk looks for sound:protectogram/<name>:
#   install -m 0644 OUT_DIR/prompt-* /var/lib/asterisk/sounds/protectogram/
#   (Asterisk tries sounds/<lang>/protectogram/ first and falls back to sounds/protectogram/; the language is
#   in the name already.)
#
# Needs (Debian packages): espeak-ng, and sox or ffmpeg. Not run by the tests.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}
[[ $# -ge 1 && $# -le 2 ]] || usage
out_dir=$1
input=${2:-/dev/stdin}
[[ -r $input ]] || { echo "cannot read $input" >&2; exit 2; }
speed=${ESPEAK_SPEED:-150}

command -v espeak-ng >/dev/null || { echo "espeak-ng is required (apt-get install espeak-ng)" >&2; exit 1; }
if command -v sox >/dev/null; then
  converter=sox
elif command -v ffmpeg >/dev/null; then
  converter=ffmpeg
else
  echo "sox or ffmpeg is required (apt-get install sox)" >&2
  exit 1
fi
mkdir -p "$out_dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# PromptSoundName: printf, not echo, so the text is hashed exactly as given.
sound_name() { printf 'prompt-%s' "$(printf '%s|%s' "$1" "$2" | sha256sum | cut -c1-16)"; }

# The espeak-ng voice for a language tag: the whole tag when espeak-ng has it ("en-us"), else its primary
# subtag ("ru-RU" -> "ru").
voices=$(espeak-ng --voices | awk 'NR > 1 { print $2 }')
voice_for() {
  if [[ -n ${ESPEAK_VOICE:-} ]]; then
    echo "$ESPEAK_VOICE"
    return
  fi
  local tag=${1,,}
  tag=${tag//_/-}
  if grep -qxF -- "$tag" <<<"$voices"; then echo "$tag"; else echo "${tag%%-*}"; fi
}

convert() {  # convert IN.wav OUT_BASE
  case $converter in
    sox)
      sox "$1" -r 8000 -c 1 -b 16 -e signed-integer "$2.wav"
      sox "$1" -r 8000 -c 1 -t ul "$2.ulaw"
      ;;
    ffmpeg)
      ffmpeg -nostdin -loglevel error -y -i "$1" -ar 8000 -ac 1 -c:a pcm_s16le "$2.wav"
      ffmpeg -nostdin -loglevel error -y -i "$1" -ar 8000 -ac 1 -f mulaw "$2.ulaw"
      ;;
  esac
}

rendered=0
skipped=0
while IFS= read -r line || [[ -n $line ]]; do
  line=${line%$'\r'}
  [[ -z $line || $line == \#* ]] && continue
  if [[ $line != *$'\t'* ]]; then
    echo "skipping a line without a TAB: $line" >&2
    continue
  fi
  language=${line%%$'\t'*}
  text=${line#*$'\t'}
  name=$(sound_name "$language" "$text")
  if [[ -z ${FORCE:-} && -s "$out_dir/$name.wav" && -s "$out_dir/$name.ulaw" ]]; then
    skipped=$((skipped + 1))
    continue
  fi
  # -b 1: the text is UTF-8; given on standard input so no character of it is taken as an option.
  printf '%s' "$text" | espeak-ng -b 1 -v "$(voice_for "$language")" -s "$speed" -w "$tmp/raw.wav"
  convert "$tmp/raw.wav" "$out_dir/$name"
  printf '%s\t%s\t%s\n' "$name" "$language" "$text" >>"$out_dir/manifest.tsv"
  echo "$name  $language  $text"
  rendered=$((rendered + 1))
done <"$input"
echo "rendered $rendered, already there $skipped, in $out_dir" >&2
