//! Tests of the solver: against a unit-by-unit greedy, vector against integer forms, pass counts.

use super::*;

thread_local!(pub(crate) static PASSES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });

/// Passes `f` makes over the items.
fn passes(f: impl FnOnce()) -> u64 {
    let before = PASSES.with(|p| p.get());
    f();
    PASSES.with(|p| p.get()) - before
}

fn run(budget: u64, caps: &[u32], weights: &[u16]) -> (Vec<u32>, u64) {
    let mut out = vec![u32::MAX; caps.len()];
    let left = fill(budget, caps, weights, &mut out, &mut Vec::new());
    (out, left)
}

/// Unit-at-a-time greedy: the obviously-correct definition.
fn greedy(budget: u64, caps: &[u32], weights: &[u16]) -> Vec<u32> {
    let mut x = vec![0u32; caps.len()];
    let positive_capped = |x: &[u32]| (0..caps.len()).all(|i| weights[i] == 0 || x[i] == caps[i]);
    for _ in 0..budget {
        let zero_stage = positive_capped(&x);
        let mut best: Option<(u64, u64, usize)> = None; // (threshold, W - w, i)
        for i in 0..caps.len() {
            let w = if zero_stage {
                if weights[i] == 0 {
                    WEIGHT_SCALE
                } else {
                    0
                }
            } else {
                weights[i] as u64
            };
            if w == 0 || x[i] == caps[i] {
                continue;
            }
            let key = (((x[i] as u64 + 1) * WEIGHT_SCALE).div_ceil(w), WEIGHT_SCALE - w, i);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        match best {
            Some((_, _, i)) => x[i] += 1,
            None => break,
        }
    }
    x
}

struct Rng(u64);
impl Rng {
    fn next(&mut self, m: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % m
    }
}

#[test]
fn everything_fits() {
    assert_eq!(run(100, &[10, 20], &[1, 0]), (vec![10, 20], 70));
}

#[test]
fn proportional_to_weight() {
    // The reference scenario: 3.5 GB above the floors in 2 MB units.
    assert_eq!(run(1792, &[1000, 2000], &[2000, 5000]).0, vec![512, 1280]);
}

#[test]
fn remainder_goes_to_higher_weight_then_earlier() {
    assert_eq!(run(3, &[10, 10], &[5000, 5000]).0, vec![2, 1]);
    assert_eq!(run(3, &[10, 10], &[4000, 5000]).0, vec![1, 2]);
    assert_eq!(run(5, &[10, 10, 10, 10], &[7000, 7000, 7000, 7000]).0, vec![2, 1, 1, 1]);
}

#[test]
fn caps_respected_and_rest_redistributed() {
    assert_eq!(run(10, &[2, 100], &[5000, 5000]).0, vec![2, 8]);
}

#[test]
fn weight_zero_served_last() {
    assert_eq!(run(10, &[6, 100], &[1, 0]).0, vec![6, 4]);
    assert_eq!(run(5, &[6, 100], &[1, 0]).0, vec![5, 0]);
    assert_eq!(run(7, &[4, 4, 4], &[0, 0, 0]).0, vec![3, 2, 2]);
}

#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn matches_greedy_on_pseudorandom_inputs() {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..4000 {
        let n = 1 + r.next(8) as usize;
        let caps: Vec<u32> = (0..n).map(|_| r.next(40) as u32).collect();
        let weights: Vec<u16> = (0..n)
            .map(|_| match r.next(5) {
                0 => 0,
                1 => 10_000,
                2 => 1 + r.next(3) as u16,
                _ => r.next(10_001) as u16,
            })
            .collect();
        let budget = r.next(caps.iter().map(|&c| c as u64).sum::<u64>() + 5);
        let (got, left) = run(budget, &caps, &weights);
        assert_eq!(
            got,
            greedy(budget, &caps, &weights),
            "budget {budget} caps {caps:?} w {weights:?}"
        );
        assert_eq!(got.iter().map(|&c| c as u64).sum::<u64>() + left, budget);
    }
}

#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn result_does_not_depend_on_the_hint() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    for _ in 0..2000 {
        let n = 1 + r.next(12) as usize;
        let caps: Vec<u32> = (0..n).map(|_| r.next(60) as u32).collect();
        let weights: Vec<u16> = (0..n)
            .map(|_| if r.next(4) == 0 { 0 } else { 1 + r.next(10_000) as u16 })
            .collect();
        let budget = r.next(caps.iter().map(|&c| c as u64).sum::<u64>() + 3);
        let (want, _) = run(budget, &caps, &weights);
        for hint in [0u64, 1, 2, 7, 100, 5000, 1 << 30] {
            let mut out = vec![0; n];
            let mut level = Some((r.next(2) == 0, hint));
            fill_with_hint(budget, &caps, &weights, &mut out, &mut Vec::new(), &mut level);
            assert_eq!(out, want, "hint {hint}");
        }
    }
}

#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn vector_passes_equal_integer_passes() {
    let mut r = Rng(0x5151_7e57_0ddb_a11d);
    for round in 0..3000 {
        // Every tenth set is long enough to be evaluated in parts.
        let n = 1 + r.next(if round % 10 == 9 { 600 } else { 40 }) as usize;
        let big = round % 3 == 0;
        let caps: Vec<u32> = (0..n)
            .map(|_| {
                if big {
                    F64_EXACT_CAP as u32 - r.next(3) as u32
                } else {
                    r.next(5000) as u32
                }
            })
            .collect();
        let weights: Vec<u16> = (0..n)
            .map(|_| match r.next(4) {
                0 => 0,
                1 => [1, 3, 9_999, 10_000][r.next(4) as usize],
                _ => r.next(10_001) as u16,
            })
            .collect();
        let max_level = F64_EXACT_CAP * WEIGHT_SCALE;
        for level in [
            0,
            1,
            9_999,
            10_000,
            10_001,
            r.next(1 << 20),
            r.next(max_level - 1),
            max_level - 1, // (a probe at L evaluates L + 1 ≤ the top too)
        ] {
            for (tier, cap) in [Tier::Positive, Tier::Zero]
                .into_iter()
                .flat_map(|s| [(s, VectorCap::Avx512), (s, VectorCap::Avx2), (s, VectorCap::Scalar)])
            {
                let parts = 1 + round % 3;
                let ex = Exec {
                    vector_cap: cap,
                    parts,
                    small: true,
                };
                let (mut list, mut want_list) = (vec![7u32; n], vec![9u32; n]);
                let got = probe(level, &caps, &weights, tier, &mut list, ex);
                let (mut k, mut want) = (0, Pair::default());
                probe_int(level, &caps, &weights, tier, &mut want_list, &mut k, &mut want, 0..n);
                assert_eq!(got, want, "{cap:?} in {parts} parts: level {level}");
                let mut listed = Vec::new();
                for_each_listed(&list, n, parts, None, |w| listed.push(w));
                assert_eq!(listed, want_list[..k], "{cap:?} in {parts} parts: level {level}");
                assert_eq!(k, want.stepping());
                // The hand-out at this level, for some cut.
                let cut = Cut {
                    cut: [r.next(10_002), 10_000, 1, u64::MAX][r.next(4) as usize],
                    tie_end: r.next(n as u64 + 2) as usize,
                };
                let h = Handout { level, cut };
                let mut out = caps.clone();
                finish(h, &mut out, &weights, tier, ex);
                let mut want_out = caps.clone();
                finish_int(h, &mut want_out, &weights, tier, 0..n);
                assert_eq!(out, want_out, "{cap:?} in {parts} parts: level {level} {cut:?}");
            }
        }
        // The whole fill, with and without the vector forms.
        let total: u64 = caps.iter().map(|&c| c as u64).sum();
        let budget = r.next(total + 2);
        let scan = Scan::of(&caps, &weights);
        let mut outs = [vec![0u32; n], vec![0u32; n], vec![0u32; n]];
        for (out, simd) in outs
            .iter_mut()
            .zip([VectorCap::Avx512, VectorCap::Avx2, VectorCap::Scalar])
        {
            out.copy_from_slice(&caps);
            let parts = 1 + out.len() % 3; // (cuts only long lists)
            fill_scanned_with(budget, out, &weights, scan, &mut Vec::new(), &mut None, (simd, parts));
        }
        assert_eq!(outs[0], outs[2], "budget {budget} caps {caps:?} weights {weights:?}");
        assert_eq!(
            outs[1], outs[2],
            "AVX2: budget {budget} caps {caps:?} weights {weights:?}"
        );
    }
}

/// Low levels whose remainder `r = L mod W` is near 0, W/2 and W: where
/// `r·w mod W` is close to a carry, for the shares' tests.
const NEAR_CARRIES: [u64; 12] = [
    0,
    1,
    2,
    4_999,
    5_000,
    5_001,
    9_998,
    9_999,
    10_000,
    10_001,
    19_999,
    123_456_789,
];

/// The highest levels `L ≤ top` (within one W of it) at which `L·w mod W`
/// is W − 1, 0, 1 and W/2: where `L·w/W` is closest to an integer, and a
/// floor computed inexactly would show it.
fn near_integer_shares(top: u64, w: u64) -> Vec<u64> {
    [WEIGHT_SCALE - 1, 0, 1, WEIGHT_SCALE / 2]
        .into_iter()
        .filter_map(|target| {
            (top - WEIGHT_SCALE..=top)
                .rev()
                .find(|l| l * w % WEIGHT_SCALE == target)
        })
        .collect()
}

/// `floor(L·w/W)` in AVX-512's f64 lanes (`share`) and AVX2's i32 lanes
/// (`Shares8`, with the cap and the step at `L + 1`) at the top of the range
/// the search can probe, for every weight, at the levels where `L·w mod W`
/// is 0, 1, W/2 or W − 1 (closest to an integer), and for AVX2 at low
/// levels around each carry. (`Shares8` was also checked once for every
/// remainder `L mod W` and every weight at four quotients, 4·10^8 cases,
/// both with an f32 division and with the product by `DIV_W_MAGIC`:
/// too slow for every test run.)
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
#[cfg(target_arch = "x86_64")]
fn float_share_is_exact_at_the_top_for_every_weight() {
    use std::arch::x86_64::*;
    let top = F64_EXACT_CAP * WEIGHT_SCALE;
    use crate::simd::Form;
    let (wide, narrow) = (
        Form::of(VectorCap::Avx512) == Form::Avx512,
        Form::of(VectorCap::Avx2) == Form::Avx2,
    );
    for w in 1..=WEIGHT_SCALE {
        let mut levels = vec![top, top - 1, top - 2];
        levels.extend(near_integer_shares(top, w));
        for l in levels {
            let want = (l * w / WEIGHT_SCALE) as f64;
            let mut got = [0.0f64; 8];
            // SAFETY: each form runs only where the CPU has it.
            unsafe {
                if wide {
                    let x = avx512::share(_mm512_set1_pd(l as f64), _mm512_set1_pd(w as f64));
                    _mm512_storeu_pd(got.as_mut_ptr(), x);
                    assert_eq!(got, [want; 8], "AVX-512: weight {w} level {l}");
                }
            }
            if narrow {
                // SAFETY: the CPU has AVX2.
                unsafe { check_shares8(l, w) };
            }
        }
        // AVX2's integer lanes at low levels too (every remainder r = L mod W
        // near 0, W/2 and W: where r·w mod W is close to a carry).
        if narrow {
            for l in NEAR_CARRIES {
                // SAFETY: the CPU has AVX2.
                unsafe { check_shares8(l, w) };
            }
        }
    }
}

/// The portable form's `Shares32` (and its hand-out, `HandSmall`) against
/// the integer definition, on every CPU: for every weight (0 too) at the
/// top of the range the search can probe (where `L·w mod W` is 0, 1, W/2 or
/// W − 1) and at low levels around each carry, for caps around the share.
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn portable_shares_are_exact_for_every_weight() {
    use super::scalar::Shares32;
    let top = F64_EXACT_CAP * WEIGHT_SCALE;
    let mut checked = 0u64;
    for w in 0..=WEIGHT_SCALE {
        let mut levels = vec![top, top - 1, top - 2];
        levels.extend(NEAR_CARRIES);
        levels.extend(near_integer_shares(top, w));
        for l in levels {
            let (s0, s1) = (l * w / WEIGHT_SCALE, (l + 1) * w / WEIGHT_SCALE);
            let near = s0.min(F64_EXACT_CAP);
            let shares = Shares32::of(l);
            for c in [
                0,
                1,
                near.saturating_sub(1),
                near,
                near + 1,
                F64_EXACT_CAP - 1,
                F64_EXACT_CAP,
                s0 / 2,
            ] {
                let c = c.min(F64_EXACT_CAP);
                let (x, step) = shares.at(c as u32, w as u32);
                assert_eq!(
                    (x as u64, step),
                    (s0.min(c), s1.min(c) > s0.min(c)),
                    "weight {w} level {l} cap {c}"
                );
                // The hand-out for cuts at, below and above this weight.
                for cut in [w, w.saturating_sub(1), w + 1, u64::MAX] {
                    for (tie_end, pos) in [(5, 4), (5, 5)] {
                        let h = Handout {
                            level: l,
                            cut: Cut { cut, tie_end },
                        };
                        let early = pos < h.small().tie_end();
                        assert_eq!(
                            h.small().units(c as u32, w as u32, early) as u64,
                            h.units(c, w, pos),
                            "weight {w} level {l} cap {c} cut {cut} at {pos}"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100_000);
}

/// AVX2's `Shares8` at level `l` for weight `w` and caps around the share:
/// `min(c, floor(l·w/W))` and whether it steps up at `l + 1`, as integers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn check_shares8(l: u64, w: u64) {
    use std::arch::x86_64::*;
    let s0 = l * w / WEIGHT_SCALE;
    let s1 = (l + 1) * w / WEIGHT_SCALE;
    let near = s0.min(F64_EXACT_CAP);
    let caps: [u64; 8] = [
        0,
        1,
        near.saturating_sub(1),
        near,
        near + 1,
        F64_EXACT_CAP - 1,
        F64_EXACT_CAP,
        (s0 / 2).min(F64_EXACT_CAP),
    ];
    let c = _mm256_setr_epi32(
        caps[0] as i32,
        caps[1] as i32,
        caps[2] as i32,
        caps[3] as i32,
        caps[4] as i32,
        caps[5] as i32,
        caps[6] as i32,
        caps[7] as i32,
    );
    let (x, step) = avx2::Shares8::of(l).at(c, _mm256_set1_epi32(w as i32));
    let (mut xs, mut steps) = ([0u32; 8], [0u32; 8]);
    // SAFETY: each array is 32 writable bytes.
    unsafe {
        _mm256_storeu_si256(xs.as_mut_ptr().cast(), x);
        _mm256_storeu_si256(steps.as_mut_ptr().cast(), step);
    }
    for (j, &c) in caps.iter().enumerate() {
        let want = s0.min(c);
        let rises = s1.min(c) > want;
        assert_eq!(
            (xs[j] as u64, steps[j] != 0),
            (want, rises),
            "AVX2: weight {w} level {l} cap {c}"
        );
    }
}

/// Inputs on which the search once crawled a level per pass (a review
/// found them: a probe exactly at the budget, and a first step past every
/// cap), and random edge shapes: the same result with and without the
/// vector forms, the whole budget handed out, and few passes.
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn search_stays_logarithmic_on_adversarial_inputs() {
    let run_both = |budget: u64, caps: &[u32], weights: &[u16]| -> u64 {
        let n = caps.len();
        let scan = Scan::of(caps, weights);
        let mut outs = [vec![7u32; n], vec![9u32; n], vec![5u32; n]];
        let mut most = 0;
        for (out, simd) in outs
            .iter_mut()
            .zip([VectorCap::Avx512, VectorCap::Scalar, VectorCap::Avx2])
        {
            let p = passes(|| {
                out.copy_from_slice(caps);
                let left = fill_scanned_with(budget, out, weights, scan, &mut Vec::new(), &mut None, (simd, 1));
                assert_eq!(out.iter().map(|&x| x as u64).sum::<u64>() + left, budget);
            });
            most = most.max(p);
        }
        assert_eq!(outs[0], outs[1], "budget {budget} caps {caps:?} weights {weights:?}");
        assert_eq!(
            outs[2], outs[1],
            "AVX2: budget {budget} caps {caps:?} weights {weights:?}"
        );
        most
    };
    let cap = F64_EXACT_CAP as u32;
    let p1 = run_both(1, &[1, 1], &[1, 10_000]);
    let p2 = run_both(F64_EXACT_CAP, &[cap, 1], &[10_000, 1]);
    assert!(p1 <= 60 && p2 <= 60, "{p1} {p2}");
    let mut r = Rng(0x0bad_cafe_dead_beef);
    for round in 0..4000 {
        let n = 1 + r.next(if round % 10 == 0 { 300 } else { 20 }) as usize;
        let shape = r.next(6);
        let caps: Vec<u32> = (0..n)
            .map(|_| match shape {
                0 => cap,
                1 => cap >> r.next(23),
                2 => r.next(3) as u32,
                3 => [1, cap][r.next(2) as usize],
                4 => cap + r.next(3) as u32, // just over: the integer forms
                _ => r.next(5000) as u32,
            })
            .collect();
        let wshape = r.next(5);
        let weights: Vec<u16> = (0..n)
            .map(|_| match wshape {
                0 => 0,
                1 => 1,
                2 => [1, 10_000][r.next(2) as usize],
                3 => [0, 1][r.next(2) as usize],
                _ => r.next(10_001) as u16,
            })
            .collect();
        let total: u64 = caps.iter().map(|&c| c as u64).sum();
        let budget = [0, 1, total.saturating_sub(1), r.next(total + 2)][r.next(4) as usize];
        let p = run_both(budget, &caps, &weights);
        assert!(p <= 70, "{p} passes: budget {budget} caps {caps:?} weights {weights:?}");
    }
}

/// Plain bisection on the level: the previous, simpler search.
fn bisection(budget: u64, caps: &[u32], weights: &[u16]) -> u64 {
    let s = |l: u64| -> u64 {
        caps.iter()
            .zip(weights)
            .map(|(&c, &w)| (l * w as u64 / WEIGHT_SCALE).min(c as u64))
            .sum()
    };
    let (mut lo, mut hi) = (0u64, 1u64 << 40);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if s(mid) <= budget {
            lo = mid
        } else {
            hi = mid
        }
    }
    lo
}

#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn large_inputs_hit_the_same_level_as_bisection() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..40 {
        let n = 2000 + r.next(3000) as usize;
        let caps: Vec<u32> = (0..n).map(|_| r.next(5000) as u32).collect();
        let weights: Vec<u16> = (0..n)
            .map(|_| {
                if round % 4 == 0 {
                    [1u16, 10_000][r.next(2) as usize]
                } else {
                    1 + r.next(10_000) as u16
                }
            })
            .collect();
        let total: u64 = caps.iter().map(|&c| c as u64).sum();
        let budget = r.next(total);
        let (got, _) = run(budget, &caps, &weights);
        let level = bisection(budget, &caps, &weights);
        assert_eq!(got.iter().map(|&x| x as u64).sum::<u64>(), budget);
        for i in 0..n {
            let base = (level * weights[i] as u64 / WEIGHT_SCALE).min(caps[i] as u64);
            let x = got[i] as u64;
            assert!(x == base || x == base + 1, "item {i}: {x} vs level share {base}");
        }
    }
}

/// The remainder's cut from the listed weights (the histogram for long
/// lists, a selection for short ones) against sorting: the `rest`-th
/// largest weight, and how many of it are left to give.
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn remainder_cut_is_the_rest_th_largest_weight() {
    let mut r = Rng(0x7e57_c0de_0bad_f00d);
    for round in 0..300 {
        let k = 2 + r.next(if round % 2 == 0 { 3000 } else { 600 }) as usize;
        let list: Vec<u32> = (0..k)
            .map(|_| match r.next(3) {
                0 => [1, 15, 16, 17, 9_999, 10_000][r.next(6) as usize],
                _ => 1 + r.next(10_000) as u32,
            })
            .collect();
        let rest = 1 + r.next(k as u64 - 1) as usize;
        let mut sorted = list.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let cut = sorted[rest - 1] as u64;
        let above = sorted.iter().filter(|&&w| w as u64 > cut).count();
        for small in [0, SMALL_CUT] {
            assert_eq!(
                remainder_cut_with(&list, k, 1, k, rest, small),
                (cut, (rest - above) as u64),
                "k {k} rest {rest}"
            );
        }
    }
}

/// Where the ties end: after the `ties`-th item (in position order) of
/// the cut weight that steps up at `level + 1`, by the definition, in both
/// tiers.
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn tie_end_is_after_the_last_tie_taken() {
    let mut r = Rng(0x71e5_e4d5_0000_0001);
    let mut checked = 0;
    for _ in 0..400 {
        let n = 1 + r.next(300) as usize;
        let caps: Vec<u32> = (0..n).map(|_| r.next(5000) as u32).collect();
        let weights: Vec<u16> = (0..n).map(|_| [0, 1, 100, 5000, 10_000][r.next(5) as usize]).collect();
        let level = r.next(20_000);
        for tier in [Tier::Positive, Tier::Zero] {
            let cut = tier.weight([1, 100, 5000, 10_000][r.next(4) as usize] as u16).max(1);
            let ties: Vec<usize> = (0..n)
                .filter(|&i| {
                    let (c, w) = (caps[i] as u64, tier.weight(weights[i]));
                    w == cut && (level * w / WEIGHT_SCALE).min(c) < ((level + 1) * w / WEIGHT_SCALE).min(c)
                })
                .collect();
            assert_eq!(tie_end(level, &caps, &weights, tier, cut, 0), 0);
            for (t, &i) in ties.iter().enumerate() {
                assert_eq!(tie_end(level, &caps, &weights, tier, cut, t as u64 + 1), i + 1);
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} ties");
}

/// The division by W as a multiplication (AVX2's and the portable form's
/// shares): exact for every `x < 2^27` (`r·w < 10^8`) at each side of every
/// multiple of W, where a floor changes, and at the top.
#[test]
fn division_by_w_as_a_product_is_exact() {
    let m = super::DIV_W_MAGIC;
    let top = 1u64 << 27;
    for x in (0..top / WEIGHT_SCALE + 1)
        .flat_map(|k| [k * WEIGHT_SCALE, (k * WEIGHT_SCALE).saturating_sub(1)])
        .chain([top - 1, 99_999_999, 100_000_000])
        .filter(|&x| x < top)
    {
        assert_eq!((x * m) >> 45, x / WEIGHT_SCALE, "x {x}");
    }
}
