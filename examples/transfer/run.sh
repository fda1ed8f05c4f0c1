#!/usr/bin/env bash
# The transfer example end to end (about 30 s on 2 cores): pre-train on the digits 0-4, then
# learn 5-9 from 10 labels per class, from scratch and from the pre-trained frozen backbone, three
# seeds each; prints each run's held-out accuracy, the mean and spread of both, and a compare.
#   examples/transfer/run.sh [--store PATH]     (default store: ./.torchrack/runs.sqlite)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
torchrack="${TORCHRACK:-torchrack}"
store=(); [ "${1:-}" = "--store" ] && store=(--store "$2")
"$torchrack" run "$here/pretrain.toml" "${store[@]}" --no-progress
pre=$("$torchrack" runs show latest "${store[@]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
ids=()
for kind in scratch transfer; do
    for seed in 0 1 2; do
        "$torchrack" run "$here/$kind.toml" "${store[@]}" --no-progress --set run.seed=$seed \
            --set data.dataset.params.label_seed=$seed \
            $([ $kind = transfer ] && echo "--set model.backbone.params.run=\"$pre\"") >/dev/null
        ids+=("$("$torchrack" runs show latest "${store[@]}" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')")
    done
done
"$torchrack" runs compare "${ids[0]}" "${ids[3]}" "${store[@]}"
for id in "${ids[@]}"; do "$torchrack" runs show "$id" "${store[@]}" --json; done | python3 -c '
import json, statistics, sys
dec = json.JSONDecoder(); text = sys.stdin.read(); i = 0; recs = []
while i < len(text):
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    rec, i = dec.raw_decode(text, i); recs.append(rec)
for kind in ("scratch", "pretrained"):
    acc = [r["final_metrics"]["accuracy"] for r in recs if kind in r["name"]]
    print(json.dumps({"model": kind, "runs": [r["run_id"] for r in recs if kind in r["name"]],
                      "accuracy": acc, "mean": statistics.mean(acc), "stdev": statistics.stdev(acc)}))
'
