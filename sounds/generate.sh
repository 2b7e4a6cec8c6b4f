#!/usr/bin/env bash
# Regenerates the prompt recordings from prompts.tsv.
#
# Usage: ./generate.sh [lang...]
#
# Every row (lang, name, text) of prompts.tsv is spoken by espeak-ng and
# written by sox to <lang>/<name>.wav next to this script: 8000 Hz, mono,
# 16-bit signed PCM, leading and trailing silence trimmed, peak level
# normalised. With arguments, only the rows of those languages are made.
# The same table and the same espeak-ng and sox versions give byte-identical
# files, so running it again changes nothing.
set -euo pipefail

here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
cd "$here"

TABLE=prompts.tsv

missing=()
for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
	echo "generate.sh: missing ${missing[*]}." >&2
	echo "Install them first, for example:" >&2
	echo "  Debian/Ubuntu: apt-get install -y espeak-ng sox" >&2
	echo "  Fedora:        dnf install -y espeak-ng sox" >&2
	echo "  macOS:         brew install espeak-ng sox" >&2
	exit 1
fi

# espeak-ng voice for an Asterisk language code; a language not listed here
# uses the espeak-ng voice of the same name (see espeak-ng --voices).
voice() {
	case "$1" in
	en) echo en-us ;;
	es) echo es ;;
	*) echo "${1//_/-}" ;;
	esac
}

# Speaking rate in words per minute, a little slower than espeak-ng's 175
# so that prompts stay clear over a narrowband phone line.
speed() {
	case "$1" in
	es) echo 140 ;;
	*) echo 145 ;;
	esac
}

# Read and check the whole table before writing anything.
declare -A seen=()
langs=() names=() texts=()
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
	lineno=$((lineno + 1))
	line=${line%$'\r'}
	[[ -z $line || $line == \#* ]] && continue

	IFS=$'\t' read -r lang name text extra <<<"$line"
	if [[ -z ${lang:-} || -z ${name:-} || -z ${text:-} || -n ${extra:-} ]]; then
		echo "$TABLE:$lineno: want three tab-separated fields: lang, name, text" >&2
		exit 1
	fi
	if [[ ! $lang =~ ^[a-z]{2,3}(_[A-Za-z0-9]+)*$ ]]; then
		echo "$TABLE:$lineno: bad language code '$lang'" >&2
		exit 1
	fi
	if [[ ! $name =~ ^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$ ]]; then
		echo "$TABLE:$lineno: bad prompt name '$name'" >&2
		exit 1
	fi
	if [[ -n ${seen[$lang/$name]:-} ]]; then
		echo "$TABLE:$lineno: $lang $name already defined on line ${seen[$lang/$name]}" >&2
		exit 1
	fi
	seen[$lang/$name]=$lineno
	langs+=("$lang") names+=("$name") texts+=("$text")
done <"$TABLE"

# Languages to build: the arguments, or all of them.
declare -A want=()
for l in "$@"; do
	found=
	for k in "${!seen[@]}"; do
		[[ $k == "$l"/* ]] && found=1 && break
	done
	if [[ -z $found ]]; then
		echo "generate.sh: no rows for language '$l' in $TABLE" >&2
		exit 1
	fi
	want[$l]=1
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
for i in "${!langs[@]}"; do
	lang=${langs[$i]} name=${names[$i]} text=${texts[$i]}
	if ((${#want[@]} > 0)) && [[ -z ${want[$lang]:-} ]]; then
		continue
	fi

	out="$lang/$name.wav"
	mkdir -p "${out%/*}"

	# Speak at espeak-ng's native rate, UTF-8 text on stdin.
	printf '%s\n' "$text" |
		espeak-ng -v "$(voice "$lang")" -s "$(speed "$lang")" -b 1 --stdin -w "$tmp/raw.wav"

	# -R: repeatable output. -D: no dither, nothing random in the samples.
	# silence/reverse/silence/reverse trims both ends; gain -3 leaves headroom
	# so that rate -v (resampling to 8 kHz with a steep anti-aliasing filter)
	# cannot clip; norm sets the peak to -3 dBFS; pad leaves a short quiet
	# lead-in and tail so prompts played back to back do not run together.
	sox -R -D "$tmp/raw.wav" -b 16 -e signed-integer -c 1 "$tmp/out.wav" \
		silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
		gain -3 rate -v 8000 norm -3 pad 0.05 0.1

	mv -f "$tmp/out.wav" "$out"
	n=$((n + 1))
done

# Recordings with no row in the table are left alone but reported: they are
# either stale or someone's own recording that the table does not know.
while IFS= read -r -d '' f; do
	key=${f#./}
	key=${key%.wav}
	[[ -n ${seen[$key]:-} ]] || echo "generate.sh: $f has no row in $TABLE" >&2
done < <(find . -mindepth 2 -name '*.wav' -print0 | LC_ALL=C sort -z)

echo "generate.sh: wrote $n prompts"
