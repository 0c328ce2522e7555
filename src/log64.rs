//! A table-driven natural logarithm for f64 with a low-order input term, accurate to about
//! half an ULP, with no branch and no library call so that loops over it vectorise (the `if`s
//! are selects; the table reads become per-lane loads or gathers).
//!
//! `hi = 2^k * z` with `z` in [A, 2A), A = 0.685546875; the next 7 bits of `bits(hi) - bits(A)`
//! pick one of 128 cells of `z`, each with `invc ~ 1/c` (c in the cell) and
//! `-log(invc) = logc_hi + logc_lo`. Then `log(hi + lo) = k ln2 + logc + log1p(r + lp)` with
//! `r = z * invc - 1` and `lp = lo 2^-k invc`. The table is built so that `r` is exact in one
//! FMA (`invc` has few significant bits) and `k * LN2_HI + logc_hi` is exact, and the cell
//! around `z = 1` has `invc = 1`, `logc = 0`: there `r = z - 1` and small logarithms keep their
//! relative precision. The only rounding of the size of the result is the last addition; the
//! polynomial and the other roundings add about 2^-8 ULP. Table, polynomial and test cases:
//! `python3 scripts/gen_log64_table.py`.
//!
//! Every multiply-add is `f64::mul_add` (always fused), so builds with and without hardware FMA
//! give the same bits.

use crate::dd::two_sum;
use crate::math::estrin;

mod table;

use table::{CELL_SHIFT, INVC, LN2_HI, LN2_LO, LOGC_HI, LOGC_LO, OFF, P};

/// [`P`] with a zero coefficient of degree 7, for [`estrin`] (the extra term is exactly 0 for
/// every finite `v`; a non-finite `v` comes only from a non-finite `hi`, whose result is `hi`).
const P8: [f64; 8] = {
    let mut c = [0.0; 8];
    let mut k = 0;
    while k < P.len() {
        c[k] = P[k];
        k += 1;
    }
    c
};

/// `hi = 2^k * z` with `z` in [A, 2A), and the table cell of `z`.
#[inline(always)]
fn split(hi: f64) -> (usize, i64, f64) {
    let ix = hi.to_bits();
    let tmp = ix.wrapping_sub(OFF);
    let i = (tmp >> CELL_SHIFT) as usize % INVC.len();
    let k = tmp as i64 >> 52;
    (i, k, f64::from_bits(ix.wrapping_sub(tmp & (0xfff << 52))))
}

/// `log(hi + lo)` for `hi > 0` (normal: subnormal `hi` is not supported), `+inf` or NaN, and
/// `|lo| <= ulp(hi)` (`lo` may be 0). `+inf` gives `+inf`, NaN gives NaN; zero and negative
/// `hi` give meaningless finite values (callers never pass them). Within 0.55 ULP (the tests
/// measure 0.5), like glibc's `log`.
#[inline(always)]
pub fn log_dd(hi: f64, lo: f64) -> f64 {
    let (i, k, z) = split(hi);
    let (invc, logc_hi, logc_lo) = (INVC[i], LOGC_HI[i], LOGC_LO[i]);
    let kd = k as f64;
    // Exact: z and invc have few enough significant bits for |r| < 2^-7.5.
    let r = z.mul_add(invc, -1.0);
    // (hi + lo) 2^-k invc = 1 + r + lp, so log(hi + lo) = k ln2 + logc + log1p(v) with
    // v = r + lp. For hi >= A 2^1024 (k = 1024) 2^-k is not a normal double and lp is twice
    // too large: an error below 2^-51 in a result of 709.78, whose ULP is 2^-43.
    let lp = lo * f64::from_bits(((1023 - k.min(1023)) as u64) << 52) * invc;
    // v exactly: near hi = 1 the two may cancel.
    let v = two_sum(r, lp);
    // k LN2_HI + logc_hi is exact, and |w| > |v.hi| unless w = 0 (the generator checks), so
    // w + v.hi = y_hi + e exactly (Fast2Sum).
    let w = kd.mul_add(LN2_HI, logc_hi);
    let y_hi = w + v.hi;
    let e = (w - y_hi) + v.hi;
    // log1p(v) - v = v^2 P(v); v.lo's part in it is below 2^-60 of v.
    let p = estrin(v.hi, &P8);
    let tail = kd.mul_add(LN2_LO, logc_lo) + (e + v.lo);
    let y = y_hi + (v.hi * v.hi).mul_add(p, tail);
    if hi < f64::INFINITY {
        y
    } else {
        hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spacing of doubles at the normal double `x`.
    fn ulp(x: f64) -> f64 {
        f64::from_bits(x.abs().to_bits() & 0x7ff0_0000_0000_0000) * f64::EPSILON
    }

    /// `|y - (hi + lo)|` in ULPs of the exact value `hi + lo` (a double-double).
    fn ulp_error(y: f64, hi: f64, lo: f64) -> f64 {
        if hi == 0.0 {
            return if y == 0.0 { 0.0 } else { f64::INFINITY };
        }
        // One binade lower where hi is a power of two and lo points to zero.
        let pow2 = hi.to_bits() & 0x000f_ffff_ffff_ffff == 0;
        let u = if pow2 && lo != 0.0 && (lo < 0.0) != (hi < 0.0) { ulp(hi) / 2.0 } else { ulp(hi) };
        // y - hi is exact (Sterbenz) when y is within a factor 2 of hi.
        ((y - hi) - lo).abs() / u
    }

    fn hex(s: &str) -> f64 {
        f64::from_bits(u64::from_str_radix(s, 16).unwrap())
    }

    #[test]
    fn mpmath_cases_within_0_55_ulp() {
        let data = include_str!("../tests/data/log64_cases.txt");
        let mut worst: Vec<(&str, f64, f64, f64)> = Vec::new();
        let mut n = 0;
        for line in data.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (hi, lo, ref_hi, ref_lo) = (hex(f[0]), hex(f[1]), hex(f[2]), hex(f[3]));
            let err = ulp_error(log_dd(hi, lo), ref_hi, ref_lo);
            match worst.iter_mut().find(|w| w.0 == f[4]) {
                Some(w) if err > w.1 => *w = (f[4], err, hi, lo),
                Some(_) => {}
                None => worst.push((f[4], err, hi, lo)),
            }
            n += 1;
        }
        assert!(n > 4000, "{n} cases");
        for (tag, err, hi, lo) in &worst {
            println!("{tag:>12}: worst {err:.4} ULP at log({hi:e} + {lo:e})");
            assert!(*err <= 0.55, "{tag}: {err} ULP at log({hi:e} + {lo:e})");
        }
    }

    /// xorshift64*: a fixed sequence, no dependency.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn sweep_within_1_ulp_of_libm() {
        let mut s = 0x9e37_79b9_7f4a_7c15;
        let one = 1.0f64.to_bits();
        // Bit patterns uniform in: [1, MAX] (log-uniform), [1, 2), [1, 1 + 2^-20) and
        // [2^-1022, 1).
        let ranges = [
            (one, f64::MAX.to_bits()),
            (one, 2.0f64.to_bits()),
            (one, (1.0 + 2f64.powi(-20)).to_bits()),
            (f64::MIN_POSITIVE.to_bits(), one),
        ];
        for (lo_bits, hi_bits) in ranges {
            let (mut differ, mut n) = (0, 0);
            for _ in 0..1_000_000 {
                let x = f64::from_bits(lo_bits + rng(&mut s) % (hi_bits - lo_bits + 1));
                let (got, want) = (log_dd(x, 0.0), x.ln());
                let d = (got.to_bits() as i64 - want.to_bits() as i64).abs();
                assert!(d <= 1 && (got == 0.0) == (want == 0.0), "log({x:e}): {got:e} vs {want:e}");
                differ += (d != 0) as u32;
                n += 1;
            }
            println!(
                "[{:e}, {:e}]: {differ} of {n} differ by 1 ULP from f64::ln",
                f64::from_bits(lo_bits),
                f64::from_bits(hi_bits)
            );
        }
    }

    #[test]
    fn cell_of_one_has_invc_one() {
        for z in [1.0 - 2f64.powi(-9), 1.0, 1.0 + 2f64.powi(-8) - f64::EPSILON] {
            let (i, k, zz) = split(z);
            assert_eq!((k, zz, INVC[i], LOGC_HI[i], LOGC_LO[i]), (0, z, 1.0, 0.0, 0.0));
        }
        let below = split(1.0 - 2f64.powi(-9) - f64::EPSILON / 2.0).0;
        let above = split(1.0 + 2f64.powi(-8)).0;
        assert!(INVC[below] != 1.0 && INVC[above] != 1.0);
    }

    /// `r` is exact and within R_MAX at both ends of every cell (of each binade of the cell
    /// around 1), where `|r|` is largest: a check of the generator's proof for whole cells.
    #[test]
    fn reduction_is_exact() {
        for i in 0..INVC.len() as u64 {
            let first = OFF + (i << CELL_SHIFT);
            let last = first + (1 << CELL_SHIFT) - 1;
            let one = 1.0f64.to_bits();
            let ends = if (first..=last).contains(&one) {
                vec![first, one - 1, one, last]
            } else {
                vec![first, last]
            };
            for z in ends.into_iter().map(f64::from_bits) {
                let (c, k, zz) = split(z);
                assert_eq!((c, k, zz), (i as usize, 0, z));
                let r = z.mul_add(INVC[c], -1.0);
                // z invc = p + pe exactly and p - 1 is exact (Sterbenz).
                let (p, pe) = (z * INVC[c], z.mul_add(INVC[c], -(z * INVC[c])));
                let exact = two_sum(p - 1.0, pe);
                assert_eq!((exact.hi, exact.lo), (r, 0.0), "cell {i}, z = {z:e}");
                assert!(r.abs() <= table::R_MAX);
            }
        }
    }

    #[test]
    fn special_values_and_lo_sign() {
        assert_eq!(log_dd(f64::INFINITY, 0.0), f64::INFINITY);
        assert!(log_dd(f64::NAN, 0.0).is_nan());
        assert!(log_dd(-f64::NAN, 1.0).is_nan());
        assert_eq!(log_dd(1.0, 0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(log_dd(2.0, 0.0), std::f64::consts::LN_2);
        // log(1 + d) = d - d^2/2 rounds to d for d = +-2^-60.
        assert_eq!(log_dd(1.0, 2f64.powi(-60)), 2f64.powi(-60));
        assert_eq!(log_dd(1.0, -(2f64.powi(-60))), -(2f64.powi(-60)));
        // lo moves the result by lo/hi either way: here 2^-54 / (1 + 2^-40), 2^38 ULPs.
        let (h, l) = (1.0 + 2f64.powi(-40), 2f64.powi(-54));
        let (up, mid, down) = (log_dd(h, l), log_dd(h, 0.0), log_dd(h, -l));
        let shift = l / h;
        assert!(((up - mid) - shift).abs() <= 2.0 * ulp(mid), "{up:e} {mid:e}");
        assert!(((mid - down) - shift).abs() <= 2.0 * ulp(mid), "{mid:e} {down:e}");
    }
}
