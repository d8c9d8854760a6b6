# Shared set-up for scripts/test and scripts/play: install what is missing from
# Debian's packages (apt-get update only when something is missing), configure
# and build with every core. Sourced, not run.
set -euo pipefail

WL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WL_BUILD="${WL_BUILD:-$WL_ROOT/build}"

# Debian packages the build, the tests and the app need.
WL_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  ocl-icd-opencl-dev opencl-c-headers  # Debian's dnnl-config.cmake links OpenCL::OpenCL (its GPU runtime)
  libgtest-dev libdnnl-dev nlohmann-json3-dev
  libsdl2-dev libvulkan-dev glslc libimgui-dev libstb-dev
  mesa-vulkan-drivers vulkan-validationlayers xvfb xauth xdotool  # xdotool: keys into the window's tests
  libsentencepiece-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev  # mp4 recording (H.264, in-process)
  libboost-dev libturbojpeg0-dev  # worldloop serve: Boost.Beast HTTP/WebSocket, JPEG frames
  chromium chromium-driver python3-selenium  # its test in a real (headless) browser
  python3-torch python3-numpy python3-sentencepiece libopenblas0-pthread
)

wl_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

wl_install_packages() {
  local missing=()
  for p in "${WL_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "worldloop: installing ${missing[*]}"
    wl_sudo apt-get update -qq
    wl_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

wl_configure_and_build() {
  local gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  if [ ! -f "$WL_BUILD/CMakeCache.txt" ]; then
    cmake -S "$WL_ROOT" -B "$WL_BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
  fi
  cmake --build "$WL_BUILD" --parallel "$(nproc)"
}
