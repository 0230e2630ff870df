//! The metric definitions of DOMAIN.md §4, in one pure place: a report's facts become
//! counters (`Counts::add`), counters add up across rollups, and rates come from counters
//! (`Metrics::from_counts`), null when their denominator is 0.
//!
//! Per report, cohort by submission day (Asia/Shanghai), as of `now`:
//! - accepted: it has ever been accepted; time to accept = accepted_at − submitted_at.
//! - handled: resolved or closed. open: submitted, accepted, in progress, escalated or
//!   suspended (rejected and cancelled reports are neither).
//! - open past deadline: open with a deadline earlier than its clock, which is `now`, or
//!   the moment it was suspended (a suspended report's clock stands still).
//! - due (应结案) = handled + open past deadline.
//! - closed on time: closed_at ≤ deadline (or no deadline); closed late otherwise;
//!   time to close = closed_at − submitted_at.
//! - overdue (超期) = open past deadline + closed late.
//! - reworked: went through rework at least once (any status).
//! - rated: has a rating; satisfied: rating 4–5.

use serde::Serialize;
use utoipa::ToSchema;

use super::histogram::Histogram;

/// The facts of one report the metrics need (a row of `reports`).
#[derive(Clone, Debug)]
pub struct Fact<'a> {
    pub status: &'a str,
    pub submitted_at: i64,
    pub accepted_at: Option<i64>,
    pub deadline: Option<i64>,
    pub suspended_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub rework_count: i32,
    pub rating: Option<i16>,
}

impl<'a> From<&'a entity::reports::Model> for Fact<'a> {
    fn from(r: &'a entity::reports::Model) -> Self {
        Fact {
            status: r.status.as_str(),
            submitted_at: r.submitted_at,
            accepted_at: r.accepted_at,
            deadline: r.deadline,
            suspended_at: r.suspended_at,
            closed_at: r.closed_at,
            rework_count: r.rework_count,
            rating: r.rating,
        }
    }
}

/// Additive counters of a set of reports (one rollup row, or any sum of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub submitted: i64,
    pub accepted: i64,
    pub handled: i64,
    pub closed: i64,
    pub closed_on_time: i64,
    pub closed_late: i64,
    pub open: i64,
    pub open_overdue: i64,
    pub reworked: i64,
    pub rated: i64,
    pub satisfied: i64,
    pub to_accept: Histogram,
    pub to_close: Histogram,
}

/// Column names of the counters, in the order of [`Counts::counters`].
pub const COUNTERS: [&str; 11] = [
    "submitted",
    "accepted",
    "handled",
    "closed",
    "closed_on_time",
    "closed_late",
    "open",
    "open_overdue",
    "reworked",
    "rated",
    "satisfied",
];

fn is_open_unhandled(status: &str) -> bool {
    matches!(
        status,
        "submitted" | "accepted" | "in_progress" | "escalated" | "suspended"
    )
}

impl Counts {
    /// Adds one report as of `now`; returns the deadline at which this report would turn
    /// overdue later (an open, running report still within its limit), if any.
    pub fn add(&mut self, f: &Fact<'_>, now: i64) -> Option<i64> {
        self.submitted += 1;
        if let Some(at) = f.accepted_at {
            self.accepted += 1;
            self.to_accept.add(at - f.submitted_at);
        }
        if matches!(f.status, "resolved" | "closed") {
            self.handled += 1;
        }
        if f.status == "closed" {
            self.closed += 1;
            let closed_at = f.closed_at.unwrap_or(f.submitted_at);
            match f.deadline {
                Some(d) if closed_at > d => self.closed_late += 1,
                _ => self.closed_on_time += 1,
            }
            self.to_close.add(closed_at - f.submitted_at);
        }
        let mut turns_overdue = None;
        if is_open_unhandled(f.status) {
            self.open += 1;
            let suspended = f.status == "suspended";
            let clock = if suspended {
                f.suspended_at.unwrap_or(now)
            } else {
                now
            };
            if let Some(d) = f.deadline {
                if d < clock {
                    self.open_overdue += 1;
                } else if !suspended {
                    turns_overdue = Some(d);
                }
            }
        }
        if f.rework_count > 0 {
            self.reworked += 1;
        }
        if let Some(r) = f.rating {
            self.rated += 1;
            if r >= 4 {
                self.satisfied += 1;
            }
        }
        turns_overdue
    }

    pub fn counters(&self) -> [i64; 11] {
        [
            self.submitted,
            self.accepted,
            self.handled,
            self.closed,
            self.closed_on_time,
            self.closed_late,
            self.open,
            self.open_overdue,
            self.reworked,
            self.rated,
            self.satisfied,
        ]
    }

    pub fn from_counters(c: [i64; 11], to_accept: Histogram, to_close: Histogram) -> Counts {
        Counts {
            submitted: c[0],
            accepted: c[1],
            handled: c[2],
            closed: c[3],
            closed_on_time: c[4],
            closed_late: c[5],
            open: c[6],
            open_overdue: c[7],
            reworked: c[8],
            rated: c[9],
            satisfied: c[10],
            to_accept,
            to_close,
        }
    }

    /// `self + sign × other`, field by field.
    pub fn combine(&self, other: &Counts, sign: i64) -> Counts {
        let (a, b) = (self.counters(), other.counters());
        let mut c = [0; 11];
        for i in 0..11 {
            c[i] = a[i] + sign * b[i];
        }
        let mut ta = self.to_accept;
        let mut tc = self.to_close;
        for i in 0..super::histogram::BUCKETS {
            ta.0[i] += sign * other.to_accept.0[i];
            tc.0[i] += sign * other.to_close.0[i];
        }
        Counts::from_counters(c, ta, tc)
    }

    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// Wish volumes of a cohort (submitted in the period).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct WishCounts {
    pub submitted: i64,
    pub claimed: i64,
    pub fulfilled: i64,
}

/// Every figure of the dashboard for one set of reports and wishes.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Metrics {
    /// Reports submitted (上报数).
    pub submitted: i64,
    /// Reports accepted (受理数).
    pub accepted: i64,
    /// Reports handled: resolved or closed.
    pub handled: i64,
    /// 应结案: handled + open past deadline.
    pub due: i64,
    /// 结案数.
    pub closed: i64,
    /// Closed on or before the deadline.
    pub closed_on_time: i64,
    /// Open (not handled, not rejected or cancelled).
    pub open: i64,
    /// 超期: open past deadline + closed after deadline.
    pub overdue: i64,
    /// Reports that went through rework (返工).
    pub rework: i64,
    /// 结案率 = closed / due.
    pub closure_rate: Option<f64>,
    /// 按期结案率 = closed on time / due.
    pub on_time_rate: Option<f64>,
    /// 返工率 = reworked / handled.
    pub rework_rate: Option<f64>,
    /// 满意率 = ratings 4–5 / ratings.
    pub satisfaction_rate: Option<f64>,
    /// 闭环率 = closed / accepted.
    pub loop_rate: Option<f64>,
    pub ratings: i64,
    /// Time to accept, median and p90, in seconds (log buckets, ±19 %).
    pub accept_median_s: Option<i64>,
    pub accept_p90_s: Option<i64>,
    /// Time to close, median and p90, in seconds.
    pub close_median_s: Option<i64>,
    pub close_p90_s: Option<i64>,
    pub wishes: WishCounts,
}

fn rate(num: i64, den: i64) -> Option<f64> {
    (den != 0).then(|| num as f64 / den as f64)
}

impl Metrics {
    pub fn from_counts(c: &Counts, wishes: WishCounts) -> Metrics {
        let due = c.handled + c.open_overdue;
        let secs = |ms: Option<i64>| ms.map(|v| (v + 500) / 1000);
        Metrics {
            submitted: c.submitted,
            accepted: c.accepted,
            handled: c.handled,
            due,
            closed: c.closed,
            closed_on_time: c.closed_on_time,
            open: c.open,
            overdue: c.open_overdue + c.closed_late,
            rework: c.reworked,
            closure_rate: rate(c.closed, due),
            on_time_rate: rate(c.closed_on_time, due),
            rework_rate: rate(c.reworked, c.handled),
            satisfaction_rate: rate(c.satisfied, c.rated),
            loop_rate: rate(c.closed, c.accepted),
            ratings: c.rated,
            accept_median_s: secs(c.to_accept.quantile_ms(0.5)),
            accept_p90_s: secs(c.to_accept.quantile_ms(0.9)),
            close_median_s: secs(c.to_close.quantile_ms(0.5)),
            close_p90_s: secs(c.to_close.quantile_ms(0.9)),
            wishes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const NOW: i64 = 1_000 * H;

    fn fact(status: &str) -> Fact<'_> {
        Fact {
            status,
            submitted_at: 0,
            accepted_at: None,
            deadline: None,
            suspended_at: None,
            closed_at: None,
            rework_count: 0,
            rating: None,
        }
    }

    fn metrics(facts: &[Fact<'_>]) -> Metrics {
        let mut c = Counts::default();
        for f in facts {
            c.add(f, NOW);
        }
        Metrics::from_counts(&c, WishCounts::default())
    }

    #[test]
    fn nothing_due_gives_null_rates_not_zero_or_nan() {
        let m = metrics(&[]);
        assert_eq!(m.due, 0);
        assert_eq!(m.closure_rate, None);
        assert_eq!(m.on_time_rate, None);
        assert_eq!(m.rework_rate, None);
        assert_eq!(m.satisfaction_rate, None);
        assert_eq!(m.loop_rate, None);
        assert_eq!(m.accept_median_s, None);
        // Open within the limit: submitted and open, still not due.
        let m = metrics(&[Fact {
            accepted_at: Some(H),
            deadline: Some(NOW + H),
            ..fact("in_progress")
        }]);
        assert_eq!((m.submitted, m.open, m.due, m.overdue), (1, 1, 0, 0));
        assert_eq!(m.closure_rate, None);
        assert_eq!(m.loop_rate, Some(0.0));
    }

    #[test]
    fn a_hand_computed_mix_gives_the_known_answers() {
        let facts = [
            // 1. closed on time, rated 5, accepted after 1 h, closed after 10 h.
            Fact {
                accepted_at: Some(H),
                deadline: Some(20 * H),
                closed_at: Some(10 * H),
                rating: Some(5),
                ..fact("closed")
            },
            // 2. closed after its deadline, reworked once, rated 3.
            Fact {
                accepted_at: Some(H),
                deadline: Some(5 * H),
                closed_at: Some(30 * H),
                rework_count: 1,
                rating: Some(3),
                ..fact("closed")
            },
            // 3. resolved, waiting for the check: handled, not closed.
            Fact {
                accepted_at: Some(2 * H),
                deadline: Some(NOW + H),
                ..fact("resolved")
            },
            // 4. open past its deadline.
            Fact {
                accepted_at: Some(H),
                deadline: Some(50 * H),
                ..fact("in_progress")
            },
            // 5. suspended before its deadline: the clock stopped, so not overdue.
            Fact {
                accepted_at: Some(H),
                deadline: Some(60 * H),
                suspended_at: Some(40 * H),
                ..fact("suspended")
            },
            // 6. suspended after its deadline had passed: overdue.
            Fact {
                accepted_at: Some(H),
                deadline: Some(60 * H),
                suspended_at: Some(70 * H),
                ..fact("suspended")
            },
            // 7. rejected: counted as submitted only.
            fact("rejected"),
            // 8. back in progress after rework, within its limit.
            Fact {
                accepted_at: Some(H),
                deadline: Some(NOW + 10 * H),
                rework_count: 2,
                ..fact("in_progress")
            },
        ];
        let m = metrics(&facts);
        assert_eq!(m.submitted, 8);
        assert_eq!(m.accepted, 7);
        assert_eq!(m.handled, 3); // 1, 2, 3
        assert_eq!(m.due, 5); // handled 3 + open past deadline (4, 6)
        assert_eq!(m.closed, 2);
        assert_eq!(m.closed_on_time, 1);
        assert_eq!(m.open, 4); // 4, 5, 6, 8
        assert_eq!(m.overdue, 3); // 4, 6 open past deadline + 2 closed late
        assert_eq!(m.rework, 2); // 2 and 8
        assert_eq!(m.closure_rate, Some(2.0 / 5.0));
        assert_eq!(m.on_time_rate, Some(1.0 / 5.0));
        assert_eq!(m.rework_rate, Some(2.0 / 3.0));
        assert_eq!(m.satisfaction_rate, Some(1.0 / 2.0));
        assert_eq!(m.loop_rate, Some(2.0 / 7.0));
        assert_eq!(m.ratings, 2);
        // Times to close: 10 h and 30 h; the median is the first, within a bucket.
        let median = m.close_median_s.unwrap() as f64;
        assert!((median - 36_000.0).abs() / 36_000.0 < 0.2, "{median}");
        let p90 = m.close_p90_s.unwrap() as f64;
        assert!((p90 - 108_000.0).abs() / 108_000.0 < 0.2, "{p90}");
        // Six accepted after 1 h, one after 2 h.
        let accept = m.accept_median_s.unwrap() as f64;
        assert!((accept - 3_600.0).abs() / 3_600.0 < 0.2, "{accept}");
    }

    #[test]
    fn the_overdue_moment_is_reported_only_for_running_reports() {
        let mut c = Counts::default();
        let running = Fact {
            accepted_at: Some(H),
            deadline: Some(NOW + 5),
            ..fact("accepted")
        };
        assert_eq!(c.add(&running, NOW), Some(NOW + 5));
        let suspended = Fact {
            suspended_at: Some(NOW - H),
            ..running.clone()
        };
        let suspended = Fact {
            status: "suspended",
            ..suspended
        };
        assert_eq!(c.add(&suspended, NOW), None);
        // Once the clock passes the deadline the same report counts as overdue.
        let mut later = Counts::default();
        later.add(&running, NOW + 6);
        assert_eq!(later.open_overdue, 1);
    }

    #[test]
    fn counts_add_and_subtract_field_by_field() {
        let mut a = Counts::default();
        a.add(&fact("closed"), NOW);
        let mut b = a;
        b.add(&fact("submitted"), NOW);
        let d = b.combine(&a, -1);
        assert_eq!(d.submitted, 1);
        assert_eq!(d.closed, 0);
        assert_eq!(a.combine(&d, 1), b);
        assert!(b.combine(&b, -1).is_zero());
    }
}
