//! The explicit, seeded, portable random numbers every part of the workspace draws from.
//!
//! Use [`ChaCha8Rng`] (its output is stable across platforms and versions of `rand_chacha`)
//! seeded with [`SeedableRng::seed_from_u64`]. Nothing in the workspace uses a thread-local or
//! global generator.

pub use rand_chacha::ChaCha8Rng;
pub use rand_core::{RngCore, SeedableRng};

/// A uniform number in [0, 1) from the 53 high bits of one `u64` draw (portable).
pub fn uniform_f64(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal number: Box–Muller on two uniform draws, with `libm` (portable).
pub fn normal_f64(rng: &mut impl RngCore) -> f64 {
    // 1 − u is in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - uniform_f64(rng);
    let u2 = uniform_f64(rng);
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
}

/// A uniform index in `0..n` (`n ≥ 1`), without modulo bias (Lemire's method), portable.
/// Returns 0 for `n == 0`.
pub fn index(rng: &mut impl RngCore, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let n = n as u64;
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as usize;
        }
    }
}

/// Shuffles `values` in place (Fisher–Yates with [`index`]), portable.
pub fn shuffle<V>(rng: &mut impl RngCore, values: &mut [V]) {
    for i in (1..values.len()).rev() {
        let j = index(rng, i + 1);
        values.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_index_is_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut v: Vec<usize> = (0..100).collect();
        shuffle(&mut rng, &mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted);
        assert!((0..1000).all(|_| index(&mut rng, 7) < 7));
        assert_eq!(index(&mut rng, 0), 0);
    }
}
