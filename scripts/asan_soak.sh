#!/usr/bin/env bash
# A long headless run of the default world under AddressSanitizer (leak
# checking on), its resident memory sampled as it plays. The frames go to a
# y4m recording, whose size says how many frames were made when each sample
# was taken. Prints one JSON object: RSS at the sample nearest each 1,000
# frames, the growth from frame 1,000 to the end, and the exit status (ASan
# reports leaks at exit and fails the run).
#   scripts/asan_soak.sh BUILD_DIR [FRAMES]   (BUILD_DIR configured with -DWORLDLOOP_SANITIZE=ON)
set -euo pipefail
build=${1:?usage: scripts/asan_soak.sh BUILD_DIR [FRAMES]}
frames=${2:-10000}
exe="$build/app/worldloop"
[[ -x "$exe" ]] || { echo "asan_soak: $exe is not built" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$exe" play --headless --frames "$frames" --threads 1 --record "$work/soak.y4m" \
  >"$work/stdout.txt" 2>"$work/stderr.txt" &
pid=$!
start=$(date +%s)
: >"$work/samples.txt"
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  size=$(stat -c %s "$work/soak.y4m" 2>/dev/null || echo 0)
  [[ -n "$rss" ]] && echo "$(($(date +%s) - start)) $size $rss" >>"$work/samples.txt"
  sleep 1
done
set +e
wait "$pid"
rc=$?
set -e
# Frame bytes from the y4m header: W x H x 1.5 (4:2:0) plus "FRAME\n".
header=$(head -c 200 "$work/soak.y4m" | head -n 1)
w=$(sed -E 's/.* W([0-9]+) .*/\1/' <<<"$header")
h=$(sed -E 's/.* H([0-9]+) .*/\1/' <<<"$header")
python3 - "$work/samples.txt" "$(( ${#header} + 1 ))" "$(( w * h * 3 / 2 + 6 ))" "$frames" "$rc" "$work/stderr.txt" <<'PY'
import json, sys
samples, header, frame_bytes, frames, rc, stderr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
rows = []
for line in open(samples):
    t, size, rss = map(int, line.split())
    rows.append((t, max(0, (size - header) // frame_bytes), rss))
at = {}
for k in [100] + list(range(1000, frames + 1, 1000)):
    near = min(rows, key=lambda r: abs(r[1] - k)) if rows else None
    if near: at[str(k)] = {"frame": near[1], "rss_kib": near[2]}
err = open(stderr, errors="replace").read()
out = {"frames": frames, "exit_code": rc, "seconds": rows[-1][0] if rows else 0,
       "rss_kib_at": at, "asan_reports": err.count("ERROR: AddressSanitizer") + err.count("ERROR: LeakSanitizer"),
       "ubsan_reports": err.count("runtime error:")}
if "1000" in at and str(frames) in at:
    out["rss_growth_kib_1000_to_end"] = at[str(frames)]["rss_kib"] - at["1000"]["rss_kib"]
print(json.dumps(out, indent=1))
if rc != 0:
    sys.stderr.write(err[-3000:])
PY
exit "$rc"
