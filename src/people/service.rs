//! The people screens' services. Every read and change is bounded by the admin's area: a
//! grid's team by the grid's path, a unit's invites by the unit's owner path.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::util::{mask_phone, now_ms, rfc3339};

use entity::invites;

#[derive(Serialize, ToSchema)]
pub struct TeamMember {
    pub user_id: String,
    pub nickname: String,
    /// `worker` (专职), `backup` (包保) or `volunteer`.
    pub role: String,
    pub phone_masked: Option<String>,
    pub joined_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct InviteView {
    pub invite_code: String,
    pub grid_code: Option<String>,
    pub unit_code: Option<String>,
    pub role: String,
    /// `pending`, `used`, `expired` or `revoked`.
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamView {
    pub grid_code: String,
    pub grid_name: String,
    pub members: Vec<TeamMember>,
    /// The grid's invites, newest first (the last 50).
    pub invites: Vec<InviteView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InviteQuery {
    /// A grid inside the admin's area.
    pub grid: Option<String>,
    /// A partner unit the admin manages.
    pub unit: Option<String>,
}

pub fn invite_view(i: invites::Model, now: i64) -> InviteView {
    let status = if i.used_by.is_some() {
        "used"
    } else if i.revoked_at.is_some() {
        "revoked"
    } else if i.expires_at < now {
        "expired"
    } else {
        "pending"
    };
    InviteView {
        status: status.into(),
        invite_code: i.code,
        grid_code: (!i.grid_code.is_empty()).then_some(i.grid_code),
        unit_code: i.unit_code,
        role: i.role,
        created_at: rfc3339(i.created_at),
        expires_at: rfc3339(i.expires_at),
        used_at: i.used_at.map(rfc3339),
        revoked_at: i.revoked_at.map(rfc3339),
    }
}

/// The grid, when it exists and lies in the admin's area (403 outside, 404 unknown).
async fn grid_in_area(
    state: &AppState,
    who: &Principal,
    code: &str,
) -> ApiResult<entity::areas::Model> {
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let grid = entity::areas::Entity::find_by_id(code.to_owned())
        .one(&state.db)
        .await?
        .filter(|a| a.level == "grid")
        .ok_or_else(ApiError::not_found)?;
    if !who.administers_path(&grid.path) {
        return Err(ApiError::forbidden());
    }
    Ok(grid)
}

async fn unit_in_area(state: &AppState, who: &Principal, code: &str) -> ApiResult<()> {
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let unit = entity::units::Entity::find_by_id(code.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !who.administers_path(&unit.owner_path) {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

pub async fn team(state: &AppState, who: &Principal, grid_code: &str) -> ApiResult<TeamView> {
    let grid = grid_in_area(state, who, grid_code).await?;
    let members = entity::grid_members::Entity::find()
        .filter(entity::grid_members::Column::GridCode.eq(&grid.code))
        .order_by_asc(entity::grid_members::Column::Role)
        .order_by_asc(entity::grid_members::Column::CreatedAt)
        .all(&state.db)
        .await?;
    let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
    let users: std::collections::HashMap<String, entity::users::Model> =
        entity::users::Entity::find()
            .filter(entity::users::Column::Id.is_in(ids))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
    let members = members
        .into_iter()
        .map(|m| {
            let u = users.get(&m.user_id);
            TeamMember {
                nickname: u.map(|u| u.nickname.clone()).unwrap_or_default(),
                phone_masked: u
                    .and_then(|u| state.settings.keys.user_phone(u))
                    .as_deref()
                    .map(mask_phone),
                user_id: m.user_id,
                role: m.role,
                joined_at: rfc3339(m.created_at),
            }
        })
        .collect();
    let now = now_ms();
    let invites = invites::Entity::find()
        .filter(invites::Column::GridCode.eq(&grid.code))
        .order_by_desc(invites::Column::CreatedAt)
        .limit(50)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|i| invite_view(i, now))
        .collect();
    Ok(TeamView {
        grid_code: grid.code,
        grid_name: grid.name,
        members,
        invites,
    })
}

/// A grid's or a unit's invites, newest first (the last 200).
pub async fn list_invites(
    state: &AppState,
    who: &Principal,
    q: &InviteQuery,
) -> ApiResult<Vec<InviteView>> {
    let query = match (&q.grid, &q.unit) {
        (Some(g), None) => {
            grid_in_area(state, who, g).await?;
            invites::Entity::find().filter(invites::Column::GridCode.eq(g.as_str()))
        }
        (None, Some(u)) => {
            unit_in_area(state, who, u).await?;
            invites::Entity::find().filter(invites::Column::UnitCode.eq(u.as_str()))
        }
        _ => return Err(ApiError::invalid("grid", "name either a grid or a unit")),
    };
    let now = now_ms();
    Ok(query
        .order_by_desc(invites::Column::CreatedAt)
        .limit(200)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|i| invite_view(i, now))
        .collect())
}

/// Revokes an unused invite: 409 once used; revoking twice answers the same revoked invite.
pub async fn revoke_invite(state: &AppState, who: &Principal, code: &str) -> ApiResult<InviteView> {
    if who.admin_area.is_none() {
        return Err(ApiError::forbidden());
    }
    let invite = invites::Entity::find_by_id(code.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    match &invite.unit_code {
        Some(u) => unit_in_area(state, who, u).await?,
        None => {
            grid_in_area(state, who, &invite.grid_code).await?;
        }
    }
    if invite.used_by.is_some() {
        return Err(ApiError::invalid_transition("used", "revoke"));
    }
    let now = now_ms();
    invites::Entity::update_many()
        .col_expr(invites::Column::RevokedAt, Expr::value(now))
        .col_expr(invites::Column::RevokedBy, Expr::value(who.id()))
        .filter(invites::Column::Code.eq(code))
        .filter(invites::Column::UsedBy.is_null())
        .filter(invites::Column::RevokedAt.is_null())
        .exec(&state.db)
        .await?;
    let invite = invites::Entity::find_by_id(code.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if invite.used_by.is_some() {
        // Redeemed in the instant between the read and the update.
        return Err(ApiError::invalid_transition("used", "revoke"));
    }
    crate::compliance::audit::record(
        &state.db,
        crate::compliance::audit::Record::ok(
            who.id(),
            "admin",
            "role.invite_revoke",
            Some(code.to_owned()),
        ),
    )
    .await;
    Ok(invite_view(invite, now))
}
