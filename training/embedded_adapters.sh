#!/usr/bin/env bash
# Rebuild the adapters shipped for the embedded model (extractor_energy/embedded_adapters/): seeded,
# one command, CPU only (about 2 hours on 2 cores; OCR of the JPEG bills and the training steps dominate).
#
#   training/embedded_adapters.sh [WORK_DIR] [OUT_DIR]
#
# 1. synthetic bills per layout: 24 two-page PDFs (seed 1000, text layer), 8 clean JPEGs (seed 2000)
#    and 16 `--degrade mix` captures (seed 3000: phone photos of A4 sheets and rolls, scans, screenshots;
#    OCR);
# 2. prepare_dataset (stores each bill's page text once);
# 3. the generic adapter on seven layouts (copel_pr is left out: the onboarding benchmark's unseen
#    utility), rank 8, 96 steps, lr 1e-3, every contract field -> OUT_DIR/_generic (the fallback);
# 4. specialised adapters starting from the generic one (16 steps; 40 for CEMIG, whose month names
#    need more) -> OUT_DIR/<key>;
# 5. each adapter's extractor_metadata.json gets the generator version, the seeds and the captures it
#    was trained on (training/adapter_card.py).
# Held-out evaluation bills use other seeds (5000-8000): see benchmarks/accuracy.py.
set -euo pipefail
WORK=${1:-build/embedded-adapters}
OUT=${2:-extractor_energy/embedded_adapters}
export EXTRACTOR_MODEL=auto EXTRACTOR_TORCH_THREADS=${EXTRACTOR_TORCH_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
GENERIC_KEYS="EQUATORIAL:GO:equatorial_go ENEL:RJ:enel_rj CEMIG:MG:cemig_mg LIGHT:RJ:light_rj CPFL:SP:cpfl_sp ENERGISA:MT:energisa_mt CELESC:SC:celesc_sc"
SPECIALISED=${SPECIALISED:-"EQUATORIAL:GO:equatorial_go:16 CEMIG:MG:cemig_mg:40 LIGHT:RJ:light_rj:16 ENEL:RJ:enel_rj:16"}
COMMON=(--rank 8 --alpha 16 --dropout 0 --learning-rate 1e-3 --grad-accum 1 --batch-size 1 --warmup-ratio 0.1
        --seed 0 --text-max-tokens 768 --save-dtype float16 --no-eval)

datasets=()
for spec in $GENERIC_KEYS; do
  IFS=: read -r conc uf key <<< "$spec"
  extractor-energy synth "$WORK/bills/$key/pdf" --concessionaria "$conc" --uf "$uf" -n 24 --seed 1000 --format pdf
  extractor-energy synth "$WORK/bills/$key/jpg" --concessionaria "$conc" --uf "$uf" -n 8 --seed 2000 --format jpg
  extractor-energy synth "$WORK/bills/$key/mix" --concessionaria "$conc" --uf "$uf" -n 16 --seed 3000 --format jpg --degrade mix
  python training/prepare_dataset.py --data-dir "$WORK/bills/$key" --concessionaria "$conc" --uf "$uf" \
      --output-dir "$WORK/datasets/$key" --val-fraction 0.1
  datasets+=(--dataset "$WORK/datasets/$key")
done

python training/train_lora.py "${datasets[@]}" --output-dir "$OUT/_generic" --max-steps 96 "${COMMON[@]}" \
    --checkpoint-dir "$WORK/runs/_generic" --save-every 12

for spec in $SPECIALISED; do
  IFS=: read -r conc uf key steps <<< "$spec"
  python training/train_lora.py --dataset "$WORK/datasets/$key" --concessionaria "$conc" --uf "$uf" \
      --output-dir "$OUT/$key" --max-steps "$steps" --init-adapter "$OUT/_generic" "${COMMON[@]}" \
      --checkpoint-dir "$WORK/runs/$key"
done
python training/adapter_card.py "$OUT" --seeds 1000,2000,3000 --captures pdf,jpg,mix
du -sh "$OUT"
