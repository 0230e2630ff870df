//! `Idempotency-Key`: the same key from the same user within 24 hours replays the first
//! response and creates nothing new — sequential retries and concurrent ones alike.
//!
//! The record is inserted inside the creating transaction, before anything else, with the
//! primary key (user, key). A concurrent duplicate therefore blocks on (or fails at) that
//! insert and, once the first commits, finds its record and replays it. What is stored is the
//! created resource's kind and id; a replay renders the resource afresh (so signed URLs in
//! it are fresh too).

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};

use crate::error::{ApiError, ApiResult, Code};
use crate::util::{now_ms, sha256_hex};

use entity::idempotency as idem;

pub const WINDOW_MS: i64 = 24 * 3_600_000;

/// The optional `Idempotency-Key` header.
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = match req.headers().get("Idempotency-Key") {
            None => Ok(IdempotencyKey(None)),
            Some(v) => match v.to_str() {
                Ok(s)
                    if !s.is_empty()
                        && s.len() <= 128
                        && s.bytes().all(|b| b.is_ascii_graphic()) =>
                {
                    Ok(IdempotencyKey(Some(s.to_string())))
                }
                _ => Err(ApiError::invalid(
                    "Idempotency-Key",
                    "must be 1–128 printable ASCII characters",
                )),
            },
        };
        std::future::ready(parsed)
    }
}

/// What a key already produced.
enum Prior {
    None,
    /// The id of the resource the first request created.
    Created(String),
}

/// One creating request seen through its `Idempotency-Key` (or the lack of one): the only
/// door every creating POST goes through. [`Request::replay`] answers a retry before any work;
/// [`Request::begin`] opens the creating transaction with the key claimed as its first write,
/// or says which earlier request won the key.
pub struct Request<'a> {
    user_id: &'a str,
    key: Option<&'a str>,
    hash: String,
}

/// What the creating request does next.
pub enum NextAction {
    /// Create, inside this transaction (the key, if any, is already claimed in it).
    Proceed(sea_orm::DatabaseTransaction),
    /// Answer with the resource this id names: an earlier request with the key created it.
    Replay(String),
}

impl<'a> Request<'a> {
    /// `body` is what makes two requests "the same": the JSON of the input, or the bytes of
    /// an upload.
    pub fn new(user_id: &'a str, key: Option<&'a str>, body: &[u8]) -> Self {
        Request {
            user_id,
            key,
            // Only a key is ever compared with a body: no key, nothing to hash.
            hash: key.map(|_| sha256_hex(body)).unwrap_or_default(),
        }
    }

    /// [`Request::new`] for a JSON input.
    pub fn for_json(user_id: &'a str, key: Option<&'a str>, input: &impl serde::Serialize) -> Self {
        let body = match key {
            Some(_) => serde_json::to_vec(input).unwrap_or_default(),
            None => Vec::new(),
        };
        Self::new(user_id, key, &body)
    }

    /// The id an earlier request with this key created, if any (422 when the key came with
    /// another body). Cheap: call it before validating and before any outside call.
    pub async fn replay(&self, db: &impl ConnectionTrait) -> ApiResult<Option<String>> {
        let Some(key) = self.key else {
            return Ok(None);
        };
        Ok(match lookup(db, self.user_id, key, &self.hash).await? {
            Prior::Created(id) => Some(id),
            Prior::None => None,
        })
    }

    /// Opens the creating transaction and claims the key for `created_id` as its first write.
    /// When a concurrent retry won the key, the transaction is dropped and the winner named.
    pub async fn begin(
        &self,
        db: &sea_orm::DatabaseConnection,
        created_id: &str,
    ) -> ApiResult<NextAction> {
        let txn = db.begin().await?;
        let Some(key) = self.key else {
            return Ok(NextAction::Proceed(txn));
        };
        match claim(&txn, self.user_id, key, &self.hash, created_id).await {
            Ok(()) => Ok(NextAction::Proceed(txn)),
            Err(e) => {
                drop(txn);
                let winner =
                    winner_after_failed_claim(db, self.user_id, key, &self.hash, e).await?;
                Ok(NextAction::Replay(winner))
            }
        }
    }

    /// The claim's INSERT alone, for a creation sent as one statement (PostgreSQL's submit):
    /// a live record makes that statement fail whole, and the caller then goes through
    /// [`Request::begin`], which sorts the key out.
    pub fn claim_row(&self, created_id: &str) -> Option<crate::infra::shaped::Row> {
        let key = self.key?;
        Some(crate::infra::shaped::Row::insert(record(
            self.user_id,
            key,
            &self.hash,
            created_id,
        )))
    }

    /// Whether the request carries a key.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }
}

/// Looks the key up; a live record with another request body is a client bug (422).
async fn lookup(
    db: &impl ConnectionTrait,
    user_id: &str,
    key: &str,
    request_hash: &str,
) -> Result<Prior, ApiError> {
    let row = idem::Entity::find_by_id((user_id.to_string(), key.to_string()))
        .one(db)
        .await?;
    match row {
        Some(r) if r.created_at > now_ms() - WINDOW_MS => {
            if r.request_hash != request_hash {
                return Err(ApiError::new(
                    Code::IdempotencyKeyReused,
                    "This Idempotency-Key was already used for a different request.",
                    "该请求标识已用于其他内容的提交。",
                ));
            }
            Ok(r.response_body.map(Prior::Created).unwrap_or(Prior::None))
        }
        _ => Ok(Prior::None),
    }
}

/// Claims the key inside the creating transaction. A unique violation here means a
/// concurrent request with the same key won: the caller rolls back and replays.
async fn claim(
    db: &impl ConnectionTrait,
    user_id: &str,
    key: &str,
    request_hash: &str,
    created_id: &str,
) -> Result<(), sea_orm::DbErr> {
    // An expired record of the same key makes way. It is looked up first and deleted by its
    // primary key: a range DELETE that matches nothing takes gap locks on MySQL, and two
    // concurrent retries holding the same gap lock then deadlock on their INSERTs instead
    // of one of them seeing the duplicate key.
    //
    // SQLite and PostgreSQL take the opposite road: the first statement of the transaction
    // must be a write. On SQLite a read first pins a WAL snapshot, and the INSERT's upgrade
    // to writer then fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, no busy
    // wait) whenever another instance committed in between; a DELETE first waits its turn.
    if db.get_database_backend() == sea_orm::DbBackend::MySql {
        let existing = idem::Entity::find_by_id((user_id.to_string(), key.to_string()))
            .one(db)
            .await?;
        if let Some(expired) = existing.filter(|r| r.created_at <= now_ms() - WINDOW_MS) {
            idem::Entity::delete_by_id((expired.user_id, expired.idem_key))
                .exec(db)
                .await?;
        }
    } else {
        idem::Entity::delete_many()
            .filter(idem::Column::UserId.eq(user_id))
            .filter(idem::Column::IdemKey.eq(key))
            .filter(idem::Column::CreatedAt.lte(now_ms() - WINDOW_MS))
            .exec(db)
            .await?;
    }
    record(user_id, key, request_hash, created_id)
        .insert(db)
        .await
        .map(|_| ())
}

fn record(user_id: &str, key: &str, request_hash: &str, created_id: &str) -> idem::ActiveModel {
    idem::ActiveModel {
        user_id: Set(user_id.into()),
        idem_key: Set(key.into()),
        request_hash: Set(request_hash.into()),
        status_code: Set(Some(201)),
        response_body: Set(Some(created_id.into())),
        created_at: Set(now_ms()),
    }
}

/// After `claim` failed, finds the request that won the key: the failure is a unique
/// violation when a concurrent retry committed first, or (on MySQL) a deadlock between the
/// two inserts whose survivor may commit a moment later, so the lookup is retried briefly.
/// Returns the winner's resource id, or the original error when no request holds the key.
async fn winner_after_failed_claim(
    db: &impl ConnectionTrait,
    user_id: &str,
    key: &str,
    request_hash: &str,
    claim_error: sea_orm::DbErr,
) -> Result<String, ApiError> {
    let mut pause = std::time::Duration::from_millis(20);
    for _ in 0..6 {
        if let Prior::Created(id) = lookup(db, user_id, key, request_hash).await? {
            return Ok(id);
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
    Err(claim_error.into())
}

/// Drops records older than the window (a background job).
pub async fn purge(db: &impl ConnectionTrait) -> Result<u64, sea_orm::DbErr> {
    Ok(idem::Entity::delete_many()
        .filter(idem::Column::CreatedAt.lte(now_ms() - WINDOW_MS))
        .exec(db)
        .await?
        .rows_affected)
}
