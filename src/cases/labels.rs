//! Chinese names of the codes a person reads (states, actions, sources, lights, unit kinds),
//! in one table that the console, CSV exports and `GET /labels` share — a state shown as
//! `in_progress` on a page is a bug, and the tests below fail when a new code has no name.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::reports::status::{ActionKind, ReportStatus};

pub fn report_status(s: ReportStatus) -> &'static str {
    match s {
        ReportStatus::Submitted => "待受理",
        ReportStatus::Accepted => "已受理",
        ReportStatus::InProgress => "处置中",
        ReportStatus::Escalated => "已上报上级",
        ReportStatus::Suspended => "已挂起",
        ReportStatus::Resolved => "待核查",
        ReportStatus::Closed => "已结案",
        ReportStatus::Rejected => "不予受理",
        ReportStatus::Cancelled => "已撤销",
    }
}

pub fn action(a: ActionKind) -> &'static str {
    match a {
        ActionKind::Accept => "受理",
        ActionKind::Reject => "不予受理",
        ActionKind::Note => "备注",
        ActionKind::Escalate => "上报上级",
        ActionKind::HandDown => "交办下级",
        ActionKind::Suspend => "挂起",
        ActionKind::Resume => "恢复办理",
        ActionKind::RequestExtension => "申请延期",
        ActionKind::ApproveExtension => "批准延期",
        ActionKind::Resolve => "办结",
        ActionKind::Confirm => "核查通过结案",
        ActionKind::Rework => "退回重办",
        ActionKind::Rate => "评价",
        ActionKind::Cancel => "撤销",
        ActionKind::AutoClose => "自动结案",
        ActionKind::Dispatch => "派单给协同单位",
        ActionKind::Sign => "签收",
        ActionKind::Return => "退单",
        ActionKind::Supervise => "督办",
        ActionKind::Mediate => "调解",
        ActionKind::FollowUp => "回访",
    }
}

pub fn source(s: entity::enums::Source) -> &'static str {
    use entity::enums::Source;
    match s {
        Source::Resident => "居民上报",
        Source::Patrol => "网格巡查",
        Source::Visit => "入户走访",
        Source::Hotline => "12345热线",
        Source::Device => "物联设备",
        Source::Open311 => "Open311",
    }
}

pub fn light(l: crate::reports::status::Light) -> &'static str {
    use crate::reports::status::Light;
    match l {
        Light::Green => "绿灯",
        Light::Yellow => "黄灯",
        Light::Red => "红灯",
    }
}

pub fn unit_kind(k: entity::enums::UnitKind) -> &'static str {
    use entity::enums::UnitKind;
    match k {
        UnitKind::Police => "派出所警务室",
        UnitKind::Property => "物业公司",
        UnitKind::Gas => "燃气公司",
        UnitKind::Fire => "消防",
        UnitKind::UrbanManagement => "城管",
        UnitKind::Mediation => "调解组织",
        UnitKind::Housing => "房管",
        UnitKind::Other => "其他单位",
    }
}

pub fn assignment(s: entity::enums::AssignmentStatus) -> &'static str {
    use entity::enums::AssignmentStatus;
    match s {
        AssignmentStatus::Dispatched => "待签收",
        AssignmentStatus::Signed => "已签收",
        AssignmentStatus::Returned => "已退单",
        AssignmentStatus::Resolved => "已办结",
        AssignmentStatus::Withdrawn => "已撤回",
    }
}

/// Every table, keyed by code, as `GET /labels` serves it.
#[derive(Serialize, ToSchema)]
pub struct Labels {
    pub statuses: BTreeMap<String, String>,
    pub actions: BTreeMap<String, String>,
    pub sources: BTreeMap<String, String>,
    pub lights: BTreeMap<String, String>,
    pub unit_kinds: BTreeMap<String, String>,
    pub assignments: BTreeMap<String, String>,
}

fn code_of<T: Serialize>(v: T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => panic!("a code serialises as a string, not {other:?}"),
    }
}

pub fn all() -> Labels {
    use crate::reports::status::Light;
    use entity::enums::{AssignmentStatus, Source, UnitKind};
    let table = |pairs: Vec<(String, &str)>| -> BTreeMap<String, String> {
        pairs.into_iter().map(|(k, v)| (k, v.to_owned())).collect()
    };
    Labels {
        statuses: table(
            ReportStatus::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), report_status(*s)))
                .collect(),
        ),
        actions: table(
            ActionKind::ALL
                .iter()
                .map(|a| (a.as_str().to_owned(), action(*a)))
                .collect(),
        ),
        sources: table(
            [
                Source::Resident,
                Source::Patrol,
                Source::Visit,
                Source::Hotline,
                Source::Device,
                Source::Open311,
            ]
            .into_iter()
            .map(|s| (code_of(s), source(s)))
            .collect(),
        ),
        lights: table(
            [Light::Green, Light::Yellow, Light::Red]
                .into_iter()
                .map(|l| (code_of(l), light(l)))
                .collect(),
        ),
        unit_kinds: table(
            [
                UnitKind::Police,
                UnitKind::Property,
                UnitKind::Gas,
                UnitKind::Fire,
                UnitKind::UrbanManagement,
                UnitKind::Mediation,
                UnitKind::Housing,
                UnitKind::Other,
            ]
            .into_iter()
            .map(|k| (code_of(k), unit_kind(k)))
            .collect(),
        ),
        assignments: table(
            [
                AssignmentStatus::Dispatched,
                AssignmentStatus::Signed,
                AssignmentStatus::Returned,
                AssignmentStatus::Resolved,
                AssignmentStatus::Withdrawn,
            ]
            .into_iter()
            .map(|s| (code_of(s), assignment(s)))
            .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_action_has_its_own_chinese_name() {
        let l = all();
        assert_eq!(l.statuses.len(), ReportStatus::ALL.len());
        assert_eq!(l.actions.len(), ActionKind::ALL.len());
        assert_eq!(l.statuses["in_progress"], "处置中");
        assert_eq!(l.actions["hand_down"], "交办下级");
        assert_eq!(l.sources["hotline"], "12345热线");
        // Distinct names: two states reading alike would confuse a case officer.
        let names: std::collections::BTreeSet<_> = l.statuses.values().collect();
        assert_eq!(names.len(), l.statuses.len());
        for name in l.statuses.values().chain(l.actions.values()) {
            assert!(!name.is_ascii(), "{name} is not Chinese");
        }
    }
}
