//! Strong password login (DOMAIN.md §10): failed attempts counted on the user row and a
//! lockout shared by every instance on the database; the TOTP second factor with replay
//! refused; the password change that settles an operator-set password.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::dto::TokenResponse;
use super::password_policy;
use super::principal::Principal;
use super::service::{self, hash_password, issue_tokens, verify_password};
use super::totp::{self, Verdict};
use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;
use crate::util::now_ms;

use entity::{refresh_tokens, users};

/// Failed attempts (wrong password or wrong code) that lock the account.
pub const MAX_FAILED_LOGINS: i32 = 5;
/// How long a lock lasts.
pub const LOCK_MS: i64 = 15 * 60_000;
/// The issuer shown by authenticator apps.
const TOTP_ISSUER: &str = "SafeGrid";

fn invalid_credentials() -> ApiError {
    ApiError::new(
        Code::InvalidCredentials,
        "Wrong username or password.",
        "用户名或密码错误。",
    )
}

fn account_locked(retry_after_ms: i64) -> ApiError {
    let secs = (retry_after_ms.max(1) + 999) / 1000;
    ApiError::new(
        Code::AccountLocked,
        "Too many failed logins: this account is locked for a while.",
        "登录失败次数过多，账号已被临时锁定，请稍后再试。",
    )
    .retry_after(secs as u64)
}

fn mfa_required(replayed: bool) -> ApiError {
    if replayed {
        ApiError::new(
            Code::MfaRequired,
            "This code was already used; wait for the next one.",
            "该动态口令已使用，请等待下一个口令。",
        )
    } else {
        ApiError::new(
            Code::MfaRequired,
            "Enter the 6-digit code from your authenticator app (totp).",
            "请输入身份验证器中的 6 位动态口令。",
        )
    }
}

fn not_locked(now: i64) -> sea_orm::sea_query::SimpleExpr {
    users::Column::LockedUntil
        .is_null()
        .or(users::Column::LockedUntil.lte(now))
}

/// Takes one of the account's tries before a secret is checked, atomically, so that at most
/// [`MAX_FAILED_LOGINS`] guesses are ever in flight or spent between two successes, however
/// many instances and requests race. A locked account answers 423 without a check.
async fn reserve_attempt(db: &impl ConnectionTrait, user_id: &str, now: i64) -> ApiResult<()> {
    for _ in 0..2 {
        let taken = users::Entity::update_many()
            .col_expr(
                users::Column::FailedLogins,
                Expr::col(users::Column::FailedLogins).add(1),
            )
            .filter(users::Column::Id.eq(user_id))
            .filter(users::Column::FailedLogins.lt(MAX_FAILED_LOGINS))
            .filter(not_locked(now))
            .exec(db)
            .await?
            .rows_affected;
        if taken == 1 {
            return Ok(());
        }
        let Some(user) = users::Entity::find_by_id(user_id.to_string())
            .one(db)
            .await?
        else {
            return Err(invalid_credentials());
        };
        if let Some(until) = user.locked_until.filter(|u| *u > now) {
            return Err(account_locked(until - now));
        }
        if user.failed_logins >= MAX_FAILED_LOGINS {
            // Every try is spent (in flight, or by a process that died before it could
            // say): that is the lock.
            lock_if_spent(db, user_id, now).await?;
            return Err(account_locked(LOCK_MS));
        }
        // A success reset the count between the two statements: try once more.
    }
    Err(account_locked(1_000))
}

/// Locks the account when its tries are spent; true when this call locked it.
async fn lock_if_spent(db: &impl ConnectionTrait, user_id: &str, now: i64) -> ApiResult<bool> {
    let locked = users::Entity::update_many()
        // Constants only: MySQL applies SET left to right, the others all at once.
        .col_expr(users::Column::LockedUntil, Expr::value(now + LOCK_MS))
        .col_expr(users::Column::FailedLogins, Expr::value(0))
        .filter(users::Column::Id.eq(user_id))
        .filter(users::Column::FailedLogins.gte(MAX_FAILED_LOGINS))
        .filter(not_locked(now))
        .exec(db)
        .await?
        .rows_affected;
    if locked == 1 {
        tracing::warn!(user_id, "account locked after repeated failed logins");
    }
    Ok(locked == 1)
}

/// A reserved try that checked nothing wrong (a right password, the code still to come).
async fn release_attempt(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<()> {
    users::Entity::update_many()
        .col_expr(
            users::Column::FailedLogins,
            Expr::col(users::Column::FailedLogins).sub(1),
        )
        .filter(users::Column::Id.eq(user_id))
        .filter(users::Column::FailedLogins.gt(0))
        .exec(db)
        .await?;
    Ok(())
}

async fn record_success(db: &impl ConnectionTrait, user_id: &str) -> ApiResult<()> {
    users::Entity::update_many()
        .col_expr(users::Column::FailedLogins, Expr::value(0))
        .col_expr(users::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .filter(users::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

async fn check_password(password: &str, hash: Option<String>) -> ApiResult<bool> {
    // argon2 is CPU-bound: keep it off the async workers.
    let candidate = password.to_string();
    tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| service::dummy_hash().to_string());
        verify_password(&candidate, &hash)
    })
    .await
    .map_err(ApiError::internal)
}

/// Checks a TOTP code against `secret` and claims its step, so that the same code is refused
/// afterwards even when two instances receive it at once.
async fn use_totp_code(
    db: &impl ConnectionTrait,
    user: &users::Model,
    secret: &str,
    code: &str,
    now_ms: i64,
) -> ApiResult<Verdict> {
    let key = totp::decode_secret(secret)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("stored TOTP secret is not base32")))?;
    let verdict = totp::verify(&key, code, now_ms / 1000, user.totp_last_step);
    let Verdict::Accepted(step) = verdict else {
        return Ok(verdict);
    };
    let claimed = users::Entity::update_many()
        .col_expr(users::Column::TotpLastStep, Expr::value(step))
        .filter(users::Column::Id.eq(&user.id))
        .filter(
            users::Column::TotpLastStep
                .is_null()
                .or(users::Column::TotpLastStep.lt(step)),
        )
        .exec(db)
        .await?
        .rows_affected;
    Ok(if claimed == 1 {
        verdict
    } else {
        Verdict::Replayed
    })
}

/// Password login, with the code of an active second factor.
#[tracing::instrument(skip_all)]
pub async fn login_password(
    state: &AppState,
    username: &str,
    password: &str,
    code: Option<&str>,
) -> ApiResult<TokenResponse> {
    let db = &state.db;
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(db)
        .await?;
    let Some(user) = user.filter(|u| u.password_hash.is_some()) else {
        // Verify anyway, so an unknown name takes as long as a wrong password.
        check_password(password, None).await?;
        return Err(invalid_credentials());
    };
    let now = now_ms();
    reserve_attempt(db, &user.id, now).await?;
    if !check_password(password, user.password_hash.clone()).await? {
        lock_if_spent(db, &user.id, now).await?;
        return Err(invalid_credentials());
    }
    if let Some(secret) = &user.totp_secret {
        let code = code.map(str::trim).filter(|c| !c.is_empty());
        let Some(code) = code else {
            release_attempt(db, &user.id).await?;
            return Err(mfa_required(false));
        };
        match use_totp_code(db, &user, secret, code, now).await? {
            Verdict::Accepted(_) => {}
            verdict => {
                lock_if_spent(db, &user.id, now).await?;
                return Err(mfa_required(verdict == Verdict::Replayed));
            }
        }
    }
    record_success(db, &user.id).await?;
    issue_tokens(state, &user.id, None).await
}

/// Changes the caller's password: the old one checked (a wrong one spends a try like a
/// failed login), the new one held to the policy. Every other session ends; the answer
/// carries fresh tokens for this one.
#[tracing::instrument(skip_all, fields(user_id = %who.id()))]
pub async fn change_password(
    state: &AppState,
    who: &Principal,
    old_password: &str,
    new_password: &str,
) -> ApiResult<TokenResponse> {
    let db = &state.db;
    let (Some(username), Some(hash)) = (&who.user.username, &who.user.password_hash) else {
        return Err(ApiError::forbidden());
    };
    if old_password.len() > password_policy::MAX_CHARS * 4 {
        return Err(ApiError::invalid("old_password", "is wrong"));
    }
    password_policy::check(username, new_password).map_err(|v| v.into_api_error("new_password"))?;
    let now = now_ms();
    reserve_attempt(db, who.id(), now).await?;
    if !check_password(old_password, Some(hash.clone())).await? {
        lock_if_spent(db, who.id(), now).await?;
        return Err(ApiError::invalid("old_password", "is wrong"));
    }
    if old_password == new_password {
        release_attempt(db, who.id()).await?;
        return Err(ApiError::invalid(
            "new_password",
            "must differ from the old password",
        ));
    }
    let new_hash = {
        let new_password = new_password.to_string();
        tokio::task::spawn_blocking(move || hash_password(&new_password))
            .await
            .map_err(ApiError::internal)??
    };
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(new_hash))
        .col_expr(users::Column::MustChangePassword, Expr::value(false))
        .col_expr(users::Column::FailedLogins, Expr::value(0))
        .col_expr(users::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .filter(users::Column::Id.eq(who.id()))
        .exec(db)
        .await?;
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::Revoked, Expr::value(true))
        .filter(refresh_tokens::Column::UserId.eq(who.id()))
        .exec(db)
        .await?;
    tracing::info!("password changed; other sessions ended");
    issue_tokens(state, who.id(), None).await
}

/// Starts enrolling a TOTP factor: a fresh secret, stored pending until confirmed with a
/// code. Refused while a factor is active (replacing one is an operator's reset).
#[tracing::instrument(skip_all, fields(user_id = %who.id()))]
pub async fn enrol_mfa(state: &AppState, who: &Principal) -> ApiResult<String> {
    let Some(username) = who
        .user
        .username
        .as_deref()
        .filter(|_| who.user.password_hash.is_some())
    else {
        return Err(ApiError::forbidden());
    };
    if who.user.totp_secret.is_some() {
        return Err(ApiError::invalid_transition("mfa_active", "enrol"));
    }
    let secret = totp::generate_secret();
    users::Entity::update_many()
        .col_expr(
            users::Column::TotpPendingSecret,
            Expr::value(secret.clone()),
        )
        .filter(users::Column::Id.eq(who.id()))
        .exec(&state.db)
        .await?;
    Ok(totp::otpauth_uri(TOTP_ISSUER, username, &secret))
}

/// Activates the pending factor with a code of its current (or previous) step.
#[tracing::instrument(skip_all, fields(user_id = %who.id()))]
pub async fn confirm_mfa(state: &AppState, who: &Principal, code: &str) -> ApiResult<()> {
    if who.user.password_hash.is_none() {
        return Err(ApiError::forbidden());
    }
    if who.user.totp_secret.is_some() {
        return Err(ApiError::invalid_transition("mfa_active", "confirm"));
    }
    let Some(pending) = who.user.totp_pending_secret.clone() else {
        return Err(ApiError::invalid_transition("not_enrolled", "confirm"));
    };
    let key = totp::decode_secret(&pending)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("pending TOTP secret is not base32")))?;
    let Verdict::Accepted(step) = totp::verify(&key, code, now_ms() / 1000, None) else {
        return Err(ApiError::invalid(
            "code",
            "is not the current code of the new factor",
        ));
    };
    let activated = users::Entity::update_many()
        .col_expr(users::Column::TotpSecret, Expr::value(pending.clone()))
        .col_expr(
            users::Column::TotpPendingSecret,
            Expr::value(Option::<String>::None),
        )
        .col_expr(users::Column::TotpLastStep, Expr::value(step))
        .filter(users::Column::Id.eq(who.id()))
        .filter(users::Column::TotpPendingSecret.eq(&pending))
        .filter(users::Column::TotpSecret.is_null())
        .exec(&state.db)
        .await?
        .rows_affected;
    if activated == 0 {
        // Enrolled again (or confirmed) meanwhile.
        return Err(ApiError::invalid_transition("not_enrolled", "confirm"));
    }
    tracing::info!("second factor activated");
    Ok(())
}
