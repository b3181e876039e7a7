#!/usr/bin/env bash
# Our bench example next to the peer scripts of benches/peers (PyTorch, numpy), interleaved in
# rounds so that both sides see the same machine, then a table of ratios: the median over the
# rounds, each round's ratio in brackets. The workloads: docs/workloads.md.
#
#   scripts/compare-peers.sh [rounds]            (default 3)
#
# Environment:
#   PEERS_VENV  the virtualenv of benches/peers/requirements.txt (default ~/peers-venv)
#   PEERS_DIR   the folder of the peer scripts (default benches/peers of this repository)
#   DATA_DIR    the folder of the Fashion-MNIST IDX files (default: the bench's default,
#               /usr/share/datasets/fashion-mnist)
#   BENCH       a bench executable to use instead of building `--release --example bench`
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

die() {
    printf 'compare-peers: %s\n' "$*" >&2
    exit 1
}

rounds=${1:-3}
[[ $rounds =~ ^[1-9][0-9]{0,2}$ ]] || die "usage: $0 [rounds], rounds a whole number from 1 to 999, found '$rounds'"
venv=${PEERS_VENV:-$HOME/peers-venv}
peers=${PEERS_DIR:-$root/benches/peers}
make_venv="python3 -m venv $venv && $venv/bin/pip install -r $root/benches/peers/requirements.txt"
[ -x "$venv/bin/python" ] ||
    die "no virtualenv at $venv (PEERS_VENV): make it with: $make_venv"
"$venv/bin/python" -c 'import numpy, threadpoolctl, torch' 2> /dev/null ||
    die "the virtualenv $venv lacks numpy, threadpoolctl or torch: $venv/bin/pip install -r $root/benches/peers/requirements.txt"
for script in torch_mlp.py numpy_mlp.py; do
    [ -f "$peers/$script" ] || die "no $script in $peers (PEERS_DIR)"
done
data=()
if [ -n "${DATA_DIR:-}" ]; then
    data=(--data "$DATA_DIR")
fi
if [ -n "${BENCH:-}" ]; then
    bench=$BENCH
else
    cargo build --release --example bench --manifest-path "$root/Cargo.toml"
    bench="$root/target/release/examples/bench"
fi
[ -x "$bench" ] || die "$bench is not an executable"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# field KEY LINE: the value of KEY=value in a line of key=value pairs.
field() {
    local pattern="(^| )$1=([^ ]*)( |$)"
    [[ $2 =~ $pattern ]] || return 1
    printf '%s\n' "${BASH_REMATCH[2]}"
}

# measure NAME WORKLOAD THREADS "KEY..." COMMAND...: runs COMMAND, prints its result line (the
# last line holding workload=), checks its workload and threads, and appends the value of each
# KEY, a positive number, to the list of values[NAME.KEY] (one value per round).
declare -A values
measure() {
    local name=$1 workload=$2 threads=$3 keys=$4 line key value
    shift 4
    if ! "$@" > "$tmp/out" 2> "$tmp/err"; then
        cat "$tmp/out" "$tmp/err" >&2
        die "$name failed (its output is above): $*"
    fi
    line=$(grep -E '(^| )workload=' "$tmp/out" | tail -n 1) ||
        die "$name printed no line with workload=…: $(cat "$tmp/out" "$tmp/err")"
    printf '%-12s %s\n' "$name" "$line"
    if ! { [ "$(field workload "$line")" = "$workload" ] && [ "$(field threads "$line")" = "$threads" ]; }; then
        die "$name: expected workload=$workload threads=$threads in: $line"
    fi
    for key in $keys; do
        value=$(field "$key" "$line") || die "$name: no $key= in: $line"
        if ! { [[ $value =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] &&
            awk -v v="$value" 'BEGIN { exit !(v > 0) }'; }; then
            die "$name: $key=$value is not a positive number in: $line"
        fi
        values[$name.$key]+="${values[$name.$key]:+ }$value"
    done
}

# peer SCRIPT ARGS...: a peer script, run from its folder with the virtualenv's Python.
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines set, can slow numpy's BLAS.
peer() {
    local script=$1
    shift
    (cd "$peers" && exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venv/bin/python" "$script" "$@")
}

# The median of a list of numbers separated by spaces (the mean of the middle two for an even
# count), in awk.
median='
    function median(list,   v, n, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) {
            t = v[i]
            for (j = i - 1; j >= 1 && v[j] + 0 > t + 0; j--) v[j + 1] = v[j]
            v[j + 1] = t
        }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }'

# row LABEL UNIT LOWER_IS_BETTER "OURS..." PEER "THEIRS...": one line of the table, the medians of
# both sides and the median of the per-round ratios, ours over theirs (theirs over ours for a
# latency) so that above 1 means nn is faster.
row() {
    awk -v label="$1" -v unit="$2" -v lower="$3" -v ours="$4" -v peer="$5" -v theirs="$6" '
        '"$median"'
        function grouped(x,   s, r) {
            s = sprintf("%.0f", x)
            r = ""
            while (length(s) > 3) {
                r = "," substr(s, length(s) - 2) r
                s = substr(s, 1, length(s) - 3)
            }
            return s r
        }
        function show(x) { return unit == "us" ? sprintf("%.1f µs", x) : grouped(x) }
        BEGIN {
            n = split(ours, a, " ")
            if (split(theirs, b, " ") != n || n == 0) exit 1
            for (i = 1; i <= n; i++) {
                r = lower ? b[i] / a[i] : a[i] / b[i]
                ratios = ratios (i > 1 ? " " : "") r
                each = each (i > 1 ? ", " : "") sprintf("%.2f", r)
            }
            printf "| %s | %s | %s %s | %.2f× [%s] |\n", label, show(median(ours)), peer,
                show(median(theirs)), median(ratios), each
        }'
}

# figures LABEL FORMAT "OURS..." PEER "THEIRS..." [PEER "THEIRS..."]: a line of the table without
# a ratio, the medians only (printed with the awk FORMAT).
figures() {
    awk -v label="$1" -v format="$2" -v ours="$3" -v peers="$4|$6" -v theirs="$5|$7" '
        '"$median"'
        BEGIN {
            n = split(peers, p, "|")
            split(theirs, t, "|")
            for (i = 1; i <= n; i++) {
                if (p[i] != "") others = others (others != "" ? "; " : "") p[i] " " sprintf(format, median(t[i]))
            }
            printf "| %s | %s | %s | |\n", label, sprintf(format, median(ours)), others
        }'
}

cpu=$(lscpu 2> /dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
load=$(cut -d ' ' -f 1-3 /proc/loadavg 2> /dev/null || echo unknown)
echo "CPU: ${cpu:-unknown (no lscpu)}; $(nproc) CPUs online; load average $load (other work skews the ratios: BLAS threads suffer most); $(date -u '+%Y-%m-%d %H:%M UTC'); $rounds round(s)"
"$bench" --workload fma-peak --threads 1 || die "$bench --workload fma-peak failed"
for round in $(seq "$rounds"); do
    echo "# round $round of $rounds"
    w1_keys="samples_per_s test_accuracy peak_rss_mib"
    measure nn_w1_t2 w1 2 "$w1_keys" "$bench" --workload w1 --threads 2 "${data[@]}"
    measure nn_w1_t1 w1 1 samples_per_s "$bench" --workload w1 --threads 1 "${data[@]}"
    measure torch_w1_t2 w1 2 "$w1_keys" peer torch_mlp.py --workload w1 --threads 2 "${data[@]}"
    measure numpy_w1_t2 w1 2 "$w1_keys" peer numpy_mlp.py --workload w1 --threads 2 "${data[@]}"
    measure nn_w2_t2 w2 2 samples_per_s "$bench" --workload w2 --threads 2 "${data[@]}"
    measure numpy_w2_t2 w2 2 samples_per_s peer numpy_mlp.py --workload w2 --threads 2 "${data[@]}"
    measure nn_w3_t2 w3 2 "batch1000_samples_per_s batch1_median_us" \
        "$bench" --workload w3 --threads 2 "${data[@]}"
    measure torch_w3_t2 w3 2 "batch1000_samples_per_s batch1_median_us" \
        peer torch_mlp.py --workload w3 --threads 2 "${data[@]}"
done

echo
echo "CPU: ${cpu:-unknown}; medians over $rounds round(s), each round's ratio in brackets; a ratio above 1 means nn is faster"
echo
echo "| comparison | nn | peer | ratio: median [per round] |"
echo "|---|---|---|---|"
sps=samples_per_s
row "W1 train 784-256-128-10 ReLU, 2 threads, samples/s" n 0 \
    "${values[nn_w1_t2.$sps]}" PyTorch "${values[torch_w1_t2.$sps]}"
row "W1 train, 2 threads, samples/s" n 0 "${values[nn_w1_t2.$sps]}" numpy "${values[numpy_w1_t2.$sps]}"
row "W1 speed-up 1 → 2 threads (nn), samples/s" n 0 \
    "${values[nn_w1_t2.$sps]}" "nn 1 thread" "${values[nn_w1_t1.$sps]}"
figures "W1 test accuracy (5 epochs, seed 0)" "%.4f" "${values[nn_w1_t2.test_accuracy]}" \
    PyTorch "${values[torch_w1_t2.test_accuracy]}" numpy "${values[numpy_w1_t2.test_accuracy]}"
figures "W1 peak RSS, MiB" "%.0f" "${values[nn_w1_t2.peak_rss_mib]}" \
    PyTorch "${values[torch_w1_t2.peak_rss_mib]}" numpy "${values[numpy_w1_t2.peak_rss_mib]}"
row "W2 train 784-100-10 sigmoid, 2 threads, samples/s" n 0 \
    "${values[nn_w2_t2.$sps]}" numpy "${values[numpy_w2_t2.$sps]}"
row "W3 inference batch 1000, 2 threads, samples/s" n 0 \
    "${values[nn_w3_t2.batch1000_$sps]}" PyTorch "${values[torch_w3_t2.batch1000_$sps]}"
row "W3 inference batch 1, median latency" us 1 \
    "${values[nn_w3_t2.batch1_median_us]}" PyTorch "${values[torch_w3_t2.batch1_median_us]}"
