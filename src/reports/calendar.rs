//! The working calendar and report deadlines (DOMAIN.md §2, "Time limits"): pure, no I/O.
//!
//! Working time is 09:00–12:00 and 13:00–18:00 Asia/Shanghai (8 hours a day) on working
//! days: weekdays that are not public holidays, plus the weekend days officially worked in
//! exchange (调休上班). A limit in working days is that many times 8 working hours counted
//! from the start instant, so accepting on Friday at 17:00 with 1 working day gives Monday
//! at 17:00. A limit in natural days is that many times 24 hours of wall time.
//!
//! All instants are Unix epoch milliseconds.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Timelike};
use chrono_tz::Asia::Shanghai;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The working periods of a working day, as milliseconds since local midnight.
const PERIODS: [(i64, i64); 2] = [(9 * HOUR_MS, 12 * HOUR_MS), (13 * HOUR_MS, 18 * HOUR_MS)];

/// Working time in one full working day (8 hours), in milliseconds.
pub const WORKING_DAY_MS: i64 = 8 * HOUR_MS;

/// How far [`WorkCalendar::add_working_ms`] searches, in natural days, before giving up and
/// answering "start + this many days".
pub const MAX_SEARCH_DAYS: u64 = 3_650;

/// A category's time limit. JSON: `{"unit": "working_hours", "amount": 4}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "unit", content = "amount", rename_all = "snake_case")]
pub enum TimeLimit {
    /// Hours of working time.
    WorkingHours(u32),
    /// Working days of 8 working hours each.
    WorkingDays(u32),
    /// Days of 24 hours of wall time, working or not.
    NaturalDays(u32),
}

impl TimeLimit {
    /// The limit for a unit name (`working_hours`, `working_days`, `natural_days`) and an
    /// amount, or `None` for an unknown unit.
    pub fn parse(unit: &str, amount: u32) -> Option<Self> {
        match unit {
            "working_hours" => Some(Self::WorkingHours(amount)),
            "working_days" => Some(Self::WorkingDays(amount)),
            "natural_days" => Some(Self::NaturalDays(amount)),
            _ => None,
        }
    }

    /// The unit's name, as accepted by [`parse`](Self::parse).
    pub const fn unit_str(self) -> &'static str {
        match self {
            Self::WorkingHours(_) => "working_hours",
            Self::WorkingDays(_) => "working_days",
            Self::NaturalDays(_) => "natural_days",
        }
    }

    /// The amount, in the limit's unit.
    pub const fn amount(self) -> u32 {
        match self {
            Self::WorkingHours(n) | Self::WorkingDays(n) | Self::NaturalDays(n) => n,
        }
    }
}

/// A line of [`WorkCalendar::from_text`] that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The line is not `DATE KIND`.
    #[error("calendar line {line}: expected \"YYYY-MM-DD holiday\" or \"YYYY-MM-DD workday\"")]
    Malformed {
        /// 1-based line number.
        line: usize,
    },
    /// The date is not a valid `YYYY-MM-DD` date.
    #[error("calendar line {line}: {text:?} is not a valid YYYY-MM-DD date")]
    BadDate {
        /// 1-based line number.
        line: usize,
        /// The offending text.
        text: String,
    },
    /// The kind is neither `holiday` nor `workday`.
    #[error("calendar line {line}: unknown day kind {text:?} (expected holiday or workday)")]
    BadKind {
        /// 1-based line number.
        line: usize,
        /// The offending text.
        text: String,
    },
    /// The date was already listed with the other kind.
    #[error("calendar line {line}: {date} is listed both as a holiday and as a workday")]
    Conflict {
        /// 1-based line number of the second listing.
        line: usize,
        /// The date listed twice.
        date: NaiveDate,
    },
}

/// Which days are worked: weekdays, minus listed public holidays, plus listed adjusted
/// working days. `Default` is a plain Monday-to-Friday calendar with no holidays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

/// Official days off (first day, number of days), from the State Council's notices:
/// 国办发明电〔2024〕12号 (2025, published 2024-11-12) and the notice of 2025-11-04 (2026).
const CHINA_HOLIDAYS: &[(i32, u32, u32, u64)] = &[
    (2025, 1, 1, 1),  // 元旦
    (2025, 1, 28, 8), // 春节: Jan 28 – Feb 4
    (2025, 4, 4, 3),  // 清明节
    (2025, 5, 1, 5),  // 劳动节
    (2025, 5, 31, 3), // 端午节: May 31 – Jun 2
    (2025, 10, 1, 8), // 国庆节、中秋节
    (2026, 1, 1, 3),  // 元旦
    (2026, 2, 15, 9), // 春节: Feb 15 – 23
    (2026, 4, 4, 3),  // 清明节
    (2026, 5, 1, 5),  // 劳动节
    (2026, 6, 19, 3), // 端午节
    (2026, 9, 25, 3), // 中秋节
    (2026, 10, 1, 7), // 国庆节
];

/// Official adjusted working days (调休上班), all on weekends, from the same notices.
const CHINA_WORKDAYS: &[(i32, u32, u32)] = &[
    (2025, 1, 26),  // Sun, 春节
    (2025, 2, 8),   // Sat, 春节
    (2025, 4, 27),  // Sun, 劳动节
    (2025, 9, 28),  // Sun, 国庆节
    (2025, 10, 11), // Sat, 国庆节
    (2026, 1, 4),   // Sun, 元旦
    (2026, 2, 14),  // Sat, 春节
    (2026, 2, 28),  // Sat, 春节
    (2026, 5, 9),   // Sat, 劳动节
    (2026, 9, 20),  // Sun, 国庆节
    (2026, 10, 10), // Sat, 国庆节
];

impl WorkCalendar {
    /// The official Chinese public holidays and adjusted working days of 2025 and 2026.
    /// Later years: [`merge`](Self::merge) a calendar read with [`from_text`](Self::from_text).
    pub fn china_default() -> Self {
        let holidays = CHINA_HOLIDAYS
            .iter()
            .filter_map(|&(y, m, d, n)| {
                Some(
                    NaiveDate::from_ymd_opt(y, m, d)?
                        .iter_days()
                        .take(n as usize),
                )
            })
            .flatten()
            .collect();
        let workdays = CHINA_WORKDAYS
            .iter()
            .filter_map(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
            .collect();
        Self { holidays, workdays }
    }

    /// Reads a calendar from lines `YYYY-MM-DD holiday` or `YYYY-MM-DD workday` (a worked
    /// weekend day). `#` starts a comment; blank lines are ignored. Errors name the line.
    pub fn from_text(text: &str) -> Result<Self, CalendarError> {
        let mut calendar = Self::default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            let mut words = content.split_whitespace();
            let (Some(date_text), Some(kind), None) = (words.next(), words.next(), words.next())
            else {
                return Err(CalendarError::Malformed { line });
            };
            let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d").map_err(|_| {
                CalendarError::BadDate {
                    line,
                    text: date_text.to_owned(),
                }
            })?;
            let (add_to, other) = if kind.eq_ignore_ascii_case("holiday") {
                (&mut calendar.holidays, &calendar.workdays)
            } else if kind.eq_ignore_ascii_case("workday") {
                (&mut calendar.workdays, &calendar.holidays)
            } else {
                return Err(CalendarError::BadKind {
                    line,
                    text: kind.to_owned(),
                });
            };
            if other.contains(&date) {
                return Err(CalendarError::Conflict { line, date });
            }
            add_to.insert(date);
        }
        Ok(calendar)
    }

    /// Adds `other`'s days to this calendar; where the two disagree about a date, `other`
    /// wins.
    pub fn merge(&mut self, other: Self) {
        for date in other.holidays {
            self.workdays.remove(&date);
            self.holidays.insert(date);
        }
        for date in other.workdays {
            self.holidays.remove(&date);
            self.workdays.insert(date);
        }
    }

    /// Whether `date` is worked: an adjusted working day, or a weekday that is not a
    /// holiday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.workdays.contains(&date) {
            return true;
        }
        date.weekday().number_from_monday() <= 5 && !self.holidays.contains(&date)
    }

    /// The deadline for a clock started at `start_ms` with `limit`. Working limits start
    /// counting at the next working period when `start_ms` lies outside one, and may end
    /// exactly at the end of a period (12:00 or 18:00). A zero amount gives `start_ms`.
    pub fn deadline(&self, start_ms: i64, limit: TimeLimit) -> i64 {
        match limit {
            TimeLimit::WorkingHours(hours) => {
                self.add_working_ms(start_ms, i64::from(hours) * HOUR_MS)
            }
            TimeLimit::WorkingDays(days) => {
                self.add_working_ms(start_ms, i64::from(days) * WORKING_DAY_MS)
            }
            TimeLimit::NaturalDays(days) => start_ms.saturating_add(i64::from(days) * DAY_MS),
        }
    }

    /// The instant at which `working_ms` of working time after `start_ms` have passed
    /// (`start_ms` itself when `working_ms <= 0`). Searches at most [`MAX_SEARCH_DAYS`]
    /// days; beyond that (or outside chrono's range) it answers `start_ms` plus that many
    /// natural days.
    pub fn add_working_ms(&self, start_ms: i64, working_ms: i64) -> i64 {
        let give_up = start_ms.saturating_add(MAX_SEARCH_DAYS as i64 * DAY_MS);
        if working_ms <= 0 {
            return start_ms;
        }
        if working_ms > MAX_SEARCH_DAYS as i64 * WORKING_DAY_MS {
            return give_up;
        }
        let Some((mut date, mut cursor)) = local_parts(start_ms) else {
            return give_up;
        };
        let mut remaining = working_ms;
        for _ in 0..=MAX_SEARCH_DAYS {
            if self.is_working_day(date) {
                for (open, close) in PERIODS {
                    let from = open.max(cursor);
                    if from < close {
                        let available = close - from;
                        if remaining <= available {
                            return instant(date, from + remaining).unwrap_or(give_up);
                        }
                        remaining -= available;
                    }
                }
            }
            let Some(next) = date.succ_opt() else {
                break;
            };
            date = next;
            cursor = 0;
        }
        give_up
    }

    /// The working time, in milliseconds, between `from_ms` and `to_ms` (0 when `to_ms` is
    /// not after `from_ms`). Counts at most [`MAX_SEARCH_DAYS`] days from `from_ms`.
    pub fn working_ms_between(&self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        let (Some((mut date, _)), Some((last, _))) = (local_parts(from_ms), local_parts(to_ms))
        else {
            return 0;
        };
        let mut total = 0;
        for _ in 0..=MAX_SEARCH_DAYS {
            if date > last {
                break;
            }
            if self.is_working_day(date) {
                for (open, close) in PERIODS {
                    if let (Some(open), Some(close)) = (instant(date, open), instant(date, close)) {
                        let overlap = close.min(to_ms) - open.max(from_ms);
                        total += overlap.max(0);
                    }
                }
            }
            let Some(next) = date.succ_opt() else {
                break;
            };
            date = next;
        }
        total
    }
}

/// The Shanghai calendar date of `ms` and the milliseconds since local midnight.
fn local_parts(ms: i64) -> Option<(NaiveDate, i64)> {
    let local = DateTime::from_timestamp_millis(ms)?.with_timezone(&Shanghai);
    let time = local.time();
    // Leap-second nanoseconds (>= 1e9) are clamped into the same second.
    let millis = i64::from(time.nanosecond().min(999_999_999) / 1_000_000);
    Some((
        local.date_naive(),
        i64::from(time.num_seconds_from_midnight()) * 1_000 + millis,
    ))
}

/// The instant `ms_of_day` milliseconds after local midnight of `date` in Shanghai.
fn instant(date: NaiveDate, ms_of_day: i64) -> Option<i64> {
    let naive = date
        .and_time(NaiveTime::MIN)
        .checked_add_signed(TimeDelta::try_milliseconds(ms_of_day)?)?;
    match Shanghai.from_local_datetime(&naive).earliest() {
        Some(local) => Some(local.timestamp_millis()),
        // Only in a historical DST gap (1986–1991, at night): read it as UTC+8.
        None => Some(naive.and_utc().timestamp_millis() - 8 * HOUR_MS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shanghai local time to epoch milliseconds.
    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        Shanghai
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid local time")
            .timestamp_millis()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn china() -> WorkCalendar {
        WorkCalendar::china_default()
    }

    #[test]
    fn one_working_day_from_friday_afternoon_ends_monday_afternoon() {
        // 2026-03-13 is a Friday.
        let start = at(2026, 3, 13, 17, 0);
        assert_eq!(
            china().deadline(start, TimeLimit::WorkingDays(1)),
            at(2026, 3, 16, 17, 0)
        );
        assert_eq!(
            china().deadline(start, TimeLimit::WorkingHours(2)),
            at(2026, 3, 16, 10, 0)
        );
    }

    #[test]
    fn working_hours_skip_the_lunch_break() {
        let cal = china();
        // 2026-03-10 is a Tuesday.
        assert_eq!(
            cal.deadline(at(2026, 3, 10, 10, 0), TimeLimit::WorkingHours(4)),
            at(2026, 3, 10, 15, 0)
        );
        assert_eq!(
            cal.deadline(at(2026, 3, 10, 11, 0), TimeLimit::WorkingHours(1)),
            at(2026, 3, 10, 12, 0)
        );
        assert_eq!(
            cal.deadline(at(2026, 3, 10, 12, 0), TimeLimit::WorkingHours(1)),
            at(2026, 3, 10, 14, 0)
        );
        assert_eq!(
            cal.deadline(at(2026, 3, 10, 12, 30), TimeLimit::WorkingHours(1)),
            at(2026, 3, 10, 14, 0)
        );
        assert_eq!(
            cal.deadline(at(2026, 3, 10, 11, 30), TimeLimit::WorkingHours(1)),
            at(2026, 3, 10, 13, 30)
        );
    }

    #[test]
    fn a_start_outside_working_hours_counts_from_the_next_period() {
        let cal = china();
        assert_eq!(
            cal.deadline(at(2026, 3, 10, 7, 0), TimeLimit::WorkingHours(1)),
            at(2026, 3, 10, 10, 0)
        );
        assert_eq!(
            cal.deadline(at(2026, 3, 10, 20, 0), TimeLimit::WorkingHours(2)),
            at(2026, 3, 11, 11, 0)
        );
        assert_eq!(
            cal.deadline(at(2026, 3, 10, 18, 0), TimeLimit::WorkingDays(1)),
            at(2026, 3, 11, 18, 0)
        );
        // Saturday 2026-03-14.
        assert_eq!(
            cal.deadline(at(2026, 3, 14, 10, 0), TimeLimit::WorkingHours(1)),
            at(2026, 3, 16, 10, 0)
        );
        assert_eq!(
            cal.deadline(at(2026, 3, 14, 10, 0), TimeLimit::WorkingDays(1)),
            at(2026, 3, 16, 18, 0)
        );
    }

    #[test]
    fn national_day_is_skipped() {
        let cal = china();
        // Wednesday 2026-09-30, then Oct 1–7 off.
        assert_eq!(
            cal.deadline(at(2026, 9, 30, 17, 0), TimeLimit::WorkingHours(2)),
            at(2026, 10, 8, 10, 0)
        );
        assert_eq!(
            cal.deadline(at(2026, 9, 30, 9, 0), TimeLimit::WorkingDays(3)),
            at(2026, 10, 9, 18, 0)
        );
        // 2025: Oct 1–8 off.
        assert_eq!(
            cal.deadline(at(2025, 9, 30, 17, 0), TimeLimit::WorkingHours(2)),
            at(2025, 10, 9, 10, 0)
        );
    }

    #[test]
    fn an_adjusted_working_saturday_counts() {
        let cal = china();
        // Saturday 2026-10-10 is worked.
        assert_eq!(
            cal.deadline(at(2026, 9, 30, 9, 0), TimeLimit::WorkingDays(4)),
            at(2026, 10, 10, 18, 0)
        );
        // Friday 2026-02-13 17:00: Saturday Feb 14 is worked.
        assert_eq!(
            cal.deadline(at(2026, 2, 13, 17, 0), TimeLimit::WorkingDays(1)),
            at(2026, 2, 14, 17, 0)
        );
        // Saturday Feb 14 at 18:00: Feb 15–23 off, back on Tuesday Feb 24.
        assert_eq!(
            cal.deadline(at(2026, 2, 14, 18, 0), TimeLimit::WorkingHours(1)),
            at(2026, 2, 24, 10, 0)
        );
        // Friday 2026-09-18 17:00: Sunday Sep 20 is worked.
        assert_eq!(
            cal.deadline(at(2026, 9, 18, 17, 0), TimeLimit::WorkingDays(1)),
            at(2026, 9, 20, 17, 0)
        );
        // A plain calendar works on National Day and not on that Saturday.
        let plain = WorkCalendar::default();
        assert_eq!(
            plain.deadline(at(2026, 9, 30, 9, 0), TimeLimit::WorkingDays(4)),
            at(2026, 10, 5, 18, 0)
        );
    }

    #[test]
    fn natural_days_are_wall_time() {
        let cal = china();
        let start = at(2026, 9, 30, 17, 0);
        assert_eq!(
            cal.deadline(start, TimeLimit::NaturalDays(2)),
            at(2026, 10, 2, 17, 0)
        );
        assert_eq!(cal.deadline(start, TimeLimit::NaturalDays(0)), start);
    }

    #[test]
    fn zero_and_huge_limits_are_bounded() {
        let cal = china();
        let start = at(2026, 3, 14, 23, 0);
        assert_eq!(cal.deadline(start, TimeLimit::WorkingHours(0)), start);
        assert_eq!(cal.add_working_ms(start, -5), start);
        let cap = start + MAX_SEARCH_DAYS as i64 * DAY_MS;
        assert_eq!(cal.deadline(start, TimeLimit::WorkingDays(u32::MAX)), cap);
        assert_eq!(cal.deadline(start, TimeLimit::WorkingHours(u32::MAX)), cap);
        assert_eq!(cal.deadline(i64::MAX, TimeLimit::WorkingHours(1)), i64::MAX);
        // A calendar with no working day at all gives up at the cap.
        let mut never = WorkCalendar::default();
        for day in date(2026, 1, 1).iter_days().take(4_000) {
            never.holidays.insert(day);
        }
        let start = at(2026, 1, 1, 9, 0);
        assert_eq!(
            never.deadline(start, TimeLimit::WorkingHours(1)),
            start + MAX_SEARCH_DAYS as i64 * DAY_MS
        );
        // A year of working days is found well inside the cap.
        let year = cal.deadline(at(2025, 1, 2, 9, 0), TimeLimit::WorkingDays(250));
        assert!(year > at(2025, 12, 1, 0, 0) && year < at(2026, 2, 1, 0, 0));
    }

    #[test]
    fn deadlines_agree_with_working_ms_between() {
        let cal = china();
        // Every 37 minutes for three weeks around National Day 2026.
        let mut start = at(2026, 9, 24, 0, 0);
        let end = at(2026, 10, 15, 0, 0);
        while start < end {
            let mut previous = start;
            for hours in [1, 3, 4, 5, 8, 13, 40] {
                let limit = TimeLimit::WorkingHours(hours);
                let deadline = cal.deadline(start, limit);
                assert!(deadline >= previous, "monotonic");
                assert_eq!(
                    cal.working_ms_between(start, deadline),
                    i64::from(hours) * HOUR_MS,
                    "{start} {hours}"
                );
                // The deadline is inside a working period or at its end.
                let (day, ms) = local_parts(deadline).expect("in range");
                assert!(cal.is_working_day(day));
                assert!(PERIODS
                    .iter()
                    .any(|&(open, close)| open < ms && ms <= close));
                previous = deadline;
            }
            start += 37 * MINUTE_MS;
        }
        assert_eq!(cal.working_ms_between(end, start), 0);
        assert_eq!(
            cal.working_ms_between(at(2026, 3, 9, 0, 0), at(2026, 3, 16, 0, 0)),
            5 * WORKING_DAY_MS
        );
    }

    #[test]
    fn the_china_calendar_lists_the_official_days() {
        let cal = china();
        assert_eq!(cal.holidays.len(), 28 + 33);
        assert_eq!(cal.workdays.len(), 5 + 6);
        for day in &cal.workdays {
            assert!(
                day.weekday().number_from_monday() >= 6,
                "{day} is a weekend day"
            );
            assert!(cal.is_working_day(*day));
        }
        for (y, m, d) in [
            (2025, 2, 4),
            (2025, 6, 2),
            (2025, 10, 8),
            (2026, 2, 23),
            (2026, 5, 5),
        ] {
            assert!(!cal.is_working_day(date(y, m, d)), "{y}-{m}-{d}");
        }
        assert!(cal.is_working_day(date(2026, 2, 24)));
        assert!(cal.is_working_day(date(2026, 10, 8)));
        assert!(!cal.is_working_day(date(2026, 10, 11)));
    }

    #[test]
    fn from_text_reads_days_comments_and_blank_lines() {
        let text =
            "\u{feff}# 2027 (example)\n\n2027-01-01 holiday  # 元旦\n  2027-02-20 WORKDAY\r\n";
        let cal = WorkCalendar::from_text(text).expect("valid");
        assert!(!cal.is_working_day(date(2027, 1, 1)));
        assert!(cal.is_working_day(date(2027, 2, 20)));
        assert_eq!(
            WorkCalendar::from_text("").expect("empty"),
            WorkCalendar::default()
        );
    }

    #[test]
    fn from_text_errors_name_the_line() {
        let err = |text: &str| WorkCalendar::from_text(text).expect_err("invalid");
        assert_eq!(
            err("# ok\n2026-10-01 holiday\n2026-13-01 holiday\n"),
            CalendarError::BadDate {
                line: 3,
                text: "2026-13-01".into()
            }
        );
        assert_eq!(
            err("2026-10-01 off"),
            CalendarError::BadKind {
                line: 1,
                text: "off".into()
            }
        );
        assert_eq!(err("\n2026-10-01\n"), CalendarError::Malformed { line: 2 });
        assert_eq!(
            err("2026-10-01 holiday extra"),
            CalendarError::Malformed { line: 1 }
        );
        assert_eq!(
            err("2026-10-10 workday\n2026-10-10 holiday"),
            CalendarError::Conflict {
                line: 2,
                date: date(2026, 10, 10)
            }
        );
        assert_eq!(
            err("x\n2026/10/01 holiday").to_string(),
            "calendar line 1: expected \"YYYY-MM-DD holiday\" or \"YYYY-MM-DD workday\""
        );
        assert_eq!(
            err("2026/10/01 holiday").to_string(),
            "calendar line 1: \"2026/10/01\" is not a valid YYYY-MM-DD date"
        );
    }

    #[test]
    fn merge_lets_the_other_calendar_win() {
        let mut cal = china();
        let local =
            WorkCalendar::from_text("2026-10-10 holiday\n2026-10-07 workday\n2027-01-01 holiday")
                .expect("valid");
        cal.merge(local);
        assert!(!cal.is_working_day(date(2026, 10, 10)));
        assert!(cal.is_working_day(date(2026, 10, 7)));
        assert!(!cal.is_working_day(date(2027, 1, 1)));
        assert!(!cal.is_working_day(date(2026, 10, 6)));
    }

    #[test]
    fn time_limits_parse_and_serialize() {
        for limit in [
            TimeLimit::WorkingHours(4),
            TimeLimit::WorkingDays(1),
            TimeLimit::NaturalDays(15),
        ] {
            assert_eq!(
                TimeLimit::parse(limit.unit_str(), limit.amount()),
                Some(limit)
            );
            let json = serde_json::to_value(limit).expect("serialize");
            assert_eq!(
                json,
                serde_json::json!({"unit": limit.unit_str(), "amount": limit.amount()})
            );
            assert_eq!(
                serde_json::from_value::<TimeLimit>(json).expect("deserialize"),
                limit
            );
        }
        assert_eq!(TimeLimit::parse("hours", 4), None);
    }
}
