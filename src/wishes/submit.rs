//! Submission of a wish: checks (texts, the value cap, the deadline), routing, then the wish
//! with its idempotency claim, photos, timeline and outbox rows in one transaction.

use sea_orm::{ActiveModelTrait, Set};

use super::dto::*;
use super::status::WishStatus;
use super::views::view_by_id;
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::cases::number::CaseKind;
use crate::content::{text_field, MAX_DESCRIPTION};
use crate::error::{ApiError, ApiResult, Code};
use crate::grids::geo::Coordinate;
use crate::idempotency::{self, NextAction};
use crate::notify::outbox;
use crate::timeline::{self, Entry};
use crate::util::{new_id, now_ms, parse_rfc3339};

use entity::wishes;

pub const MAX_TITLE: usize = 100;
const MAX_DEADLINE_MS: i64 = 365 * 86_400_000;

/// The cap in yuan as people read it: 30000 → "300.00".
fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Checks the estimated value against the configured cap (422 naming the cap).
pub fn check_value(value: Option<i64>, cap_fen: i64) -> ApiResult<()> {
    match value {
        Some(v) if v < 0 => Err(ApiError::invalid(
            "estimated_value_fen",
            "must not be negative",
        )),
        Some(v) if v > cap_fen => {
            let cap = yuan(cap_fen);
            let mut e = ApiError::new(
                Code::WishValueOverCap,
                format!("A wish may be worth at most ¥{cap} ({cap_fen} fen)."),
                format!("微心愿的估计价值不能超过 {cap} 元。"),
            )
            .field(
                "estimated_value_fen",
                format!("at most {cap_fen} fen (¥{cap})"),
            );
            e.details = Some(Box::new(serde_json::json!({ "cap_fen": cap_fen })));
            Err(e)
        }
        _ => Ok(()),
    }
}

/// Submits a wish; with an idempotency key a retry returns the first wish.
#[tracing::instrument(skip_all, fields(user = %who.id()))]
pub async fn submit(
    env: &Env<'_>,
    who: &Principal,
    input: NewWish,
    key: Option<&str>,
) -> ApiResult<WishView> {
    if !who.is_resident() {
        return Err(ApiError::forbidden());
    }
    let door = idempotency::Request::for_json(who.id(), key, &input);
    if let Some(id) = door.replay(env.db).await? {
        return view_by_id(env, who, &id, false).await;
    }
    let title = text_field("title", Some(&input.title), MAX_TITLE)?;
    let description = text_field("description", Some(&input.description), MAX_DESCRIPTION)?;
    check_value(input.estimated_value_fen, env.wish_cap_fen)?;
    if input.photo_ids.len() > 9 {
        return Err(ApiError::invalid("photo_ids", "at most 9 photos"));
    }
    let now = now_ms();
    let deadline = match input.deadline.as_deref() {
        None => now + env.wish_claim_window_ms,
        Some(text) => {
            let at = parse_rfc3339(text)
                .ok_or_else(|| ApiError::invalid("deadline", "an RFC 3339 time is required"))?;
            if at <= now || at > now + MAX_DEADLINE_MS {
                return Err(ApiError::invalid(
                    "deadline",
                    "must lie in the future, within a year",
                ));
            }
            at
        }
    };
    let point = Coordinate::new(input.location.lat, input.location.lng, input.location.coord)
        .map_err(|e| ApiError::invalid("location", e.to_string()))?;
    let gcj = point.to_gcj02();
    let route = env
        .router
        .route(&point)
        .ok_or_else(|| ApiError::unavailable("the area tree (no areas imported yet)"))?;
    let flagged = env
        .content
        .check(who, &format!("{title}\n{description}"))
        .await?;

    let id = new_id();
    let case_no = env.case_numbers.next(env.db, CaseKind::Wish, now).await?;
    let model = wishes::ActiveModel {
        id: Set(id.clone()),
        case_no: Set(case_no.clone()),
        wisher_id: Set(who.id().into()),
        title: Set(title),
        description: Set(description),
        kind: Set(input.kind),
        estimated_value_fen: Set(input.estimated_value_fen),
        lat: Set(gcj.lat()),
        lng: Set(gcj.lng()),
        grid_code: Set(route.queue.code.clone()),
        queue_path: Set(route.queue.path.clone()),
        status: Set(WishStatus::Submitted),
        deadline: Set(deadline),
        claimant_id: Set(None),
        claimant_unit: Set(None),
        reason: Set(None),
        flagged: Set(flagged),
        expired_to_queue: Set(false),
        submitted_at: Set(now),
        approved_at: Set(None),
        claimed_at: Set(None),
        fulfilled_at: Set(None),
        fulfil_note: Set(None),
        closed_at: Set(None),
        version: Set(0),
        updated_at: Set(now),
    };
    let txn = match door.begin(env.db, &id).await? {
        NextAction::Proceed(txn) => txn,
        // A concurrent retry won the key: answer with its wish.
        NextAction::Replay(first) => return view_by_id(env, who, &first, false).await,
    };
    model.insert(&txn).await?;
    crate::uploads::attach(&txn, who.id(), &input.photo_ids, "wish", &id).await?;
    timeline::record(
        &txn,
        Entry {
            subject_kind: "wish",
            subject_id: &id,
            actor_id: Some(who.id()),
            actor_role: "wisher",
            action: "submit",
            from: "",
            to: WishStatus::Submitted.as_str(),
            note: None,
            data: Some(serde_json::json!({ "grid": route.queue.code })),
            at: now,
        },
    )
    .await?;
    outbox::enqueue(
        &txn,
        &outbox::NewEvent {
            kind: outbox::EventKind::WishSubmitted,
            queue_code: &route.queue.code,
            queue_path: &route.queue.path,
            subject_id: &id,
            case_no: Some(&case_no),
            status: WishStatus::Submitted.as_str(),
            notify_user: None,
            units: &[],
            at: now,
        },
    )
    .await?;
    txn.commit().await?;
    env.outbox.written();
    view_by_id(env, who, &id, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_inclusive_and_named_in_the_error() {
        assert!(check_value(None, 30_000).is_ok());
        assert!(check_value(Some(30_000), 30_000).is_ok());
        let e = check_value(Some(30_001), 30_000).unwrap_err();
        assert_eq!(e.code, Code::WishValueOverCap);
        assert!(e.message.contains("300.00"), "{}", e.message);
        assert!(e.message_zh.contains("300.00"), "{}", e.message_zh);
        assert_eq!(
            check_value(Some(-1), 30_000).unwrap_err().code,
            Code::ValidationFailed
        );
        assert_eq!(yuan(12_345), "123.45");
    }
}
