#!/usr/bin/env bash
# One-time (idempotent) set-up: Debian packages and the zonnx Python package.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(gcc gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
              device-tree-compiler gcc-multilib ninja-build cmake valgrind)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "Running pip as the 'root' user" || true
python3 -c "import zonnx, onnx; assert onnx.__version__ == '1.22.0', onnx.__version__"
echo "setup: ok (zonnx $(python3 -c 'import zonnx; print(zonnx.__version__)'), onnx 1.22.0)"
