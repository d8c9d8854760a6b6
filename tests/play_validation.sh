#!/bin/sh
# play_xvfb_validation: the default world in a window under Xvfb (lavapipe)
# with Vulkan's validation layer on, while the window is resized five times
# (down to 200x150), unmapped and mapped again (what minimise/restore does to
# the swapchain), and F9 stops the PNG recording and starts an mp4; scripted
# prompt switches and look run meanwhile. Fails when the layer did not load,
# printed any message, or a resize did not reach the swapchain.
#   play_validation.sh XVFB_RUN WORLDLOOP WORKDIR
set -u
xvfb_run=$1 worldloop=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
command -v xdotool >/dev/null || { echo "FAIL: xdotool is not installed (scripts/lib.sh installs it)"; exit 1; }
cat > "$work/actions.json" <<'JSON'
[{"frame": 0, "keys": ["forward"]}, {"frame": 30, "prompt": "snowy forest"}, {"frame": 45, "keys": ["look_left"]},
 {"frame": 60, "prompt": "lava night"}, {"frame": 150, "prompt": "snowy forest"}]
JSON
cat > "$work/drive.sh" <<EOF2
#!/bin/sh
cd "$work"
"$worldloop" play --frames 400 --vk-validation --actions "$work/actions.json" --record "$work/rec" \
  --screenshot "$work/shot.png" > "$work/log.txt" 2>&1 &
pid=\$!
w=
for i in \$(seq 600); do
  w=\$(xdotool search --name worldloop 2>/dev/null | head -1)
  [ -n "\$w" ] && [ -e "$work/rec/frame_000005.png" ] && break
  sleep 0.2
done
[ -n "\$w" ] || { echo "FAIL: no window"; kill \$pid; exit 1; }
for size in "900 500" "401 301" "1280 720" "200 150" "1000 700"; do xdotool windowsize \$w \$size; sleep 1.5; done
xdotool windowunmap \$w; sleep 2; xdotool windowmap \$w; sleep 2
xdotool key --window \$w F9; sleep 2; xdotool key --window \$w F9; sleep 1
xdotool windowsize \$w 640 360; sleep 1.5
wait \$pid
EOF2
timeout 280 "$xvfb_run" -a -s '-screen 0 1280x720x24' sh "$work/drive.sh"
rc=$?
cat "$work/log.txt"
[ $rc -eq 0 ] || { echo "FAIL: play exited with $rc"; exit 1; }
grep -q "Vulkan validation layer on" "$work/log.txt" || { echo "FAIL: the validation layer did not load"; exit 1; }
n=$(grep -c '^vulkan:' "$work/log.txt")
[ "$n" -eq 0 ] || { echo "FAIL: $n validation messages"; exit 1; }
# The last resize reached the swapchain: the screenshot is the window's size.
size=$(od -An -tu1 -j16 -N8 "$work/shot.png" | tr -s ' ' | sed 's/^ //')
[ "$size" = "0 0 2 128 0 0 1 104" ] || { echo "FAIL: screenshot is not 640x360 (IHDR bytes: $size)"; exit 1; }
ls "$work"/worldloop-*.mp4 >/dev/null 2>&1 || { echo "FAIL: F9 did not start an mp4 recording"; exit 1; }
echo "validation messages: 0 over 400 frames, 6 resizes, an unmap/map, two F9 presses"
