#!/usr/bin/env bash
# The hostile and careless runs of issue #23 that are not tests (they take seconds to minutes and up to
# 2.5 GB of disk): builds each input under $WORK, runs the task as `deno task` would (its permissions, default
# limits unless a case sets one), and prints a markdown row per case: exit code, peak RSS (/usr/bin/time -v),
# seconds, whether results/ holds just what it should (the folder of a run that succeeded, no partial
# folder), and the last stderr line. Run from the repository root: bash tests/hardening/round3_cases.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-/tmp/hans-round3}
rm -rf "$WORK" && mkdir -p "$WORK"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)} NO_COLOR=1
ENVS=XDG_RUNTIME_DIR,DENO_WEBGPU_BACKEND,IMAGESCRIPT_WASM_SIMD,HANS_MAX_READ_MB,HANS_MAX_MEGAPIXELS,HANS_MAX_MEMORY_MB
RUN=(deno run --allow-read --allow-write=results --allow-env=$ENVS --allow-sys=systemMemoryInfo cli.ts)

row() { # name, env assignments (or -), then the task's arguments
  local name=$1 envs=$2; shift 2
  local out=results/round3-$RANDOM$RANDOM
  local start=$(date +%s%N)
  if [ "$envs" = - ]; then envs=; fi
  env $envs /usr/bin/time -v -o "$WORK/time" "${RUN[@]}" "$@" --out "$out" >/dev/null 2>"$WORK/stderr"
  local code=$?
  local tenths=$((($(date +%s%N) - start) / 100000000))
  local rss=$(awk -F': ' '/Maximum resident/ {printf "%d", $2/1024}' "$WORK/time")
  local line=$(grep -v '^error: XDG_RUNTIME_DIR\|^\s*$\|Command exited' "$WORK/stderr" | tail -1 | cut -c1-230)
  # What the run left in results/: its folder when it succeeded, nothing else (no partial folder).
  local left=$(find results -maxdepth 1 -name "*${out#results/}*" | wc -l)
  local expected=$((code == 0 ? 1 : 0))
  local leftover=$([ "$left" -eq "$expected" ] && echo ok || echo "LEFT $left")
  printf '| %s | %s | %s | %d.%d | %s | `%s` |\n' "$name" "$code" "$rss" $((tenths / 10)) $((tenths % 10)) \
    "$leftover" "${line//|/\\|}"
  rm -rf "$out"
}

deno run --allow-write="$WORK" --allow-read --allow-env tests/hardening/round3_inputs.ts "$WORK" >/dev/null || exit 1

echo "| case | exit | peak RSS (MB) | seconds | results/ | last stderr line |"
echo "| --- | --- | --- | --- | --- | --- |"
row "model.json naming one 15 MB file 200 times, HANS_MAX_READ_MB=16" HANS_MAX_READ_MB=16 \
  contrastive --model "$WORK/same200" --images "$WORK/folder16" --labels "$WORK/labels10.txt"
row "model.json naming 200 links to one 15 MB file (15 MB declared)" HANS_MAX_READ_MB=16 \
  contrastive --model "$WORK/links200" --images "$WORK/folder16" --labels "$WORK/labels10.txt"
row "model.json declaring 3 GB of weights" - \
  contrastive --model "$WORK/declared3g" --images "$WORK/folder16" --labels "$WORK/labels10.txt"
row "CIFAR folder of ten 255 MB sparse files" - clever-hans --dataset "cifar10:$WORK/sparse" --quick
row "250 MB model.json of nested arrays" - \
  contrastive --model "$WORK/nested" --images "$WORK/folder16" --labels "$WORK/labels10.txt"
row "one honest 250 MB CIFAR batch, clever-hans --quick" - clever-hans --dataset "cifar10:$WORK/honest.bin" --quick
row "four 1000x1000 PNGs, clever-hans (flatten head)" - \
  clever-hans --dataset "folder:$WORK/big1000" --quick --shortcut 0=square
row "four 1000x1000 PNGs, clever-hans --head average" - \
  clever-hans --dataset "folder:$WORK/big1000" --quick --shortcut 0=square --head average
row "a 2 KB model with UpSampling2D(400)" - \
  contrastive --model "$WORK/upsample" --images "$WORK/folder16" --labels "$WORK/labels10.txt"
row "clever-hans --quick --train-size 10 --test-size 10" - clever-hans --quick --train-size 10 --test-size 10
row "an all-one-class CIFAR batch" - clever-hans --dataset "cifar10:$WORK/oneclass.bin" --quick
row "contrastive, a model whose mistakes no map explains" - \
  contrastive --model "$WORK/constant" --images "$WORK/folder16" --labels "$WORK/labels10.txt"
row "contrastive, a mistyped --model" - contrastive --model "$WORK/missing"
row "--train-size 1e15" - clever-hans --train-size 1e15
