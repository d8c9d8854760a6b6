#!/bin/sh
# play_xvfb_save_load: F5 and F8 pressed in a real window under Xvfb
# (lavapipe), through xdotool: F5 must write a state file and F8 must go back
# to it; the log says both, and the screenshot is taken after the load.
#   play_save_load_keys.sh XVFB_RUN WORLDLOOP WORKDIR
# Exit 77 (skipped) without xdotool.
set -u
xvfb_run=$1 worldloop=$2 work=$3
command -v xdotool >/dev/null 2>&1 || { echo "SKIP: xdotool is not installed"; exit 77; }
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
cat > keys.sh <<'SH'
"$1" play --frames 360 --config play.json --screenshot shot.png > log.txt 2>&1 &
pid=$!
win=
for i in $(seq 1 900); do
  win=$(xdotool search --name '^worldloop$' 2>/dev/null | head -1)
  [ -n "$win" ] && break
  sleep 0.1
done
[ -n "$win" ] || { echo "FAIL: no window appeared"; kill $pid; exit 1; }
sleep 3  # the first frames
xdotool windowfocus --sync "$win"
xdotool mousemove --window "$win" 640 300  # over the picture, not a panel
xdotool key F5
sleep 2
xdotool keydown Left; sleep 1; xdotool keyup Left
xdotool key F8
wait $pid
SH
timeout 240 "$xvfb_run" -a -s '-screen 0 1280x720x24' sh keys.sh "$worldloop"
rc=$?
cat log.txt
[ $rc -eq 0 ] || { echo "FAIL: play exited with $rc"; exit 1; }
state=$(ls worldloop-*-1.state 2>/dev/null | head -1)
[ -n "$state" ] || { echo "FAIL: F5 wrote no state file"; exit 1; }
grep -q "saved the world after frame .* to $state" log.txt || { echo "FAIL: the log does not say F5 saved $state"; exit 1; }
grep -q "loaded $state" log.txt || { echo "FAIL: the log does not say F8 loaded $state"; exit 1; }
[ -s shot.png ] || { echo "FAIL: no screenshot"; exit 1; }
echo "F5 saved and F8 loaded $state"
