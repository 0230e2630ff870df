//! What a caller sees of reports: one report (with its timeline), a resident's own list,
//! and the rendering every list shares — a fixed number of queries per page, never one per
//! row (the rows, their reporters, their photos, and for reports units held, their
//! assignments and the units' names).

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::access::{can_view, context, decide_for, is_admin_viewer, relations, shows_reporter};
use super::dto::*;
use super::status::{self, ActionKind, AssignmentStatus, Light, ReportStatus};
use crate::auth::Principal;
use crate::cases::dto::{LocationOut, PhotoView, PlaceRef};
use crate::cases::env::Env;
use crate::error::{ApiError, ApiResult};
use crate::grids::router::Snapshot;
use crate::paging::parse_cursor;
use crate::timeline;
use crate::units::load as unit_load;
use crate::util::{now_ms, rfc3339};

use entity::{report_units, reports};
use std::collections::HashMap;

/// The report as `who` may see it (404 when they may not).
pub async fn view_by_id(
    env: &Env<'_>,
    who: &Principal,
    id: &str,
    with_timeline: bool,
) -> ApiResult<ReportView> {
    view(env, who, id, with_timeline, true).await
}

/// The report with its timeline for the user who has just changed it, without asking again
/// whether they may see it: their action may have ended their part (a returning unit).
pub async fn view_after_action(env: &Env<'_>, who: &Principal, id: &str) -> ApiResult<ReportView> {
    view(env, who, id, true, false).await
}

async fn view(
    env: &Env<'_>,
    who: &Principal,
    id: &str,
    with_timeline: bool,
    check_visibility: bool,
) -> ApiResult<ReportView> {
    let r = reports::Entity::find_by_id(id.to_string())
        .one(env.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let snap = env.router.snapshot();
    let units = unit_load::of_report(env.db, &r).await?;
    if check_visibility && !can_view(who, &r, &units, &snap) {
        return Err(ApiError::not_found());
    }
    if r.anonymous && r.reporter_id != who.id() && is_admin_viewer(who, &r, &snap) {
        // An anonymous reporter's identity, beyond the masked view others get.
        crate::compliance::audit::record(
            env.db,
            crate::compliance::audit::Record::ok(
                who.id(),
                "admin",
                "read.anonymous_reporter",
                Some(format!("report:{}", r.id)),
            ),
        )
        .await;
    }
    let mut view = render(env, who, &snap, r, units).await?;
    if with_timeline {
        view.timeline = Some(timeline::load(env.db, "report", id).await?);
    }
    Ok(view)
}

/// A hotline caller's full number, for an admin above the case (others: 403 if they can see
/// the case, else 404; a case without one: 404).
pub async fn caller_phone(env: &Env<'_>, who: &Principal, id: &str) -> ApiResult<CallerPhone> {
    let r = reports::Entity::find_by_id(id.to_string())
        .one(env.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let snap = env.router.snapshot();
    if !is_admin_viewer(who, &r, &snap) {
        let units = unit_load::of_report(env.db, &r).await?;
        return Err(if can_view(who, &r, &units, &snap) {
            ApiError::forbidden()
        } else {
            ApiError::not_found()
        });
    }
    let phone = env.keys.caller_phone(&r).ok_or_else(ApiError::not_found)?;
    crate::compliance::audit::record(
        env.db,
        crate::compliance::audit::Record::ok(
            who.id(),
            "admin",
            "read.caller_phone",
            Some(format!("report:{}", r.id)),
        ),
    )
    .await;
    Ok(CallerPhone {
        caller_phone: phone,
    })
}

/// The hotline cases of one caller under `who`'s area, found by the keyed hash of the number
/// (the numbers themselves are encrypted): admins only, audited.
pub async fn caller_lookup(env: &Env<'_>, who: &Principal, phone: &str) -> ApiResult<CallerCases> {
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if !(5..=20).contains(&digits)
        || !phone
            .trim()
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ')
    {
        return Err(ApiError::invalid(
            "caller_phone",
            "5 to 20 digits, with '-', '+' or spaces",
        ));
    }
    let rows = reports::Entity::find()
        .filter(reports::Column::CallerPhoneHash.eq(env.keys.phone_hash(phone)))
        .order_by_desc(reports::Column::SubmittedAt)
        .limit(200)
        .all(env.db)
        .await?;
    let snap = env.router.snapshot();
    let items: Vec<CallerCase> = rows
        .into_iter()
        .filter(|r| is_admin_viewer(who, r, &snap))
        .take(50)
        .map(|r| CallerCase {
            id: r.id,
            case_no: r.case_no,
            category: r.category,
            status: r.status,
            submitted_at: rfc3339(r.submitted_at),
        })
        .collect();
    crate::compliance::audit::record(
        env.db,
        crate::compliance::audit::Record::ok(
            who.id(),
            "admin",
            "read.caller_lookup",
            Some(format!("cases:{}", items.len())),
        ),
    )
    .await;
    Ok(CallerCases { items })
}

pub fn light_of(r: &reports::Model, now: i64) -> Light {
    match (r.accepted_at, r.deadline) {
        (Some(start), Some(deadline)) => {
            let status = r.status;
            if !status.is_open() || status == ReportStatus::Resolved {
                // Handled: the light shows whether it was handled in time.
                let done = r.resolved_at.or(r.closed_at).unwrap_or(now);
                return if done <= deadline {
                    Light::Green
                } else {
                    Light::Red
                };
            }
            status::light(start, deadline, r.suspended_at.unwrap_or(now))
        }
        _ => Light::Green,
    }
}

pub(super) fn reporter_view(env: &Env<'_>, u: &entity::users::Model) -> ReporterView {
    ReporterView {
        nickname: u.nickname.clone(),
        phone_masked: env
            .keys
            .user_phone(u)
            .as_deref()
            .map(crate::util::mask_phone),
    }
}

pub async fn render(
    env: &Env<'_>,
    who: &Principal,
    snap: &Snapshot,
    r: reports::Model,
    units: Vec<report_units::Model>,
) -> ApiResult<ReportView> {
    let reporter = if !shows_reporter(who, &r, snap) {
        None
    } else if r.reporter_id == who.id() {
        Some(reporter_view(env, &who.user))
    } else {
        entity::users::Entity::find_by_id(r.reporter_id.clone())
            .one(env.db)
            .await?
            .as_ref()
            .map(|u| reporter_view(env, u))
    };
    let photos = crate::uploads::attached(env.db, "report", &r.id).await?;
    let names = unit_load::names(env.db, units.iter()).await?;
    Ok(render_loaded(
        env,
        who,
        snap,
        r,
        Loaded {
            reporter,
            photo_ids: photos,
            units,
            unit_names: &names,
        },
    ))
}

/// Renders many reports with two queries in all (reporters, photos) instead of two each.
pub async fn render_many(
    env: &Env<'_>,
    who: &Principal,
    snap: &Snapshot,
    rows: Vec<reports::Model>,
) -> ApiResult<Vec<ReportView>> {
    use std::collections::HashMap;
    let wanted: std::collections::BTreeSet<String> = rows
        .iter()
        .filter(|r| shows_reporter(who, r, snap) && r.reporter_id != who.id())
        .map(|r| r.reporter_id.clone())
        .collect();
    let mut reporters: HashMap<String, ReporterView> = HashMap::new();
    if !wanted.is_empty() {
        for u in entity::users::Entity::find()
            .filter(entity::users::Column::Id.is_in(wanted))
            .all(&env.conn)
            .await?
        {
            reporters.insert(u.id.clone(), reporter_view(env, &u));
        }
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut photos = crate::uploads::attached_many(&env.conn, "report", &ids).await?;
    let mut units = unit_load::of_reports(&env.conn, &rows).await?;
    let names = unit_load::names(&env.conn, units.values().flatten()).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let reporter = if !shows_reporter(who, &r, snap) {
                None
            } else if r.reporter_id == who.id() {
                Some(reporter_view(env, &who.user))
            } else {
                reporters.get(&r.reporter_id).cloned()
            };
            let loaded = Loaded {
                reporter,
                photo_ids: photos.remove(&r.id).unwrap_or_default(),
                units: units.remove(&r.id).unwrap_or_default(),
                unit_names: &names,
            };
            render_loaded(env, who, snap, r, loaded)
        })
        .collect())
}

/// What a view shows beside the report's own row, loaded for a whole page at once.
pub struct Loaded<'a> {
    pub reporter: Option<ReporterView>,
    pub photo_ids: Vec<String>,
    /// The report's unit assignments, oldest first.
    pub units: Vec<report_units::Model>,
    pub unit_names: &'a HashMap<String, String>,
}

/// The view of a report whose reporter, photos and assignments are loaded (no I/O).
pub fn render_loaded(
    env: &Env<'_>,
    who: &Principal,
    snap: &Snapshot,
    r: reports::Model,
    loaded: Loaded<'_>,
) -> ReportView {
    let Loaded {
        reporter,
        photo_ids,
        units,
        unit_names,
    } = loaded;
    let caller_phone_masked = env
        .keys
        .caller_phone(&r)
        .as_deref()
        .map(crate::util::mask_phone);
    let place = |code: &str| {
        snap.areas.get(code).map(|a| PlaceRef {
            code: a.code.clone(),
            name: a.name.clone(),
            level: a.level.as_str().into(),
        })
    };
    let admin = is_admin_viewer(who, &r, snap);
    let photos = photo_ids
        .into_iter()
        .map(|id| PhotoView {
            url: env.photos.signed(&id),
            id,
        })
        .collect();
    let rels = relations(who, &r, &units);
    // A worker's direct dispatch depends on the category, which a page does not load: the
    // list offers `dispatch` to admins only; the action itself decides with the category.
    let ctx = context(&r, &units, snap, false, false);
    let available_actions = ActionKind::ALL
        .iter()
        .filter(|a| a.is_client_action())
        .filter(|a| decide_for(&r, **a, &rels, &ctx).is_ok())
        .map(|a| a.as_str().to_string())
        .collect();
    let units = units
        .into_iter()
        .filter(|a| a.status != AssignmentStatus::Withdrawn)
        .map(|a| UnitAssignmentView {
            name: unit_names.get(&a.unit_code).cloned().unwrap_or_default(),
            code: a.unit_code,
            role: a.role,
            status: a.status,
            sign_deadline: rfc3339(a.sign_deadline),
            deadline: rfc3339(a.deadline),
            signed_at: a.signed_at.map(rfc3339),
            resolved_at: a.resolved_at.map(rfc3339),
            return_reason: a.return_reason,
        })
        .collect();
    let grid_place = place(&r.grid_code).filter(|p| p.level == "grid");
    ReportView {
        light: light_of(&r, now_ms()),
        id: r.id.clone(),
        case_no: r.case_no.clone(),
        category: r.category,
        description: r.description,
        location: LocationOut {
            lat: r.lat,
            lng: r.lng,
            coord: "gcj02",
        },
        address: r.address,
        anonymous: r.anonymous,
        urgency: r.urgency,
        status: r.status,
        grid: grid_place,
        queue: place(&r.queue_code).unwrap_or(PlaceRef {
            code: r.queue_code.clone(),
            name: String::new(),
            level: String::new(),
        }),
        submitted_at: rfc3339(r.submitted_at),
        accepted_at: r.accepted_at.map(rfc3339),
        deadline: r.deadline.map(rfc3339),
        resolved_at: r.resolved_at.map(rfc3339),
        closed_at: r.closed_at.map(rfc3339),
        rework_count: r.rework_count,
        rating: r.rating,
        rating_comment: r.rating_comment,
        extension_request: r.extension_until.map(|u| ExtensionView {
            until: rfc3339(u),
            reason: r.extension_reason.clone(),
        }),
        duplicate_of: r.duplicate_of,
        units,
        supervised: r.supervised,
        source: r.source,
        patrol_id: r.patrol_id,
        hotline_order_no: r
            .external_ref
            .as_deref()
            .and_then(|e| e.strip_prefix("hotline:"))
            .map(str::to_owned),
        mediation: match (&r.mediation_tier, &r.mediation_outcome, r.mediated_at) {
            (Some(tier), Some(outcome), Some(at)) => Some(MediationView {
                tier: tier.clone(),
                outcome: outcome.clone(),
                at: rfc3339(at),
            }),
            _ => None,
        },
        follow_up: match (r.follow_up_due, r.mediated_at) {
            (Some(due), Some(mediated)) => Some(FollowUpView {
                due: rfc3339(due),
                light: match r.follow_up_at {
                    Some(at) if at <= due => Light::Green,
                    Some(_) => Light::Red,
                    None => status::light(mediated, due, now_ms()),
                },
                result: r.follow_up_result.clone(),
                at: r.follow_up_at.map(rfc3339),
            }),
            _ => None,
        },
        caller_phone_masked: admin.then_some(caller_phone_masked).flatten(),
        flagged: admin.then_some(r.flagged),
        reporter,
        photos,
        available_actions,
        timeline: None,
        possible_duplicates: None,
    }
}

/// The caller's own reports, newest first.
pub async fn mine(
    env: &Env<'_>,
    who: &Principal,
    limit: u64,
    cursor: Option<&str>,
) -> ApiResult<ReportPage> {
    let mut q = reports::Entity::find()
        .filter(reports::Column::ReporterId.eq(who.id()))
        .order_by_desc(reports::Column::SubmittedAt)
        .order_by_desc(reports::Column::Id)
        .limit(limit + 1);
    if let Some(c) = cursor {
        let (k, id) = parse_cursor(c)?;
        q = q.filter(
            Condition::any()
                .add(reports::Column::SubmittedAt.lt(k))
                .add(
                    Condition::all()
                        .add(reports::Column::SubmittedAt.eq(k))
                        .add(reports::Column::Id.lt(id)),
                ),
        );
    }
    let rows = q.all(env.db).await?;
    page(env, who, rows, limit, |r| r.submitted_at).await
}

pub(super) async fn page(
    env: &Env<'_>,
    who: &Principal,
    mut rows: Vec<reports::Model>,
    limit: u64,
    key: impl Fn(&reports::Model) -> i64,
) -> ApiResult<ReportPage> {
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| format!("{}_{}", key(r), r.id))
    } else {
        None
    };
    let snap = env.router.snapshot();
    let items = render_many(env, who, &snap, rows).await?;
    Ok(ReportPage { items, next_cursor })
}
