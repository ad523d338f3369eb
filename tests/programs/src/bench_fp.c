/* FP benchmark (and a differential test at a small size): the n-body
 * simulation (five bodies, double precision, sqrt and divide in the inner
 * loop) plus a double matrix multiply and a single-precision polynomial.
 * argv[1] = steps (default 200000); prints the energies' bit patterns and a
 * checksum — exact, since every operation is correctly rounded. */
#include "lib/rt.h"

#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS 365.24

struct body {
  double x, y, z, vx, vy, vz, m;
};
static struct body B[5] = {
    {0, 0, 0, 0, 0, 0, SOLAR_MASS},
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
     1.66007664274403694e-03 * DAYS, 7.69901118419740425e-03 * DAYS,
     -6.90460016972063023e-05 * DAYS, 9.54791938424326609e-04 * SOLAR_MASS},
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
     -2.76742510726862411e-03 * DAYS, 4.99852801234917238e-03 * DAYS,
     2.30417297573763929e-05 * DAYS, 2.85885980666130812e-04 * SOLAR_MASS},
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
     2.96460137564761618e-03 * DAYS, 2.37847173959480950e-03 * DAYS,
     -2.96589568540237556e-05 * DAYS, 4.36624404335156298e-05 * SOLAR_MASS},
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
     2.68067772490389322e-03 * DAYS, 1.62824170038242295e-03 * DAYS,
     -9.51592254519715870e-05 * DAYS, 5.15138902046611451e-05 * SOLAR_MASS},
};

static double fsqrt(double x) {
  double r;
  asm("fsqrt.d %0, %1" : "=f"(r) : "f"(x));
  return r;
}

static double energy(void) {
  double e = 0;
  for (int i = 0; i < 5; i++) {
    e += 0.5 * B[i].m * (B[i].vx * B[i].vx + B[i].vy * B[i].vy + B[i].vz * B[i].vz);
    for (int j = i + 1; j < 5; j++) {
      double dx = B[i].x - B[j].x, dy = B[i].y - B[j].y, dz = B[i].z - B[j].z;
      e -= B[i].m * B[j].m / fsqrt(dx * dx + dy * dy + dz * dz);
    }
  }
  return e;
}

static void advance(double dt) {
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++) {
      double dx = B[i].x - B[j].x, dy = B[i].y - B[j].y, dz = B[i].z - B[j].z;
      double d2 = dx * dx + dy * dy + dz * dz;
      double mag = dt / (d2 * fsqrt(d2));
      B[i].vx -= dx * B[j].m * mag;
      B[i].vy -= dy * B[j].m * mag;
      B[i].vz -= dz * B[j].m * mag;
      B[j].vx += dx * B[i].m * mag;
      B[j].vy += dy * B[i].m * mag;
      B[j].vz += dz * B[i].m * mag;
    }
  for (int i = 0; i < 5; i++) {
    B[i].x += dt * B[i].vx;
    B[i].y += dt * B[i].vy;
    B[i].z += dt * B[i].vz;
  }
}

static u64 bits(double d) {
  u64 u;
  memcpy(&u, &d, 8);
  return u;
}

#define MN 32
static double ma[MN][MN], mb[MN][MN], mc[MN][MN];

static double matmul(int seed) {
  for (int i = 0; i < MN; i++)
    for (int j = 0; j < MN; j++) {
      ma[i][j] = (double)((i * 31 + j * 17 + seed) % 97) / 7.0 - 5.5;
      mb[i][j] = (double)((i * 13 + j * 29 + seed) % 89) * 0.125 + 0.3;
    }
  for (int i = 0; i < MN; i++)
    for (int j = 0; j < MN; j++) {
      double s = 0;
      for (int k = 0; k < MN; k++) s += ma[i][k] * mb[k][j];
      mc[i][j] = s;
    }
  double t = 0;
  for (int i = 0; i < MN; i++) t += mc[i][i] - mc[i][MN - 1 - i];
  return t;
}

static float poly(int n) {
  float acc = 0.0f, x = 0.001f;
  for (int i = 0; i < n; i++) {
    acc = acc * 0.999f + ((2.5f * x - 1.25f) * x + 0.75f) * x / (1.0f + x);
    x += 0.0007f;
    if (x > 3.0f) x -= 2.9f;
  }
  return acc;
}

int main(int argc, char **argv) {
  u64 steps = parse_dec(argc > 1 ? argv[1] : 0, 200000);
  /* Offset momentum. */
  double px = 0, py = 0, pz = 0;
  for (int i = 0; i < 5; i++) {
    px += B[i].vx * B[i].m;
    py += B[i].vy * B[i].m;
    pz += B[i].vz * B[i].m;
  }
  B[0].vx = -px / SOLAR_MASS;
  B[0].vy = -py / SOLAR_MASS;
  B[0].vz = -pz / SOLAR_MASS;
  double e0 = energy();
  for (u64 s = 0; s < steps; s++) advance(0.01);
  double e1 = energy();
  double m = 0;
  for (u64 s = 0; s < steps / 2000 + 1; s++) m += matmul((int)s);
  float p = poly((int)(steps / 4) + 10);
  u32 pb;
  memcpy(&pb, &p, 4);
  out_str("bench_fp steps ");
  out_dec(steps);
  out_str(" e0 ");
  out_h64(bits(e0));
  out_str(" e1 ");
  out_h64(bits(e1));
  out_str(" mat ");
  out_h64(bits(m));
  out_str(" poly ");
  out_h32(pb);
  out_nl();
  return 0;
}
