#!/usr/bin/env bash
# Builds the differential test programs (tests/programs/src -> bin) with
# Debian's riscv64-linux-gnu-gcc (and golang-go for gothreads) and regenerates their expected outputs with
# Debian's qemu-riscv64 (qemu-user), for every case in tests/programs/cases.txt.
# Binaries and expected outputs are committed: tests never need the toolchain.
# Usage: scripts/build-test-programs.sh      Read next: tests/unit/cpu/diff_test.ts
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tests/programs/src"
bin="$root/tests/programs/bin"
exp="$root/tests/programs/expected"
CC=${CC:-riscv64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-riscv64}
command -v "$CC" >/dev/null || { echo "need $CC (apt install gcc-riscv64-linux-gnu)" >&2; exit 1; }
command -v "$QEMU" >/dev/null || { echo "need $QEMU (apt install qemu-user)" >&2; exit 1; }
command -v go >/dev/null || { echo "need go (apt install golang-go)" >&2; exit 1; }

# Freestanding, static, no libc; rv64gc so the compiler also emits 16-bit code.
CFLAGS=(-march=rv64gc -mabi=lp64d -O2 -static -nostdlib -ffreestanding -fno-builtin
  -fno-stack-protector -fno-pie -no-pie -fno-asynchronous-unwind-tables -Wall -Wno-unused-variable
  -Wl,-z,separate-code -Wl,--build-id=none)
RT=("$src/lib/start.s" "$src/lib/rt.c")

build() { # name, extra args...
  local name=$1
  shift
  "$CC" "${CFLAGS[@]}" -o "$bin/$name" "${RT[@]}" "$@" -lgcc
}

mkdir -p "$bin" "$(dirname "$bin")/bare-bin" "$exp"
build int "$src/int.c"
build atomic "$src/atomic.c"
build compressed "$src/compressed.c"
build csr "$src/csr.c"
build fencei "$src/fencei.c" "$src/fencei_code.s" -Wl,--no-warn-rwx-segments
build fp_s -DPREC=32 "$src/fp.c"
build fp_d -DPREC=64 "$src/fp.c"
build args "$src/args.c"
build fault "$src/fault.c" -Wl,--no-warn-rwx-segments
build syscalls "$src/syscalls.c"
build badargs "$src/badargs.c"
build rand "$src/rand.c"
build bench_int "$src/bench_int.c"
build bench_fp "$src/bench_fp.c"
# Hosted programs: static glibc (and libm, pthreads), stripped (smaller, and no temp names).
"$CC" -march=rv64gc -mabi=lp64d -O2 -static -s -Wall -o "$bin/glibc" "$src/glibc.c" -lm
# Several harts on shared memory (AMO, LR/SC, mutex counters; RVWMO litmus): the --smp tests.
"$CC" -march=rv64gc -mabi=lp64d -O2 -static -s -Wall -pthread -o "$bin/smp" "$src/smp.c"
# The POSIX programs share one binary (src/posix.c picks one by its first argument).
objs="$(mktemp -d)"
for p in mmap files signals pthread; do
  "$CC" -march=rv64gc -mabi=lp64d -O2 -Wall -pthread -c -Dmain="${p}_main" -o "$objs/$p.o" "$src/$p.c"
done
"$CC" -march=rv64gc -mabi=lp64d -O2 -static -s -Wall -pthread -o "$bin/posix" "$src/posix.c" "$objs"/*.o
rm -rf "$objs"
# A static multi-threaded Go program, stripped (-s -w), with no build paths or VCS stamp
# (-trimpath, -buildvcs=false: the binary depends on the source only).
(cd "$src/gothreads" && GOOS=linux GOARCH=riscv64 CGO_ENABLED=0 \
  go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' -o "$bin/gothreads" .)
# One bare-metal S-mode guest, booted as a kernel (linked at 0x80200000; no
# expected output: tests/e2e/console_every_test.ts types at it), kept out of bin/, which holds
# the differential suite's programs only.
"$CC" -march=rv64gc -mabi=lp64d -nostdlib -static -fno-pie -no-pie -s -Wl,-Ttext=0x80200000 \
  -Wl,--build-id=none -Wl,-z,separate-code -o "$(dirname "$bin")/bare-bin/sbi_console" "$src/bare/sbi_console.s"
# The conformance programs (riscv-tests style, reporting through HTIF's
# tohost, so their symbols stay): M-mode ELFs at 0x80000000 for --bios, and
# the HTIF one again at 0x80200000 to be booted as the kernel.
# tests/e2e/conformance_test.ts runs them; their expected results are there.
conf="$src/conf"
conf_bin="$(dirname "$bin")/bare-bin"
conf_obj=$(mktemp -d)
trap 'rm -rf "$conf_obj"' EXIT
# Assembled to a fixed object name first: the ELF's file symbol names the
# object, and gcc's own temporary name would make every build differ.
conf_build() { # output name, source, extra flags...
  local name=$1 source=$2
  shift 2
  "$CC" -march=rv64gc -mabi=lp64d -I"$conf" "$@" -c -o "$conf_obj/$name.o" "$source"
  "$CC" -march=rv64gc -mabi=lp64d -nostdlib -nostartfiles -static -fno-pie -no-pie \
    -T "$conf/link.ld" -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
    ${CONF_BASE:+-Wl,--defsym=BASE=$CONF_BASE} -o "$conf_bin/$name" "$conf_obj/$name.o"
}
conf_build conf_htif_pass "$conf/htif_putchar.S" -DEXIT_CODE=0
conf_build conf_htif_fail "$conf/htif_putchar.S" -DEXIT_CODE=21
CONF_BASE=0x80200000 conf_build conf_htif_kernel "$conf/htif_putchar.S" -DEXIT_CODE=0
for t in csr asid sstc sv57; do conf_build "conf_$t" "$conf/$t.S"; done
echo "built: $(cd "$bin" && ls | tr '\n' ' ')"

# Expected outputs. A program killed by a signal gets status 128+signal, as a
# shell reports it; qemu's own stderr is not part of the comparison.
ulimit -c 0
rm -f "$exp"/*.out "$exp"/*.status
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  IFS='|' read -r -a f <<<"$line"
  name=${f[0]}
  prog=${f[1]}
  set +e
  env -i timeout 120 "$QEMU" "$bin/$prog" "${f[@]:2}" >"$exp/$name.out" 2>/dev/null
  status=$?
  set -e
  echo "$status" >"$exp/$name.status"
  printf '%-22s status %3d  %8d bytes\n' "$name" "$status" "$(wc -c <"$exp/$name.out")"
done <"$root/tests/programs/cases.txt"
