#!/usr/bin/env python3
"""Table, constants and mpmath test cases for the table-driven f64 logarithm (src/log64.rs).

Regenerate (deterministic, a few seconds; needs mpmath):

    python3 scripts/gen_log64_table.py    # writes src/log64/table.rs, tests/data/log64_cases.txt

The method (see src/log64.rs): x = 2^k * z with z in [A, 2A), A = 0.685546875, so that the
128 cells of z, each 2^45 apart in the bit pattern, put z = 1 in the middle of cell CELL_ONE =
[1 - 2^-9, 1 + 2^-8). Each cell has invc ~ 1/c (c in the cell) with few significant bits, so
that r = z * invc - 1 is exact in one FMA for every z of the cell, and -log(invc) as
logc_hi + logc_lo with logc_hi a multiple of 2^-43, so that k * LN2_HI + logc_hi is exact.
CELL_ONE has invc = 1, logc = 0: there r = z - 1 and small logarithms keep their relative
precision. log1p(v) = v + v^2 * P(v) for v = r + lo 2^-k invc (|v| < |r| + 2^-51), P a
Chebyshev interpolant of (log1p(v) - v) / v^2.

tests/data/log64_cases.txt, one case per line, IEEE bit patterns in hex:

    hi lo ref_hi ref_lo tag

  ref_hi is log(hi + lo) (hi + lo exact) correctly rounded, ref_lo the rest rounded to
  nearest, so ref_hi + ref_lo is the logarithm to about 2^-106 relative.
"""

import os
import random
import struct
from fractions import Fraction as F

from mpmath import cos, log, log1p, lu_solve, matrix, mp, mpf, pi

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
N = 128
CELL_SHIFT = 45  # 52 - log2(N)
OFF = 0x3FE6000000000000 - (1 << (CELL_SHIFT - 1))
ONE_BITS = 0x3FF0000000000000
CELL_ONE = (ONE_BITS - OFF) >> CELL_SHIFT
LOGC_GRID = 43  # logc_hi is a multiple of 2^-43; LN2_HI of 2^-42 (k * LN2_HI exact for |k| < 2^11)
POLY_DEGREE = 6  # of P; log1p(r) is approximated to degree 8

mp.prec = 300


def bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def from_bits(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def nearest(v):
    """The double nearest to the mpf v (normal range, ties to even)."""
    if v == 0:
        return 0.0
    if v < 0:
        return -nearest(-v)
    d = float(v)  # within an ULP
    cands = (from_bits(bits(d) - 1), d, from_bits(bits(d) + 1))
    return min(cands, key=lambda c: (abs(mpf(c) - v), bits(c) & 1))


def ulp_exp(z):
    """log2 of the spacing of doubles around the positive normal double z."""
    return ((bits(z) >> 52) - 1023) - 52


def cell_parts(i):
    """The cell's z range split at binade boundaries: [(z_first, z_last, grid exponent)]."""
    first, last = OFF + (i << CELL_SHIFT), OFF + ((i + 1) << CELL_SHIFT) - 1
    if first < ONE_BITS <= last:
        return [(from_bits(first), from_bits(ONE_BITS - 1), -53), (1.0, from_bits(last), -52)]
    return [(from_bits(first), from_bits(last), ulp_exp(from_bits(first)))]


def grid_exp(q):
    """log2 of the granularity of the dyadic rational q (q = m * 2^e, m odd)."""
    return -(q.denominator.bit_length() - 1) if q.numerator % 2 else 0


def max_r(parts, invc):
    """Largest |z * invc - 1| over the cell and whether the FMA computes every r exactly."""
    worst, exact = F(0), True
    for z0, z1, ge in parts:
        m = max(abs(F(z0) * invc - 1), abs(F(z1) * invc - 1))
        worst = max(worst, m)
        # r is a multiple of 2^(ge + grid(invc)); exact if it needs at most 53 bits.
        exact = exact and m < F(2) ** (53 + ge + grid_exp(invc))
    return worst, exact


def choose_invc(i):
    parts = cell_parts(i)
    if i == CELL_ONE:
        return F(1), max_r(parts, F(1))[0]
    z0, z1 = F(parts[0][0]), F(parts[-1][1])
    best = None
    for s in range(5, 16):
        j0 = round(F(2) ** s * 2 / (z0 + z1))
        for j in range(j0 - 3, j0 + 4):
            invc = F(j, 2**s)
            m, exact = max_r(parts, invc)
            if exact and (best is None or m < best[1]):
                best = (invc, m)
    return best


def table():
    rows, rmax = [], F(0)
    for i in range(N):
        invc, m = choose_invc(i)
        rmax = max(rmax, m)
        logc = -log(mpf(invc.numerator) / invc.denominator)
        logc_hi = float(F(int(mp.nint(logc * 2**LOGC_GRID)), 2**LOGC_GRID))
        logc_lo = nearest(logc - logc_hi)
        assert float(invc) == invc
        rows.append((float(invc), logc_hi, logc_lo, m))
    # k = 0 cells other than CELL_ONE: |logc_hi| above every |r + lo/hi| (|lo/hi| <= 2^-51),
    # so that logc_hi + (r + lo/hi) is a Fast2Sum.
    for i, (invc, logc_hi, _, m) in enumerate(rows):
        assert (i == CELL_ONE) == (logc_hi == 0)
        assert i == CELL_ONE or abs(logc_hi) > m + F(2) ** -50, i
    return rows, rmax


def fit(rmax):
    """Chebyshev interpolant of (log1p(r) - r) / r^2 on [-rmax, rmax], double coefficients,
    and the worst |r^2 (P(r) - f(r)) / log1p(r)| (relative error of log1p) over a fine grid."""
    def f(r):
        if abs(r) < mpf(2) ** -80:  # the quotient would cancel; the series is exact enough
            return -mpf(1) / 2 + r / 3 - r * r / 4
        return (log1p(r) - r) / r**2

    a = mpf(rmax.numerator) / rmax.denominator
    n = POLY_DEGREE + 1
    nodes = [a * cos((2 * i + 1) * pi / (2 * n)) for i in range(n)]
    A, v = matrix(n, n), matrix(n, 1)
    for i, x in enumerate(nodes):
        for j in range(n):
            A[i, j] = x**j
        v[i] = f(x)
    c = lu_solve(A, v)
    coeffs = [nearest(c[j]) for j in range(n)]
    worst = mpf(0)
    for i in range(-2000, 2001):
        x = a * i / 2000
        if x == 0:
            continue
        p = mpf(0)
        for cj in reversed(coeffs):
            p = p * x + cj
        worst = max(worst, abs(x * x * (p - f(x)) / log1p(x)))
    return coeffs, worst


def l2(q):
    return float(log(mpf(q.numerator) / q.denominator, 2))


def lit(v):
    s = repr(v)
    return s if ("." in s or "e" in s) else s + ".0"


def write_table(rows, rmax, vmax, ln2_hi, ln2_lo, coeffs, err):
    out = [
        "// Generated by `python3 scripts/gen_log64_table.py`; do not edit.",
        "",
        f"/// Bit pattern of the lowest z: x = 2^k * z with z in [{lit(from_bits(OFF))}, "
        f"{lit(2 * from_bits(OFF))}).",
        f"pub(super) const OFF: u64 = {OFF:#018x};",
        f"/// The cell index is bits {CELL_SHIFT}..{CELL_SHIFT + 6} of `bits(x) - OFF`.",
        f"pub(super) const CELL_SHIFT: u32 = {CELL_SHIFT};",
        f"/// ln 2 = LN2_HI + LN2_LO, LN2_HI a multiple of 2^-{LOGC_GRID - 1}.",
        f"pub(super) const LN2_HI: f64 = {lit(ln2_hi)};",
        f"pub(super) const LN2_LO: f64 = {lit(ln2_lo)};",
        f"/// |r| <= {float(rmax):.6e} = 2^{l2(rmax):.3f} over the table (the tests check).",
        "#[cfg(test)]",
        f"pub(super) const R_MAX: f64 = {lit(float(rmax))};",
        f"/// `log1p(v) = v + v^2 * P(v)`, `P(v) = sum P[j] v^j`, for |v| <= {float(vmax):.6e} "
        f"= 2^{l2(vmax):.3f};",
        f"/// relative error of log1p {float(err):.2e} = 2^{float(log(err, 2)):.1f}.",
        f"pub(super) const P: [f64; {len(coeffs)}] = [",
        *[f"    {lit(c)}," for c in coeffs],
        "];",
        "",
        "/// Per cell: 1/c for a c in the cell, with few significant bits (z * invc - 1 exact).",
        f"pub(super) static INVC: [f64; {N}] = [",
        *[f"    {lit(r[0])}," for r in rows],
        "];",
        "/// Per cell: -log(invc) = logc_hi + logc_lo, logc_hi a multiple of "
        f"2^-{LOGC_GRID}.",
        f"pub(super) static LOGC_HI: [f64; {N}] = [",
        *[f"    {lit(r[1])}," for r in rows],
        "];",
        f"pub(super) static LOGC_LO: [f64; {N}] = [",
        *[f"    {lit(r[2])}," for r in rows],
        "];",
        "",
    ]
    with open(os.path.join(ROOT, "src", "log64", "table.rs"), "w") as fh:
        fh.write("\n".join(out))


def cases():
    """(hi, lo, tag) inputs: |lo| <= ulp(hi), lo mostly nonzero."""
    rnd = random.Random(64)
    out = []

    def ulp(x):
        return 2.0 ** ulp_exp(x)

    def add(hi, tag, lo=None):
        if lo is None:
            lo = rnd.uniform(-1, 1) * ulp(hi) * rnd.choice((1.0, 0.5, 2.0**-20))
        out.append((hi, lo, tag))

    add(1.0 + 2.0**-40, "brief", 3e-57)
    add(1.0, "one", 0.0)
    add(1.0, "one", 2.0**-53)
    add(1.0, "one", -(2.0**-54))
    add(1.0 + 2.0**-52, "one", -(2.0**-53) * (1 - 2.0**-20))
    add(1.7976931348623157e308, "max")
    add(1.7976931348623157e308, "max", 0.0)
    for j in range(1, 200):  # a few ULPs above 1
        add(1.0 + j * 2.0**-52, "near1_ulps")
    for _ in range(800):  # 1 + 2^-e * u, e in 1..52
        add(1.0 + 2.0 ** -rnd.uniform(1, 52), "near1")
    for _ in range(1200):  # log-uniform over [1, 2^1024)
        add(2.0 ** rnd.uniform(0, 1023.999), "wide")
    for _ in range(300):  # [1, 4)
        add(rnd.uniform(1, 4), "small")
    for _ in range(400):  # 2^e * (1 +- a few ULPs)
        e, j = rnd.randrange(0, 1024), rnd.randrange(-8, 9)
        add(from_bits(bits(2.0**e) + j), "pow2")
    for _ in range(800):  # z at cell edges (both sides), any k >= 0
        i, side = rnd.randrange(N + 1), rnd.choice((-1, 0, 1))
        z_bits = OFF + (i << CELL_SHIFT) + side
        k = rnd.randrange(0 if from_bits(z_bits) >= 1 else 1, 1023)
        add(from_bits(z_bits + (k << 52)), "cell_edge")
    for _ in range(400):  # below 1: only correct, not fast
        add(2.0 ** rnd.uniform(-1021.999, 0), "below1")
    for _ in range(200):
        add(1.0 - 2.0 ** -rnd.uniform(1, 53), "below1_near")
    for _ in range(600):  # as src/math.rs builds u = 1 + a^2/2 as a double-double
        a = 2.0 ** rnd.uniform(-30, 20) * rnd.uniform(1, 2)
        t = F(a) * F(a) / 2
        t_hi = float(t)
        t_lo = float(t - F(t_hi))
        u_hi = 1.0 + t_hi
        u_lo = float(F(1) + F(t_hi) - F(u_hi))
        add(u_hi, "loss", u_lo + t_lo)
    return out


def write_cases():
    lines = ["# hi lo ref_hi ref_lo tag (generated by scripts/gen_log64_table.py)"]
    for hi, lo, tag in cases():
        v = log(mpf(hi) + mpf(lo))
        ref_hi = nearest(v)
        ref_lo = nearest(v - ref_hi) if v != ref_hi else 0.0
        lines.append(f"{bits(hi):016x} {bits(lo):016x} {bits(ref_hi):016x} {bits(ref_lo):016x} {tag}")
    with open(os.path.join(ROOT, "tests", "data", "log64_cases.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return len(lines) - 1


def main():
    assert from_bits(OFF + (CELL_ONE << CELL_SHIFT)) == 1 - 2.0**-9
    rows, rmax = table()
    ln2 = log(2)
    ln2_hi = float(F(int(mp.nint(ln2 * 2 ** (LOGC_GRID - 1))), 2 ** (LOGC_GRID - 1)))
    ln2_lo = nearest(ln2 - ln2_hi)
    # log1p is taken of v = r + lo 2^-k invc, |lo 2^-k invc| < 2^-51.
    vmax = rmax + F(2) ** -50
    coeffs, err = fit(vmax)
    write_table(rows, rmax, vmax, ln2_hi, ln2_lo, coeffs, err)
    n = write_cases()
    print(f"max |r| = 2^{l2(rmax):.4f}, "
          f"poly degree {POLY_DEGREE}: log1p relative error 2^{float(log(err, 2)):.1f}; {n} cases")


if __name__ == "__main__":
    main()
