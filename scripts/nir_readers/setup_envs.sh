#!/usr/bin/env bash
# Make one virtual environment per NIR reader, with pinned versions, under .venv-nir/<reader>.
#
#   bash scripts/nir_readers/setup_envs.sh                 # all of them
#   bash scripts/nir_readers/setup_envs.sh sinabs spyx     # some
#   NIR_VENVS=/elsewhere bash scripts/nir_readers/setup_envs.sh
#
# Separate environments because the readers' pins conflict with the project's (Sinabs and
# Rockpool pin nir <= 1.0.4; mpe-psn needs nir >= 1.0.8). Each is used only through
# scripts/nir_readers/check_reader.py (compare.py runs it); the project's tests
# (tests/export/test_nir_readers.py) run a reader when its environment exists and skip otherwise.
#
# Versions measured on 2026-12-04 (Python 3.11, x86_64, no GPU). torch: the CPU wheel
# torch==2.13.0+cpu when pip can find it (this machine keeps it in a local wheel folder);
# otherwise torch==2.13.0 from PyPI (the large CUDA build, which also runs on a CPU).
#
# lava-dl is not installed: it is probed (see probe_lava_dl below) and the result written to
# .venv-nir/lava-dl-probe.json, which compare.py reports.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENVS="${NIR_VENVS:-$ROOT/.venv-nir}"
PYTHON="${PYTHON:-python3.11}"
mkdir -p "$VENVS"

torch_spec() {
  if "$1" -m pip download --no-deps --only-binary=:all: -d "$VENVS/.probe-torch" "torch==2.13.0+cpu" \
      >/dev/null 2>&1; then
    echo "torch==2.13.0+cpu"
  else
    echo "torch==2.13.0"
  fi
  rm -rf "$VENVS/.probe-torch"
}

make_env() {  # name, then the pip requirements
  local name="$1"; shift
  local env="$VENVS/$name"
  echo "== $name: $env"
  rm -rf "$env"
  "$PYTHON" -m venv "$env"
  local start=$SECONDS
  # (the machine's pip config lists local index folders that do not exist: drop those warnings)
  "$env/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
  "$env/bin/python" -m pip freeze > "$env/freeze.txt"
  echo "   installed in $((SECONDS - start)) s: $(grep -iE "^($name|nir|nirtorch|torch|jax|flax)==" "$env/freeze.txt" | tr '\n' ' ')"
}

setup_sinabs() {
  # samna (a Sinabs requirement) is installed but never imported: its PyPI package is a stub that
  # fetches the real package from another index at first import, which this machine cannot reach;
  # the Speck (dynapcnn) backend needs it, the NIR import and the simulation do not.
  make_env sinabs "$(torch_spec "$PYTHON")" sinabs==3.1.3 nir==1.0.4 nirtorch==2.0.2 numpy==2.4.6 h5py==3.16.0
}

setup_rockpool() {
  # rockpool[torch] without samna (the Xylo tools need the real samna; see setup_sinabs)
  make_env rockpool "$(torch_spec "$PYTHON")" "rockpool[torch]==3.1.0" nir==1.0.4 nirtorch==2.0.2 numpy==2.4.6 \
    h5py==3.16.0
}

setup_spyx() {
  make_env spyx spyx==1.0.0 jax==0.10.2 jaxlib==0.10.2 flax==0.12.8 optax==0.2.8 nir==1.0.8 numpy==2.4.6 h5py==3.16.0
}

probe_lava_dl() {
  # lava-dl's last release is 0.6.0 (lava-nc 0.10.0): Requires-Python >=3.10,<3.11, torch <2.4.
  # Its NIR bridge was proposed in a pull request to lava-dl that is not in any release. This
  # downloads the wheels (no install) and looks for any NIR code in them.
  local probe="$VENVS/.probe-lava-dl" out="$VENVS/lava-dl-probe.json"
  rm -rf "$probe"; mkdir -p "$probe"
  echo "== lava-dl (probe only)"
  local on311
  on311="$("$PYTHON" -m pip download --no-deps -d "$probe" lava-dl 2>&1 | grep -E "^ERROR" | head -2 | tr '\n' ' ' || true)"
  local py310="" found="" wheels=""
  for candidate in "$HOME/.pyenv/versions/3.10.13/bin/python" python3.10; do
    if "$candidate" -c "import sys; assert sys.version_info[:2] == (3, 10)" >/dev/null 2>&1; then
      py310="$candidate"; break
    fi
  done
  if [ -n "$py310" ] && "$py310" -m pip download -q --no-deps -d "$probe" lava-dl==0.6.0 lava-nc==0.10.0 >/dev/null 2>&1; then
    wheels="$(cd "$probe" && ls ./*.whl | xargs -n1 basename | tr '\n' ' ')"
    found="$(cd "$probe" && for w in ./*.whl; do unzip -Z1 "$w" | grep -iE '(^|/)nir[^/]*\.py$' || true; \
             unzip -p "$w" '*.py' 2>/dev/null | grep -cE '^\s*(import nir|from nir )' || true; done | tr '\n' ' ')"
  fi
  local py310_version=""
  [ -n "$py310" ] && py310_version="$("$py310" -c 'import platform; print(platform.python_version())')"
  "$PYTHON" - "$out" "$on311" "$py310_version" "$wheels" "$found" <<'EOF'
import json, sys
out, on311, py310, wheels, found = sys.argv[1:]
nir_files = [w for w in found.split() if not w.isdigit()]
imports = sum(int(w) for w in found.split() if w.isdigit())
json.dump({
    "status": "not installed: no NIR reader in lava-dl 0.6.0 or lava-nc 0.10.0, the latest releases" if wheels and not nir_files and not imports
              else "not installed",
    "pip_on_python_3_11": on311.strip(),
    "python_3_10_used_for_the_download": py310 or None,
    "wheels_inspected": wheels.split(),
    "nir_files_in_wheels": nir_files,
    "lines_importing_nir": imports,
}, open(out, "w"), indent=2)
print(f"   wrote {out}")
EOF
  rm -rf "$probe"
}

readers=("$@")
[ ${#readers[@]} -eq 0 ] && readers=(sinabs spyx rockpool lava-dl)
for reader in "${readers[@]}"; do
  case "$reader" in
    sinabs) setup_sinabs ;;
    spyx) setup_spyx ;;
    rockpool) setup_rockpool ;;
    lava-dl) probe_lava_dl ;;
    *) echo "unknown reader $reader (sinabs, spyx, rockpool, lava-dl)" >&2; exit 2 ;;
  esac
done
