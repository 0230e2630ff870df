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
//! - cancelled reports count nowhere (API.md), not even as submitted.
//!
//! Unit metrics (DOMAIN.md §8), per LEAD assignment (`report_units`, role lead) of a report
//! that is not cancelled, cohort by dispatch day, as of `now`:
//! - dispatched: every such assignment, whatever became of it (returned and withdrawn too).
//! - signed on time: signed_at ≤ sign_deadline.
//! - returned: the unit sent it back (退单).
//! - unit due: resolved, or still held (not resolved, returned or withdrawn) past its
//!   deadline; resolved on time: resolved_at ≤ deadline.
//! - unit rated / satisfied: the report's rating, for resolved assignments only.
//! - 按时签收率 = signed on time / dispatched; 按时办结率 = resolved on time / unit due;
//!   退单率 = returned / dispatched.
//!
//! Statuses are read through [`ReportStatus`] and its methods (`is_open`, `is_handled`), so
//! the metrics and the state machine cannot disagree on what "open" and "handled" mean.

use serde::Serialize;
use utoipa::ToSchema;

use super::histogram::Histogram;
use crate::reports::status::{AssignmentStatus, ReportStatus};

/// The facts of one report the metrics need (a row of `reports`).
#[derive(Clone, Debug)]
pub struct Fact {
    pub status: ReportStatus,
    pub submitted_at: i64,
    pub accepted_at: Option<i64>,
    pub deadline: Option<i64>,
    pub suspended_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub rework_count: i32,
    pub rating: Option<i16>,
}

impl From<&entity::reports::Model> for Fact {
    fn from(r: &entity::reports::Model) -> Self {
        Fact {
            status: r.status,
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

/// Open in the metrics' sense: still needs attention and not yet handled (a resolved report
/// is open to the state machine, but handled here).
fn is_open_unhandled(status: ReportStatus) -> bool {
    status.is_open() && !status.is_handled()
}

impl Counts {
    /// Adds one report as of `now`; returns the deadline at which this report would turn
    /// overdue later (an open, running report still within its limit), if any. A cancelled
    /// report adds nothing.
    pub fn add(&mut self, f: &Fact, now: i64) -> Option<i64> {
        let status = f.status;
        if status == ReportStatus::Cancelled {
            return None;
        }
        self.submitted += 1;
        if let Some(at) = f.accepted_at {
            self.accepted += 1;
            self.to_accept.add(at - f.submitted_at);
        }
        if status.is_handled() {
            self.handled += 1;
        }
        if status == ReportStatus::Closed {
            self.closed += 1;
            let closed_at = f.closed_at.unwrap_or(f.submitted_at);
            match f.deadline {
                Some(d) if closed_at > d => self.closed_late += 1,
                _ => self.closed_on_time += 1,
            }
            self.to_close.add(closed_at - f.submitted_at);
        }
        let mut turns_overdue = None;
        if is_open_unhandled(status) {
            self.open += 1;
            let suspended = status == ReportStatus::Suspended;
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WishCounts {
    pub submitted: i64,
    pub claimed: i64,
    pub fulfilled: i64,
}

/// The facts of one lead assignment the unit metrics need (a row of `report_units` and its
/// report's rating).
#[derive(Clone, Debug)]
pub struct AssignmentFact {
    pub status: AssignmentStatus,
    pub sign_deadline: i64,
    pub deadline: i64,
    pub signed_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub rating: Option<i16>,
}

/// Additive counters of a set of lead assignments (DOMAIN.md §8). The dashboard reads them
/// with one grouped query whose `CASE`s spell out [`UnitCounts::add`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitCounts {
    pub dispatched: i64,
    pub signed_on_time: i64,
    pub returned: i64,
    /// Resolved, or still held past the deadline.
    pub due: i64,
    pub resolved_on_time: i64,
    /// Resolved assignments whose report has a rating.
    pub rated: i64,
    /// Of those, rated 4–5.
    pub satisfied: i64,
}

impl UnitCounts {
    /// Adds one lead assignment of a report that is not cancelled, as of `now`.
    pub fn add(&mut self, f: &AssignmentFact, now: i64) {
        use AssignmentStatus as A;
        self.dispatched += 1;
        if f.signed_at.is_some_and(|at| at <= f.sign_deadline) {
            self.signed_on_time += 1;
        }
        if f.status == A::Returned {
            self.returned += 1;
        }
        let held = !matches!(f.status, A::Resolved | A::Returned | A::Withdrawn);
        match f.resolved_at {
            Some(at) => {
                self.due += 1;
                if at <= f.deadline {
                    self.resolved_on_time += 1;
                }
            }
            None if held && f.deadline < now => self.due += 1,
            None => {}
        }
        if f.status == A::Resolved {
            if let Some(r) = f.rating {
                self.rated += 1;
                if r >= 4 {
                    self.satisfied += 1;
                }
            }
        }
    }

    /// `self + other`, field by field (folding grid rows into child areas).
    pub fn plus(&self, o: &UnitCounts) -> UnitCounts {
        UnitCounts {
            dispatched: self.dispatched + o.dispatched,
            signed_on_time: self.signed_on_time + o.signed_on_time,
            returned: self.returned + o.returned,
            due: self.due + o.due,
            resolved_on_time: self.resolved_on_time + o.resolved_on_time,
            rated: self.rated + o.rated,
            satisfied: self.satisfied + o.satisfied,
        }
    }
}

/// Every figure of the dashboard for one set of reports and wishes, under the names of the
/// client contract (API.md). Counts are integers; rates are in 0..1, null when their
/// denominator is 0; durations are minutes rounded to one decimal, null when nothing was
/// measured.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Metrics {
    /// Reports submitted (上报数); cancelled reports count nowhere.
    pub submitted: i64,
    /// Reports accepted (受理数).
    pub accepted: i64,
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
    pub reworked: i64,
    /// Reports with a rating (评价数).
    pub rated: i64,
    /// Reports rated 4–5.
    pub satisfied: i64,
    /// 结案率 = closed / due.
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub closure_rate: Option<f64>,
    /// 按期结案率 = closed on time / due.
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub on_time_rate: Option<f64>,
    /// 返工率 = reworked / handled. Reworked counts reports back in progress too, so this
    /// can exceed 1 while reworked reports are still open.
    #[schema(required = true, minimum = 0.0)]
    pub rework_rate: Option<f64>,
    /// 满意率 = satisfied / rated.
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub satisfaction_rate: Option<f64>,
    /// 闭环率 = closed / accepted.
    #[schema(required = true, minimum = 0.0)]
    pub loop_closed_rate: Option<f64>,
    /// Time to accept, median, in minutes (one decimal; log buckets, within ±19 %).
    #[schema(required = true, minimum = 0.0)]
    pub accept_minutes_p50: Option<f64>,
    /// Time to accept, 90th percentile, in minutes (one decimal).
    #[schema(required = true, minimum = 0.0)]
    pub accept_minutes_p90: Option<f64>,
    /// Time to close, median, in minutes (one decimal).
    #[schema(required = true, minimum = 0.0)]
    pub close_minutes_p50: Option<f64>,
    /// Time to close, 90th percentile, in minutes (one decimal).
    #[schema(required = true, minimum = 0.0)]
    pub close_minutes_p90: Option<f64>,
    /// Wishes submitted in the period.
    pub wishes_submitted: i64,
    /// Of those, claimed.
    pub wishes_claimed: i64,
    /// Of those, fulfilled.
    pub wishes_fulfilled: i64,
    /// Reports handled (办结数): resolved or closed; the denominator of `rework_rate`.
    pub handled: i64,
    /// 派单数: lead dispatches to partner units (DOMAIN.md §8) of the reports counted here,
    /// by dispatch day; a report dispatched twice counts twice. In `group_by=unit` groups,
    /// the unit's own lead dispatches.
    pub dispatched: i64,
    /// Of those, signed for (签收) by the sign-for deadline.
    pub signed_on_time: i64,
    /// Of those, returned by the unit (退单).
    pub returned: i64,
    /// 按时签收率 = signed on time / dispatched.
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub sign_on_time_rate: Option<f64>,
    /// 按时办结率 = resolved by the handling deadline / dispatches due (resolved, or still
    /// held by the unit past the deadline).
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub unit_on_time_rate: Option<f64>,
    /// 退单率 = returned / dispatched.
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub return_rate: Option<f64>,
}

fn rate(num: i64, den: i64) -> Option<f64> {
    (den != 0).then(|| num as f64 / den as f64)
}

/// Milliseconds as minutes rounded to one decimal.
fn minutes(ms: i64) -> f64 {
    (ms as f64 / 6_000.0).round() / 10.0
}

impl Metrics {
    pub fn from_counts(c: &Counts, wishes: WishCounts) -> Metrics {
        let due = c.handled + c.open_overdue;
        let p = |h: &Histogram, q: f64| h.quantile_ms(q).map(minutes);
        Metrics {
            submitted: c.submitted,
            accepted: c.accepted,
            due,
            closed: c.closed,
            closed_on_time: c.closed_on_time,
            open: c.open,
            overdue: c.open_overdue + c.closed_late,
            reworked: c.reworked,
            rated: c.rated,
            satisfied: c.satisfied,
            closure_rate: rate(c.closed, due),
            on_time_rate: rate(c.closed_on_time, due),
            rework_rate: rate(c.reworked, c.handled),
            satisfaction_rate: rate(c.satisfied, c.rated),
            loop_closed_rate: rate(c.closed, c.accepted),
            accept_minutes_p50: p(&c.to_accept, 0.5),
            accept_minutes_p90: p(&c.to_accept, 0.9),
            close_minutes_p50: p(&c.to_close, 0.5),
            close_minutes_p90: p(&c.to_close, 0.9),
            wishes_submitted: wishes.submitted,
            wishes_claimed: wishes.claimed,
            wishes_fulfilled: wishes.fulfilled,
            handled: c.handled,
            dispatched: 0,
            signed_on_time: 0,
            returned: 0,
            sign_on_time_rate: None,
            unit_on_time_rate: None,
            return_rate: None,
        }
    }

    /// The same metrics with the unit figures of `u` (the lead assignments of these reports).
    pub fn with_units(self, u: &UnitCounts) -> Metrics {
        Metrics {
            dispatched: u.dispatched,
            signed_on_time: u.signed_on_time,
            returned: u.returned,
            sign_on_time_rate: rate(u.signed_on_time, u.dispatched),
            unit_on_time_rate: rate(u.resolved_on_time, u.due),
            return_rate: rate(u.returned, u.dispatched),
            ..self
        }
    }

    /// A unit's metrics (a `group_by=unit` group): its unit figures, and satisfaction from
    /// the ratings of the reports it resolved as lead; the report counts, which belong to
    /// areas, are 0 and their rates null.
    pub fn of_unit(u: &UnitCounts) -> Metrics {
        Metrics {
            rated: u.rated,
            satisfied: u.satisfied,
            satisfaction_rate: rate(u.satisfied, u.rated),
            ..Metrics::from_counts(&Counts::default(), WishCounts::default()).with_units(u)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const NOW: i64 = 1_000 * H;

    fn fact(status: ReportStatus) -> Fact {
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

    fn metrics(facts: &[Fact]) -> Metrics {
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
        assert_eq!(m.loop_closed_rate, None);
        assert_eq!(m.accept_minutes_p50, None);
        assert_eq!(m.close_minutes_p90, None);
        // Open within the limit: submitted and open, still not due.
        let m = metrics(&[Fact {
            accepted_at: Some(H),
            deadline: Some(NOW + H),
            ..fact(ReportStatus::InProgress)
        }]);
        assert_eq!((m.submitted, m.open, m.due, m.overdue), (1, 1, 0, 0));
        assert_eq!(m.closure_rate, None);
        assert_eq!(m.loop_closed_rate, Some(0.0));
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
                ..fact(ReportStatus::Closed)
            },
            // 2. closed after its deadline, reworked once, rated 3.
            Fact {
                accepted_at: Some(H),
                deadline: Some(5 * H),
                closed_at: Some(30 * H),
                rework_count: 1,
                rating: Some(3),
                ..fact(ReportStatus::Closed)
            },
            // 3. resolved, waiting for the check: handled, not closed.
            Fact {
                accepted_at: Some(2 * H),
                deadline: Some(NOW + H),
                ..fact(ReportStatus::Resolved)
            },
            // 4. open past its deadline.
            Fact {
                accepted_at: Some(H),
                deadline: Some(50 * H),
                ..fact(ReportStatus::InProgress)
            },
            // 5. suspended before its deadline: the clock stopped, so not overdue.
            Fact {
                accepted_at: Some(H),
                deadline: Some(60 * H),
                suspended_at: Some(40 * H),
                ..fact(ReportStatus::Suspended)
            },
            // 6. suspended after its deadline had passed: overdue.
            Fact {
                accepted_at: Some(H),
                deadline: Some(60 * H),
                suspended_at: Some(70 * H),
                ..fact(ReportStatus::Suspended)
            },
            // 7. rejected: counted as submitted only.
            fact(ReportStatus::Rejected),
            // 8. back in progress after rework, within its limit.
            Fact {
                accepted_at: Some(H),
                deadline: Some(NOW + 10 * H),
                rework_count: 2,
                ..fact(ReportStatus::InProgress)
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
        assert_eq!(m.reworked, 2); // 2 and 8
        assert_eq!(m.closure_rate, Some(2.0 / 5.0));
        assert_eq!(m.on_time_rate, Some(1.0 / 5.0));
        assert_eq!(m.rework_rate, Some(2.0 / 3.0));
        assert_eq!(m.satisfaction_rate, Some(1.0 / 2.0));
        assert_eq!(m.loop_closed_rate, Some(2.0 / 7.0));
        assert_eq!(m.rated, 2);
        assert_eq!(m.satisfied, 1);
        // Times to close: 10 h and 30 h; the median is the first, within a bucket.
        let median = m.close_minutes_p50.unwrap();
        assert!((median - 600.0).abs() / 600.0 < 0.2, "{median}");
        let p90 = m.close_minutes_p90.unwrap();
        assert!((p90 - 1_800.0).abs() / 1_800.0 < 0.2, "{p90}");
        // Six accepted after 1 h, one after 2 h.
        let accept = m.accept_minutes_p50.unwrap();
        assert!((accept - 60.0).abs() / 60.0 < 0.2, "{accept}");
        let accept90 = m.accept_minutes_p90.unwrap();
        assert!((accept90 - 120.0).abs() / 120.0 < 0.2, "{accept90}");
    }

    #[test]
    fn the_overdue_moment_is_reported_only_for_running_reports() {
        let mut c = Counts::default();
        let running = Fact {
            accepted_at: Some(H),
            deadline: Some(NOW + 5),
            ..fact(ReportStatus::Accepted)
        };
        assert_eq!(c.add(&running, NOW), Some(NOW + 5));
        let suspended = Fact {
            suspended_at: Some(NOW - H),
            ..running.clone()
        };
        let suspended = Fact {
            status: ReportStatus::Suspended,
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
        a.add(&fact(ReportStatus::Closed), NOW);
        let mut b = a;
        b.add(&fact(ReportStatus::Submitted), NOW);
        let d = b.combine(&a, -1);
        assert_eq!(d.submitted, 1);
        assert_eq!(d.closed, 0);
        assert_eq!(a.combine(&d, 1), b);
        assert!(b.combine(&b, -1).is_zero());
    }

    #[test]
    fn a_cancelled_report_counts_nowhere_not_even_as_submitted() {
        let m = metrics(&[fact(ReportStatus::Cancelled), fact(ReportStatus::Submitted)]);
        assert_eq!((m.submitted, m.open, m.due, m.handled), (1, 1, 0, 0));
        let mut c = Counts::default();
        c.add(&fact(ReportStatus::Cancelled), NOW);
        assert!(c.is_zero());
    }

    #[test]
    fn open_and_handled_follow_the_state_machine_for_every_status() {
        for status in ReportStatus::ALL {
            let mut c = Counts::default();
            c.add(&fact(status), NOW);
            if status == ReportStatus::Cancelled {
                assert!(c.is_zero(), "{status}");
                continue;
            }
            assert_eq!(c.submitted, 1, "{status}");
            assert_eq!(c.handled == 1, status.is_handled(), "{status}");
            assert_eq!(
                c.open == 1,
                status.is_open() && !status.is_handled(),
                "{status}"
            );
            assert_eq!(c.closed == 1, status == ReportStatus::Closed, "{status}");
        }
    }

    #[test]
    fn durations_are_minutes_with_one_decimal() {
        assert_eq!(minutes(0), 0.0);
        assert_eq!(minutes(30_000), 0.5);
        assert_eq!(minutes(90_000), 1.5);
        assert_eq!(minutes(3_600_000), 60.0);
        assert_eq!(minutes(3_629_999), 60.5);
        assert_eq!(minutes(3_602_999), 60.0);
        // A histogram quantile comes out in minutes, not seconds or milliseconds.
        let m = metrics(&[Fact {
            accepted_at: Some(10 * 60_000),
            ..fact(ReportStatus::Accepted)
        }]);
        let p50 = m.accept_minutes_p50.unwrap();
        assert!((p50 - 10.0).abs() / 10.0 < 0.2, "{p50}");
        assert_eq!((p50 * 10.0).round() / 10.0, p50);
    }

    #[test]
    fn metrics_serialize_flat_under_the_names_of_the_contract() {
        let mut c = Counts::default();
        c.add(&fact(ReportStatus::Closed), NOW);
        let wishes = WishCounts {
            submitted: 3,
            claimed: 2,
            fulfilled: 1,
        };
        let v = serde_json::to_value(Metrics::from_counts(&c, wishes)).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for name in CONTRACT {
            assert!(keys.contains(&name), "{name} is missing from {keys:?}");
        }
        for name in UNIT_CONTRACT {
            assert!(keys.contains(&name), "{name} is missing from {keys:?}");
        }
        // Additions beyond the contract: only `handled` (the CSV's 办结数).
        let extra: Vec<&&str> = keys
            .iter()
            .filter(|k| !CONTRACT.contains(k) && !UNIT_CONTRACT.contains(k) && **k != "handled")
            .collect();
        assert!(extra.is_empty(), "{extra:?}");
        assert_eq!(v["wishes_submitted"], 3);
        assert_eq!(v["wishes_claimed"], 2);
        assert_eq!(v["wishes_fulfilled"], 1);
        assert_eq!(v["loop_closed_rate"], serde_json::Value::Null);
        assert!(v["close_minutes_p50"].is_f64());
    }

    /// The unit metric fields of API.md ("Partner units"), exactly as spelled there.
    const UNIT_CONTRACT: [&str; 6] = [
        "dispatched",
        "signed_on_time",
        "returned",
        "sign_on_time_rate",
        "unit_on_time_rate",
        "return_rate",
    ];

    fn lead(status: AssignmentStatus) -> AssignmentFact {
        AssignmentFact {
            status,
            sign_deadline: 2 * H,
            deadline: 50 * H,
            signed_at: None,
            resolved_at: None,
            rating: None,
        }
    }

    fn unit_metrics(facts: &[AssignmentFact]) -> Metrics {
        let mut u = UnitCounts::default();
        for f in facts {
            u.add(f, NOW);
        }
        Metrics::of_unit(&u)
    }

    #[test]
    fn no_dispatch_gives_null_unit_rates() {
        let m = unit_metrics(&[]);
        assert_eq!((m.dispatched, m.signed_on_time, m.returned), (0, 0, 0));
        assert_eq!(m.sign_on_time_rate, None);
        assert_eq!(m.unit_on_time_rate, None);
        assert_eq!(m.return_rate, None);
        assert_eq!(m.satisfaction_rate, None);
        // Report metrics carry no unit figures unless given them.
        let m = metrics(&[fact(ReportStatus::Submitted)]);
        assert_eq!((m.dispatched, m.sign_on_time_rate), (0, None));
        // Dispatched, waiting within both limits: a dispatch, nothing due yet.
        let m = unit_metrics(&[AssignmentFact {
            deadline: NOW + H,
            sign_deadline: NOW + H,
            ..lead(AssignmentStatus::Dispatched)
        }]);
        assert_eq!(m.dispatched, 1);
        assert_eq!(m.sign_on_time_rate, Some(0.0));
        assert_eq!(m.unit_on_time_rate, None);
        assert_eq!(m.return_rate, Some(0.0));
    }

    #[test]
    fn a_hand_computed_mix_of_lead_assignments_gives_the_known_unit_answers() {
        use AssignmentStatus as A;
        let facts = [
            // 1. signed in time, resolved in time, rated 5.
            AssignmentFact {
                signed_at: Some(H),
                resolved_at: Some(10 * H),
                rating: Some(5),
                ..lead(A::Resolved)
            },
            // 2. signed late, resolved late, rated 2.
            AssignmentFact {
                signed_at: Some(3 * H),
                resolved_at: Some(60 * H),
                rating: Some(2),
                ..lead(A::Resolved)
            },
            // 3. signed in time, still handling past its deadline (50 h < NOW): due, late.
            AssignmentFact {
                signed_at: Some(2 * H),
                ..lead(A::Signed)
            },
            // 4. signed in time, handling within its limit: not due.
            AssignmentFact {
                signed_at: Some(H),
                deadline: NOW + H,
                ..lead(A::Signed)
            },
            // 5. returned: never signed, not due though its deadline passed.
            lead(A::Returned),
            // 6. withdrawn by a new dispatch before signing: not due.
            lead(A::Withdrawn),
            // 7. never signed, past both deadlines: due.
            lead(A::Dispatched),
            // 8. resolved in time but not rated.
            AssignmentFact {
                signed_at: Some(H),
                resolved_at: Some(5 * H),
                ..lead(A::Resolved)
            },
        ];
        let m = unit_metrics(&facts);
        assert_eq!(m.dispatched, 8);
        assert_eq!(m.signed_on_time, 4); // 1, 3, 4, 8
        assert_eq!(m.returned, 1);
        assert_eq!(m.sign_on_time_rate, Some(4.0 / 8.0));
        // Due: 1, 2, 8 resolved + 3, 7 held past the deadline = 5; on time: 1, 8.
        assert_eq!(m.unit_on_time_rate, Some(2.0 / 5.0));
        assert_eq!(m.return_rate, Some(1.0 / 8.0));
        // Satisfaction from the resolved ones with a rating: 1 (5) and 2 (2).
        assert_eq!((m.rated, m.satisfied), (2, 1));
        assert_eq!(m.satisfaction_rate, Some(0.5));
        // A unit group carries no report counts.
        assert_eq!((m.submitted, m.due, m.closure_rate), (0, 0, None));
        // Signing exactly at the deadline is on time; resolving exactly at it too.
        let m = unit_metrics(&[AssignmentFact {
            signed_at: Some(2 * H),
            resolved_at: Some(50 * H),
            ..lead(A::Resolved)
        }]);
        assert_eq!(m.sign_on_time_rate, Some(1.0));
        assert_eq!(m.unit_on_time_rate, Some(1.0));
    }

    #[test]
    fn unit_counts_add_up_and_report_metrics_take_them() {
        let mut a = UnitCounts::default();
        a.add(&lead(AssignmentStatus::Returned), NOW);
        let mut b = UnitCounts::default();
        b.add(&lead(AssignmentStatus::Dispatched), NOW);
        let sum = a.plus(&b);
        assert_eq!((sum.dispatched, sum.returned, sum.due), (2, 1, 1));
        let m = metrics(&[fact(ReportStatus::InProgress)]).with_units(&sum);
        assert_eq!(m.submitted, 1);
        assert_eq!(m.return_rate, Some(0.5));
        assert_eq!(m.unit_on_time_rate, Some(0.0));
        // Report satisfaction stays the reports' own.
        assert_eq!(m.satisfaction_rate, None);
    }

    /// The dashboard metric fields of API.md, exactly as spelled there.
    const CONTRACT: [&str; 22] = [
        "submitted",
        "accepted",
        "due",
        "closed",
        "closed_on_time",
        "open",
        "overdue",
        "reworked",
        "rated",
        "satisfied",
        "closure_rate",
        "on_time_rate",
        "rework_rate",
        "satisfaction_rate",
        "loop_closed_rate",
        "accept_minutes_p50",
        "accept_minutes_p90",
        "close_minutes_p50",
        "close_minutes_p90",
        "wishes_submitted",
        "wishes_claimed",
        "wishes_fulfilled",
    ];
}
