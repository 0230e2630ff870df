//! Submission (the safety key): validate, route by location, then write the report with its
//! idempotency claim, timeline row and outbox row atomically — on PostgreSQL as one statement,
//! elsewhere (or with photos) in one transaction — and answer with possible duplicates nearby.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, Set};

use super::calendar::TimeLimit;
use super::categories::Urgency;
use super::dispatch::{self, DispatchInput};
use super::dto::*;
use super::nearby::{duplicate_hints, Nearby, NearbyCase};
use super::origin::{self, Origin, Standing};
use super::status::ReportStatus;
use super::views::{render_loaded, reporter_view, view_by_id, Loaded};
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::cases::number::CaseKind;
use crate::content::{text_field, MAX_DESCRIPTION};
use crate::error::{ApiError, ApiResult};
use crate::grids::geo::{CoordSystem, Coordinate};
use crate::grids::router::Route;
use crate::idempotency::{self, NextAction};
use crate::infra::db::{Conn, Session};
use crate::infra::shaped::{self, Row};
use crate::notify::outbox;
use crate::timeline::{self, Entry};
use crate::util::{new_id, now_ms};

use entity::reports;

/// A submission's answer: the report, and whether it was created now (`false`: the same
/// hotline order or device alarm was already a case, answered 200 instead of 201).
pub struct Submitted {
    pub view: ReportView,
    pub created: bool,
}

/// Submits a report; with an idempotency key a retry returns the first report. Staff may
/// name a `source` (see `origin`); a resident's report is always `resident`.
pub async fn submit(
    env: &Env<'_>,
    who: &Principal,
    input: NewReport,
    key: Option<&str>,
) -> ApiResult<Submitted> {
    let door = idempotency::Request::for_json(who.id(), key, &input);
    if let Some(id) = door.replay(&env.conn).await? {
        env.conn.release().await;
        let view = view_by_id(env, who, &id, false).await?;
        return Ok(Submitted {
            view,
            created: true,
        });
    }
    let description = text_field("description", Some(&input.description), MAX_DESCRIPTION)?;
    let address = match input
        .address
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Some(a) if a.chars().count() > 300 => {
            return Err(ApiError::invalid("address", "at most 300 characters"))
        }
        other => other.map(str::to_owned),
    };
    if input.photo_ids.len() > 9 {
        return Err(ApiError::invalid("photo_ids", "at most 9 photos"));
    }
    if !env.categories.contains(&env.conn, &input.category).await? {
        return Err(ApiError::invalid(
            "category",
            "unknown category; see GET /api/v1/categories",
        ));
    }
    let point = Coordinate::new(input.location.lat, input.location.lng, input.location.coord)
        .map_err(|e| ApiError::invalid("location", e.to_string()))?;
    let route = env
        .router
        .route(&point)
        .ok_or_else(|| ApiError::unavailable("the area tree (no areas imported yet)"))?;
    let now = now_ms();
    let place = route.grid.as_ref().map_or(&route.queue.path, |g| &g.path);
    let standing = Standing {
        is_resident: who.is_resident(),
        works_the_grid: route.grid.as_ref().is_some_and(|g| who.works_grid(&g.code)),
        administers_place: who.administers_path(place),
    };
    let origin = origin::decide(&input.staff(), standing, now)?;
    if let Some(existing) = same_case(env, &origin).await? {
        env.conn.release().await;
        let view = view_by_id(env, who, &existing, false).await?;
        return Ok(Submitted {
            view,
            created: false,
        });
    }
    if let Origin::Worker {
        patrol_id: Some(patrol),
        ..
    } = &origin
    {
        crate::patrols::service::check_report_link(&env.conn, who, patrol, place).await?;
    }
    // The check is a call to WeChat: no connection waits idle through it.
    if env.content.enabled {
        env.conn.release().await;
    }
    let flagged = env.content.check(who, &description).await?;
    let draft = Draft {
        reporter_id: who.id(),
        category: input.category.clone(),
        description,
        point,
        address,
        anonymous: input.anonymous,
        urgency: input.urgency,
        photo_ids: input.photo_ids.clone(),
        flagged,
        origin,
        media_url: None,
    };
    let written = write_new(env, &door, route, draft, now).await?;
    let (inserted, nearby, units) = match written {
        Written::New {
            report,
            nearby,
            units,
        } => (*report, nearby, units),
        Written::Replay(first) => {
            env.conn.release().await;
            let view = view_by_id(env, who, &first, false).await?;
            return Ok(Submitted {
                view,
                created: true,
            });
        }
        Written::SameCase(first) => {
            env.conn.release().await;
            let view = view_by_id(env, who, &first, false).await?;
            return Ok(Submitted {
                view,
                created: false,
            });
        }
    };
    // The reporter sees their own report: render what was just written instead of reading
    // it back (and the reporter from the principal), which saves three round trips.
    let snap = env.router.snapshot();
    let unit_names = crate::units::load::names(&env.conn, units.iter()).await?;
    let has_photos = !input.photo_ids.is_empty() || inserted.status == ReportStatus::Resolved;
    let photos = if has_photos {
        crate::uploads::attached(&env.conn, "report", &inserted.id).await?
    } else {
        Vec::new()
    };
    let (lat, lng) = (inserted.lat, inserted.lng);
    let mut view = render_loaded(
        env,
        who,
        &snap,
        inserted,
        Loaded {
            reporter: Some(reporter_view(env, &who.user)),
            photo_ids: photos,
            units,
            unit_names: &unit_names,
        },
    );
    view.possible_duplicates = Some(duplicate_hints(lat, lng, nearby));
    Ok(Submitted {
        view,
        created: true,
    })
}

/// The case a hotline order or device alarm already is, if it was entered before.
pub async fn same_case(env: &Env<'_>, origin: &Origin) -> ApiResult<Option<String>> {
    let Some(reference) = origin.external_ref() else {
        return Ok(None);
    };
    Ok(reports::Entity::find()
        .filter(reports::Column::ExternalRef.eq(reference))
        .one(&env.conn)
        .await?
        .map(|r| r.id))
}

/// A new report, validated, with its origin decided.
pub struct Draft<'a> {
    /// The resident, worker or admin who submits it; an integration's own id for a device.
    pub reporter_id: &'a str,
    pub category: String,
    pub description: String,
    pub point: Coordinate,
    pub address: Option<String>,
    pub anonymous: bool,
    pub urgency: Urgency,
    pub photo_ids: Vec<String>,
    pub flagged: bool,
    pub origin: Origin,
    /// An Open311 client's link.
    pub media_url: Option<String>,
}

/// What writing a new report came to.
pub enum Written {
    New {
        /// Boxed: the row is large beside the other variants' ids.
        report: Box<reports::Model>,
        /// Open reports of its category nearby (the duplicate hint).
        nearby: Vec<NearbyCase>,
        /// Its pre-dispatch, if the ownership rule sent it to a unit.
        units: Vec<entity::report_units::Model>,
    },
    /// A concurrent retry with the same idempotency key created it first.
    Replay(String),
    /// The same hotline order or alarm was entered at the same moment: that case.
    SameCase(String),
}

/// Writes a new report routed by `route`: the report with its state from its origin, its
/// timeline and outbox rows, its photos, the ownership rule's pre-dispatch — on PostgreSQL as
/// one statement for a resident's report without photos, else in one transaction — then
/// wakes the relay and marks the dashboard.
///
/// Outside the transaction its statements share one connection (`Session`: one checkout, so
/// one release ping, instead of one per statement); it is given back before the transaction
/// takes its own.
pub async fn write_new(
    env: &Env<'_>,
    door: &idempotency::Request<'_>,
    route: Route,
    draft: Draft<'_>,
    now: i64,
) -> ApiResult<Written> {
    // The handler's session when it opened one (the caller was loaded on it), else our own.
    let own;
    let db = match env.conn {
        Conn::Session(session) => session,
        Conn::Pool(pool) => {
            own = Session::new(pool);
            &own
        }
    };
    let id = new_id();
    let gcj = draft.point.to_gcj02();
    let case_no = env.case_numbers.next(db, CaseKind::Report, now).await?;
    let grid_code = route
        .grid
        .as_ref()
        .map(|g| g.code.clone())
        .unwrap_or_else(|| route.queue.code.clone());
    // 部件先属主后属地: a category owned by a kind of unit goes to that unit at once, while
    // the grid still checks on site (the report stays in the grid's queue).
    let place = route.grid.as_ref().map_or(&route.queue.path, |g| &g.path);
    let pre_dispatch = match crate::units::service::owner_for(db, &draft.category, place).await? {
        None => None,
        Some(owner) => {
            let d = dispatch::deadlines(
                env.calendar,
                now,
                owner.sign_hours,
                None,
                owner.limit.unwrap_or(TimeLimit::WorkingDays(5)),
                draft.urgency,
            );
            let order = DispatchInput {
                lead_unit: owner.unit_code,
                ..DispatchInput::default()
            };
            dispatch::assignments(&id, &order, None, d, now).pop()
        }
    };
    let told: Vec<String> = pre_dispatch.iter().map(|a| a.unit_code.clone()).collect();
    let status = draft.origin.initial_status();
    // A worker's own report starts accepted by them, with the category's deadline; a hotline
    // order may bring its own deadline.
    let (accepted_by, accepted_at, deadline) = match &draft.origin {
        Origin::Worker { .. } => {
            let limit = entity::categories::Entity::find_by_id(draft.category.clone())
                .one(db)
                .await?
                .and_then(|c| TimeLimit::parse(&c.limit_unit, c.limit_amount as u32))
                .unwrap_or(TimeLimit::WorkingDays(5));
            let deadline = super::categories::deadline(env.calendar, limit, draft.urgency, now);
            (
                Some(draft.reporter_id.to_owned()),
                Some(now),
                Some(deadline),
            )
        }
        Origin::Hotline { deadline, .. } => (None, None, *deadline),
        _ => (None, None, None),
    };
    let (patrol_id, on_site, caller_phone) = match &draft.origin {
        Origin::Worker {
            patrol_id, on_site, ..
        } => (patrol_id.clone(), on_site.clone(), None),
        Origin::Hotline { caller_phone, .. } => (None, None, caller_phone.clone()),
        _ => (None, None, None),
    };
    let model = reports::ActiveModel {
        id: Set(id.clone()),
        case_no: Set(case_no.clone()),
        reporter_id: Set(draft.reporter_id.into()),
        category: Set(draft.category.clone()),
        description: Set(draft.description),
        lat: Set(gcj.lat()),
        lng: Set(gcj.lng()),
        coord_input: Set(match draft.point.system() {
            CoordSystem::Gcj02 => "gcj02".into(),
            CoordSystem::Wgs84 => "wgs84".into(),
        }),
        address: Set(draft.address),
        anonymous: Set(draft.anonymous),
        urgency: Set(draft.urgency),
        status: Set(status),
        grid_code: Set(grid_code),
        queue_code: Set(route.queue.code.clone()),
        queue_path: Set(route.queue.path.clone()),
        accepted_by: Set(accepted_by),
        submitted_at: Set(now),
        accepted_at: Set(accepted_at),
        deadline: Set(deadline),
        suspended_at: Set(None),
        resolved_at: Set(on_site.as_ref().map(|_| now)),
        closed_at: Set(None),
        rework_count: Set(0),
        rating: Set(None),
        rating_comment: Set(None),
        extension_until: Set(None),
        extension_reason: Set(None),
        duplicate_of: Set(None),
        flagged: Set(draft.flagged),
        lead_unit: Set(told.first().cloned()),
        supervised: Set(false),
        return_count: Set(0),
        source: Set(draft.origin.source()),
        external_ref: Set(draft.origin.external_ref()),
        patrol_id: Set(patrol_id),
        retained_at: Set(None),
        caller_phone_hash: Set(caller_phone.as_deref().map(|p| env.keys.phone_hash(p))),
        caller_phone: Set(caller_phone
            .as_deref()
            .map(|p| env.keys.encrypt(crate::infra::crypto::CALLER_PHONE, &id, p))),
        mediation_tier: Set(None),
        mediation_outcome: Set(None),
        mediated_at: Set(None),
        follow_up_due: Set(None),
        follow_up_result: Set(None),
        follow_up_at: Set(None),
        media_url: Set(draft.media_url.clone()),
        overdue_notified: Set(false),
        version: Set(0),
        updated_at: Set(now),
    };
    let inserted = sea_orm::TryIntoModel::try_into_model(model.clone())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    // The rows a submission writes, built once for either road below.
    let report_row = Row::insert(model);
    let mut data =
        serde_json::json!({ "queue": route.queue.code, "source": draft.origin.source() });
    if let Some(unit) = told.first() {
        data["lead_unit"] = unit.clone().into();
    }
    if let Origin::Open311 { client } = &draft.origin {
        data["client"] = client.clone().into();
    }
    let mut photo_ids = draft.photo_ids.clone();
    if let Some(s) = &on_site {
        photo_ids.extend(s.photo_ids.iter().cloned());
        data["resolved_on_site"] = true.into();
    }
    let actor_id = (!matches!(draft.origin, Origin::Device { .. } | Origin::Open311 { .. }))
        .then_some(draft.reporter_id);
    let timeline_row = Row::insert(timeline::row(Entry {
        subject_kind: "report",
        subject_id: &id,
        actor_id,
        actor_role: draft.origin.actor_role(),
        action: "submit",
        from: "",
        to: status.as_str(),
        note: on_site.as_ref().map(|s| s.note.clone()),
        data: Some(data),
        at: now,
    }));
    let outbox_row = Row::insert(outbox::row(&outbox::NewEvent {
        kind: outbox::EventKind::ReportSubmitted,
        queue_code: &route.queue.code,
        queue_path: &route.queue.path,
        subject_id: &id,
        case_no: Some(&case_no),
        status: status.as_str(),
        notify_user: None,
        units: &told,
        at: now,
    }));
    // The pre-dispatch: its assignment row and the event that tells the unit.
    let unit_rows: Vec<Row> = pre_dispatch
        .iter()
        .flat_map(|a| {
            let row: entity::report_units::ActiveModel = a.clone().into();
            [
                Row::insert(row),
                Row::insert(outbox::row(&outbox::NewEvent {
                    kind: outbox::EventKind::ReportDispatched,
                    queue_code: &route.queue.code,
                    queue_path: &route.queue.path,
                    subject_id: &id,
                    case_no: Some(&case_no),
                    status: status.as_str(),
                    notify_user: None,
                    units: &told,
                    at: now,
                })),
            ]
        })
        .collect();
    let nearby_query = Nearby {
        id: &id,
        category: &draft.category,
        lat: gcj.lat(),
        lng: gcj.lng(),
        now,
    };
    let backend = env.db.get_database_backend();

    // PostgreSQL takes a resident's submission without photos as one statement (see
    // `submit_in_one_statement`); photos, staff origins and a key whose first claim failed
    // take the transaction below.
    let mut nearby = None;
    let rows;
    if backend == sea_orm::DbBackend::Postgres
        && photo_ids.is_empty()
        && draft.origin == Origin::Resident
    {
        // Kept for the transaction only when it may be needed: a key whose claim fails.
        let spare = door.has_key().then(|| {
            (
                report_row.clone(),
                timeline_row.clone(),
                outbox_row.clone(),
                unit_rows.clone(),
            )
        });
        let writes = door
            .claim_row(&id)
            .into_iter()
            .chain([report_row, timeline_row, outbox_row])
            .chain(unit_rows)
            .collect();
        match submit_in_one_statement(db, writes, &nearby_query).await {
            Ok(rows) => nearby = Some(rows),
            // Nothing was written (one statement); the transaction sorts out the key.
            Err(e) if door.has_key() => {
                tracing::debug!(error = %e, "one-statement submit failed; taking the transaction")
            }
            Err(e) => return Err(e.into()),
        }
        rows = spare;
    } else {
        rows = Some((report_row, timeline_row, outbox_row, unit_rows));
    }
    let nearby = match (nearby, rows) {
        (Some(found), _) => found,
        (None, None) => unreachable!("the rows are kept whenever the transaction may follow"),
        (None, Some((report_row, timeline_row, outbox_row, unit_rows))) => {
            // The transaction takes a connection of its own: give the session's back first.
            db.release().await;
            let txn = match door.begin(env.db, &id).await? {
                NextAction::Proceed(txn) => txn,
                // A concurrent retry won the key: answer with its report.
                NextAction::Replay(first) => return Ok(Written::Replay(first)),
            };
            if let Err(e) = txn.execute(backend.build(&report_row.statement())).await {
                // The same hotline order or alarm entered at the same moment: that case.
                if draft.origin.external_ref().is_some()
                    && matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    )
                {
                    drop(txn);
                    if let Some(first) = same_case(env, &draft.origin).await? {
                        return Ok(Written::SameCase(first));
                    }
                }
                return Err(e.into());
            }
            crate::uploads::attach(&txn, draft.reporter_id, &photo_ids, "report", &id).await?;
            txn.execute(backend.build(&timeline_row.statement()))
                .await?;
            txn.execute(backend.build(&outbox_row.statement())).await?;
            for row in &unit_rows {
                txn.execute(backend.build(&row.statement())).await?;
            }
            txn.commit().await?;
            NearbyCase::find_by_statement(backend.build(&nearby_query.select()))
                .all(db)
                .await?
        }
    };
    env.outbox.written();
    let snap = env.router.snapshot();
    crate::dashboard::report_changed(db, &inserted, snap.areas.get(&inserted.grid_code)).await;
    Ok(Written::New {
        report: Box::new(inserted),
        nearby,
        units: pre_dispatch.into_iter().collect(),
    })
}

/// The submission as one PostgreSQL statement in autocommit: its writes (the idempotency
/// claim if a key was sent, the report, its timeline row, its outbox row) as data-modifying
/// CTEs, and the duplicate-nearby SELECT as the statement's result. One round trip and one commit instead
/// of seven; atomic like the transaction, since a statement commits or fails whole. The
/// SELECT reads the snapshot taken before the inserts, so it never finds the new report.
/// Its text is built once per shape (`infra::shaped`).
async fn submit_in_one_statement(
    db: &impl ConnectionTrait,
    writes: Vec<Row>,
    nearby: &Nearby<'_>,
) -> Result<Vec<NearbyCase>, sea_orm::DbErr> {
    let query = shaped::Query {
        shape: "reports::submit::nearby",
        values: nearby.values(),
        build: || nearby.select(),
    };
    let statement = shaped::inserts_then_query(db.get_database_backend(), writes, query);
    NearbyCase::find_by_statement(statement).all(db).await
}
