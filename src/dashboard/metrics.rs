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
//! Sources, patrols and disputes (DOMAIN.md §9), per report of the same cohort as
//! `submitted` (cancelled excluded), as of `now`:
//! - from_<source>: the report's `source`.
//! - resolved on site (现场处置): a patrol or visit report submitted already resolved
//!   (resolved_at = submitted_at).
//! - mediated: it has a mediation; agreed: its latest outcome is `agreed`.
//!   调解成功率 = agreed / mediated.
//! - follow-up due: an agreement (a follow_up_due) whose due date has come or whose
//!   follow-up was made; on time: made by the due date. 回访按期率 = on time / due.
//!
//! Patrols: those started in the period in the area. Coverage (巡查覆盖率) = covered
//! grid-days / grid-days of the period, over the grids of a group: a grid-day is covered
//! when a patrol of that grid touches that Asia/Shanghai day (one crossing midnight covers
//! both days). Categories, units and sources have no grids: their coverage is null.
//!
//! Statuses are read through [`ReportStatus`] and its methods (`is_open`, `is_handled`), so
//! the metrics and the state machine cannot disagree on what "open" and "handled" mean.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::histogram::{bucket, Histogram};
use crate::reports::status::{AssignmentStatus, ReportStatus};
use entity::enums::Source;

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
    /// Where it came from and how its dispute went (DOMAIN.md §9).
    pub origin: SourceFact,
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
            origin: SourceFact {
                source: r.source,
                submitted_at: r.submitted_at,
                resolved_at: r.resolved_at,
                mediated_at: r.mediated_at,
                mediation_outcome: r.mediation_outcome.clone(),
                follow_up_due: r.follow_up_due,
                follow_up_at: r.follow_up_at,
            },
        }
    }
}

/// A group of reports of one status and the same duration buckets, tallied as of `now`: what
/// the counters need to know of them. One report is a tally of one ([`Tally::of`], the rules'
/// reference); `dashboard::count` has the database tally a key's reports per group (the same
/// rules in SQL, held to `Tally::of` by a test) instead of sending every row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub status: ReportStatus,
    /// The histogram bucket of accepted_at − submitted_at, if they were ever accepted.
    pub to_accept: Option<usize>,
    /// Closed only: the bucket of closed_at − submitted_at (closed_at missing counts as 0).
    pub to_close: Option<usize>,
    pub reports: i64,
    /// Of them: closed after their deadline (read for closed reports only).
    pub closed_late: i64,
    /// Of them: with a deadline earlier than their clock — `now`, or the moment they were
    /// suspended while suspended (a suspended report's clock stands still).
    pub past_deadline: i64,
    /// Of them: went through rework at least once.
    pub reworked: i64,
    pub rated: i64,
    /// Of them: rated 4–5.
    pub satisfied: i64,
    /// The earliest deadline among those not past it.
    pub first_deadline: Option<i64>,
    /// Their sources and disputes, summed.
    pub sources: SourceCounts,
    /// The earliest follow-up due date still ahead, of follow-ups not made: when one of them
    /// turns due (`follow_ups_due`) by the clock alone.
    pub first_follow_up: Option<i64>,
}

impl Tally {
    pub fn of(f: &Fact, now: i64) -> Tally {
        let closed = f.status == ReportStatus::Closed;
        let closed_at = f.closed_at.unwrap_or(f.submitted_at);
        let clock = if f.status == ReportStatus::Suspended {
            f.suspended_at.unwrap_or(now)
        } else {
            now
        };
        let past = f.deadline.is_some_and(|d| d < clock);
        Tally {
            status: f.status,
            to_accept: f.accepted_at.map(|at| bucket(at - f.submitted_at)),
            to_close: closed.then(|| bucket(closed_at - f.submitted_at)),
            reports: 1,
            closed_late: i64::from(f.deadline.is_some_and(|d| closed_at > d)),
            past_deadline: i64::from(past),
            reworked: i64::from(f.rework_count > 0),
            rated: i64::from(f.rating.is_some()),
            satisfied: i64::from(f.rating.is_some_and(|r| r >= 4)),
            first_deadline: f.deadline.filter(|_| !past),
            sources: {
                let mut c = SourceCounts::default();
                c.add(&f.origin, now);
                c
            },
            first_follow_up: f.origin.follow_up_pending(now),
        }
    }

    /// When the first of these reports turns overdue later: running ones (open, not
    /// suspended) with a deadline not yet past.
    pub fn turns_overdue(&self) -> Option<i64> {
        let running = is_open_unhandled(self.status) && self.status != ReportStatus::Suspended;
        self.first_deadline.filter(|_| running)
    }

    /// The last moment these reports count as they do now by the clock alone (a rollup row's
    /// `next_deadline`, stale once it is earlier than the clock): just before the first turns
    /// overdue (`deadline < clock`) or the first follow-up turns due (`due <= now`, hence
    /// one millisecond earlier). None for cancelled reports, which count nowhere.
    pub fn next_change(&self) -> Option<i64> {
        if self.status == ReportStatus::Cancelled {
            return None;
        }
        let follow_up = self.first_follow_up.map(|due| due - 1);
        self.turns_overdue().into_iter().chain(follow_up).min()
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
    /// Where they came from and how their disputes went.
    pub sources: SourceCounts,
}

/// How many counters [`Counts`] has beside its histograms.
pub const N_COUNTERS: usize = 22;

/// Column names of the counters, in the order of [`Counts::counters`].
pub const COUNTERS: [&str; N_COUNTERS] = [
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
    // The sources, in the order of `Source::ALL`.
    "from_resident",
    "from_patrol",
    "from_visit",
    "from_hotline",
    "from_device",
    "from_open311",
    "resolved_on_site",
    "mediated",
    "mediation_agreed",
    "follow_ups_due",
    "follow_ups_on_time",
];

/// Open in the metrics' sense: still needs attention and not yet handled (a resolved report
/// is open to the state machine, but handled here).
fn is_open_unhandled(status: ReportStatus) -> bool {
    status.is_open() && !status.is_handled()
}

impl Counts {
    /// Adds one report as of `now`; returns the last moment it counts as it does now by the
    /// clock alone ([`Tally::next_change`]), if it will change. A cancelled report adds
    /// nothing.
    pub fn add(&mut self, f: &Fact, now: i64) -> Option<i64> {
        let tally = Tally::of(f, now);
        self.add_tally(&tally);
        tally.next_change()
    }

    /// Adds a tally of reports (nothing if they are cancelled).
    pub fn add_tally(&mut self, t: &Tally) {
        let (status, n) = (t.status, t.reports);
        if status == ReportStatus::Cancelled {
            return;
        }
        self.submitted += n;
        if let Some(bucket) = t.to_accept {
            self.accepted += n;
            self.to_accept.add_to_bucket(bucket, n);
        }
        if status.is_handled() {
            self.handled += n;
        }
        if status == ReportStatus::Closed {
            self.closed += n;
            self.closed_late += t.closed_late;
            self.closed_on_time += n - t.closed_late;
            if let Some(bucket) = t.to_close {
                self.to_close.add_to_bucket(bucket, n);
            }
        }
        if is_open_unhandled(status) {
            self.open += n;
            self.open_overdue += t.past_deadline;
        }
        self.reworked += t.reworked;
        self.rated += t.rated;
        self.satisfied += t.satisfied;
        self.sources = self.sources.plus(&t.sources);
    }

    pub fn counters(&self) -> [i64; N_COUNTERS] {
        let s = &self.sources;
        let [r, p, v, h, d, o] = s.by_source;
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
            r,
            p,
            v,
            h,
            d,
            o,
            s.resolved_on_site,
            s.mediated,
            s.mediation_agreed,
            s.follow_ups_due,
            s.follow_ups_on_time,
        ]
    }

    pub fn from_counters(
        c: [i64; N_COUNTERS],
        to_accept: Histogram,
        to_close: Histogram,
    ) -> Counts {
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
            sources: SourceCounts {
                by_source: [c[11], c[12], c[13], c[14], c[15], c[16]],
                resolved_on_site: c[17],
                mediated: c[18],
                mediation_agreed: c[19],
                follow_ups_due: c[20],
                follow_ups_on_time: c[21],
            },
        }
    }

    /// `self + sign × other`, field by field.
    pub fn combine(&self, other: &Counts, sign: i64) -> Counts {
        let (a, b) = (self.counters(), other.counters());
        let mut c = [0; N_COUNTERS];
        for i in 0..N_COUNTERS {
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

/// The facts of one report the source and dispute figures need (a row of `reports`).
#[derive(Clone, Debug)]
pub struct SourceFact {
    pub source: Source,
    pub submitted_at: i64,
    pub resolved_at: Option<i64>,
    pub mediated_at: Option<i64>,
    pub mediation_outcome: Option<String>,
    pub follow_up_due: Option<i64>,
    pub follow_up_at: Option<i64>,
}

impl SourceFact {
    /// The due date of a follow-up not made yet and not due at `now`: the moment it turns
    /// due by the clock alone.
    pub fn follow_up_pending(&self, now: i64) -> Option<i64> {
        self.follow_up_due
            .filter(|due| *due > now && self.follow_up_at.is_none())
    }
}

/// Additive counters of where a set of reports came from and how their disputes went
/// (DOMAIN.md §9): part of [`Counts`], so the rollups hold them like every report counter,
/// and `dashboard::count` tallies them with the same `CASE`s as [`SourceCounts::add`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceCounts {
    /// Reports per source, in the order of [`Source::ALL`].
    pub by_source: [i64; 6],
    pub resolved_on_site: i64,
    pub mediated: i64,
    pub mediation_agreed: i64,
    pub follow_ups_due: i64,
    pub follow_ups_on_time: i64,
}

/// Whether a report was fixed on the spot: a worker's patrol or visit report submitted
/// already resolved.
pub fn resolved_on_site(source: Source, submitted_at: i64, resolved_at: Option<i64>) -> bool {
    matches!(source, Source::Patrol | Source::Visit) && resolved_at == Some(submitted_at)
}

impl SourceCounts {
    /// Adds one report of the cohort (not cancelled) as of `now`.
    pub fn add(&mut self, f: &SourceFact, now: i64) {
        if let Some(i) = Source::ALL.iter().position(|s| *s == f.source) {
            self.by_source[i] += 1;
        }
        if resolved_on_site(f.source, f.submitted_at, f.resolved_at) {
            self.resolved_on_site += 1;
        }
        if f.mediated_at.is_some() {
            self.mediated += 1;
            if f.mediation_outcome.as_deref() == Some("agreed") {
                self.mediation_agreed += 1;
            }
        }
        if let Some(due) = f.follow_up_due {
            if due <= now || f.follow_up_at.is_some() {
                self.follow_ups_due += 1;
            }
            if f.follow_up_at.is_some_and(|at| at <= due) {
                self.follow_ups_on_time += 1;
            }
        }
    }

    /// The reports of one source.
    pub fn from(&self, source: Source) -> i64 {
        Source::ALL
            .iter()
            .position(|s| *s == source)
            .map_or(0, |i| self.by_source[i])
    }

    /// `self + other`, field by field (folding grid rows into child areas).
    pub fn plus(&self, o: &SourceCounts) -> SourceCounts {
        let mut by_source = self.by_source;
        for (a, b) in by_source.iter_mut().zip(o.by_source) {
            *a += b;
        }
        SourceCounts {
            by_source,
            resolved_on_site: self.resolved_on_site + o.resolved_on_site,
            mediated: self.mediated + o.mediated,
            mediation_agreed: self.mediation_agreed + o.mediation_agreed,
            follow_ups_due: self.follow_ups_due + o.follow_ups_due,
            follow_ups_on_time: self.follow_ups_on_time + o.follow_ups_on_time,
        }
    }
}

/// The Asia/Shanghai days (day numbers since 1970-01-01) one patrol of a grid touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatrolSpan {
    pub grid: String,
    pub first_day: i64,
    pub last_day: i64,
}

/// The (grid, day) pairs the patrols cover within the days `from..=to`, each once.
pub fn covered_grid_days(spans: &[PatrolSpan], from: i64, to: i64) -> BTreeSet<(String, i64)> {
    let mut covered = BTreeSet::new();
    for p in spans {
        for day in p.first_day.max(from)..=p.last_day.min(to) {
            covered.insert((p.grid.clone(), day));
        }
    }
    covered
}

/// The patrol coverage of a group: covered grid-days over grid-days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub covered: i64,
    pub grid_days: i64,
}

impl Coverage {
    /// The coverage of `grids` over `days` (day numbers), given the covered pairs. A pair of
    /// a grid or day outside the group does not count.
    pub fn of(
        covered: &BTreeSet<(String, i64)>,
        grids: &HashSet<&str>,
        days: std::ops::RangeInclusive<i64>,
    ) -> Coverage {
        let n_days = (days.end() - days.start() + 1).max(0);
        Coverage {
            covered: covered
                .iter()
                .filter(|(g, d)| grids.contains(g.as_str()) && days.contains(d))
                .count() as i64,
            grid_days: grids.len() as i64 * n_days,
        }
    }

    /// 巡查覆盖率, null without a grid-day.
    pub fn rate(&self) -> Option<f64> {
        rate(self.covered, self.grid_days)
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
    /// Reports from residents (平安键), of those counted in `submitted`.
    pub from_resident: i64,
    /// Reports found by grid workers on patrol (巡查).
    pub from_patrol: i64,
    /// Reports found on home visits (入户走访).
    pub from_visit: i64,
    /// 12345 hotline work orders.
    pub from_hotline: i64,
    /// IoT device alarms.
    pub from_device: i64,
    /// Reports from partner systems through Open311.
    pub from_open311: i64,
    /// Patrol and visit reports fixed on the spot (现场处置: submitted already resolved).
    pub resolved_on_site: i64,
    /// 巡查次数: patrols started in the period in the group's grids (0 for categories,
    /// units and sources, which patrols do not belong to).
    pub patrols: i64,
    /// 巡查覆盖率 = grid-days with at least one patrol / grid-days in the period, over the
    /// group's grids (a patrol crossing midnight covers both days); null for categories,
    /// units and sources, and where there is no grid.
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub patrol_coverage_rate: Option<f64>,
    /// Disputes mediated (调解数), of the reports counted in `submitted`.
    pub mediated: i64,
    /// Of those, whose latest mediation ended in agreement (outcome `agreed`).
    pub mediation_agreed: i64,
    /// 调解成功率 = mediation_agreed / mediated.
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub mediation_success_rate: Option<f64>,
    /// Follow-up visits due (应回访): agreements (agreed or partly agreed) whose follow-up
    /// date has come, or whose follow-up was made.
    pub follow_ups_due: i64,
    /// 回访按期率 = follow-ups made by their due date / follow_ups_due.
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    pub follow_up_on_time_rate: Option<f64>,
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
            from_resident: 0,
            from_patrol: 0,
            from_visit: 0,
            from_hotline: 0,
            from_device: 0,
            from_open311: 0,
            resolved_on_site: 0,
            patrols: 0,
            patrol_coverage_rate: None,
            mediated: 0,
            mediation_agreed: 0,
            mediation_success_rate: None,
            follow_ups_due: 0,
            follow_up_on_time_rate: None,
        }
        .with_sources(&c.sources)
    }

    /// The same metrics with the source and dispute figures of `c` (of these reports).
    pub fn with_sources(self, c: &SourceCounts) -> Metrics {
        Metrics {
            from_resident: c.from(Source::Resident),
            from_patrol: c.from(Source::Patrol),
            from_visit: c.from(Source::Visit),
            from_hotline: c.from(Source::Hotline),
            from_device: c.from(Source::Device),
            from_open311: c.from(Source::Open311),
            resolved_on_site: c.resolved_on_site,
            mediated: c.mediated,
            mediation_agreed: c.mediation_agreed,
            mediation_success_rate: rate(c.mediation_agreed, c.mediated),
            follow_ups_due: c.follow_ups_due,
            follow_up_on_time_rate: rate(c.follow_ups_on_time, c.follow_ups_due),
            ..self
        }
    }

    /// The same metrics with patrols started and the coverage (None: not a group of grids).
    pub fn with_patrols(self, patrols: i64, coverage: Option<Coverage>) -> Metrics {
        Metrics {
            patrols,
            patrol_coverage_rate: coverage.and_then(|c| c.rate()),
            ..self
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
            origin: from_source(Source::Resident),
        }
    }

    impl Fact {
        fn with_source(mut self, source: Source) -> Fact {
            self.origin.source = source;
            self
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
        for name in SOURCE_CONTRACT {
            assert!(keys.contains(&name), "{name} is missing from {keys:?}");
        }
        // Additions beyond the contract: only `handled` (the CSV's 办结数).
        let extra: Vec<&&str> = keys
            .iter()
            .filter(|k| {
                !CONTRACT.contains(k)
                    && !UNIT_CONTRACT.contains(k)
                    && !SOURCE_CONTRACT.contains(k)
                    && **k != "handled"
            })
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

    /// The source, patrol and dispute fields of API.md ("Sources, patrols, disputes").
    const SOURCE_CONTRACT: [&str; 14] = [
        "from_resident",
        "from_patrol",
        "from_visit",
        "from_hotline",
        "from_device",
        "from_open311",
        "resolved_on_site",
        "patrols",
        "patrol_coverage_rate",
        "mediated",
        "mediation_agreed",
        "mediation_success_rate",
        "follow_ups_due",
        "follow_up_on_time_rate",
    ];

    const DAY: i64 = 24 * H;

    fn from_source(source: Source) -> SourceFact {
        SourceFact {
            source,
            submitted_at: 0,
            resolved_at: None,
            mediated_at: None,
            mediation_outcome: None,
            follow_up_due: None,
            follow_up_at: None,
        }
    }

    /// A mediation at `at` with `outcome`, its follow-up due a week later for an agreement.
    fn mediated(outcome: &str, at: i64) -> SourceFact {
        SourceFact {
            mediated_at: Some(at),
            mediation_outcome: Some(outcome.into()),
            follow_up_due: matches!(outcome, "agreed" | "partly_agreed").then_some(at + 7 * DAY),
            ..from_source(Source::Resident)
        }
    }

    fn source_metrics(facts: &[SourceFact], now: i64) -> Metrics {
        let mut c = SourceCounts::default();
        for f in facts {
            c.add(f, now);
        }
        metrics(&[]).with_sources(&c)
    }

    #[test]
    fn no_mediation_and_no_follow_up_give_null_rates_and_zero_counts() {
        let m = source_metrics(&[], NOW);
        assert_eq!(m.mediation_success_rate, None);
        assert_eq!(m.follow_up_on_time_rate, None);
        assert_eq!(
            (m.mediated, m.follow_ups_due, m.resolved_on_site),
            (0, 0, 0)
        );
        // Report counts carry their sources; patrols are given apart.
        let m = metrics(&[fact(ReportStatus::Submitted)]);
        assert_eq!(
            (m.from_resident, m.patrols, m.patrol_coverage_rate),
            (1, 0, None)
        );
        // An agreement whose week has not passed is not due yet.
        let m = source_metrics(&[mediated("agreed", NOW - DAY)], NOW);
        assert_eq!(
            (m.mediated, m.mediation_agreed, m.follow_ups_due),
            (1, 1, 0)
        );
        assert_eq!(m.mediation_success_rate, Some(1.0));
        assert_eq!(m.follow_up_on_time_rate, None);
        // No grid-day: no coverage, not 0.
        let m = metrics(&[]).with_patrols(0, Some(Coverage::default()));
        assert_eq!(m.patrol_coverage_rate, None);
        assert_eq!(metrics(&[]).with_patrols(3, None).patrols, 3);
    }

    #[test]
    fn a_hand_computed_mix_of_sources_and_disputes_gives_the_known_answers() {
        let facts = [
            // 1. a resident's report.
            from_source(Source::Resident),
            // 2. a patrol report fixed on the spot: resolved at its submission.
            SourceFact {
                submitted_at: 5 * H,
                resolved_at: Some(5 * H),
                ..from_source(Source::Patrol)
            },
            // 3. a patrol report resolved later: not on site.
            SourceFact {
                submitted_at: 5 * H,
                resolved_at: Some(6 * H),
                ..from_source(Source::Patrol)
            },
            // 4. a visit fixed on the spot.
            SourceFact {
                submitted_at: 7 * H,
                resolved_at: Some(7 * H),
                ..from_source(Source::Visit)
            },
            // 5. a hotline order resolved at once by whoever: not a worker's on-site fix.
            SourceFact {
                submitted_at: 7 * H,
                resolved_at: Some(7 * H),
                ..from_source(Source::Hotline)
            },
            // 6, 7. a device alarm and an Open311 request.
            from_source(Source::Device),
            from_source(Source::Open311),
            // 8. agreed long ago, followed up on time.
            SourceFact {
                follow_up_at: Some(3 * DAY),
                ..mediated("agreed", 0)
            },
            // 9. agreed long ago, followed up late.
            SourceFact {
                follow_up_at: Some(9 * DAY),
                ..mediated("agreed", 0)
            },
            // 10. partly agreed long ago, never followed up: due, not on time.
            mediated("partly_agreed", 0),
            // 11. partly agreed yesterday, followed up early: due (made) and on time.
            SourceFact {
                follow_up_at: Some(NOW),
                ..mediated("partly_agreed", NOW - DAY)
            },
            // 12. agreed yesterday, not followed up yet: not due.
            mediated("agreed", NOW - DAY),
            // 13. failed, 14. referred to court: mediated, no follow-up.
            mediated("failed", 0),
            mediated("court", 0),
        ];
        let m = source_metrics(&facts, NOW);
        // Residents: 1 and the seven disputes 8–14.
        assert_eq!(m.from_resident, 8);
        assert_eq!((m.from_patrol, m.from_visit, m.from_hotline), (2, 1, 1));
        assert_eq!((m.from_device, m.from_open311), (1, 1));
        assert_eq!(m.resolved_on_site, 2); // 2, 4
        assert_eq!(m.mediated, 7); // 8–14
        assert_eq!(m.mediation_agreed, 3); // 8, 9, 12
        assert_eq!(m.mediation_success_rate, Some(3.0 / 7.0));
        assert_eq!(m.follow_ups_due, 4); // 8, 9, 10, 11
        assert_eq!(m.follow_up_on_time_rate, Some(2.0 / 4.0)); // 8, 11
                                                               // A follow-up exactly at its due date is on time; a due date exactly now is due.
        let m = source_metrics(
            &[
                SourceFact {
                    follow_up_at: Some(7 * DAY),
                    ..mediated("agreed", 0)
                },
                mediated("agreed", NOW - 7 * DAY),
            ],
            NOW,
        );
        assert_eq!(m.follow_ups_due, 2);
        assert_eq!(m.follow_up_on_time_rate, Some(0.5));
        // Counts add up field by field.
        let mut a = SourceCounts::default();
        a.add(&facts[1], NOW);
        let mut b = SourceCounts::default();
        b.add(&facts[7], NOW);
        let sum = a.plus(&b);
        assert_eq!(
            (sum.from(Source::Patrol), sum.from(Source::Resident)),
            (1, 1)
        );
        assert_eq!(
            (sum.resolved_on_site, sum.mediated, sum.follow_ups_due),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_follow_up_not_yet_due_is_when_its_report_next_counts_differently() {
        let due = NOW + 6 * DAY;
        let agreed = Fact {
            origin: mediated("agreed", NOW - DAY),
            ..fact(ReportStatus::Resolved)
        };
        let mut c = Counts::default();
        // A row is stale once its next_deadline is earlier than the clock; the follow-up is
        // due from `due` on: one millisecond before it.
        assert_eq!(c.add(&agreed, NOW), Some(due - 1));
        assert_eq!((c.sources.mediated, c.sources.follow_ups_due), (1, 0));
        let mut at_due = Counts::default();
        assert_eq!(at_due.add(&agreed, due), None);
        assert_eq!(at_due.sources.follow_ups_due, 1);
        // Made early: due at once, nothing left to change.
        let made = Fact {
            origin: SourceFact {
                follow_up_at: Some(NOW),
                ..agreed.origin.clone()
            },
            ..agreed.clone()
        };
        assert_eq!(Counts::default().add(&made, NOW), None);
        // The earlier of an overdue deadline and a follow-up.
        let running = Fact {
            accepted_at: Some(H),
            deadline: Some(NOW + H),
            ..fact(ReportStatus::InProgress)
        };
        let both = Fact {
            origin: agreed.origin.clone(),
            ..running.clone()
        };
        assert_eq!(Counts::default().add(&both, NOW), Some(NOW + H));
        assert_eq!(Counts::default().add(&both, NOW + 2 * H), Some(due - 1));
        // Cancelled reports count nowhere, and never change.
        let cancelled = Fact {
            status: ReportStatus::Cancelled,
            ..both
        };
        let mut none = Counts::default();
        assert_eq!(none.add(&cancelled, NOW), None);
        assert!(none.is_zero());
    }

    #[test]
    fn source_counters_round_trip_through_the_counter_array() {
        let mut c = Counts::default();
        for (i, source) in Source::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                c.add(
                    &Fact {
                        origin: SourceFact {
                            follow_up_at: Some(DAY),
                            ..mediated("agreed", 0)
                        },
                        ..fact(ReportStatus::Closed)
                    }
                    .with_source(source),
                    NOW,
                );
            }
        }
        assert_eq!(c.sources.by_source, [1, 2, 3, 4, 5, 6]);
        assert_eq!(c.sources.follow_ups_on_time, 21);
        let back = Counts::from_counters(c.counters(), c.to_accept, c.to_close);
        assert_eq!(back, c);
        assert_eq!(c.combine(&c, -1), Counts::default());
        for (name, value) in COUNTERS.iter().zip(c.counters()) {
            if let Some(source) = name.strip_prefix("from_") {
                let i = Source::ALL
                    .iter()
                    .position(|s| s.as_str() == source)
                    .unwrap();
                assert_eq!(value, i as i64 + 1, "{name}");
            }
        }
    }

    /// The span of a patrol from `start` to `end` (epoch ms) in grid `grid`.
    fn span(grid: &str, start: i64, end: i64) -> PatrolSpan {
        let days = crate::patrols::service::shanghai_days(start, end);
        PatrolSpan {
            grid: grid.into(),
            first_day: *days.start(),
            last_day: *days.end(),
        }
    }

    #[test]
    fn coverage_over_a_month_counts_a_patrol_crossing_shanghai_midnight_on_both_days() {
        use super::super::rollup::day_start_ms;
        let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let n = |s: &str| (day_start_ms(day(s)) + 8 * H) / DAY;
        let at =
            |s: &str, hour: i64, minute: i64| day_start_ms(day(s)) + hour * H + minute * 60_000;
        // March 2026 (31 days) over two grids: 62 grid-days.
        let (from, to) = (n("2026-03-01"), n("2026-03-31"));
        assert_eq!(to - from + 1, 31);
        let spans = [
            // G1: 22:00 on the 10th to 01:30 on the 11th (Shanghai): both days.
            span("G1", at("2026-03-10", 22, 0), at("2026-03-11", 1, 30)),
            // G1 again on the 10th, and a second patrol the same day: no double count.
            span("G1", at("2026-03-10", 9, 0), at("2026-03-10", 11, 0)),
            span("G1", at("2026-03-10", 14, 0), at("2026-03-10", 15, 0)),
            // G2: from the last evening of February into March 1st: only the 1st is in the month.
            span("G2", at("2026-02-28", 23, 0), at("2026-03-01", 0, 30)),
            // G2: the last evening of March into April: only the 31st.
            span("G2", at("2026-03-31", 23, 30), at("2026-04-01", 0, 30)),
            // G2: a patrol ending exactly at midnight touches the next day too.
            span("G2", at("2026-03-20", 20, 0), at("2026-03-21", 0, 0)),
            // G9: a grid outside the group.
            span("G9", at("2026-03-05", 9, 0), at("2026-03-05", 10, 0)),
        ];
        // 16:00 UTC is midnight in Shanghai: the crossing is real, not an artefact of UTC.
        assert_eq!(spans[0].last_day - spans[0].first_day, 1);
        assert_eq!(spans[1].first_day, spans[0].first_day);
        let covered = covered_grid_days(&spans, from, to);
        let g1 = |d: &str| ("G1".to_string(), n(d));
        let g2 = |d: &str| ("G2".to_string(), n(d));
        assert!(covered.contains(&g1("2026-03-10")) && covered.contains(&g1("2026-03-11")));
        assert!(covered.contains(&g2("2026-03-01")) && covered.contains(&g2("2026-03-31")));
        assert!(!covered.contains(&g2("2026-02-28")));
        assert!(covered.contains(&g2("2026-03-20")) && covered.contains(&g2("2026-03-21")));
        // G1: 10, 11; G2: 1, 20, 21, 31; G9: 5 (outside the group).
        assert_eq!(covered.len(), 7);
        let grids: HashSet<&str> = ["G1", "G2"].into();
        let month = Coverage::of(&covered, &grids, from..=to);
        assert_eq!(
            month,
            Coverage {
                covered: 6,
                grid_days: 62
            }
        );
        assert_eq!(month.rate(), Some(6.0 / 62.0));
        // One grid: G1 covered 2 of 31 days.
        let one: HashSet<&str> = ["G1"].into();
        assert_eq!(
            Coverage::of(&covered, &one, from..=to).rate(),
            Some(2.0 / 31.0)
        );
        // One day (a `day` group): the 11th, both grids: only G1's night patrol covers it.
        let eleventh = n("2026-03-11");
        let c = Coverage::of(&covered, &grids, eleventh..=eleventh);
        assert_eq!(
            c,
            Coverage {
                covered: 1,
                grid_days: 2
            }
        );
        // A group without grids (a community with none): null, not 0.
        assert_eq!(
            Coverage::of(&covered, &HashSet::new(), from..=to).rate(),
            None
        );
        let m = metrics(&[]).with_patrols(7, Some(month));
        assert_eq!((m.patrols, m.patrol_coverage_rate), (7, Some(6.0 / 62.0)));
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
