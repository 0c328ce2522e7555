"""Coefficients of g(f) = log1p(f) / f on [2^(-1/6) - 1, 2^(1/6) - 1] for src/math.rs
(log1p_for_f32): Chebyshev-node interpolation (near-minimax) of degrees 7 to 9, with the worst
relative error of each when the coefficients are rounded to double. The library uses degree 7.

Run: python3 scripts/fit_log1p.py   (needs mpmath)
"""
from mpmath import mp, mpf, log1p, cos, pi, matrix, lu_solve
mp.prec = 200
a = mpf(2)**(mpf(-1)/6) - 1
b = mpf(2)**(mpf(1)/6) - 1
g = lambda f: log1p(f)/f if f != 0 else mpf(1)
for deg in (7, 8, 9):
    # Chebyshev nodes interpolation (near-minimax)
    n = deg + 1
    nodes = [ (a+b)/2 + (b-a)/2*cos((2*i+1)*pi/(2*n)) for i in range(n)]
    A = matrix(n, n); v = matrix(n, 1)
    for i, x in enumerate(nodes):
        for j in range(n): A[i, j] = x**j
        v[i] = g(x)
    c = lu_solve(A, v)
    coeffs = [float(c[j]) for j in range(n)]
    # error with double coefficients, evaluated exactly
    worst = 0
    for i in range(2001):
        x = a + (b-a)*i/2000
        p = mpf(0)
        for cj in reversed(coeffs): p = p*x + mpf(cj)
        e = abs(p/g(x) - 1)
        worst = max(worst, e)
    print(deg, float(worst), [repr(x) for x in coeffs])
