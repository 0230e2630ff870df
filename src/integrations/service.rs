//! Creating integrations and turning their alarms into cases.

use std::collections::BTreeMap;

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::signature::{self, Refusal};
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::error::{ApiError, ApiResult, Code};
use crate::grids::geo::{CoordSystem, Coordinate};
use crate::idempotency;
use crate::reports::categories::Urgency;
use crate::reports::origin::Origin;
use crate::reports::submit::{same_case, write_new, Draft, Written};
use crate::util::{new_id, now_ms, parse_rfc3339, random_token};

use entity::integrations;

#[derive(Deserialize, Serialize, ToSchema)]
pub struct NewIntegration {
    pub name: String,
    /// Alarm kind → category code; `smoke` → fire_hazard, `gas` → gas_hazard,
    /// `water_pressure` → public_facility and anything else → other when absent.
    #[serde(default)]
    pub kind_map: BTreeMap<String, String>,
}

/// The new integration: its id and secret. The secret is shown once, here.
#[derive(Serialize, ToSchema)]
pub struct IntegrationCreated {
    pub id: String,
    pub name: String,
    pub secret: String,
}

/// A device alarm (API.md "Sources").
#[derive(Deserialize, Serialize, ToSchema)]
pub struct Alarm {
    /// The platform's id for the alarm: the same id again is the same case.
    pub alarm_id: String,
    pub device_id: String,
    /// `smoke`, `gas`, `water_pressure`, …: mapped to a category by the integration.
    pub kind: String,
    pub lat: f64,
    pub lng: f64,
    #[serde(default)]
    pub coord: CoordSystem,
    /// When the device raised it (RFC 3339).
    pub at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AlarmCase {
    pub report_id: String,
    pub case_no: String,
    pub category: String,
    pub status: entity::enums::ReportStatus,
    /// `false` when this alarm was already a case.
    pub created: bool,
}

fn auth_error(code: Code, en: &str, zh: &str) -> ApiError {
    ApiError::new(code, en, zh)
}

pub async fn create(
    env: &Env<'_>,
    who: &Principal,
    req: NewIntegration,
) -> ApiResult<IntegrationCreated> {
    let owner = who.keys_path().ok_or_else(ApiError::forbidden)?;
    let name = crate::content::text_field("name", Some(&req.name), 100)?;
    for code in req.kind_map.values() {
        if !env.categories.contains(env.db, code).await? {
            return Err(ApiError::invalid(
                "kind_map",
                format!("unknown category: {code}"),
            ));
        }
    }
    let secret = random_token(48);
    let row = integrations::ActiveModel {
        id: Set(new_id()),
        name: Set(name),
        secret: Set(secret.clone()),
        owner_path: Set(owner.to_owned()),
        kind_map: Set(serde_json::to_string(&req.kind_map).unwrap_or_else(|_| "{}".into())),
        active: Set(true),
        created_at: Set(now_ms()),
    }
    .insert(env.db)
    .await?;
    Ok(IntegrationCreated {
        id: row.id,
        name: row.name,
        secret,
    })
}

/// The category of an alarm kind: the integration's table, else the built-in defaults.
pub fn category_for(kind_map: &BTreeMap<String, String>, kind: &str) -> String {
    if let Some(code) = kind_map.get(kind) {
        return code.clone();
    }
    match kind {
        "smoke" | "fire" => "fire_hazard",
        "gas" => "gas_hazard",
        "water_pressure" => "public_facility",
        _ => "other",
    }
    .to_owned()
}

/// Authenticates a signed alarm request and turns the alarm into a case (or finds the case it
/// already is). 401 `integration_unknown`, `signature_stale` or `signature_invalid` before
/// anything else is read.
pub async fn receive(
    env: &Env<'_>,
    integration_id: Option<&str>,
    timestamp: Option<&str>,
    sig: Option<&str>,
    body: &[u8],
) -> ApiResult<AlarmCase> {
    let unknown = || {
        auth_error(
            Code::IntegrationUnknown,
            "Unknown or inactive integration.",
            "未知或已停用的接入方。",
        )
    };
    let integration = match integration_id {
        Some(id) if !id.is_empty() && id.len() <= 36 => {
            integrations::Entity::find_by_id(id.to_owned())
                .one(env.db)
                .await?
                .filter(|i| i.active)
                .ok_or_else(unknown)?
        }
        _ => return Err(unknown()),
    };
    match signature::verify(&integration.secret, timestamp, sig, body, now_ms() / 1000) {
        Ok(()) => {}
        Err(Refusal::Stale) => {
            return Err(auth_error(
                Code::SignatureStale,
                "X-SafeGrid-Timestamp is missing or more than 300 s from the server's clock.",
                "时间戳缺失或与服务器时间相差超过 300 秒。",
            ))
        }
        Err(Refusal::Invalid) => {
            return Err(auth_error(
                Code::SignatureInvalid,
                "X-SafeGrid-Signature does not match the body.",
                "签名与请求内容不符。",
            ))
        }
    }
    let alarm: Alarm = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format!("not an alarm: {e}")))?;
    let alarm_id = crate::content::text_field("alarm_id", Some(&alarm.alarm_id), 100)?;
    let device_id = crate::content::text_field("device_id", Some(&alarm.device_id), 100)?;
    let kind = crate::content::text_field("kind", Some(&alarm.kind), 50)?;
    parse_rfc3339(&alarm.at)
        .ok_or_else(|| ApiError::invalid("at", "an RFC 3339 time is required"))?;
    let origin = Origin::Device {
        external_ref: format!("device:{}:{alarm_id}", integration.id),
    };
    if let Some(id) = same_case(env, &origin).await? {
        return found(env, &id, false).await;
    }
    let point = Coordinate::new(alarm.lat, alarm.lng, alarm.coord)
        .map_err(|e| ApiError::invalid("lat", e.to_string()))?;
    let route = env
        .router
        .route(&point)
        .ok_or_else(|| ApiError::unavailable("the area tree (no areas imported yet)"))?;
    let place = route.grid.as_ref().map_or(&route.queue.path, |g| &g.path);
    if !place.starts_with(&integration.owner_path) {
        return Err(ApiError::invalid(
            "lat",
            "the device lies outside the integration's area",
        ));
    }
    let kind_map: BTreeMap<String, String> =
        serde_json::from_str(&integration.kind_map).unwrap_or_default();
    let category = category_for(&kind_map, &kind);
    // The integration stands as the reporter (its id is a UUID like a user's, never a user).
    let reporter = integration.id.clone();
    let draft = Draft {
        reporter_id: &reporter,
        category,
        description: format!(
            "设备告警：{kind}（设备 {device_id}，告警 {alarm_id}，{}）",
            alarm.at
        ),
        point,
        address: None,
        anonymous: false,
        urgency: Urgency::Urgent,
        photo_ids: Vec::new(),
        flagged: false,
        origin,
        media_url: None,
    };
    let door = idempotency::Request::new(&reporter, None, b"");
    match write_new(env, &door, route, draft, now_ms()).await? {
        Written::New { report, .. } => Ok(AlarmCase {
            report_id: report.id,
            case_no: report.case_no,
            category: report.category,
            status: report.status,
            created: true,
        }),
        Written::Replay(id) | Written::SameCase(id) => found(env, &id, false).await,
    }
}

async fn found(env: &Env<'_>, id: &str, created: bool) -> ApiResult<AlarmCase> {
    let r = entity::reports::Entity::find_by_id(id.to_owned())
        .one(env.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(AlarmCase {
        report_id: r.id,
        case_no: r.case_no,
        category: r.category,
        status: r.status,
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_kinds_map_to_categories_with_defaults() {
        let mut map = BTreeMap::new();
        map.insert("smoke".to_owned(), "ebike_charging".to_owned());
        assert_eq!(category_for(&map, "smoke"), "ebike_charging");
        assert_eq!(category_for(&map, "gas"), "gas_hazard");
        assert_eq!(category_for(&BTreeMap::new(), "smoke"), "fire_hazard");
        assert_eq!(category_for(&BTreeMap::new(), "door"), "other");
    }
}
