//! Fixed log-scale buckets of durations, so medians and p90s can be merged from rollups by
//! adding bucket counts. Bucket `i` holds durations below 2^(i/2) minutes (bucket 0: under
//! one minute); the last bucket holds everything longer (about 1.4 years and up). A
//! quantile is read as the geometric middle of its bucket: within ±19 % of the true value.

/// Number of buckets (columns `ta_00…` and `tc_00…` of `dashboard_rollups`).
pub const BUCKETS: usize = 40;

const MINUTE_MS: f64 = 60_000.0;

/// Upper bound (exclusive) of bucket `i`, in milliseconds.
pub fn upper_ms(i: usize) -> f64 {
    MINUTE_MS * 2f64.powf(i as f64 / 2.0)
}

/// The bucket of a duration in milliseconds (negative durations count as zero).
pub fn bucket(ms: i64) -> usize {
    let ms = ms.max(0) as f64;
    (0..BUCKETS - 1)
        .find(|&i| ms < upper_ms(i))
        .unwrap_or(BUCKETS - 1)
}

/// The bucket boundaries as whole milliseconds: `ms` (an integer) falls in bucket `i` exactly
/// when `thresholds_ms()[i - 1] <= ms < thresholds_ms()[i]` (bucket 0 below the first, the
/// last bucket from the last one up). For SQL, which compares integers: `ms < upper_ms(i)`
/// holds for an integer exactly when `ms < ceil(upper_ms(i))`.
pub fn thresholds_ms() -> [i64; BUCKETS - 1] {
    std::array::from_fn(|i| upper_ms(i).ceil() as i64)
}

/// A duration histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Histogram(pub [i64; BUCKETS]);

impl Default for Histogram {
    fn default() -> Self {
        Histogram([0; BUCKETS])
    }
}

impl Histogram {
    pub fn add(&mut self, ms: i64) {
        self.0[bucket(ms)] += 1;
    }

    /// Adds `n` durations known to fall in bucket `i`.
    pub fn add_to_bucket(&mut self, i: usize, n: i64) {
        self.0[i.min(BUCKETS - 1)] += n;
    }

    pub fn count(&self) -> i64 {
        self.0.iter().sum()
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// The `q` quantile (0 < q ≤ 1) in milliseconds: the smallest bucket holding the
    /// ⌈q·n⌉-th duration, read at its geometric middle; `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<i64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as i64).clamp(1, n);
        let mut seen = 0;
        for (i, c) in self.0.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let hi = upper_ms(i);
                let lo = if i == 0 { 0.0 } else { upper_ms(i - 1) };
                let mid = if i == 0 { hi / 2.0 } else { (lo * hi).sqrt() };
                return Some(mid.round() as i64);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_by_root_two() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(59_999), 0);
        assert_eq!(bucket(60_000), 1);
        assert_eq!(bucket(84_000), 1);
        assert_eq!(bucket(85_000), 2);
        assert_eq!(bucket(-5), 0);
        assert_eq!(bucket(i64::MAX), BUCKETS - 1);
    }

    #[test]
    fn whole_millisecond_thresholds_split_the_buckets_exactly_where_bucket_does() {
        let t = thresholds_ms();
        assert_eq!(t[0], 60_000);
        for (i, &edge) in t.iter().enumerate() {
            assert_eq!(bucket(edge - 1), i, "just below threshold {i} ({edge} ms)");
            assert_eq!(bucket(edge), i + 1, "at threshold {i} ({edge} ms)");
        }
        assert!(t.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn quantiles_stay_within_a_bucket_of_the_truth() {
        let mut h = Histogram::default();
        for minutes in 1..=100 {
            h.add(minutes * 60_000);
        }
        let median = h.quantile_ms(0.5).unwrap() as f64 / 60_000.0;
        assert!((median - 50.0).abs() / 50.0 < 0.2, "{median}");
        let p90 = h.quantile_ms(0.9).unwrap() as f64 / 60_000.0;
        assert!((p90 - 90.0).abs() / 90.0 < 0.2, "{p90}");
        assert_eq!(Histogram::default().quantile_ms(0.5), None);
    }

    #[test]
    fn merged_histograms_give_the_quantile_of_the_union() {
        let (mut a, mut b, mut all) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for (i, ms) in [1_000, 90_000, 3_600_000, 7_200_000, 86_400_000]
            .iter()
            .enumerate()
        {
            if i % 2 == 0 {
                a.add(*ms)
            } else {
                b.add(*ms)
            }
            all.add(*ms);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.quantile_ms(0.5), all.quantile_ms(0.5));
    }
}
