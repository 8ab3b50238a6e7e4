# Shared by the experiment scripts: start training runs as parallel processes on the one GPU.
#
# launch NAME ARGS...  starts `python -m minifb train ARGS... --out results/NAME` in the
# background, with --resume when the run has a checkpoint, and skips finished runs (final.json).
# Every run stops before an epoch that would end after TIME_LIMIT seconds, so that one
# invocation of a script fits a 10-minute command; run the script again to continue.
# finish waits for all of them and says which runs are finished.

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
export PYTHONPATH=. PYTHONUNBUFFERED=1
# Many processes share the machine's cores: one BLAS/OpenMP thread each keeps them from fighting.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
TIME_LIMIT=${TIME_LIMIT:-480}
SEEDS=${SEEDS:-0 1 2}
EPOCHS=${EPOCHS:-20}
RESULTS=${RESULTS:-results}
DEVICE=${DEVICE:-cuda}
EXTRA=${EXTRA:-}  # more train options for every run, e.g. EXTRA="--limit-train 1024" for a smoke test
names=()

launch() {
    local name=$1; shift
    local out="$RESULTS/$name"
    names+=("$name")
    if [ -f "$out/final.json" ]; then
        return
    fi
    local resume=()
    [ -f "$out/checkpoint.npz" ] && resume=(--resume)
    mkdir -p "$out"
    # shellcheck disable=SC2086  # EXTRA is a list of options: split on purpose
    python -m minifb train "$@" --epochs "$EPOCHS" --device "$DEVICE" --out "$out" "${resume[@]}" \
        --time-limit "$TIME_LIMIT" --no-progress $EXTRA >>"$out/log.txt" 2>&1 &
}

finish() {
    wait
    local missing=0
    for name in "${names[@]}"; do
        local out="$RESULTS/$name"
        if [ -f "$out/final.json" ]; then
            echo "finished   $name: $(python -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"test accuracy {r['test_accuracy']:.4f}\")" "$out/final.json")"
        else
            missing=1
            local last=$(tail -n 1 "$out/metrics.jsonl" 2>/dev/null | python -c "import json,sys; t=sys.stdin.read(); print(json.loads(t)['epoch'] if t else 0)")
            echo "unfinished $name: $last epochs done; last log line: $(tail -n 1 "$out/log.txt" 2>/dev/null)"
        fi
    done
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader 2>/dev/null
    if [ $missing = 0 ]; then echo "all finished"; else echo "not finished: run the script again"; fi
}
