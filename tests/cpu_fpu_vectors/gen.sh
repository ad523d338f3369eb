#!/bin/sh
# Regenerate tests/cpu_fpu_vectors/vectors.txt: build gen.c for riscv64 and run
# it under Debian's qemu-riscv64 (packages gcc-riscv64-linux-gnu, qemu-user).
# Usage: gen.sh [vectors-per-op [seed [out-file]]]  (defaults: 16, 0, vectors.txt)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-16}
seed=${2:-0}
out=${3:-$here/vectors.txt}
bin=$(mktemp /tmp/fpu-vectors.XXXXXX)
trap 'rm -f "$bin"' EXIT
riscv64-linux-gnu-gcc -O1 -static -march=rv64gc -mabi=lp64d -o "$bin" "$here/gen.c"
{
  echo "# FPU vectors from qemu-riscv64 $(qemu-riscv64 --version | head -n 1 | sed 's/.*version //'), n=$n seed=$seed"
  echo "# op rm a b c result fflags (hex); regenerate with tests/cpu_fpu_vectors/gen.sh"
  qemu-riscv64 "$bin" "$n" "$seed"
} >"$out"
wc -l "$out"
