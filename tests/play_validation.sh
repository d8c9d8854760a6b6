#!/bin/sh
# play_xvfb_validation: the default world in a window under Xvfb (lavapipe)
# with Vulkan's validation layer on, a scripted prompt switch and look, and a
# PNG recording. Fails when the layer did not load or printed any message.
#   play_validation.sh XVFB_RUN WORLDLOOP WORKDIR
set -u
xvfb_run=$1 worldloop=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
cat > "$work/actions.json" <<'JSON'
[{"frame": 0, "keys": ["forward"]}, {"frame": 30, "prompt": "snowy forest"}, {"frame": 45, "keys": ["look_left"]},
 {"frame": 60, "prompt": "lava night"}]
JSON
timeout 240 "$xvfb_run" -a -s '-screen 0 1280x720x24' "$worldloop" play --frames 90 --vk-validation \
  --actions "$work/actions.json" --record "$work/rec" --screenshot "$work/shot.png" > "$work/log.txt" 2>&1
rc=$?
cat "$work/log.txt"
[ $rc -eq 0 ] || { echo "FAIL: play exited with $rc"; exit 1; }
grep -q "Vulkan validation layer on" "$work/log.txt" || { echo "FAIL: the validation layer did not load"; exit 1; }
n=$(grep -c '^vulkan:' "$work/log.txt")
[ "$n" -eq 0 ] || { echo "FAIL: $n validation messages"; exit 1; }
echo "validation messages: 0 over 90 frames"
