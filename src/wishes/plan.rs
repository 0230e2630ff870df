//! The planning step of wishes, as for reports: from a decided transition and the validated
//! request, the whole change — status, columns, timeline entry, event, whether the wisher is
//! told — as plain data; [`Change::to_write`] gives the statements `cases::write::apply`
//! runs. Client actions and the jobs (expiry, auto-confirmation) all come through here.

use sea_orm::sea_query::{Expr, SimpleExpr, Value};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

use super::dto::WishActionRequest;
use super::status::{Actor, Transition, WishAction, WishStatus};
use crate::auth::Principal;
use crate::cases::write::{Tail, Write};
use crate::content::{optional_text, text_field, MAX_DESCRIPTION};
use crate::error::{ApiError, ApiResult};
use crate::notify::outbox::{self, EventKind};

use entity::wishes::{self, Column as C};

/// The validated fields an action carries.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ActionInput {
    pub note: Option<String>,
    pub unit: Option<String>,
    pub photo_ids: Vec<String>,
}

impl ActionInput {
    pub fn parse(action: WishAction, req: &WishActionRequest, who: &Principal) -> ApiResult<Self> {
        let mut input = ActionInput::default();
        match action {
            WishAction::Reject => {
                input.note = Some(text_field("reason", req.reason.as_deref(), 500)?)
            }
            WishAction::Claim => {
                input.unit = optional_text("unit", req.unit.as_deref(), 200)?
                    .or_else(|| who.user.volunteer_unit.clone());
            }
            WishAction::Fulfil => {
                input.note = Some(text_field("note", req.note.as_deref(), MAX_DESCRIPTION)?);
                if req.photo_ids.is_empty() {
                    return Err(ApiError::invalid("photo_ids", "a proof photo is required"));
                }
                input.photo_ids = req.photo_ids.clone();
            }
            WishAction::Release | WishAction::Cancel => {
                input.note = optional_text("reason", req.reason.as_deref(), 500)?;
            }
            WishAction::Approve
            | WishAction::Confirm
            | WishAction::AutoConfirm
            | WishAction::Expire => {}
        }
        Ok(input)
    }
}

/// The whole change one action makes to one wish.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: WishAction,
    pub from: WishStatus,
    pub to: WishStatus,
    /// Columns set besides status, version and updated_at.
    pub set: Vec<(C, Value)>,
    pub actor_role: &'static str,
    pub note: Option<String>,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub photo_ids: Vec<String>,
    pub event: EventKind,
    /// Whether the wisher is told by subscribe message.
    pub notify_wisher: bool,
}

/// The timeline's name for a relation.
pub fn actor_role(actor: Actor) -> &'static str {
    match actor {
        Actor::Wisher => "wisher",
        Actor::Claimant | Actor::Volunteer => "claimant",
        Actor::GridWorker => "worker",
        Actor::Admin => "admin",
        Actor::System => "system",
        Actor::Other => "other",
    }
}

/// The outbox event of an action, and whether the wisher is told by subscribe message.
pub fn event_kind(action: WishAction) -> (EventKind, bool) {
    match action {
        WishAction::Approve => (EventKind::WishPublished, true),
        WishAction::Reject => (EventKind::WishRejected, true),
        WishAction::Claim => (EventKind::WishClaimed, true),
        WishAction::Release => (EventKind::WishReleased, false),
        WishAction::Fulfil => (EventKind::WishFulfilled, true),
        WishAction::Confirm | WishAction::AutoConfirm => (EventKind::WishClosed, false),
        WishAction::Cancel => (EventKind::WishCancelled, false),
        WishAction::Expire => (EventKind::WishExpired, false),
    }
}

/// Plans `t` (already allowed by `status::decide`) for `actor_id` at `now`.
pub fn plan(
    t: Transition,
    action: WishAction,
    actor: Actor,
    actor_id: Option<&str>,
    input: ActionInput,
    now: i64,
) -> Change {
    let mut set: Vec<(C, Value)> = Vec::new();
    let mut data = serde_json::Map::new();
    match action {
        WishAction::Approve => set.push((C::ApprovedAt, now.into())),
        WishAction::Reject => set.push((C::Reason, input.note.clone().into())),
        WishAction::Claim => {
            set.push((C::ClaimantId, actor_id.map(str::to_owned).into()));
            set.push((C::ClaimantUnit, input.unit.clone().into()));
            set.push((C::ClaimedAt, now.into()));
            if let Some(unit) = &input.unit {
                data.insert("unit".into(), unit.clone().into());
            }
        }
        WishAction::Release => {
            set.push((C::ClaimantId, Value::String(None)));
            set.push((C::ClaimantUnit, Value::String(None)));
            set.push((C::ClaimedAt, Value::BigInt(None)));
        }
        WishAction::Fulfil => {
            set.push((C::FulfilNote, input.note.clone().into()));
            set.push((C::FulfilledAt, now.into()));
        }
        WishAction::Confirm | WishAction::AutoConfirm | WishAction::Cancel => {
            set.push((C::ClosedAt, now.into()))
        }
        WishAction::Expire => set.push((C::ExpiredToQueue, true.into())),
    }
    let note = match action {
        WishAction::AutoConfirm => Some("No objection within the confirmation window".into()),
        WishAction::Expire => Some("Unclaimed past its deadline: now a grid task".into()),
        _ => input.note,
    };
    let (event, notify_wisher) = event_kind(action);
    Change {
        action,
        from: t.from,
        to: t.to,
        set,
        actor_role: actor_role(actor),
        note,
        data,
        photo_ids: input.photo_ids,
        event,
        notify_wisher,
    }
}

impl Change {
    /// The statements of this change to `w` by `actor_id` at `now`: an UPDATE guarded by the
    /// version `w` was read at, the timeline row, the outbox row, the photos to attach.
    pub fn to_write(&self, w: &wishes::Model, actor_id: Option<&str>, now: i64) -> Write {
        let mut update = wishes::Entity::update_many()
            .col_expr(C::Status, Expr::value(self.to))
            .col_expr(C::Version, Expr::value(w.version + 1))
            .col_expr(C::UpdatedAt, Expr::value(now));
        for (column, value) in &self.set {
            update = update.col_expr(*column, SimpleExpr::Value(value.clone()));
        }
        let update = update
            .filter(C::Id.eq(&w.id))
            .filter(C::Version.eq(w.version))
            .into_query();
        Write::new(
            update,
            Tail {
                subject_kind: "wish",
                subject_id: &w.id,
                actor_id,
                actor_role: self.actor_role,
                action: self.action.as_str(),
                from: self.from.as_str(),
                to: self.to.as_str(),
                note: self.note.clone(),
                data: self.data.clone(),
                photo_ids: &self.photo_ids,
                event: Some(outbox::NewEvent {
                    kind: self.event,
                    queue_code: &w.grid_code,
                    queue_path: &w.queue_path,
                    subject_id: &w.id,
                    case_no: Some(&w.case_no),
                    status: self.to.as_str(),
                    notify_user: self.notify_wisher.then_some(w.wisher_id.as_str()),
                    units: &[],
                    at: now,
                }),
                at: now,
            },
        )
    }
}
