#!/usr/bin/env bash
# `make checkpoints`: retrain every shipped checkpoint with the command recorded beside it in checkpoints/*.json
# (hours on 2 CPU cores; minutes on a GPU). Wall-clock-capped runs (--minutes) reach fewer iterations on a
# slower machine: compare with the "iterations" field of the record.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
run() { echo "== $*"; "$PY" "$@"; }
run scripts/train_mnist_classifier.py --epochs 6
PY="$PY" bash scripts/train_hw2_energy_chain.sh  # HW2's energy: three runs and an average (see the script)
run scripts/train_vqvae.py --data mnist
run scripts/train_vqvae.py --data fashion
run scripts/train_hoda_gans.py --only classifier referee controls
# DCGAN GAN / WGAN / WGAN-GP and the instance-noise GAN, 20,000 generator steps each, two seeds (resumable:
# --resume), then copied to checkpoints/ in float16
for s in 0 1; do run scripts/train_hoda_gans.py --models gan gan-noise wgan wgan-gp --seed "$s" --steps 20000 --resume; done
run scripts/train_hoda_gans.py --publish
run scripts/train_ebm_mnist_conditional.py --minutes 40 --ce-weight 1
# notebook 06's unconditional MNIST EBMs: three variants x two seeds, 2,500 iterations each; the seed-0 buffer run
# continued to 10,000 iterations from its state (a copy, so that the 2,500-iteration state stays as it is)
for v in noise buffer decay; do
  run scripts/train_ebm_mnist.py --variant "$v" --iters 2500
  run scripts/train_ebm_mnist.py --variant "$v" --seed 1 --iters 2500 --out "ebm_mnist_${v}_seed1.pt"
done
cp runs/ebm_mnist_buffer_seed0_state.pt runs/ebm_mnist_buffer_long_seed0_state.pt
run scripts/train_ebm_mnist.py --variant buffer --iters 10000 --resume --state runs/ebm_mnist_buffer_long_seed0_state.pt --out ebm_mnist_buffer_long.pt
run scripts/train_jem.py --method jem --minutes 30 --lr 3e-5 --px-weight 0.1
run scripts/train_jem.py --method jempp --minutes 30 --lr 3e-5 --px-weight 0.1
run scripts/train_jem.py --method jem --proximal --iters 472 --minutes 600 --lr 3e-5 --px-weight 0.1 --out jem_jemprox.pt
