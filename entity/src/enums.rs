//! The enumerations stored in string columns, typed: sea-orm reads and writes them as the
//! same snake_case strings clients see, so no stored value changed when they became types.
//! Their intrinsic predicates live here with them; the rules that move between them live in
//! the `safegrid` crate's state machines (`reports::status`, `wishes::status`).

use std::fmt;

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a report stands in its closed loop.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Received, located and routed to a queue (grid or upper-level area).
    #[sea_orm(string_value = "submitted")]
    Submitted,
    /// Taken on by the queue (受理); the deadline is running.
    #[sea_orm(string_value = "accepted")]
    Accepted,
    /// Being handled (处置中).
    #[sea_orm(string_value = "in_progress")]
    InProgress,
    /// Sent up to a higher-level queue (上报 / 越级上报).
    #[sea_orm(string_value = "escalated")]
    Escalated,
    /// On hold with a reason (挂起); the clock is stopped.
    #[sea_orm(string_value = "suspended")]
    Suspended,
    /// Handled, waiting for a check (办结待核查).
    #[sea_orm(string_value = "resolved")]
    Resolved,
    /// Checked and closed (结案). Terminal, except that the reporter may still rate it.
    #[sea_orm(string_value = "closed")]
    Closed,
    /// Declined (不予受理). Terminal.
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// Withdrawn by the reporter before acceptance. Terminal.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl ReportStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 9] = [
        Self::Submitted,
        Self::Accepted,
        Self::InProgress,
        Self::Escalated,
        Self::Suspended,
        Self::Resolved,
        Self::Closed,
        Self::Rejected,
        Self::Cancelled,
    ];

    /// The snake_case name used in JSON and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::InProgress => "in_progress",
            Self::Escalated => "escalated",
            Self::Suspended => "suspended",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status named by [`as_str`](Self::as_str), or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Still needs someone's attention: not closed, rejected or cancelled.
    pub const fn is_open(self) -> bool {
        !matches!(self, Self::Closed | Self::Rejected | Self::Cancelled)
    }

    /// The deadline clock is running (accepted or in progress).
    pub const fn clock_running(self) -> bool {
        matches!(self, Self::Accepted | Self::InProgress)
    }

    /// Counts as handled in the metrics (resolved or closed).
    pub const fn is_handled(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed)
    }
}

impl fmt::Display for ReportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a wish stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum WishStatus {
    /// Waiting for the community's review.
    #[sea_orm(string_value = "submitted")]
    Submitted,
    /// Published on the wish wall, waiting for a claimant.
    #[sea_orm(string_value = "approved")]
    Approved,
    /// Declined by the community with a reason. Terminal.
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// Taken on by one volunteer, party member or partner unit.
    #[sea_orm(string_value = "claimed")]
    Claimed,
    /// Done, with a proof photo; waiting for the wisher's confirmation.
    #[sea_orm(string_value = "fulfilled")]
    Fulfilled,
    /// Confirmed by the wisher (or nobody objected within the window). Terminal.
    #[sea_orm(string_value = "closed")]
    Closed,
    /// Withdrawn by the wisher before anyone claimed it. Terminal.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// Unclaimed past its deadline: now a task in the grid's queue.
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl WishStatus {
    pub const ALL: [Self; 8] = [
        Self::Submitted,
        Self::Approved,
        Self::Rejected,
        Self::Claimed,
        Self::Fulfilled,
        Self::Closed,
        Self::Cancelled,
        Self::Expired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Claimed => "claimed",
            Self::Fulfilled => "fulfilled",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Shown on the wish wall to every logged-in user.
    pub const fn is_published(self) -> bool {
        matches!(self, Self::Approved)
    }
}

impl fmt::Display for WishStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How pressing a report is; it scales the category's limit.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
    Default,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    #[default]
    #[sea_orm(string_value = "normal")]
    Normal,
    /// Half the category's limit.
    #[sea_orm(string_value = "urgent")]
    Urgent,
    /// Two hours of wall time, day or night.
    #[sea_orm(string_value = "emergency")]
    Emergency,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
            Urgency::Emergency => "emergency",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(Urgency::Normal),
            "urgent" => Some(Urgency::Urgent),
            "emergency" => Some(Urgency::Emergency),
            _ => None,
        }
    }
}

/// Goods (实物) or a service (服务).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum WishKind {
    #[sea_orm(string_value = "goods")]
    Goods,
    #[sea_orm(string_value = "service")]
    Service,
}

impl WishKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Goods => "goods",
            Self::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Goods, Self::Service]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What a partner unit is (DOMAIN.md §8).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// The police liaison desk or station (联勤警务室 / 派出所).
    #[sea_orm(string_value = "police")]
    Police,
    /// The property management company (物业).
    #[sea_orm(string_value = "property")]
    Property,
    /// The gas company.
    #[sea_orm(string_value = "gas")]
    Gas,
    /// The fire brigade.
    #[sea_orm(string_value = "fire")]
    Fire,
    /// Urban management (城管).
    #[sea_orm(string_value = "urban_management")]
    UrbanManagement,
    /// The judicial office and its mediation committee (司法所 / 调委会).
    #[sea_orm(string_value = "mediation")]
    Mediation,
    /// The housing office.
    #[sea_orm(string_value = "housing")]
    Housing,
    #[sea_orm(string_value = "other")]
    Other,
}

impl UnitKind {
    pub const ALL: [Self; 8] = [
        Self::Police,
        Self::Property,
        Self::Gas,
        Self::Fire,
        Self::UrbanManagement,
        Self::Mediation,
        Self::Housing,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Police => "police",
            Self::Property => "property",
            Self::Gas => "gas",
            Self::Fire => "fire",
            Self::UrbanManagement => "urban_management",
            Self::Mediation => "mediation",
            Self::Housing => "housing",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A unit's part in a dispatched case: the lead (主办) or an assisting unit (协办).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum UnitRole {
    #[sea_orm(string_value = "lead")]
    Lead,
    #[sea_orm(string_value = "assist")]
    Assist,
}

/// Where one dispatch of a report to a unit stands. Beside the report's own status: the
/// report says where the case is, the assignment what the unit owes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    /// Sent to the unit, waiting for its sign-for (派单待签收).
    #[sea_orm(string_value = "dispatched")]
    Dispatched,
    /// Signed for (签收): the unit is handling it.
    #[sea_orm(string_value = "signed")]
    Signed,
    /// Sent back by the unit with a reason (退单). Final for this assignment.
    #[sea_orm(string_value = "returned")]
    Returned,
    /// The lead unit resolved it; the case waits for its check.
    #[sea_orm(string_value = "resolved")]
    Resolved,
    /// Replaced by a new dispatch before the unit answered. Final.
    #[sea_orm(string_value = "withdrawn")]
    Withdrawn,
}

impl AssignmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dispatched => "dispatched",
            Self::Signed => "signed",
            Self::Returned => "returned",
            Self::Resolved => "resolved",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// The unit still owes something: a sign-for or the handling.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Dispatched | Self::Signed)
    }

    /// The unit still holds the case and may see it (not returned, not withdrawn).
    pub fn holds(self) -> bool {
        matches!(self, Self::Dispatched | Self::Signed | Self::Resolved)
    }
}

impl fmt::Display for AssignmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a case came from (DOMAIN.md §9).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
    EnumIter,
    DeriveActiveEnum,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A resident's safety key (平安键).
    #[default]
    #[sea_orm(string_value = "resident")]
    Resident,
    /// Found by a grid worker on patrol (巡查).
    #[sea_orm(string_value = "patrol")]
    Patrol,
    /// Found on a home visit (入户走访).
    #[sea_orm(string_value = "visit")]
    Visit,
    /// A 12345 hotline work order entered by staff.
    #[sea_orm(string_value = "hotline")]
    Hotline,
    /// An IoT device alarm.
    #[sea_orm(string_value = "device")]
    Device,
    /// A partner system through Open311.
    #[sea_orm(string_value = "open311")]
    Open311,
}

impl Source {
    pub const ALL: [Self; 6] = [
        Self::Resident,
        Self::Patrol,
        Self::Visit,
        Self::Hotline,
        Self::Device,
        Self::Open311,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resident => "resident",
            Self::Patrol => "patrol",
            Self::Visit => "visit",
            Self::Hotline => "hotline",
            Self::Device => "device",
            Self::Open311 => "open311",
        }
    }
}
