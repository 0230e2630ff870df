//! Photo uploads as `wx.uploadFile` sends them: one file per multipart POST, field `file`.
//!
//! The type is decided by the bytes (JPEG, PNG, WebP, HEIC/HEIF), never by the name or the
//! declared content type; files are stored under generated names only, so no client-chosen
//! name ever reaches the file system. Photos are served back through signed, expiring URLs
//! (the mini-program's `<image>` sends no Authorization header): the signature is the
//! permission, and only users who may see the report or wish are given one.

use actix_multipart::Multipart;
use actix_web::{get, post, web, HttpResponse};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Code};
use crate::idempotency::{self, IdempotencyKey, NextAction};
use crate::state::AppState;
use crate::util::{new_id, now_ms};

pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Signed photo URLs live this long.
pub const URL_TTL_MS: i64 = 3_600_000;

#[derive(Serialize, ToSchema)]
pub struct UploadView {
    pub id: String,
    /// A signed URL, valid for an hour.
    pub url: String,
    pub content_type: String,
    pub size: i64,
}

/// The image types we accept, by their magic bytes.
pub fn sniff_image(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    let kind = infer::get(bytes)?;
    match kind.mime_type() {
        "image/jpeg" => Some(("image/jpeg", "jpg")),
        "image/png" => Some(("image/png", "png")),
        "image/webp" => Some(("image/webp", "webp")),
        "image/heif" => Some(("image/heif", "heif")),
        "image/heic" => Some(("image/heic", "heic")),
        _ => None,
    }
}

fn signature(secret: &[u8], id: &str, exp: i64) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{exp}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What signing a photo URL needs: the key and the public base URL.
#[derive(Clone, Copy)]
pub struct PhotoLinks<'a> {
    pub secret: &'a [u8],
    pub base_url: &'a str,
}

impl PhotoLinks<'_> {
    /// A URL for `id` that works without a token until it expires.
    pub fn signed(&self, id: &str) -> String {
        let exp = (now_ms() + URL_TTL_MS) / 1000;
        let sig = signature(self.secret, id, exp);
        format!(
            "{}/api/v1/uploads/{id}/content?exp={exp}&sig={sig}",
            self.base_url
        )
    }
}

/// The photo links of this application.
pub fn links(state: &AppState) -> PhotoLinks<'_> {
    PhotoLinks {
        secret: state.settings.jwt_secret_bytes(),
        base_url: &state.settings.public_base_url,
    }
}

/// A URL for `id` that works without a token until it expires.
pub fn signed_url(state: &AppState, id: &str) -> String {
    links(state).signed(id)
}

fn verify_signature(secret: &[u8], id: &str, exp: i64, sig: &str) -> bool {
    let Ok(given) = hex::decode(sig) else {
        return false;
    };
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{exp}").as_bytes());
    exp * 1000 >= now_ms() && mac.verify_slice(&given).is_ok()
}

/// Upload one photo (multipart, field `file`, ≤ 10 MB; JPEG, PNG, WebP or HEIC by content).
#[utoipa::path(tag = "uploads", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key return the first upload")),
    request_body(content_type = "multipart/form-data", content = String, description = "field `file`"),
    responses((status = 201, body = UploadView),
        (status = 413, description = "payload_too_large", body = crate::error::ErrorBody),
        (status = 415, description = "unsupported_media_type", body = crate::error::ErrorBody)))]
#[post("/uploads")]
async fn upload(
    state: web::Data<AppState>,
    who: Principal,
    key: IdempotencyKey,
    mut form: Multipart,
) -> ApiResult<HttpResponse> {
    let mut data: Option<Vec<u8>> = None;
    while let Some(field) = form.next().await {
        let mut field = field
            .map_err(|e| ApiError::invalid("file", format!("malformed multipart body: {e}")))?;
        if field.name() != Some("file") {
            // Drain and ignore other fields (wx.uploadFile may send formData).
            while let Some(chunk) = field.next().await {
                chunk.map_err(|e| ApiError::invalid("file", e.to_string()))?;
            }
            continue;
        }
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| ApiError::invalid("file", e.to_string()))?;
            if buf.len() + chunk.len() > MAX_UPLOAD_BYTES {
                return Err(ApiError::new(
                    Code::PayloadTooLarge,
                    "A photo may be at most 10 MB.",
                    "图片不能超过 10 MB。",
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        data = Some(buf);
        break;
    }
    let data = data
        .ok_or_else(|| ApiError::invalid("file", "send the photo in the multipart field `file`"))?;
    let (content_type, ext) = sniff_image(&data).ok_or_else(|| {
        ApiError::new(
            Code::UnsupportedMediaType,
            "Only JPEG, PNG, WebP or HEIC photos are accepted.",
            "仅支持 JPEG、PNG、WebP 或 HEIC 格式的图片。",
        )
    })?;
    let door = idempotency::Request::new(who.id(), key.0.as_deref(), &data);
    if let Some(id) = door.replay(&state.db).await? {
        return render(&state, &id)
            .await
            .map(|v| HttpResponse::Created().json(v));
    }
    let id = new_id();
    let stored_name = format!("{id}.{ext}");
    let dir = std::path::Path::new(&state.settings.upload_dir);
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(ApiError::internal)?;
    tokio::fs::write(dir.join(&stored_name), &data)
        .await
        .map_err(ApiError::internal)?;
    let model = entity::uploads::ActiveModel {
        id: Set(id.clone()),
        owner_id: Set(who.id().to_string()),
        content_type: Set(content_type.into()),
        size: Set(data.len() as i64),
        stored_name: Set(stored_name),
        attached_kind: Set(None),
        attached_id: Set(None),
        created_at: Set(now_ms()),
    };
    let txn = match door.begin(&state.db, &id).await? {
        NextAction::Proceed(txn) => txn,
        NextAction::Replay(first) => {
            return render(&state, &first)
                .await
                .map(|v| HttpResponse::Created().json(v))
        }
    };
    model.insert(&txn).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(render(&state, &id).await?))
}

async fn render(state: &AppState, id: &str) -> ApiResult<UploadView> {
    let u = entity::uploads::Entity::find_by_id(id.to_string())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(UploadView {
        url: signed_url(state, &u.id),
        id: u.id,
        content_type: u.content_type,
        size: u.size,
    })
}

#[derive(Deserialize, IntoParams)]
pub struct SignedQuery {
    pub exp: i64,
    pub sig: String,
}

/// A photo behind a signed URL; a missing, altered or expired signature is 403.
#[utoipa::path(tag = "uploads", params(SignedQuery), responses((status = 200, content_type = "image/jpeg"), (status = 403, body = crate::error::ErrorBody)))]
#[get("/uploads/{id}/content")]
async fn content(
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: Option<web::Query<SignedQuery>>,
) -> ApiResult<HttpResponse> {
    let Some(q) = q else {
        return Err(ApiError::forbidden());
    };
    if !verify_signature(state.settings.jwt_secret_bytes(), &id, q.exp, &q.sig) {
        return Err(ApiError::forbidden());
    }
    let u = entity::uploads::Entity::find_by_id(id.to_string())
        .one(&state.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let path = std::path::Path::new(&state.settings.upload_dir).join(&u.stored_name);
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|_| ApiError::not_found())?;
    Ok(HttpResponse::Ok()
        .content_type(u.content_type)
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}

/// Attaches the caller's own unattached uploads to a report or wish; every id must qualify.
pub async fn attach(
    db: &impl ConnectionTrait,
    owner_id: &str,
    ids: &[String],
    kind: &str,
    subject_id: &str,
) -> ApiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    if ids.len() > 9 {
        return Err(ApiError::invalid("photo_ids", "at most 9 photos"));
    }
    let updated = entity::uploads::Entity::update_many()
        .col_expr(
            entity::uploads::Column::AttachedKind,
            sea_orm::sea_query::Expr::value(kind),
        )
        .col_expr(
            entity::uploads::Column::AttachedId,
            sea_orm::sea_query::Expr::value(subject_id),
        )
        .filter(entity::uploads::Column::Id.is_in(ids.iter().cloned()))
        .filter(entity::uploads::Column::OwnerId.eq(owner_id))
        .filter(entity::uploads::Column::AttachedId.is_null())
        .exec(db)
        .await?
        .rows_affected;
    if updated as usize != ids.len() {
        return Err(ApiError::invalid(
            "photo_ids",
            "unknown, foreign or already used photo id",
        ));
    }
    Ok(())
}

/// Photo ids attached to a subject, oldest first.
pub async fn attached(
    db: &impl ConnectionTrait,
    kind: &str,
    subject_id: &str,
) -> ApiResult<Vec<String>> {
    use sea_orm::QueryOrder;
    Ok(entity::uploads::Entity::find()
        .filter(entity::uploads::Column::AttachedKind.eq(kind))
        .filter(entity::uploads::Column::AttachedId.eq(subject_id))
        .order_by_asc(entity::uploads::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}

/// Photo ids of many subjects at once, each list in upload order (one query).
pub async fn attached_many(
    db: &impl ConnectionTrait,
    kind: &str,
    subject_ids: &[String],
) -> ApiResult<std::collections::HashMap<String, Vec<String>>> {
    use sea_orm::QueryOrder;
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    if subject_ids.is_empty() {
        return Ok(out);
    }
    for u in entity::uploads::Entity::find()
        .filter(entity::uploads::Column::AttachedKind.eq(kind))
        .filter(entity::uploads::Column::AttachedId.is_in(subject_ids.iter().cloned()))
        .order_by_asc(entity::uploads::Column::CreatedAt)
        .all(db)
        .await?
    {
        if let Some(subject) = u.attached_id {
            out.entry(subject).or_default().push(u.id);
        }
    }
    Ok(out)
}

/// Deletes uploads never attached within a day (a background job).
pub async fn purge_unattached(state: &AppState) -> Result<usize, sea_orm::DbErr> {
    let stale = entity::uploads::Entity::find()
        .filter(entity::uploads::Column::AttachedId.is_null())
        .filter(entity::uploads::Column::CreatedAt.lt(now_ms() - 24 * 3_600_000))
        .all(&state.db)
        .await?;
    for u in &stale {
        let _ = tokio::fs::remove_file(
            std::path::Path::new(&state.settings.upload_dir).join(&u.stored_name),
        )
        .await;
        entity::uploads::Entity::delete_by_id(u.id.clone())
            .exec(&state.db)
            .await?;
    }
    Ok(stale.len())
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upload).service(content);
}
