//! A tiny deterministic PRNG (SplitMix64) for picking case ids.
//!
//! Benchmarks need "random enough" ids that are the same from run to run, so that two
//! runs touch the same rows; statistical quality beyond that does not matter, and a
//! dependency on `rand` would be more than the job needs.

/// SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, full period 2^64.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift; the bias is below 2^-32 for any
    /// `n` a benchmark uses, which is far below what matters here.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// `k` distinct numbers from `1..=n` in random order (`k <= n`), by a partial
    /// Fisher-Yates shuffle: every k-subset is equally likely, and the cost is O(n)
    /// whatever `k`, so picking all of a million cases takes as long as picking ten.
    pub fn distinct(&mut self, k: usize, n: u64) -> Vec<u64> {
        let mut all: Vec<u64> = (1..=n).collect();
        let k = k.min(all.len());
        for i in 0..k {
            let j = i + self.below((all.len() - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SplitMix64::new(1);
        let mut seen = [false; 10];
        for _ in 0..10_000 {
            let x = r.below(10);
            assert!(x < 10);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn distinct_picks_are_distinct_in_range_and_repeatable() {
        let picked = SplitMix64::new(3).distinct(500, 1000);
        assert_eq!(picked.len(), 500);
        let set: std::collections::HashSet<_> = picked.iter().copied().collect();
        assert_eq!(set.len(), 500);
        assert!(picked.iter().all(|&x| (1..=1000).contains(&x)));
        assert_eq!(picked, SplitMix64::new(3).distinct(500, 1000));
        let mut everything = SplitMix64::new(4).distinct(10, 10);
        everything.sort_unstable();
        assert_eq!(everything, (1..=10).collect::<Vec<_>>());
    }
}
