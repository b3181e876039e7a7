#!/usr/bin/env bash
# Runs our bench example and the peer scripts of ../shared/bench/peers one after the other, in
# rounds, so that the ratios come from the same session (see the README's performance section).
#   PEERS_VENV=$HOME/peers-venv scripts/compare-peers.sh [rounds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
venv=${PEERS_VENV:?set PEERS_VENV to a virtualenv with ../shared/bench/peers/requirements.txt}
peers=${PEERS_DIR:-$root/../shared/bench/peers}
cargo build --release --example bench --manifest-path "$root/Cargo.toml"
bench="$root/target/release/examples/bench"
py() { (cd "$peers" && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venv/bin/python" "$@" --quiet-max-wait 0 2>/dev/null | tail -n 1); }
for round in $(seq "$rounds"); do
    echo "# round $round"
    "$bench" --workload w1 --threads 2
    "$bench" --workload w1 --threads 1
    py torch_mlp.py --workload train-mlp --threads 2
    py numpy_mlp.py --workload train-mlp --threads 2
    "$bench" --workload w2 --threads 2
    py numpy_mlp.py --workload train-small --threads 2
    "$bench" --workload w3 --threads 2
    py torch_mlp.py --workload infer --threads 2
done
