//! Identity rules: WeChat and password login, rotating refresh tokens with reuse detection,
//! invites and enrolment, phone binding and the subscribe-message consent ledger.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};

use super::dto::{AreaRef, GridRef, Me, TokenResponse};
use super::principal::{self, Principal};
use crate::error::{ApiError, ApiResult, Code};
use crate::infra::wechat::WeChatError;
use crate::state::AppState;
use crate::util::{mask_phone, new_id, now_ms, random_token, sha256_hex};

use entity::{grid_members, invites, refresh_tokens, subscriptions, users};

const INVITE_TTL_MS: i64 = 7 * 24 * 3_600_000;
pub const MEMBER_ROLES: [&str; 3] = ["worker", "backup", "volunteer"];

/// Maps a WeChat failure to the API's answer (DOMAIN.md §5).
pub fn wechat_error(e: WeChatError) -> ApiError {
    if e.is_code_invalid() {
        ApiError::new(
            Code::WechatCodeInvalid,
            "The WeChat login code is invalid or already used; call wx.login() again.",
            "微信登录凭证无效或已使用，请重新登录。",
        )
    } else if e.is_rate_limited() {
        ApiError::new(
            Code::WechatRateLimited,
            "Too many logins; try again shortly.",
            "登录过于频繁，请稍后再试。",
        )
        .retry_after(10)
    } else if e.is_high_risk() {
        ApiError::new(
            Code::WechatUserRisky,
            "WeChat has marked this account as high risk.",
            "该微信账号存在风险，暂时无法登录。",
        )
    } else {
        if let WeChatError::Api { errcode, .. } = &e {
            tracing::error!(
                errcode,
                "unexpected WeChat error (check SAFEGRID_WECHAT_APPID/SECRET)"
            );
        }
        ApiError::new(
            Code::WechatUnavailable,
            "WeChat is not answering; please try again shortly.",
            "微信服务暂时不可用，请稍后再试。",
        )
    }
}

/// code2Session, then find or create the user keyed by (appid, openid).
pub async fn login_wechat(state: &AppState, code: &str) -> ApiResult<TokenResponse> {
    if code.trim().is_empty() || code.len() > 128 {
        return Err(ApiError::invalid(
            "code",
            "must be the code from wx.login()",
        ));
    }
    let session = state
        .wechat
        .code2session(code)
        .await
        .map_err(wechat_error)?;
    let session_key = secrecy::ExposeSecret::expose_secret(&session.session_key).to_string();
    sign_in_openid(state, &session.openid, session.unionid.clone(), session_key).await
}

/// Finds or creates the user keyed by (appid, openid) and issues tokens: what a WeChat login
/// does once WeChat has vouched for the openid (or, in development, `dev_login`).
async fn sign_in_openid(
    state: &AppState,
    openid: &str,
    unionid: Option<String>,
    session_key: String,
) -> ApiResult<TokenResponse> {
    struct Session {
        openid: String,
        unionid: Option<String>,
    }
    let session = Session {
        openid: openid.to_owned(),
        unionid,
    };
    let appid = state.wechat.appid().to_string();
    let existing = users::Entity::find()
        .filter(users::Column::Appid.eq(&appid))
        .filter(users::Column::Openid.eq(&session.openid))
        .one(&state.db)
        .await?;
    let user_id = match existing {
        Some(user) => {
            let mut am: users::ActiveModel = user.into();
            am.session_key = Set(Some(session_key));
            if session.unionid.is_some() {
                am.unionid = Set(session.unionid.clone());
            }
            am.update(&state.db).await?.id
        }
        None => {
            let id = new_id();
            let am = users::ActiveModel {
                id: Set(id.clone()),
                appid: Set(Some(appid.clone())),
                openid: Set(Some(session.openid.clone())),
                unionid: Set(session.unionid.clone()),
                session_key: Set(Some(session_key)),
                username: Set(None),
                password_hash: Set(None),
                nickname: Set(format!("居民{}", &id[id.len() - 4..])),
                phone: Set(None),
                admin_area_code: Set(None),
                is_volunteer: Set(false),
                volunteer_unit: Set(None),
                duty: Set(None),
                created_at: Set(now_ms()),
                ..Default::default()
            };
            match users::Entity::insert(am).exec(&state.db).await {
                Ok(_) => id,
                // A concurrent first login of the same user inserted first.
                Err(e) if crate::infra::db::is_unique_violation(&e) => {
                    users::Entity::find()
                        .filter(users::Column::Appid.eq(&appid))
                        .filter(users::Column::Openid.eq(&session.openid))
                        .one(&state.db)
                        .await?
                        .ok_or_else(ApiError::not_found)?
                        .id
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    issue_tokens(state, &user_id, None).await
}

/// Development only (`SAFEGRID_DEV_LOGIN`): signs in as `openid` without asking WeChat, so
/// the demo's resident, worker, volunteer and unit staff can be tried on a laptop. 404 when
/// off, as if the route did not exist; production refuses to start with it on.
pub async fn dev_login(state: &AppState, openid: &str) -> ApiResult<TokenResponse> {
    if !state.settings.dev_login {
        return Err(ApiError::not_found());
    }
    let valid = (1..=64).contains(&openid.len())
        && openid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(ApiError::invalid(
            "openid",
            "1–64 letters, digits, '-' or '_' (e.g. demo-worker)",
        ));
    }
    sign_in_openid(state, openid, None, "dev-login".into()).await
}

/// A hash to verify against when the user does not exist, so both failures take as long.
pub(super) fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("argon2: {e}")))
}

pub(super) fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new access token and a refresh token in `family` (a new family at login).
pub(super) async fn issue_tokens(
    state: &AppState,
    user_id: &str,
    family: Option<String>,
) -> ApiResult<TokenResponse> {
    let refresh = random_token(48);
    let now = now_ms();
    refresh_tokens::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id.to_string()),
        family_id: Set(family.unwrap_or_else(new_id)),
        token_hash: Set(sha256_hex(refresh.as_bytes())),
        expires_at: Set(now + state.settings.refresh_token_ttl.as_millis() as i64),
        rotated_at: Set(None),
        revoked: Set(false),
        created_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    let access = state.jwt.issue(user_id).map_err(ApiError::internal)?;
    let principal = principal::load(state, user_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(TokenResponse {
        access_token: access,
        refresh_token: refresh,
        token_type: "Bearer",
        expires_in: state.jwt.ttl_secs(),
        user: me(state, &principal).await?,
    })
}

fn refresh_invalid() -> ApiError {
    ApiError::new(
        Code::RefreshTokenInvalid,
        "The refresh token is not valid; log in again.",
        "登录已失效，请重新登录。",
    )
}

/// Rotates a refresh token. Presenting one that was already rotated means it was copied:
/// the whole family is revoked and both holders must log in again.
pub async fn refresh(state: &AppState, token: &str) -> ApiResult<TokenResponse> {
    let hash = sha256_hex(token.as_bytes());
    let row = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(&hash))
        .one(&state.db)
        .await?
        .ok_or_else(refresh_invalid)?;
    if row.revoked || row.expires_at < now_ms() {
        return Err(refresh_invalid());
    }
    // An admin's session ends after a while without use: each rotation makes a new row, so
    // the row's age is the time since the session was last refreshed (or began).
    let user = users::Entity::find_by_id(row.user_id.clone())
        .one(&state.db)
        .await?
        .ok_or_else(refresh_invalid)?;
    let idle_ms = state.settings.admin_idle.as_millis() as i64;
    if idle_too_long(&user, row.created_at, now_ms(), idle_ms) {
        revoke_family(&state.db, &row.family_id).await?;
        return Err(ApiError::new(
            Code::RefreshTokenInvalid,
            "The session ended after a time without use; log in again.",
            "长时间未操作，登录已失效，请重新登录。",
        ));
    }
    if let Err(retry) = state
        .limiter
        .hit(&format!("refresh:{}", row.user_id), 30, 60)
        .await
    {
        return Err(rate_limited(retry));
    }
    // Claim the token: only one request can move rotated_at from NULL.
    let claimed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(now_ms()))
        .filter(refresh_tokens::Column::Id.eq(&row.id))
        .filter(refresh_tokens::Column::RotatedAt.is_null())
        .exec(&state.db)
        .await?
        .rows_affected;
    if claimed == 0 {
        revoke_family(&state.db, &row.family_id).await?;
        tracing::warn!(user_id = %row.user_id, "refresh token reuse detected; family revoked");
        return Err(ApiError::new(
            Code::RefreshTokenReused,
            "This refresh token was already used; all sessions of this login were ended. Log in again.",
            "登录凭证已被使用，为保护账号安全请重新登录。",
        ));
    }
    issue_tokens(state, &row.user_id, Some(row.family_id)).await
}

/// Whether a refresh token last used at `last_used_ms` has been idle too long for `user`
/// (password accounts only: residents keep their long mini-program sessions).
fn idle_too_long(user: &users::Model, last_used_ms: i64, now: i64, idle_ms: i64) -> bool {
    user.password_hash.is_some() && now - last_used_ms > idle_ms
}

async fn revoke_family(db: &impl ConnectionTrait, family_id: &str) -> ApiResult<()> {
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::Revoked, Expr::value(true))
        .filter(refresh_tokens::Column::FamilyId.eq(family_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn logout(state: &AppState, who: &Principal, token: Option<&str>) -> ApiResult<()> {
    let mut query = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::Revoked, Expr::value(true))
        .filter(refresh_tokens::Column::UserId.eq(who.id()));
    if let Some(token) = token {
        let hash = sha256_hex(token.as_bytes());
        if let Some(row) = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .filter(refresh_tokens::Column::UserId.eq(who.id()))
            .one(&state.db)
            .await?
        {
            query = query.filter(refresh_tokens::Column::FamilyId.eq(row.family_id));
        } else {
            return Ok(());
        }
    }
    query.exec(&state.db).await?;
    Ok(())
}

pub fn rate_limited(retry_after: u64) -> ApiError {
    ApiError::new(
        Code::RateLimited,
        "Too many attempts; wait a moment and try again.",
        "操作过于频繁，请稍后再试。",
    )
    .retry_after(retry_after)
}

/// The `GET /me` view of a principal.
pub async fn me(state: &AppState, p: &Principal) -> ApiResult<Me> {
    let mut grids = Vec::new();
    for m in &p.memberships {
        let name = entity::areas::Entity::find_by_id(m.grid_code.clone())
            .one(&state.db)
            .await?
            .map(|a| a.name)
            .unwrap_or_default();
        grids.push(GridRef {
            code: m.grid_code.clone(),
            name,
            role: m.role.clone(),
        });
    }
    let area = match &p.admin_area {
        None => None,
        Some(a) => entity::areas::Entity::find_by_id(a.code.clone())
            .one(&state.db)
            .await?
            .map(|a| AreaRef {
                code: a.code,
                name: a.name,
                level: a.level,
            }),
    };
    Ok(Me {
        id: p.user.id.clone(),
        roles: p.roles(),
        nickname: p.user.nickname.clone(),
        phone_masked: state
            .settings
            .keys
            .user_phone(&p.user)
            .as_deref()
            .map(mask_phone),
        grids,
        area,
    })
}

/// Creates an administrator of `area_code` whose password is final (the demo, fixtures and
/// tests). The password policy applies.
pub async fn create_admin(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
    area_code: &str,
) -> anyhow::Result<()> {
    insert_admin(db, username, password, Some(area_code), None, false).await
}

/// Creates an administrator of `area_code` with a password an operator chose (CLI:
/// `safegrid admin create`): the admin must change it before anything else. The password
/// policy applies.
pub async fn create_admin_requiring_change(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
    area_code: &str,
) -> anyhow::Result<()> {
    insert_admin(db, username, password, Some(area_code), None, true).await
}

/// Creates the administrator of a separated duty (`system`, `security`, `audit`): no area.
/// `must_change_password` as for the CLI (`safegrid admin create --role`).
pub async fn create_duty_admin(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
    duty: &str,
    must_change_password: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        ["system", "security", "audit"].contains(&duty),
        "the role must be system, security or audit"
    );
    insert_admin(
        db,
        username,
        password,
        None,
        Some(duty),
        must_change_password,
    )
    .await
}

async fn insert_admin(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
    area_code: Option<&str>,
    duty: Option<&str>,
    must_change_password: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !username.is_empty()
            && username.len() <= 64
            && username
                .chars()
                .all(|c| c.is_alphanumeric() || "._-".contains(c)),
        "the username must be 1–64 letters, digits, dots, dashes or underscores"
    );
    super::password_policy::check(username, password)?;
    if let Some(area_code) = area_code {
        let area = entity::areas::Entity::find_by_id(area_code.to_string())
            .one(db)
            .await?;
        anyhow::ensure!(
            area.is_some(),
            "area {area_code} does not exist: import the area tree first (safegrid areas import FILE, or safegrid demo)"
        );
    }
    let hash = hash_password(password).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    users::ActiveModel {
        id: Set(new_id()),
        appid: Set(None),
        openid: Set(None),
        unionid: Set(None),
        session_key: Set(None),
        username: Set(Some(username.to_string())),
        password_hash: Set(Some(hash)),
        nickname: Set(username.to_string()),
        phone: Set(None),
        admin_area_code: Set(area_code.map(str::to_owned)),
        is_volunteer: Set(false),
        volunteer_unit: Set(None),
        duty: Set(duty.map(str::to_owned)),
        created_at: Set(now_ms()),
        must_change_password: Set(must_change_password),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        if crate::infra::db::is_unique_violation(&e) {
            anyhow::anyhow!("username {username} is taken")
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// A single-use invite to a grid, by an admin whose area contains the grid.
pub async fn create_invite(
    state: &AppState,
    who: &Principal,
    grid_code: &str,
    role: &str,
) -> ApiResult<invites::Model> {
    if !MEMBER_ROLES.contains(&role) {
        return Err(ApiError::invalid(
            "role",
            "must be worker, backup or volunteer",
        ));
    }
    let grid = entity::areas::Entity::find_by_id(grid_code.to_string())
        .one(&state.db)
        .await?
        .filter(|a| a.level == "grid")
        .ok_or_else(|| ApiError::invalid("grid_code", "no such grid"))?;
    if !who.administers_path(&grid.path) {
        return Err(ApiError::forbidden());
    }
    let now = now_ms();
    let invite = invites::ActiveModel {
        unit_code: Set(None),
        code: Set(random_token(10).to_uppercase()),
        grid_code: Set(grid.code),
        role: Set(role.to_string()),
        created_by: Set(who.id().to_string()),
        expires_at: Set(now + INVITE_TTL_MS),
        used_by: Set(None),
        used_at: Set(None),
        created_at: Set(now),
        revoked_at: Set(None),
        revoked_by: Set(None),
    }
    .insert(&state.db)
    .await?;
    Ok(invite)
}

/// A single-use invite to a partner unit's staff, by an admin who manages the unit.
pub async fn create_unit_invite(
    state: &AppState,
    who: &Principal,
    unit_code: &str,
    role: &str,
) -> ApiResult<invites::Model> {
    if !["unit_lead", "unit_member"].contains(&role) {
        return Err(ApiError::invalid(
            "role",
            "must be unit_lead or unit_member",
        ));
    }
    let unit = entity::units::Entity::find_by_id(unit_code.to_string())
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::invalid("unit_code", "no such unit"))?;
    if !who.administers_path(&unit.owner_path) {
        return Err(ApiError::forbidden());
    }
    let now = now_ms();
    let invite = invites::ActiveModel {
        unit_code: Set(Some(unit.code)),
        code: Set(random_token(10).to_uppercase()),
        grid_code: Set(String::new()),
        role: Set(role.to_string()),
        created_by: Set(who.id().to_string()),
        expires_at: Set(now + INVITE_TTL_MS),
        used_by: Set(None),
        used_at: Set(None),
        created_at: Set(now),
        revoked_at: Set(None),
        revoked_by: Set(None),
    }
    .insert(&state.db)
    .await?;
    Ok(invite)
}

/// Redeems an invite: expired, used and unknown codes each get their own answer.
pub async fn enrol(state: &AppState, who: &Principal, code: &str) -> ApiResult<()> {
    let code = code.trim().to_uppercase();
    let now = now_ms();
    let user_id = who.id().to_string();
    state
        .db
        .transaction::<_, (), ApiError>(|txn| {
            Box::pin(async move {
                let invite = invites::Entity::find_by_id(code.clone())
                    .one(txn)
                    .await?
                    .ok_or_else(|| {
                        ApiError::new(
                            Code::InviteNotFound,
                            "No such invite code.",
                            "邀请码不存在。",
                        )
                    })?;
                if invite.used_by.is_some() {
                    return Err(ApiError::new(
                        Code::InviteUsed,
                        "This invite code was already used.",
                        "邀请码已被使用。",
                    ));
                }
                if invite.created_by == user_id {
                    // Nobody grants a role to themselves (MLPS separated duties): the admin
                    // who made an invite hands it to someone else.
                    return Err(ApiError::new(
                        Code::SelfGrant,
                        "You created this invite; it must be redeemed by someone else.",
                        "不能使用自己生成的邀请码为自己授权。",
                    ));
                }
                if invite.revoked_at.is_some() {
                    return Err(ApiError::new(
                        Code::InviteRevoked,
                        "This invite code was revoked; ask your community office for a new one.",
                        "邀请码已被撤销，请向社区索取新的邀请码。",
                    ));
                }
                if invite.expires_at < now {
                    return Err(ApiError::new(
                        Code::InviteExpired,
                        "This invite code has expired.",
                        "邀请码已过期。",
                    ));
                }
                let taken = invites::Entity::update_many()
                    .col_expr(invites::Column::UsedBy, Expr::value(user_id.clone()))
                    .col_expr(invites::Column::UsedAt, Expr::value(now))
                    .filter(invites::Column::Code.eq(&code))
                    .filter(invites::Column::UsedBy.is_null())
                    .filter(invites::Column::RevokedAt.is_null())
                    .exec(txn)
                    .await?
                    .rows_affected;
                if taken == 0 {
                    return Err(ApiError::new(
                        Code::InviteUsed,
                        "This invite code was already used.",
                        "邀请码已被使用。",
                    ));
                }
                if let Some(unit) = &invite.unit_code {
                    // Staff of a unit: a second invite to the same unit changes the role.
                    let member = entity::unit_members::ActiveModel {
                        unit_code: Set(unit.clone()),
                        user_id: Set(user_id.clone()),
                        role: Set(invite.role.clone()),
                        created_at: Set(now),
                    };
                    entity::unit_members::Entity::insert(member)
                        .on_conflict(
                            sea_orm::sea_query::OnConflict::columns([
                                entity::unit_members::Column::UnitCode,
                                entity::unit_members::Column::UserId,
                            ])
                            .update_column(entity::unit_members::Column::Role)
                            .to_owned(),
                        )
                        .exec_without_returning(txn)
                        .await?;
                    return Ok(());
                }
                let existing = grid_members::Entity::find()
                    .filter(grid_members::Column::UserId.eq(&user_id))
                    .filter(grid_members::Column::GridCode.eq(&invite.grid_code))
                    .one(txn)
                    .await?;
                match existing {
                    Some(m) => {
                        let mut am: grid_members::ActiveModel = m.into();
                        am.role = Set(invite.role.clone());
                        am.update(txn).await?;
                    }
                    None => {
                        grid_members::ActiveModel {
                            user_id: Set(user_id.clone()),
                            grid_code: Set(invite.grid_code.clone()),
                            role: Set(invite.role.clone()),
                            created_at: Set(now),
                            ..Default::default()
                        }
                        .insert(txn)
                        .await?;
                    }
                }
                if invite.role == "volunteer" {
                    users::Entity::update_many()
                        .col_expr(users::Column::IsVolunteer, Expr::value(true))
                        .filter(users::Column::Id.eq(&user_id))
                        .exec(txn)
                        .await?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(())
}

/// Binds the phone number behind a `getPhoneNumber` code.
pub async fn bind_phone(state: &AppState, who: &Principal, code: &str) -> ApiResult<()> {
    if who.user.openid.is_none() {
        return Err(ApiError::forbidden());
    }
    if code.trim().is_empty() || code.len() > 128 {
        return Err(ApiError::invalid(
            "code",
            "must be the code from the getPhoneNumber button",
        ));
    }
    let wechat = state.wechat.clone();
    let code = code.to_string();
    let info = state
        .wechat_tokens
        .with_token(|token| {
            let wechat = wechat.clone();
            let code = code.clone();
            async move { wechat.phone_number(&token, &code).await }
        })
        .await
        .map_err(|e| match e {
            WeChatError::WatermarkMismatch => ApiError::new(
                Code::WechatPhoneInvalid,
                "The phone number was issued for another mini-program.",
                "手机号校验失败。",
            ),
            e if e.is_code_invalid() => ApiError::new(
                Code::WechatPhoneInvalid,
                "The phone code is invalid or used; tap the button again.",
                "手机号授权已失效，请重新授权。",
            ),
            e => wechat_error(e),
        })?;
    users::Entity::update_many()
        .col_expr(
            users::Column::PhoneHash,
            Expr::value(state.settings.keys.phone_hash(&info.pure_phone_number)),
        )
        .col_expr(
            users::Column::Phone,
            Expr::value(state.settings.keys.encrypt(
                crate::infra::crypto::USER_PHONE,
                who.id(),
                &info.pure_phone_number,
            )),
        )
        .filter(users::Column::Id.eq(who.id()))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// Records subscribe-message consent: each `accept` allows one more send of that template.
pub async fn record_consent(
    state: &AppState,
    who: &Principal,
    results: &std::collections::BTreeMap<String, String>,
) -> ApiResult<std::collections::BTreeMap<String, i32>> {
    if results.len() > 20 {
        return Err(ApiError::invalid("results", "at most 20 templates at once"));
    }
    let user_id = who.id().to_string();
    let accepted: Vec<String> = results
        .iter()
        .filter(|(t, v)| v.as_str() == "accept" && !t.is_empty() && t.len() <= 128)
        .map(|(t, _)| t.clone())
        .collect();
    state
        .db
        .transaction::<_, (), ApiError>(|txn| {
            let user_id = user_id.clone();
            Box::pin(async move {
                for template in accepted {
                    let bumped = subscriptions::Entity::update_many()
                        .col_expr(
                            subscriptions::Column::Remaining,
                            Expr::col(subscriptions::Column::Remaining).add(1),
                        )
                        .col_expr(subscriptions::Column::UpdatedAt, Expr::value(now_ms()))
                        .filter(subscriptions::Column::UserId.eq(&user_id))
                        .filter(subscriptions::Column::TemplateId.eq(&template))
                        .exec(txn)
                        .await?
                        .rows_affected;
                    if bumped == 0 {
                        subscriptions::ActiveModel {
                            user_id: Set(user_id.clone()),
                            template_id: Set(template),
                            remaining: Set(1),
                            updated_at: Set(now_ms()),
                        }
                        .insert(txn)
                        .await?;
                    }
                }
                Ok(())
            })
        })
        .await?;
    let rows = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(who.id()))
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.template_id, r.remaining))
        .collect())
}
