//! Who is calling: the `Principal` extractor verifies the bearer token and loads the user's
//! roles from the database on every request, so a revoked membership takes effect at once.

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use sea_orm::ConnectionTrait;
use serde::Serialize;

use crate::config::AdminMfa;
use crate::error::{ApiError, Code};
use crate::state::AppState;

/// A user's role, as shown by `GET /me`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    Worker,
    Volunteer,
    Admin,
    /// Staff of a partner unit (DOMAIN.md §8).
    UnitStaff,
    /// Separated duties (MLPS, API.md "Compliance"): areas, categories, units, accounts.
    SystemAdmin,
    /// Role grants, lockouts, integration and Open311 keys, password resets.
    SecurityAdmin,
    /// Reads and exports the audit trail, nothing else.
    AuditAdmin,
}

/// A partner unit's staff member: `unit_lead` or `unit_member`.
#[derive(Clone, Debug)]
pub struct UnitMembership {
    pub unit_code: String,
    pub role: String,
}

/// A grid membership: `worker` (专职), `backup` (包保) or `volunteer`.
#[derive(Clone, Debug)]
pub struct Membership {
    pub grid_code: String,
    pub role: String,
}

/// The admin's node of the area tree.
#[derive(Clone, Debug)]
pub struct AdminArea {
    pub code: String,
    /// `/D/S/C/`: an area is inside the admin's when its path starts with this.
    pub path: String,
}

#[derive(Clone, Debug)]
pub struct Principal {
    pub user: entity::users::Model,
    pub memberships: Vec<Membership>,
    pub admin_area: Option<AdminArea>,
    pub units: Vec<UnitMembership>,
}

impl Principal {
    pub fn id(&self) -> &str {
        &self.user.id
    }

    pub fn roles(&self) -> Vec<Role> {
        let mut roles = Vec::new();
        if self.user.openid.is_some() {
            roles.push(Role::Resident);
        }
        if self.worker_grids().next().is_some() {
            roles.push(Role::Worker);
        }
        if self.user.is_volunteer || self.memberships.iter().any(|m| m.role == "volunteer") {
            roles.push(Role::Volunteer);
        }
        if self.admin_area.is_some() {
            roles.push(Role::Admin);
        }
        if !self.units.is_empty() {
            roles.push(Role::UnitStaff);
        }
        match self.user.duty.as_deref() {
            Some("system") => roles.push(Role::SystemAdmin),
            Some("security") => roles.push(Role::SecurityAdmin),
            Some("audit") => roles.push(Role::AuditAdmin),
            _ => {}
        }
        roles
    }

    /// Grids whose queue this user works (primary or backup).
    pub fn worker_grids(&self) -> impl Iterator<Item = &str> {
        self.memberships
            .iter()
            .filter(|m| m.role == "worker" || m.role == "backup")
            .map(|m| m.grid_code.as_str())
    }

    pub fn works_grid(&self, grid_code: &str) -> bool {
        self.worker_grids().any(|g| g == grid_code)
    }

    /// True when the admin's area contains the area with `path`.
    pub fn administers_path(&self, path: &str) -> bool {
        self.admin_area
            .as_ref()
            .is_some_and(|a| path.starts_with(&a.path))
    }

    /// The separated duty this account holds (`system`, `security`, `audit`).
    pub fn has_duty(&self, duty: &str) -> bool {
        self.user.duty.as_deref() == Some(duty)
    }

    /// The part of the area tree whose structure (areas, units) this user manages: an area
    /// admin's own area; the system admin's whole tree (`/`). Not a licence to read cases:
    /// that stays with [`Principal::administers_path`].
    pub fn structure_path(&self) -> Option<&str> {
        if self.has_duty("system") {
            Some("/")
        } else {
            self.admin_area.as_ref().map(|a| a.path.as_str())
        }
    }

    /// The part of the tree for which this user issues and revokes partner keys (device
    /// integrations, Open311 clients): an area admin's area; the security admin's whole tree.
    pub fn keys_path(&self) -> Option<&str> {
        if self.has_duty("security") {
            Some("/")
        } else {
            self.admin_area.as_ref().map(|a| a.path.as_str())
        }
    }

    /// The partner units this user staffs.
    pub fn unit_codes(&self) -> impl Iterator<Item = &str> {
        self.units.iter().map(|u| u.unit_code.as_str())
    }

    pub fn staffs_unit(&self, code: &str) -> bool {
        self.unit_codes().any(|u| u == code)
    }

    /// A partner system (an Open311 client) acting as the reporter of the cases it filed:
    /// its id stands where a user's would, and it holds no role of any kind.
    pub fn partner(id: &str, name: &str) -> Principal {
        Principal {
            user: entity::users::Model {
                id: id.to_owned(),
                appid: None,
                openid: None,
                unionid: None,
                session_key: None,
                username: None,
                password_hash: None,
                nickname: name.to_owned(),
                phone: None,
                phone_hash: None,
                admin_area_code: None,
                is_volunteer: false,
                volunteer_unit: None,
                duty: None,
                created_at: 0,
                must_change_password: false,
                failed_logins: 0,
                locked_until: None,
                totp_secret: None,
                totp_pending_secret: None,
                totp_last_step: None,
            },
            memberships: Vec::new(),
            admin_area: None,
            units: Vec::new(),
        }
    }

    pub fn is_resident(&self) -> bool {
        self.user.openid.is_some()
    }

    pub fn is_volunteer(&self) -> bool {
        self.roles().contains(&Role::Volunteer)
    }
}

/// The bearer token of the request, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// What a password account must settle before it may use any route but those that settle
/// it (`Authenticated`): an operator-set password to change, or, where admins need a
/// second factor, one to enrol. Decided here once, for every route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    PasswordChange,
    MfaEnrolment,
}

impl Pending {
    /// The first thing `user` owes, if any (the password first: enrol with the new one).
    pub fn of(user: &entity::users::Model, mfa: AdminMfa) -> Option<Pending> {
        // Only password accounts (admins) owe anything.
        user.password_hash.as_ref()?;
        if user.must_change_password {
            Some(Pending::PasswordChange)
        } else if mfa == AdminMfa::Required && user.totp_secret.is_none() {
            Some(Pending::MfaEnrolment)
        } else {
            None
        }
    }

    pub fn error(self) -> ApiError {
        match self {
            Pending::PasswordChange => ApiError::new(
                Code::PasswordChangeRequired,
                "Change your password first (POST /api/v1/auth/password).",
                "请先修改密码。",
            ),
            Pending::MfaEnrolment => ApiError::new(
                Code::MfaEnrolmentRequired,
                "Set up a second factor first (POST /api/v1/auth/mfa/enrol, then confirm).",
                "请先绑定动态口令（双因素认证）。",
            ),
        }
    }
}

/// A logged-in user who may still owe a password change or a second factor: only for the
/// routes that settle those (password change, MFA enrolment) and logout and `GET /me`.
/// Every other route takes [`Principal`], which refuses such a user.
pub struct Authenticated(pub Principal);

fn authenticate(
    req: &HttpRequest,
) -> LocalBoxFuture<'static, Result<(Principal, AdminMfa), ApiError>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer(req).map(str::to_owned);
    Box::pin(async move {
        let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing")))?;
        let token = token.ok_or_else(|| ApiError::unauthenticated("no bearer token"))?;
        let claims = state.jwt.verify(&token).map_err(|e| {
            tracing::debug!(error = %e, "token refused");
            ApiError::unauthenticated("invalid or expired token")
        })?;
        let principal = load_user(&state.db, &claims.sub).await?;
        Ok((principal, state.settings.admin_mfa))
    })
}

/// The token's user, refused (401) when unknown or deleted.
async fn load_user(db: &impl ConnectionTrait, user_id: &str) -> Result<Principal, ApiError> {
    let principal = load_on(db, user_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unknown user"))?;
    // A deleted account keeps its row (erased) for what stays; its tokens are dead.
    if principal.user.openid.is_none() && principal.user.username.is_none() {
        return Err(ApiError::unauthenticated("this account was deleted"));
    }
    Ok(principal)
}

/// A verified bearer token whose user is not loaded yet, for the busiest routes (submission,
/// the worker and unit queues): the handler loads the caller with [`Bearer::principal`] on
/// the database session its own statements use, once the body is read, so the request takes
/// one connection instead of two (issue 21). The token is checked here as strictly as by
/// [`Principal`]; the user row, deletion and what a password account still owes are checked
/// by `principal` exactly as [`Principal`] does.
pub struct Bearer {
    user_id: String,
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready((|| {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing")))?;
            let token = bearer(req).ok_or_else(|| ApiError::unauthenticated("no bearer token"))?;
            let claims = state.jwt.verify(token).map_err(|e| {
                tracing::debug!(error = %e, "token refused");
                ApiError::unauthenticated("invalid or expired token")
            })?;
            Ok(Bearer {
                user_id: claims.sub,
            })
        })())
    }
}

impl Bearer {
    /// The caller, as the [`Principal`] extractor would have given it, read through `db`.
    pub async fn principal(
        &self,
        state: &AppState,
        db: &impl ConnectionTrait,
    ) -> Result<Principal, ApiError> {
        let principal = load_user(db, &self.user_id).await?;
        match Pending::of(&principal.user, state.settings.admin_mfa) {
            Some(pending) => Err(pending.error()),
            None => Ok(principal),
        }
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authenticated = authenticate(req);
        Box::pin(async move {
            let (principal, mfa) = authenticated.await?;
            match Pending::of(&principal.user, mfa) {
                Some(pending) => Err(pending.error()),
                None => Ok(principal),
            }
        })
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authenticated = authenticate(req);
        Box::pin(async move { Ok(Authenticated(authenticated.await?.0)) })
    }
}

/// The principal's statement: the user row LEFT JOINed with its grid memberships, unit
/// memberships and admin area, ordered so the first membership is the oldest.
fn principal_query(user_id: &str) -> sea_orm::sea_query::SelectStatement {
    use entity::{areas, grid_members as gm, unit_members as um, users};
    use sea_orm::sea_query::{Alias, Expr, JoinType, Query};
    use sea_orm::Iterable;
    let (m, a, u) = (Alias::new("m"), Alias::new("a"), Alias::new("u"));
    let mut q = Query::select();
    q.from(users::Entity);
    for c in users::Column::iter() {
        q.column((users::Entity, c));
    }
    q.expr_as(
        Expr::col((m.clone(), gm::Column::GridCode)),
        Alias::new("m_grid_code"),
    )
    .expr_as(
        Expr::col((m.clone(), gm::Column::Role)),
        Alias::new("m_role"),
    )
    .expr_as(
        Expr::col((a.clone(), areas::Column::Path)),
        Alias::new("a_path"),
    )
    .expr_as(
        Expr::col((u.clone(), um::Column::UnitCode)),
        Alias::new("u_unit_code"),
    )
    .expr_as(
        Expr::col((u.clone(), um::Column::Role)),
        Alias::new("u_role"),
    )
    .join_as(
        JoinType::LeftJoin,
        gm::Entity,
        m.clone(),
        Expr::col((m.clone(), gm::Column::UserId)).equals((users::Entity, users::Column::Id)),
    )
    .join_as(
        JoinType::LeftJoin,
        um::Entity,
        u.clone(),
        Expr::col((u.clone(), um::Column::UserId)).equals((users::Entity, users::Column::Id)),
    )
    .join_as(
        JoinType::LeftJoin,
        areas::Entity,
        a.clone(),
        Expr::col((a.clone(), areas::Column::Code))
            .equals((users::Entity, users::Column::AdminAreaCode)),
    )
    .and_where(Expr::col((users::Entity, users::Column::Id)).eq(user_id))
    .order_by((m.clone(), gm::Column::Id), sea_orm::sea_query::Order::Asc)
    .order_by(
        (u.clone(), um::Column::UnitCode),
        sea_orm::sea_query::Order::Asc,
    );
    q
}

/// Loads a user with memberships, unit memberships and admin area in one round trip: the
/// user row LEFT JOINed with its grid memberships, its unit memberships and its admin area
/// (one row per pair of memberships, at least one; nearly everyone has at most one kind).
pub async fn load(state: &AppState, user_id: &str) -> Result<Option<Principal>, ApiError> {
    load_on(&state.db, user_id).await
}

/// [`load`] through any connection (a request's `Session`).
pub async fn load_on(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<Principal>, ApiError> {
    use sea_orm::FromQueryResult;
    // Every authenticated request sends this statement: its text is built once per backend
    // (sea-query's builder showed up in the profile, issue 21); only the user id is bound.
    static SQL: std::sync::OnceLock<[String; 3]> = std::sync::OnceLock::new();
    let backend = db.get_database_backend();
    let texts = SQL.get_or_init(|| {
        use sea_orm::DatabaseBackend::{MySql, Postgres, Sqlite};
        [Postgres, MySql, Sqlite].map(|b| {
            let built = b.build(&principal_query(""));
            // The cached text is only right while the user id is its one parameter.
            assert_eq!(built.values.map(|v| v.0.len()), Some(1));
            built.sql
        })
    });
    let sql = match backend {
        sea_orm::DbBackend::Postgres => &texts[0],
        sea_orm::DbBackend::MySql => &texts[1],
        sea_orm::DbBackend::Sqlite => &texts[2],
    };
    let statement = sea_orm::Statement::from_sql_and_values(backend, sql.clone(), [user_id.into()]);
    let rows = db.query_all(statement).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let user = entity::users::Model::from_query_result(first, "")?;
    let mut memberships: Vec<Membership> = Vec::new();
    let mut units: Vec<UnitMembership> = Vec::new();
    for row in &rows {
        let grid: Option<String> = row.try_get("", "m_grid_code")?;
        let role: Option<String> = row.try_get("", "m_role")?;
        if let (Some(grid_code), Some(role)) = (grid, role) {
            if !memberships
                .iter()
                .any(|m| m.grid_code == grid_code && m.role == role)
            {
                memberships.push(Membership { grid_code, role });
            }
        }
        let unit: Option<String> = row.try_get("", "u_unit_code")?;
        let role: Option<String> = row.try_get("", "u_role")?;
        if let (Some(unit_code), Some(role)) = (unit, role) {
            if !units.iter().any(|u| u.unit_code == unit_code) {
                units.push(UnitMembership { unit_code, role });
            }
        }
    }
    let admin_path: Option<String> = first.try_get("", "a_path")?;
    let admin_area = match (&user.admin_area_code, admin_path) {
        (Some(code), Some(path)) => Some(AdminArea {
            code: code.clone(),
            path,
        }),
        _ => None,
    };
    Ok(Some(Principal {
        user,
        memberships,
        admin_area,
        units,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> entity::users::Model {
        let mut user = Principal::partner("u1", "chen").user;
        user.username = Some("chen".into());
        user.password_hash = Some("$argon2id$...".into());
        user
    }

    #[test]
    fn an_operator_set_password_must_be_changed_before_anything_else() {
        let mut user = admin();
        user.must_change_password = true;
        for mfa in [AdminMfa::Optional, AdminMfa::Required] {
            assert_eq!(Pending::of(&user, mfa), Some(Pending::PasswordChange));
        }
    }

    #[test]
    fn a_second_factor_is_owed_only_where_required_and_until_confirmed() {
        let mut user = admin();
        assert_eq!(Pending::of(&user, AdminMfa::Optional), None);
        assert_eq!(
            Pending::of(&user, AdminMfa::Required),
            Some(Pending::MfaEnrolment)
        );
        user.totp_pending_secret = Some("PENDING".into());
        assert_eq!(
            Pending::of(&user, AdminMfa::Required),
            Some(Pending::MfaEnrolment)
        );
        user.totp_secret = Some("ACTIVE".into());
        assert_eq!(Pending::of(&user, AdminMfa::Required), None);
    }

    #[test]
    fn accounts_without_a_password_owe_nothing() {
        let mut user = Principal::partner("u2", "resident").user;
        user.must_change_password = true;
        assert_eq!(Pending::of(&user, AdminMfa::Required), None);
    }
}
