/* Zicsr from user mode: every CSR instruction form (csrrw/csrrs/csrrc and the
 * immediate forms, with rd = x0 and rs1 = x0 variants) on fflags, frm and
 * fcsr and their aliases; the field views of fcsr; flag accrual across FP
 * operations; frm driving dynamic rounding. cycle/time/instret are only read
 * (their values differ between emulators): the check is that they do not
 * trap and do not run backwards. Read next: fencei.c. */
#include "lib/rt.h"

static void show(const char *what, u64 v) {
  out_str(what);
  out_sp();
  out_h64(v);
  out_nl();
}


static void show3(const char *what) {
  u64 f, r, c;
  asm volatile("csrr %0, fflags\n\tcsrr %1, frm\n\tcsrr %2, fcsr" : "=r"(f), "=r"(r), "=r"(c));
  out_str(what);
  out_str(" fflags ");
  out_h8(f);
  out_str(" frm ");
  out_h8(r);
  out_str(" fcsr ");
  out_h64(c);
  out_nl();
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  u64 old;
  /* Register forms. fcsr keeps only its low 8 bits. */
  asm volatile("csrrw %0, fcsr, %1" : "=r"(old) : "r"(0xffffffffffffffff));
  show("csrrw fcsr,-1 old", old);
  show3("after");
  asm volatile("csrrc %0, fcsr, %1" : "=r"(old) : "r"(0x35));
  show("csrrc fcsr,0x35 old", old);
  show3("after");
  asm volatile("csrrs %0, fcsr, %1" : "=r"(old) : "r"(0x104));
  show("csrrs fcsr,0x104 old", old);
  show3("after");
  asm volatile("csrrw %0, fflags, %1" : "=r"(old) : "r"(0x3e1));
  show("csrrw fflags,0x3e1 old", old);
  show3("after");
  asm volatile("csrrw %0, frm, %1" : "=r"(old) : "r"(0xfa));
  show("csrrw frm,0xfa old", old);
  show3("after");
  asm volatile("csrrs %0, frm, zero" : "=r"(old));
  show("csrrs frm,x0 (read only)", old);
  asm volatile("csrrc %0, fflags, zero" : "=r"(old));
  show("csrrc fflags,x0 (read only)", old);
  asm volatile("csrrw zero, fcsr, %0" : : "r"(0x5a));
  show3("csrrw x0,fcsr,0x5a");
  asm volatile("csrrs zero, fflags, %0" : : "r"(0x4));
  show3("csrrs x0,fflags,4");
  asm volatile("csrrc zero, frm, %0" : : "r"(0x1));
  show3("csrrc x0,frm,1");
  /* Immediate forms. */
  asm volatile("csrrwi %0, fcsr, 0x1f" : "=r"(old));
  show("csrrwi fcsr,0x1f old", old);
  show3("after");
  asm volatile("csrrsi %0, frm, 3" : "=r"(old));
  show("csrrsi frm,3 old", old);
  show3("after");
  asm volatile("csrrci %0, fflags, 0x11" : "=r"(old));
  show("csrrci fflags,0x11 old", old);
  show3("after");
  asm volatile("csrrwi %0, fflags, 0" : "=r"(old));
  show("csrrwi fflags,0 old", old);
  asm volatile("csrrsi %0, fflags, 0" : "=r"(old));
  show("csrrsi fflags,0 (read only)", old);
  asm volatile("csrrci %0, frm, 0" : "=r"(old));
  show("csrrci frm,0 (read only)", old);
  asm volatile("csrrwi zero, frm, 2");
  show3("csrrwi x0,frm,2");
  /* Pseudo-instructions (aliases of the above). */
  asm volatile("fscsr %0, %1" : "=r"(old) : "r"(0x21));
  show("fscsr 0x21 old", old);
  asm volatile("fsflags %0, %1" : "=r"(old) : "r"(0x0a));
  show("fsflags 0x0a old", old);
  asm volatile("fsrm %0, %1" : "=r"(old) : "r"(0x4));
  show("fsrm 4 old", old);
  asm volatile("fsflagsi %0, 0x13" : "=r"(old));
  show("fsflagsi 0x13 old", old);
  asm volatile("fsrmi %0, 1" : "=r"(old));
  show("fsrmi 1 old", old);
  asm volatile("frflags %0" : "=r"(old));
  show("frflags", old);
  asm volatile("frrm %0" : "=r"(old));
  show("frrm", old);
  asm volatile("frcsr %0" : "=r"(old));
  show("frcsr", old);
  /* frm 5..7 are reserved values but the field holds them. */
  asm volatile("fsrmi 5\n\tfrrm %0" : "=r"(old));
  show("frm=5 reads", old);
  asm volatile("fsrmi 7\n\tfrrm %0" : "=r"(old));
  show("frm=7 reads", old);
  asm volatile("fscsr zero");

  /* Flags accrue until cleared: 1/0 sets DZ, then 1/3 adds NX, inf-inf adds NV. */
  u64 f1, f2, f3;
  asm volatile("fsflags zero\n\tli t0, 1\n\tfcvt.d.l ft0, t0\n\tfcvt.d.l ft1, zero\n\t"
               "fdiv.d ft2, ft0, ft1\n\tfrflags %0\n\tli t0, 3\n\tfcvt.d.l ft1, t0\n\t"
               "fdiv.d ft3, ft0, ft1\n\tfrflags %1\n\tfsub.d ft4, ft2, ft2\n\tfrflags %2"
               : "=r"(f1), "=r"(f2), "=r"(f3) : : "t0", "ft0", "ft1", "ft2", "ft3", "ft4");
  out_str("accrue ");
  out_h8(f1);
  out_sp();
  out_h8(f2);
  out_sp();
  out_h8(f3);
  out_nl();
  /* frm drives the dynamic rounding mode: 1/3 in each mode, and -1/3. */
  for (u64 rm = 0; rm < 5; rm++) {
    u64 p, n, fl;
    asm volatile("fsrm %3\n\tfsflags zero\n\tli t0, 1\n\tfcvt.d.l ft0, t0\n\tli t0, 3\n\t"
                 "fcvt.d.l ft1, t0\n\tfdiv.d ft2, ft0, ft1\n\tfmv.x.d %0, ft2\n\t"
                 "fneg.d ft0, ft0\n\tfdiv.d ft2, ft0, ft1\n\tfmv.x.d %1, ft2\n\tfrflags %2\n\tfsrm zero"
                 : "=r"(p), "=r"(n), "=r"(fl) : "r"(rm) : "t0", "ft0", "ft1", "ft2");
    out_str("frm ");
    out_h8(rm);
    out_str(" 1/3 ");
    out_h64(p);
    out_str(" -1/3 ");
    out_h64(n);
    out_str(" fflags ");
    out_h8(fl);
    out_nl();
  }

  /* Counters: readable from U-mode (qemu-user and Linux allow it), monotonic. */
  u64 c0, c1, t0, t1, i0, i1, c2, t2, i2;
  asm volatile("rdcycle %0\n\trdtime %1\n\trdinstret %2" : "=r"(c0), "=r"(t0), "=r"(i0));
  for (volatile int k = 0; k < 1000; k++) {
  }
  asm volatile("rdcycle %0\n\trdtime %1\n\trdinstret %2" : "=r"(c1), "=r"(t1), "=r"(i1));
  asm volatile("csrr %0, cycle\n\tcsrr %1, time\n\tcsrr %2, instret" : "=r"(c2), "=r"(t2), "=r"(i2));
  out_str("counters readable; monotonic cycle ");
  out_ch(c1 >= c0 && c2 >= c1 ? 'y' : 'n');
  out_str(" time ");
  out_ch(t1 >= t0 && t2 >= t1 ? 'y' : 'n');
  out_str(" instret ");
  out_ch(i1 >= i0 && i2 >= i1 ? 'y' : 'n');
  out_nl();
  return 0;
}
