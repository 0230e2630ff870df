//! A person's rights over their data (PIPL): see it all (export), correct it (nickname),
//! withdraw consent (subscribe messages), and delete the account. Deletion erases the
//! identity — WeChat ids, phone, nickname, login — and cuts every link from what stays: the
//! reports and wishes are kept for the statistics (the dashboards do not move) under a
//! tombstone id that names nobody; the photos of their finished cases are removed; tokens,
//! memberships, consent and idempotency records go.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::cases::env::Env;
use crate::error::{ApiError, ApiResult, Code};
use crate::util::{new_id, now_ms, rfc3339};

use entity::enums::{ReportStatus, WishStatus};
use entity::{
    grid_members, idempotency, patrols, refresh_tokens, reports, subscriptions, timeline_events,
    unit_members, uploads, users, volunteer_requests, wishes,
};

/// The nickname an erased account shows wherever its old records are read.
pub const ERASED_NICKNAME: &str = "已注销用户";

#[derive(Deserialize, Serialize, ToSchema)]
pub struct MePatch {
    /// 1–32 characters.
    pub nickname: Option<String>,
}

/// Everything SafeGrid holds about the caller, as JSON.
#[derive(Serialize, ToSchema)]
pub struct Export {
    pub exported_at: String,
    pub user: ExportedUser,
    /// Their reports as they see them, each with its timeline.
    #[schema(value_type = Vec<Object>)]
    pub reports: Vec<serde_json::Value>,
    /// Their wishes as they see them, each with its timeline.
    #[schema(value_type = Vec<Object>)]
    pub wishes: Vec<serde_json::Value>,
    /// Subscribe-message consent: template id → sends still allowed.
    pub subscriptions: std::collections::BTreeMap<String, i32>,
    pub grid_memberships: Vec<Membership>,
    pub unit_memberships: Vec<Membership>,
    pub volunteer_applications: Vec<VolunteerApplication>,
    /// Their patrols, each with its track.
    #[schema(value_type = Vec<Object>)]
    pub patrols: Vec<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedUser {
    pub id: String,
    pub nickname: String,
    /// In full: it is the caller's own.
    pub phone: Option<String>,
    pub wechat_openid: Option<String>,
    pub username: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct Membership {
    pub code: String,
    pub role: String,
    pub since: String,
}

#[derive(Serialize, ToSchema)]
pub struct VolunteerApplication {
    pub unit: String,
    pub area_code: String,
    pub status: String,
    pub created_at: String,
}

fn json<T: Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The caller's data, all of it, and nobody else's.
pub async fn export(env: &Env<'_>, who: &Principal) -> ApiResult<Export> {
    let me = who.id();
    super::audit::record(
        env.db,
        super::audit::Record::ok(me, "self", "export.me", Some(format!("user:{me}"))),
    )
    .await;
    let mut out_reports = Vec::new();
    for r in reports::Entity::find()
        .filter(reports::Column::ReporterId.eq(me))
        .order_by_asc(reports::Column::SubmittedAt)
        .all(env.db)
        .await?
    {
        out_reports.push(json(
            crate::reports::views::view_by_id(env, who, &r.id, true).await?,
        ));
    }
    let mut out_wishes = Vec::new();
    for w in wishes::Entity::find()
        .filter(wishes::Column::WisherId.eq(me))
        .order_by_asc(wishes::Column::SubmittedAt)
        .all(env.db)
        .await?
    {
        out_wishes.push(json(
            crate::wishes::views::view_by_id(env, who, &w.id, true).await?,
        ));
    }
    let subscriptions = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(me))
        .all(env.db)
        .await?
        .into_iter()
        .map(|s| (s.template_id, s.remaining))
        .collect();
    let grid_memberships = grid_members::Entity::find()
        .filter(grid_members::Column::UserId.eq(me))
        .all(env.db)
        .await?
        .into_iter()
        .map(|m| Membership {
            code: m.grid_code,
            role: m.role,
            since: rfc3339(m.created_at),
        })
        .collect();
    let unit_memberships = unit_members::Entity::find()
        .filter(unit_members::Column::UserId.eq(me))
        .all(env.db)
        .await?
        .into_iter()
        .map(|m| Membership {
            code: m.unit_code,
            role: m.role,
            since: rfc3339(m.created_at),
        })
        .collect();
    let volunteer_applications = volunteer_requests::Entity::find()
        .filter(volunteer_requests::Column::UserId.eq(me))
        .all(env.db)
        .await?
        .into_iter()
        .map(|v| VolunteerApplication {
            unit: v.unit,
            area_code: v.area_code,
            status: v.status,
            created_at: rfc3339(v.created_at),
        })
        .collect();
    let mut out_patrols = Vec::new();
    for p in patrols::Entity::find()
        .filter(patrols::Column::WorkerId.eq(me))
        .order_by_asc(patrols::Column::StartedAt)
        .all(env.db)
        .await?
    {
        out_patrols.push(json(crate::patrols::service::get(env, who, &p.id).await?));
    }
    let u = &who.user;
    Ok(Export {
        exported_at: rfc3339(now_ms()),
        user: ExportedUser {
            id: u.id.clone(),
            nickname: u.nickname.clone(),
            phone: env.keys.user_phone(u),
            wechat_openid: u.openid.clone(),
            username: u.username.clone(),
            created_at: rfc3339(u.created_at),
        },
        reports: out_reports,
        wishes: out_wishes,
        subscriptions,
        grid_memberships,
        unit_memberships,
        volunteer_applications,
        patrols: out_patrols,
    })
}

/// Corrects the nickname.
pub async fn patch(env: &Env<'_>, who: &Principal, req: &MePatch) -> ApiResult<()> {
    if let Some(nickname) = &req.nickname {
        let nickname = nickname.trim();
        if nickname.is_empty() || nickname.chars().count() > 32 {
            return Err(ApiError::invalid("nickname", "1 to 32 characters"));
        }
        users::Entity::update_many()
            .col_expr(users::Column::Nickname, Expr::value(nickname))
            .filter(users::Column::Id.eq(who.id()))
            .exec(env.db)
            .await?;
    }
    Ok(())
}

/// Withdraws every subscribe-message consent: no message is sent until given again.
pub async fn withdraw_consent(env: &Env<'_>, who: &Principal) -> ApiResult<()> {
    subscriptions::Entity::delete_many()
        .filter(subscriptions::Column::UserId.eq(who.id()))
        .exec(env.db)
        .await?;
    Ok(())
}

/// What the caller still has in hand, which deletion would orphan.
async fn open_tasks(env: &Env<'_>, who: &Principal) -> ApiResult<Vec<&'static str>> {
    let me = who.id();
    let mut held = Vec::new();
    let open_reports = reports::Entity::find()
        .filter(reports::Column::AcceptedBy.eq(me))
        .filter(reports::Column::Status.is_in([
            ReportStatus::Accepted,
            ReportStatus::InProgress,
            ReportStatus::Suspended,
        ]))
        .one(env.db)
        .await?;
    if open_reports.is_some() {
        held.push("reports accepted and not yet resolved");
    }
    let claimed = wishes::Entity::find()
        .filter(wishes::Column::ClaimantId.eq(me))
        .filter(wishes::Column::Status.is_in([WishStatus::Claimed, WishStatus::Fulfilled]))
        .one(env.db)
        .await?;
    if claimed.is_some() {
        held.push("claimed wishes not yet closed");
    }
    let walking = patrols::Entity::find()
        .filter(patrols::Column::WorkerId.eq(me))
        .filter(patrols::Column::EndedAt.is_null())
        .filter(patrols::Column::StartedAt.gt(now_ms() - crate::patrols::service::MAX_PATROL_MS))
        .one(env.db)
        .await?;
    if walking.is_some() {
        held.push("a patrol not yet ended");
    }
    Ok(held)
}

/// Deletes the caller's account (see the module documentation). 409 `open_tasks` while they
/// hold work others depend on.
pub async fn delete(env: &Env<'_>, upload_dir: &str, who: &Principal) -> ApiResult<()> {
    let held = open_tasks(env, who).await?;
    if !held.is_empty() {
        return Err(ApiError::new(
            Code::OpenTasks,
            format!(
                "Hand over or finish your open tasks first: {}.",
                held.join(", ")
            ),
            "请先移交或完成您手上的任务，再注销账号。",
        )
        .with_details(serde_json::json!({ "open_tasks": held })));
    }
    let me = who.id().to_owned();
    let tombstone = new_id();
    // The trail names the account by its tombstone: no link back to the person.
    let tombstone_actor = tombstone.clone();
    let finished = [
        ReportStatus::Closed,
        ReportStatus::Rejected,
        ReportStatus::Cancelled,
    ];
    let finished_reports: Vec<String> = reports::Entity::find()
        .filter(reports::Column::ReporterId.eq(&me))
        .filter(reports::Column::Status.is_in(finished))
        .all(env.db)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let finished_wishes: Vec<String> = wishes::Entity::find()
        .filter(wishes::Column::WisherId.eq(&me))
        .filter(wishes::Column::Status.is_in([
            WishStatus::Closed,
            WishStatus::Rejected,
            WishStatus::Cancelled,
        ]))
        .all(env.db)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    let photos: Vec<uploads::Model> = uploads::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(
                    uploads::Column::AttachedId.is_in(
                        finished_reports
                            .iter()
                            .chain(&finished_wishes)
                            .map(String::as_str),
                    ),
                )
                .add(
                    sea_orm::Condition::all()
                        .add(uploads::Column::OwnerId.eq(&me))
                        .add(uploads::Column::AttachedId.is_null()),
                ),
        )
        .all(env.db)
        .await?;
    let txn = env.db.begin().await?;
    // The identity first (SQLite: a transaction that will write writes first).
    users::Entity::update_many()
        .col_expr(users::Column::Appid, Expr::value(Option::<String>::None))
        .col_expr(users::Column::Openid, Expr::value(Option::<String>::None))
        .col_expr(users::Column::Unionid, Expr::value(Option::<String>::None))
        .col_expr(
            users::Column::SessionKey,
            Expr::value(Option::<String>::None),
        )
        .col_expr(users::Column::Username, Expr::value(Option::<String>::None))
        .col_expr(
            users::Column::PasswordHash,
            Expr::value(Option::<String>::None),
        )
        .col_expr(users::Column::Phone, Expr::value(Option::<String>::None))
        .col_expr(
            users::Column::PhoneHash,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            users::Column::AdminAreaCode,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            users::Column::VolunteerUnit,
            Expr::value(Option::<String>::None),
        )
        .col_expr(users::Column::IsVolunteer, Expr::value(false))
        .col_expr(users::Column::Nickname, Expr::value(ERASED_NICKNAME))
        .filter(users::Column::Id.eq(&me))
        .exec(&txn)
        .await?;
    // What stays for the statistics names a tombstone, not the account.
    reports::Entity::update_many()
        .col_expr(reports::Column::ReporterId, Expr::value(tombstone.clone()))
        .filter(reports::Column::ReporterId.eq(&me))
        .exec(&txn)
        .await?;
    wishes::Entity::update_many()
        .col_expr(wishes::Column::WisherId, Expr::value(tombstone.clone()))
        .filter(wishes::Column::WisherId.eq(&me))
        .exec(&txn)
        .await?;
    timeline_events::Entity::update_many()
        .col_expr(
            timeline_events::Column::ActorId,
            Expr::value(tombstone.clone()),
        )
        .filter(timeline_events::Column::ActorId.eq(&me))
        .exec(&txn)
        .await?;
    for ids in [&finished_reports, &finished_wishes] {
        if !ids.is_empty() {
            uploads::Entity::delete_many()
                .filter(uploads::Column::AttachedId.is_in(ids.iter().map(String::as_str)))
                .exec(&txn)
                .await?;
        }
    }
    uploads::Entity::delete_many()
        .filter(uploads::Column::OwnerId.eq(&me))
        .filter(uploads::Column::AttachedId.is_null())
        .exec(&txn)
        .await?;
    uploads::Entity::update_many()
        .col_expr(uploads::Column::OwnerId, Expr::value(tombstone.clone()))
        .filter(uploads::Column::OwnerId.eq(&me))
        .exec(&txn)
        .await?;
    refresh_tokens::Entity::delete_many()
        .filter(refresh_tokens::Column::UserId.eq(&me))
        .exec(&txn)
        .await?;
    grid_members::Entity::delete_many()
        .filter(grid_members::Column::UserId.eq(&me))
        .exec(&txn)
        .await?;
    unit_members::Entity::delete_many()
        .filter(unit_members::Column::UserId.eq(&me))
        .exec(&txn)
        .await?;
    subscriptions::Entity::delete_many()
        .filter(subscriptions::Column::UserId.eq(&me))
        .exec(&txn)
        .await?;
    idempotency::Entity::delete_many()
        .filter(idempotency::Column::UserId.eq(&me))
        .exec(&txn)
        .await?;
    volunteer_requests::Entity::delete_many()
        .filter(volunteer_requests::Column::UserId.eq(&me))
        .exec(&txn)
        .await?;
    patrols::Entity::update_many()
        .col_expr(patrols::Column::WorkerId, Expr::value(tombstone))
        .filter(patrols::Column::WorkerId.eq(&me))
        .exec(&txn)
        .await?;
    let record = super::audit::Record::ok(&tombstone_actor, "self", "account.delete", None);
    txn.execute(
        txn.get_database_backend()
            .build(&super::audit::insert_statement(&record, now_ms())),
    )
    .await?;
    txn.commit().await?;
    // The files last: a crash before this leaves orphan files, never a broken row.
    for u in photos {
        let _ = tokio::fs::remove_file(std::path::Path::new(upload_dir).join(&u.stored_name)).await;
    }
    Ok(())
}
