#!/usr/bin/env bash
# Installs the third-party Consul clients the interop tests drive, pinned, into
# target/interop/ (idempotent: a finished install is left alone).
#   npm:  consul 2.0.1 (node-consul 2.x) and consul 0.13.0 (what consul-locker runs on)
#   PyPI: python-consul 1.1.0 and py-consul 1.8.0 (both are the module `consul`, so each gets
#         its own directory)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/target/interop"
mkdir -p "$dir"
need=()
command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3 python3-pip)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} from Debian's packages" >&2
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -f "$dir/node/.done" ]; then
    rm -rf "$dir/node" && mkdir -p "$dir/node"
    (cd "$dir/node" && echo '{"name":"lockd-interop","private":true}' > package.json &&
        npm install --no-audit --no-fund --loglevel=error \
            consul2@npm:consul@2.0.1 consul013@npm:consul@0.13.0 >/dev/null)
    touch "$dir/node/.done"
fi
for pkg in python-consul==1.1.0 py-consul==1.8.0; do
    name="${pkg%%==*}"
    if [ ! -f "$dir/py/$name/.done" ]; then
        rm -rf "$dir/py/$name"
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$dir/py/$name" "$pkg"
        touch "$dir/py/$name/.done"
    fi
done
echo "interop clients ready in $dir"
