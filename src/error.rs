//! The one error type of the HTTP API. Every failure, including actix's own (malformed JSON,
//! unknown route, oversized body), leaves the server as the JSON body of `../shared/API.md`:
//! `{code, message, message_zh, fields?, request_id}`. Codes never change once shipped.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Stable machine-readable error codes. The status of each is decided in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    InvalidJson,
    ValidationFailed,
    Unauthenticated,
    InvalidCredentials,
    RefreshTokenInvalid,
    RefreshTokenReused,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    InvalidTransition,
    IdempotencyKeyReused,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    WechatCodeInvalid,
    WechatRateLimited,
    WechatUserRisky,
    WechatUnavailable,
    WechatPhoneInvalid,
    ContentRejected,
    InviteNotFound,
    InviteExpired,
    /// An admin revoked the invite before it was used.
    InviteRevoked,
    InviteUsed,
    AlreadyEnrolled,
    WishValueOverCap,
    ImportInvalid,
    UnitInactive,
    UnitOutOfArea,
    UnitCodeTaken,
    OpenTasks,
    IntegrationUnknown,
    SignatureStale,
    SignatureInvalid,
    DependencyUnavailable,
    /// Password login of an account with an active second factor, without a right `totp`.
    MfaRequired,
    /// Too many failed logins; `Retry-After` says when to try again.
    AccountLocked,
    /// The password was set by an operator and must be changed before anything else.
    PasswordChangeRequired,
    /// An admin without an active second factor where one is required may only enrol one.
    MfaEnrolmentRequired,
    /// Granting a role to, unlocking or resetting one's own account.
    SelfGrant,
    /// An area administrator cannot also hold a separated duty.
    DutyConflict,
    Internal,
}

impl Code {
    /// The HTTP status that goes with each code; exhaustive so a new code must choose.
    pub fn status(self) -> StatusCode {
        use Code::*;
        match self {
            InvalidJson => StatusCode::BAD_REQUEST,
            ValidationFailed | ContentRejected | WishValueOverCap | ImportInvalid
            | IdempotencyKeyReused | UnitOutOfArea => StatusCode::UNPROCESSABLE_ENTITY,
            Unauthenticated | InvalidCredentials | RefreshTokenInvalid | RefreshTokenReused
            | WechatCodeInvalid | IntegrationUnknown | SignatureStale | SignatureInvalid
            | MfaRequired => StatusCode::UNAUTHORIZED,
            Forbidden
            | WechatUserRisky
            | PasswordChangeRequired
            | MfaEnrolmentRequired
            | SelfGrant => StatusCode::FORBIDDEN,
            AccountLocked => StatusCode::LOCKED,
            NotFound | InviteNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            InvalidTransition | InviteUsed | AlreadyEnrolled | UnitInactive | UnitCodeTaken
            | OpenTasks | DutyConflict => StatusCode::CONFLICT,
            InviteExpired | InviteRevoked => StatusCode::GONE,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RateLimited | WechatRateLimited => StatusCode::TOO_MANY_REQUESTS,
            WechatPhoneInvalid => StatusCode::BAD_REQUEST,
            WechatUnavailable | DependencyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The snake_case string clients match on.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "internal".into())
    }
}

/// An API failure: a code, a message in English and Chinese, and optional per-field detail.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub message_zh: String,
    // Boxed: rare, and keeping ApiError small keeps every Result<_, ApiError> small.
    pub fields: Option<Box<BTreeMap<String, String>>>,
    pub details: Option<Box<serde_json::Value>>,
    pub retry_after_secs: Option<u64>,
    /// The cause of a 5xx, logged and never shown.
    pub source: Option<anyhow::Error>,
}

/// The error body, as documented in the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub code: Code,
    pub message: String,
    pub message_zh: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    pub request_id: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>, message_zh: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            message_zh: message_zh.into(),
            fields: None,
            details: None,
            retry_after_secs: None,
            source: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "Not found.", "未找到。")
    }

    pub fn forbidden() -> Self {
        Self::new(
            Code::Forbidden,
            "You may not do this here.",
            "您无权执行此操作。",
        )
    }

    pub fn unauthenticated(why: &str) -> Self {
        Self::new(
            Code::Unauthenticated,
            format!("Please log in again ({why})."),
            "请重新登录。",
        )
    }

    /// One invalid field; more can be added with [`ApiError::field`].
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            Code::ValidationFailed,
            format!("Invalid {field}: {message}"),
            format!("{field} 填写有误：{message}"),
        );
        e.fields = Some(Box::new(BTreeMap::from([(field.to_string(), message)])));
        e
    }

    pub fn field(mut self, field: &str, message: impl Into<String>) -> Self {
        self.fields
            .get_or_insert_with(Default::default)
            .insert(field.into(), message.into());
        self
    }

    pub fn invalid_transition(state: &str, action: &str) -> Self {
        let mut e = Self::new(
            Code::InvalidTransition,
            format!("Cannot {action} while the item is {state}."),
            format!("当前状态（{state}）不能执行“{action}”。"),
        );
        e.details = Some(Box::new(
            serde_json::json!({ "state": state, "action": action }),
        ));
        e
    }

    pub fn unavailable(dependency: &str) -> Self {
        Self::new(
            Code::DependencyUnavailable,
            format!("{dependency} is unavailable; please try again shortly."),
            "服务暂时不可用，请稍后再试。",
        )
    }

    /// A 500 whose cause is logged, never shown.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            Code::Internal,
            "Something went wrong on our side.",
            "服务器出错了，请稍后再试。",
        );
        e.source = Some(source.into());
        e
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(code = %self.code.as_str(), error = ?source, "request failed")
                }
                None => tracing::warn!(code = %self.code.as_str(), "request failed"),
            }
        }
        let body = ErrorBody {
            code: self.code,
            message: self.message.clone(),
            message_zh: self.message_zh.clone(),
            fields: self.fields.as_deref().cloned(),
            details: self.details.as_deref().cloned(),
            request_id: crate::telemetry::current_request_id(),
        };
        let mut builder = HttpResponse::build(status);
        if let Some(secs) = self.retry_after_secs {
            builder.insert_header(("Retry-After", secs.to_string()));
        }
        builder.json(body)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        // A lost connection is an outage to retry, not a bug.
        if crate::infra::db::is_connection_error(&e) {
            let mut err = ApiError::unavailable("the database");
            err.source = Some(e.into());
            err
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(api) => api,
        }
    }
}

/// Converts actix's JSON extractor errors into the error body (400 malformed, 413 too big,
/// 422 wrong types with the field path).
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::OverflowKnownLength { .. } | J::Overflow { .. } => payload_too_large(),
        J::ContentType => ApiError::new(
            Code::UnsupportedMediaType,
            "Send JSON with Content-Type: application/json.",
            "请以 JSON 格式提交。",
        ),
        J::Deserialize(e) if e.is_data() => {
            let msg = e.to_string();
            let field = field_from_serde_message(&msg).unwrap_or_else(|| "body".into());
            let mut api = ApiError::invalid(&field, msg);
            api.code = Code::ValidationFailed;
            api
        }
        _ => ApiError::new(
            Code::InvalidJson,
            format!("The request body is not valid JSON: {err}"),
            "请求内容不是有效的 JSON。",
        ),
    };
    api.into()
}

/// Query-string and path errors become 400 with the error body.
pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let mut api = ApiError::invalid("query", err.to_string());
    api.code = Code::ValidationFailed;
    api.into()
}

pub fn path_error_handler(
    err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::invalid("path", err.to_string()).into()
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        "The request is too large.",
        "提交的内容过大。",
    )
}

fn field_from_serde_message(msg: &str) -> Option<String> {
    // serde_json says e.g. "missing field `category` at line 1 column 2" or "invalid type: ...".
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(msg[start..end].to_string())
}
