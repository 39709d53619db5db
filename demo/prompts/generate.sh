#!/bin/sh
# Regenerates the bundled demo prompts: 8 kHz, 16-bit, mono WAV.
# Needs espeak-ng and sox (Debian packages espeak-ng, sox).
# Usage: demo/prompts/generate.sh        (run from anywhere)
set -eu
cd "$(dirname "$0")"
VOICE=${VOICE:-en-us}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() { # say NAME "TEXT"
    espeak-ng -v "$VOICE" -s 155 -w "$tmp/raw.wav" "$2"
    # -D: no dither, so the output is the same from run to run
    sox -D -V1 "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$1.wav" \
        norm -3 pad 0.05 0.15
}

say welcome "Thank you for calling the Switchboard demo."
say menu "For sales, press 1. For support, press 2. To leave a message, press 3."
say invalid "Sorry, that is not a valid choice."
say closed "Our office is closed. Our hours are Monday to Friday, 8 A M to 6 P M."
say queue-busy "All our agents are busy. Please hold, and your call will be answered in turn."
say queue-position "You are caller number"
say queue-wait "Your estimated wait time is"
say minutes "minutes"
say minute "minute"
say seconds "seconds"
say second "second"
say voicemail "Please leave a message after the tone. Press the pound key when you are finished."
say goodbye "Thank you for calling. Goodbye."
say no-agents "Sorry, no agents are available right now."
say transfer "Please hold while we transfer your call."

n=0
while [ $n -le 19 ]; do say "digits/$n" "$n"; n=$((n + 1)); done
for n in 20 30 40 50 60 70 80 90; do say "digits/$n" "$n"; done
say digits/hundred "hundred"
say digits/thousand "thousand"

# Hold music: an eight-bar progression of plucked chords (each bar a chord and
# an echo an octave up), played twice: 32 s that loop cleanly. Synthesised with
# sox, so it carries no third-party rights. Notes are semitones from A4 (%N).
i=0
for chord in "-9 -5 -26" "-12 -9 -24" "-16 -12 -28" "-14 -10 -26" \
             "-9 -5 -21" "-17 -14 -29" "-16 -12 -31" "-14 -7 -26"; do
    # shellcheck disable=SC2086
    set -- $chord
    sox -D -n -r 8000 -b 16 -c 3 "$tmp/t3.wav" synth 1 pluck "%$1" pluck "%$2" pluck "%$3"
    sox -D "$tmp/t3.wav" -c 1 "$tmp/a.wav" remix - gain -6
    sox -D -n -r 8000 -b 16 -c 2 "$tmp/t2.wav" synth 1 pluck "%$(($2 + 12))" pluck "%$1"
    sox -D "$tmp/t2.wav" -c 1 "$tmp/b.wav" remix - gain -8
    sox "$tmp/a.wav" "$tmp/b.wav" "$tmp/bar$i.wav"
    i=$((i + 1))
done
sox "$tmp"/bar?.wav "$tmp/bars.wav"
sox -D "$tmp/bars.wav" -r 8000 -c 1 -b 16 -e signed-integer hold-music.wav repeat 1 norm -6

ls -l ./*.wav digits/*.wav | awk '{ total += $5 } END { print NR " prompts, " total " bytes" }'
