//! Reading and filing through Open311: every function answers a [`Doc`] or an [`Open311Error`]
//! (the specification's `{code, description}`), never an `ApiError`.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use super::doc::Doc;
use super::public::{self, PUBLIC_NOTE_ACTIONS};
use crate::auth::Principal;
use crate::cases::env::Env;
use crate::error::ApiError;
use crate::grids::geo::{CoordSystem, Coordinate};
use crate::reports::calendar::TimeLimit;
use crate::reports::categories::Urgency;
use crate::reports::dto::ActionRequest;
use crate::reports::origin::Origin;
use crate::reports::submit::{write_new, Draft, Written};
use crate::util::{new_id, now_ms, parse_rfc3339, random_token, rfc3339, sha256_hex};

use entity::enums::ReportStatus;
use entity::{categories, open311_clients, open311_updates, reports, timeline_events};

/// The specification's error: an HTTP status (400, 403, 404, 429, 500) and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open311Error {
    pub code: u16,
    pub description: String,
}

impl Open311Error {
    pub fn new(code: u16, description: impl Into<String>) -> Self {
        Open311Error {
            code,
            description: description.into(),
        }
    }

    pub fn doc(&self) -> Doc {
        Doc::List(
            "error",
            vec![Doc::Obj(vec![
                ("code", Doc::Int(i64::from(self.code))),
                ("description", Doc::text(self.description.clone())),
            ])],
        )
    }
}

impl From<sea_orm::DbErr> for Open311Error {
    fn from(e: sea_orm::DbErr) -> Self {
        tracing::error!(error = %e, "open311: database error");
        Open311Error::new(500, "internal error; please try again")
    }
}

impl From<ApiError> for Open311Error {
    fn from(e: ApiError) -> Self {
        let code = e.code.status().as_u16();
        let code = match code {
            401 | 403 => 403,
            404 => 404,
            429 => 429,
            c if c >= 500 => 500,
            _ => 400,
        };
        let detail = e
            .fields
            .as_ref()
            .map(|f| {
                f.iter()
                    .map(|(k, v)| format!(" {k}: {v}"))
                    .collect::<String>()
            })
            .unwrap_or_default();
        Open311Error::new(code, format!("{}{detail}", e.message))
    }
}

pub type Result<T> = std::result::Result<T, Open311Error>;

/// The longest span `requests` and `servicerequestupdates` answer for.
pub const MAX_SPAN_MS: i64 = 90 * 86_400_000;

/// `discovery`: where the endpoint is and what it speaks.
pub fn discovery(base_url: &str) -> Doc {
    Doc::Obj(vec![
        ("changeset", Doc::text("2026-12-05T00:00:00+08:00")),
        (
            "contact",
            Doc::text("SafeGrid operators (see the deployment's SECURITY.md)"),
        ),
        (
            "key_service",
            Doc::text("Keys are issued by an administrator: POST /api/v1/admin/open311-clients"),
        ),
        (
            "endpoints",
            Doc::List(
                "endpoint",
                vec![Doc::Obj(vec![
                    (
                        "specification",
                        Doc::text("http://wiki.open311.org/GeoReport_v2"),
                    ),
                    (
                        "url",
                        Doc::text(format!("{}/open311/v2", base_url.trim_end_matches('/'))),
                    ),
                    ("changeset", Doc::text("2026-12-05T00:00:00+08:00")),
                    ("type", Doc::text("production")),
                    (
                        "formats",
                        Doc::List(
                            "format",
                            vec![Doc::text("text/xml"), Doc::text("application/json")],
                        ),
                    ),
                ])],
            ),
        ),
    ])
}

fn limit_text(c: &categories::Model) -> String {
    match TimeLimit::parse(&c.limit_unit, c.limit_amount as u32) {
        Some(TimeLimit::WorkingHours(n)) => {
            format!("处理时限 {n} 个工作小时 / within {n} working hours")
        }
        Some(TimeLimit::WorkingDays(n)) => {
            format!("处理时限 {n} 个工作日 / within {n} working days")
        }
        Some(TimeLimit::NaturalDays(n)) => format!("处理时限 {n} 天 / within {n} days"),
        None => String::new(),
    }
}

/// `services`: the report categories, their code as the service code.
pub async fn services(env: &Env<'_>) -> Result<Doc> {
    let all = categories::Entity::find()
        .order_by_asc(categories::Column::SortOrder)
        .all(env.db)
        .await?;
    let names: HashMap<String, String> = all
        .iter()
        .map(|c| (c.code.clone(), c.name.clone()))
        .collect();
    Ok(Doc::List(
        "service",
        all.iter()
            .map(|c| {
                let group = c
                    .parent_code
                    .as_ref()
                    .and_then(|p| names.get(p).cloned())
                    .unwrap_or_else(|| c.name.clone());
                Doc::Obj(vec![
                    ("service_code", Doc::text(c.code.clone())),
                    ("service_name", Doc::text(c.name.clone())),
                    (
                        "description",
                        Doc::text(format!("{} — {}", c.name_en, limit_text(c))),
                    ),
                    ("metadata", Doc::Bool(true)),
                    ("type", Doc::text("realtime")),
                    (
                        "keywords",
                        Doc::text(format!("{},{},{}", c.code, c.name, c.name_en)),
                    ),
                    ("group", Doc::text(group)),
                ])
            })
            .collect(),
    ))
}

/// `services/{code}`: the definition, with urgency as a single-value list.
pub async fn service_definition(env: &Env<'_>, code: &str) -> Result<Doc> {
    categories::Entity::find_by_id(code.to_owned())
        .one(env.db)
        .await?
        .ok_or_else(|| Open311Error::new(404, format!("service_code {code} not found")))?;
    let value =
        |key: &str, name: &str| Doc::Obj(vec![("key", Doc::text(key)), ("name", Doc::text(name))]);
    Ok(Doc::Obj(vec![
        ("service_code", Doc::text(code)),
        (
            "attributes",
            Doc::List(
                "attribute",
                vec![Doc::Obj(vec![
                    ("variable", Doc::Bool(true)),
                    ("code", Doc::text("urgency")),
                    ("datatype", Doc::text("singlevaluelist")),
                    ("required", Doc::Bool(false)),
                    ("datatype_description", Doc::text("normal unless stated")),
                    ("order", Doc::Int(1)),
                    ("description", Doc::text("紧急程度 / Urgency")),
                    (
                        "values",
                        Doc::List(
                            "value",
                            vec![
                                value("normal", "一般 / normal"),
                                value("urgent", "紧急 / urgent"),
                                value("emergency", "特急 / emergency"),
                            ],
                        ),
                    ),
                ])],
            ),
        ),
    ]))
}

/// Filters of `GET requests`.
#[derive(Debug, Default)]
pub struct RequestFilter {
    /// Case numbers; when given, the other filters are ignored.
    pub ids: Vec<String>,
    pub service_code: Vec<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub status: Option<&'static str>,
}

/// Reads `start_date`/`end_date`/`status` as the specification states them.
pub fn parse_filter(q: &BTreeMap<String, String>, now: i64) -> Result<RequestFilter> {
    let list = |k: &str| -> Vec<String> {
        q.get(k)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let date = |k: &str| -> Result<Option<i64>> {
        match q.get(k).map(String::as_str).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => parse_rfc3339(s).map(Some).ok_or_else(|| {
                Open311Error::new(400, format!("{k} must be a W3C date-time (RFC 3339)"))
            }),
        }
    };
    let status = match q.get("status").map(|s| s.trim().to_ascii_lowercase()) {
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) if s == "open" => Some("open"),
        Some(s) if s == "closed" => Some("closed"),
        Some(_) => return Err(Open311Error::new(400, "status must be open or closed")),
    };
    let (start, end) = (date("start_date")?, date("end_date")?);
    let (start, end) = match (start, end) {
        (Some(s), Some(e)) if e < s => {
            return Err(Open311Error::new(400, "end_date is before start_date"))
        }
        (Some(s), Some(e)) if e - s > MAX_SPAN_MS => {
            return Err(Open311Error::new(
                400,
                "start_date and end_date may be at most 90 days apart",
            ))
        }
        (Some(s), None) => (Some(s), Some((s + MAX_SPAN_MS).min(now.max(s)))),
        (None, Some(e)) => (Some(e - MAX_SPAN_MS), Some(e)),
        (None, None) => (Some(now - MAX_SPAN_MS), None),
        (s, e) => (s, e),
    };
    Ok(RequestFilter {
        ids: list("service_request_id"),
        service_code: list("service_code"),
        start,
        end,
        status,
    })
}

/// The most requests one answer lists.
const PAGE: u64 = 1_000;

/// `GET requests` (and `requests/{id}` through `ids`).
pub async fn requests(env: &Env<'_>, f: RequestFilter) -> Result<Doc> {
    let mut q = reports::Entity::find()
        .order_by_desc(reports::Column::SubmittedAt)
        .order_by_desc(reports::Column::Id)
        .limit(PAGE);
    if !f.ids.is_empty() {
        q = q.filter(reports::Column::CaseNo.is_in(f.ids.clone()));
    } else {
        if !f.service_code.is_empty() {
            q = q.filter(reports::Column::Category.is_in(f.service_code.clone()));
        }
        if let Some(s) = f.start {
            q = q.filter(reports::Column::SubmittedAt.gte(s));
        }
        if let Some(e) = f.end {
            q = q.filter(reports::Column::SubmittedAt.lte(e));
        }
        let closed = [
            ReportStatus::Closed,
            ReportStatus::Rejected,
            ReportStatus::Cancelled,
        ];
        match f.status {
            Some("closed") => q = q.filter(reports::Column::Status.is_in(closed)),
            Some(_) => q = q.filter(reports::Column::Status.is_not_in(closed)),
            None => {}
        }
    }
    let rows = q.all(env.db).await?;
    render(env, rows).await
}

/// The public shape of many reports in a fixed number of queries: the rows, categories,
/// public notes, lead units' names, anonymous cases' grid outlines.
async fn render(env: &Env<'_>, rows: Vec<reports::Model>) -> Result<Doc> {
    let snap = env.router.snapshot();
    let cats: HashMap<String, categories::Model> = categories::Entity::find()
        .all(env.db)
        .await?
        .into_iter()
        .map(|c| (c.code.clone(), c))
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut notes: HashMap<String, String> = HashMap::new();
    if !ids.is_empty() {
        for e in timeline_events::Entity::find()
            .filter(timeline_events::Column::SubjectKind.eq("report"))
            .filter(timeline_events::Column::SubjectId.is_in(ids.clone()))
            .filter(timeline_events::Column::Action.is_in(PUBLIC_NOTE_ACTIONS))
            .filter(timeline_events::Column::Note.is_not_null())
            .order_by_asc(timeline_events::Column::Id)
            .all(env.db)
            .await?
        {
            if let Some(n) = e.note {
                notes.insert(e.subject_id, n);
            }
        }
    }
    let leads: Vec<&str> = rows.iter().filter_map(|r| r.lead_unit.as_deref()).collect();
    let unit_names: HashMap<String, String> = if leads.is_empty() {
        HashMap::new()
    } else {
        entity::units::Entity::find()
            .filter(entity::units::Column::Code.is_in(leads))
            .all(env.db)
            .await?
            .into_iter()
            .map(|u| (u.code, u.name))
            .collect()
    };
    let anonymous_grids: Vec<&str> = rows
        .iter()
        .filter(|r| r.anonymous)
        .map(|r| r.grid_code.as_str())
        .collect();
    let mut centres: HashMap<String, (f64, f64)> = HashMap::new();
    if !anonymous_grids.is_empty() {
        for a in entity::areas::Entity::find()
            .filter(entity::areas::Column::Code.is_in(anonymous_grids))
            .all(env.db)
            .await?
        {
            let centre = a
                .geometry
                .as_deref()
                .and_then(crate::grids::geojson::multipolygon_from_json)
                .and_then(|mp| geo::Centroid::centroid(&mp));
            if let Some(p) = centre {
                centres.insert(a.code, (p.y(), p.x()));
            }
        }
    }
    let items = rows
        .into_iter()
        .map(|r| {
            let cat = cats.get(&r.category);
            let (lat, lng) = match (r.anonymous, centres.get(&r.grid_code)) {
                (true, Some(&(lat, lng))) => public::public_point(lat, lng),
                (true, None) => {
                    let (lat, lng) = public::public_point(r.lat, r.lng);
                    // No outline to centre on: about a kilometre instead.
                    ((lat * 100.0).round() / 100.0, (lng * 100.0).round() / 100.0)
                }
                _ => public::public_point(r.lat, r.lng),
            };
            let agency = r
                .lead_unit
                .as_ref()
                .and_then(|u| unit_names.get(u).cloned())
                .or_else(|| snap.areas.get(&r.grid_code).map(|a| a.name.clone()))
                .unwrap_or_default();
            Doc::Obj(vec![
                ("service_request_id", Doc::text(r.case_no.clone())),
                ("status", Doc::text(public::status(r.status))),
                ("status_notes", Doc::opt(notes.remove(&r.id))),
                ("service_name", Doc::opt(cat.map(|c| c.name.clone()))),
                ("service_code", Doc::text(r.category.clone())),
                ("description", Doc::text(r.description.clone())),
                ("agency_responsible", Doc::text(agency)),
                ("service_notice", Doc::opt(cat.map(limit_text))),
                ("requested_datetime", Doc::text(rfc3339(r.submitted_at))),
                ("updated_datetime", Doc::text(rfc3339(r.updated_at))),
                ("expected_datetime", Doc::opt(r.deadline.map(rfc3339))),
                ("address", Doc::opt(r.address.clone())),
                ("address_id", Doc::Null),
                ("zipcode", Doc::Null),
                ("lat", Doc::Float(lat)),
                ("long", Doc::Float(lng)),
                ("media_url", Doc::opt(r.media_url.clone())),
            ])
        })
        .collect();
    Ok(Doc::List("request", items))
}

/// `requests/{id}`: one request, as a list of one; 404 when there is none.
pub async fn request(env: &Env<'_>, id: &str) -> Result<Doc> {
    let doc = requests(
        env,
        RequestFilter {
            ids: vec![id.to_owned()],
            ..RequestFilter::default()
        },
    )
    .await?;
    match &doc {
        Doc::List(_, items) if items.is_empty() => Err(Open311Error::new(
            404,
            format!("service_request_id {id} not found"),
        )),
        _ => Ok(doc),
    }
}

/// `tokens/{token}`: SafeGrid answers a filed request with its id at once, so a token is the
/// request's own id.
pub async fn token(env: &Env<'_>, token: &str) -> Result<Doc> {
    let found = reports::Entity::find()
        .filter(reports::Column::CaseNo.eq(token))
        .one(env.db)
        .await?
        .ok_or_else(|| Open311Error::new(404, format!("token {token} not found")))?;
    Ok(Doc::List(
        "request",
        vec![Doc::Obj(vec![
            ("service_request_id", Doc::text(found.case_no.clone())),
            ("token", Doc::text(found.case_no)),
        ])],
    ))
}

/// A client, authenticated by its key.
pub struct Client {
    pub id: String,
    pub name: String,
    pub owner_path: String,
}

/// The client of `api_key`: 403 for a missing, unknown or revoked key, 429 past its rate.
pub async fn authenticate(
    env: &Env<'_>,
    limiter: &crate::infra::ratelimit::RateLimiter,
    api_key: Option<&str>,
) -> Result<Client> {
    let key = api_key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Open311Error::new(403, "api_key is required"))?;
    let client = open311_clients::Entity::find()
        .filter(open311_clients::Column::KeyHash.eq(sha256_hex(key.as_bytes())))
        .one(env.db)
        .await?
        .filter(|c| c.active)
        .ok_or_else(|| Open311Error::new(403, "api_key is invalid or revoked"))?;
    if limiter
        .hit(&format!("open311:{}", client.id), 120, 60)
        .await
        .is_err()
    {
        return Err(Open311Error::new(
            429,
            "too many requests for this api_key; retry in a minute",
        ));
    }
    Ok(Client {
        id: client.id,
        name: client.name,
        owner_path: client.owner_path,
    })
}

/// A form body as pairs, in order (keys may repeat).
pub type Form = Vec<(String, String)>;

fn field<'a>(form: &'a Form, key: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `POST requests`: a new case from the client, `source: open311`.
pub async fn file(env: &Env<'_>, client: &Client, form: &Form) -> Result<Doc> {
    let code = field(form, "service_code")
        .ok_or_else(|| Open311Error::new(400, "service_code is required"))?;
    if !env.categories.contains(env.db, code).await? {
        return Err(Open311Error::new(
            404,
            format!("service_code {code} not found"),
        ));
    }
    let description = field(form, "description")
        .ok_or_else(|| Open311Error::new(400, "description is required"))?;
    if description.chars().count() > crate::content::MAX_DESCRIPTION {
        return Err(Open311Error::new(
            400,
            "description is longer than 2,000 characters",
        ));
    }
    let urgency = match field(form, "attribute[urgency]") {
        None | Some("normal") => Urgency::Normal,
        Some("urgent") => Urgency::Urgent,
        Some("emergency") => Urgency::Emergency,
        Some(other) => {
            return Err(Open311Error::new(
                400,
                format!("attribute[urgency] {other} is not one of normal, urgent, emergency"),
            ))
        }
    };
    let media_url = match field(form, "media_url") {
        None => None,
        Some(u) if (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 500 => {
            Some(u.to_owned())
        }
        Some(_) => {
            return Err(Open311Error::new(
                400,
                "media_url must be an http(s) URL of at most 500 characters",
            ))
        }
    };
    let address = field(form, "address_string").map(|a| a.chars().take(300).collect::<String>());
    let point = match (field(form, "lat"), field(form, "long")) {
        (Some(lat), Some(lng)) => {
            let (lat, lng) = (
                lat.parse::<f64>()
                    .map_err(|_| Open311Error::new(400, "lat must be a number"))?,
                lng.parse::<f64>()
                    .map_err(|_| Open311Error::new(400, "long must be a number"))?,
            );
            Coordinate::new(lat, lng, CoordSystem::Wgs84)
                .map_err(|e| Open311Error::new(400, e.to_string()))?
        }
        (None, None) => area_centre(env, field(form, "address_id"), address.is_some()).await?,
        _ => {
            return Err(Open311Error::new(
                400,
                "send both lat and long, or an address_string with an address_id",
            ))
        }
    };
    let route = env
        .router
        .route(&point)
        .ok_or_else(|| Open311Error::new(500, "no areas are imported yet"))?;
    let place = route.grid.as_ref().map_or(&route.queue.path, |g| &g.path);
    if !place.starts_with(&client.owner_path) {
        return Err(Open311Error::new(
            400,
            "the location lies outside the area this api_key serves",
        ));
    }
    let draft = Draft {
        reporter_id: &client.id,
        category: code.to_owned(),
        description: description.to_owned(),
        point,
        address,
        anonymous: false,
        urgency,
        photo_ids: Vec::new(),
        flagged: false,
        origin: Origin::Open311 {
            client: client.name.clone(),
        },
        media_url,
    };
    let door = crate::idempotency::Request::new(&client.id, None, b"");
    let report = match write_new(env, &door, route, draft, now_ms())
        .await
        .map_err(Open311Error::from)?
    {
        Written::New { report, .. } => *report,
        Written::Replay(id) | Written::SameCase(id) => reports::Entity::find_by_id(id)
            .one(env.db)
            .await?
            .ok_or_else(|| Open311Error::new(500, "internal error"))?,
    };
    let notice = categories::Entity::find_by_id(report.category.clone())
        .one(env.db)
        .await?
        .map(|c| limit_text(&c));
    Ok(Doc::List(
        "request",
        vec![Doc::Obj(vec![
            ("service_request_id", Doc::text(report.case_no)),
            ("service_notice", Doc::opt(notice)),
            ("account_id", Doc::Null),
        ])],
    ))
}

/// Without a point: the centre of the area named by `address_id` (a grid, community…).
async fn area_centre(env: &Env<'_>, area: Option<&str>, has_address: bool) -> Result<Coordinate> {
    let area = match (area, has_address) {
        (Some(a), true) => a,
        _ => return Err(Open311Error::new(400, "a location is required: lat and long, or address_string with address_id (an area code)")),
    };
    let row = entity::areas::Entity::find_by_id(area.to_owned())
        .one(env.db)
        .await?
        .ok_or_else(|| Open311Error::new(400, format!("address_id {area} is not an area code")))?;
    let centre = row
        .geometry
        .as_deref()
        .and_then(crate::grids::geojson::multipolygon_from_json)
        .and_then(|mp| geo::Centroid::centroid(&mp))
        .ok_or_else(|| {
            Open311Error::new(
                400,
                format!("area {area} has no outline; send lat and long"),
            )
        })?;
    Coordinate::new(centre.y(), centre.x(), CoordSystem::Gcj02)
        .map_err(|e| Open311Error::new(400, e.to_string()))
}

/// `GET servicerequestupdates`: what happened to cases between two times (the last day by
/// default, at most 90 days).
pub async fn updates(env: &Env<'_>, q: &BTreeMap<String, String>) -> Result<Doc> {
    let now = now_ms();
    let f = parse_filter(q, now)?;
    let start = q.get("start_date").and(f.start).unwrap_or(now - 86_400_000);
    let end = f.end.unwrap_or(now);
    let entries = timeline_events::Entity::find()
        .filter(timeline_events::Column::SubjectKind.eq("report"))
        .filter(timeline_events::Column::At.gte(start))
        .filter(timeline_events::Column::At.lte(end))
        .filter(
            Condition::any()
                .add(
                    Expr::col(timeline_events::Column::FromStatus)
                        .ne(Expr::col(timeline_events::Column::ToStatus)),
                )
                .add(timeline_events::Column::Action.is_in(PUBLIC_NOTE_ACTIONS)),
        )
        .order_by_asc(timeline_events::Column::Id)
        .limit(PAGE)
        .all(env.db)
        .await?;
    let ids: Vec<&str> = entries.iter().map(|e| e.subject_id.as_str()).collect();
    let numbers: HashMap<String, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        reports::Entity::find()
            .filter(reports::Column::Id.is_in(ids))
            .all(env.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r.case_no))
            .collect()
    };
    Ok(Doc::List(
        "request_update",
        entries
            .into_iter()
            .filter_map(|e| {
                let case_no = numbers.get(&e.subject_id)?.clone();
                let status = ReportStatus::ALL
                    .into_iter()
                    .find(|s| s.as_str() == e.to_status)
                    .map_or("open", public::status);
                let public_note = PUBLIC_NOTE_ACTIONS.contains(&e.action.as_str());
                Some(Doc::Obj(vec![
                    ("update_id", Doc::text(e.id.to_string())),
                    ("service_request_id", Doc::text(case_no)),
                    ("status", Doc::text(status.to_ascii_uppercase())),
                    ("updated_datetime", Doc::text(rfc3339(e.at))),
                    (
                        "description",
                        Doc::text(if public_note {
                            e.note.unwrap_or_default()
                        } else {
                            String::new()
                        }),
                    ),
                    ("media_url", Doc::Null),
                ]))
            })
            .collect(),
    ))
}

/// `POST servicerequestupdates`: a partner's status for a case it filed, mapped onto the
/// loop's actions as the case's reporter (`CLOSED` confirms a resolved case or withdraws one
/// not yet accepted; `OPEN` sends a resolved case back), or refused with the reason. Once
/// per `update_id`: the same id again answers the same without acting twice.
pub async fn post_update(env: &Env<'_>, client: &Client, form: &Form) -> Result<Doc> {
    let update_id =
        field(form, "update_id").ok_or_else(|| Open311Error::new(400, "update_id is required"))?;
    if update_id.len() > 100 {
        return Err(Open311Error::new(
            400,
            "update_id is longer than 100 characters",
        ));
    }
    let case_no = field(form, "service_request_id")
        .ok_or_else(|| Open311Error::new(400, "service_request_id is required"))?;
    let status = field(form, "status")
        .map(str::to_ascii_uppercase)
        .ok_or_else(|| Open311Error::new(400, "status is required (OPEN or CLOSED)"))?;
    let description = field(form, "description").map(|d| d.chars().take(500).collect::<String>());
    let answer = |id: &str| {
        Doc::List(
            "request_update",
            vec![Doc::Obj(vec![("update_id", Doc::text(id))])],
        )
    };
    let seen = open311_updates::Entity::find_by_id((client.id.clone(), update_id.to_owned()))
        .one(env.db)
        .await?;
    if seen.is_some() {
        return Ok(answer(update_id));
    }
    let r = reports::Entity::find()
        .filter(reports::Column::CaseNo.eq(case_no))
        .one(env.db)
        .await?
        .ok_or_else(|| Open311Error::new(404, format!("service_request_id {case_no} not found")))?;
    if r.reporter_id != client.id {
        return Err(Open311Error::new(
            403,
            "this api_key may update only the requests it filed",
        ));
    }
    use ReportStatus as S;
    let action = match (status.as_str(), r.status) {
        ("CLOSED", S::Resolved) => Some("confirm"),
        ("CLOSED", S::Submitted) => Some("cancel"),
        ("CLOSED", S::Closed | S::Rejected | S::Cancelled) => None,
        ("CLOSED", s) => {
            return Err(Open311Error::new(400, format!("the case is {s}: it can be closed once it is resolved (or withdrawn before it is accepted)")))
        }
        ("OPEN", S::Resolved) => Some("rework"),
        ("OPEN", S::Closed | S::Rejected | S::Cancelled) => {
            return Err(Open311Error::new(400, "a closed case is not reopened; file a new request"))
        }
        ("OPEN", _) => None,
        _ => return Err(Open311Error::new(400, "status must be OPEN or CLOSED")),
    };
    // The update is claimed first, so a concurrent retry of the same id does not act twice.
    let claim = open311_updates::ActiveModel {
        client_id: Set(client.id.clone()),
        update_id: Set(update_id.to_owned()),
        report_id: Set(r.id.clone()),
        status: Set(status.clone()),
        created_at: Set(now_ms()),
    }
    .insert(env.db)
    .await;
    if let Err(e) = claim {
        if matches!(
            e.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        ) {
            return Ok(answer(update_id));
        }
        return Err(e.into());
    }
    if let Some(action) = action {
        let who = Principal::partner(&client.id, &client.name);
        let req = ActionRequest {
            action: action.to_owned(),
            reason: Some(
                description
                    .clone()
                    .unwrap_or_else(|| format!("{} ({})", status, client.name)),
            ),
            ..ActionRequest::default()
        };
        if let Err(e) = crate::reports::actions::act(env, &who, &r.id, &req).await {
            open311_updates::Entity::delete_by_id((client.id.clone(), update_id.to_owned()))
                .exec(env.db)
                .await?;
            return Err(e.into());
        }
    }
    Ok(answer(update_id))
}

/// A new client key for `name`, shown once.
pub async fn create_client(
    env: &Env<'_>,
    who: &Principal,
    name: &str,
) -> crate::error::ApiResult<(String, String)> {
    let owner = who.keys_path().ok_or_else(ApiError::forbidden)?;
    let name = crate::content::text_field("name", Some(name), 100)?;
    let key = random_token(40);
    let id = new_id();
    open311_clients::ActiveModel {
        id: Set(id.clone()),
        name: Set(name),
        key_hash: Set(sha256_hex(key.as_bytes())),
        owner_path: Set(owner.to_owned()),
        active: Set(true),
        created_at: Set(now_ms()),
    }
    .insert(env.db)
    .await?;
    Ok((id, key))
}

/// Revokes a client's key: every later request with it is 403.
pub async fn revoke_client(
    env: &Env<'_>,
    who: &Principal,
    id: &str,
) -> crate::error::ApiResult<()> {
    let owner = who.keys_path().ok_or_else(ApiError::forbidden)?;
    let client = open311_clients::Entity::find_by_id(id.to_owned())
        .one(env.db)
        .await?
        .filter(|c| c.owner_path.starts_with(owner))
        .ok_or_else(ApiError::not_found)?;
    open311_clients::Entity::update_many()
        .col_expr(open311_clients::Column::Active, Expr::value(false))
        .filter(open311_clients::Column::Id.eq(client.id))
        .exec(env.db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dates_may_be_at_most_90_days_apart() {
        let now = 1_800_000_000_000;
        let ok = parse_filter(
            &q(&[
                ("start_date", "2026-09-01T00:00:00+08:00"),
                ("end_date", "2026-11-30T00:00:00+08:00"),
            ]),
            now,
        );
        assert!(ok.is_ok());
        let e = parse_filter(
            &q(&[
                ("start_date", "2026-09-01T00:00:00+08:00"),
                ("end_date", "2026-12-01T00:00:00+08:00"),
            ]),
            now,
        )
        .unwrap_err();
        assert_eq!(e.code, 400);
        assert!(parse_filter(&q(&[("start_date", "yesterday")]), now).is_err());
        assert!(parse_filter(&q(&[("status", "pending")]), now).is_err());
        let f = parse_filter(
            &q(&[("service_request_id", "R1, R2"), ("status", "OPEN")]),
            now,
        )
        .unwrap();
        assert_eq!(f.ids, ["R1", "R2"]);
        assert_eq!(f.status, Some("open"));
    }
}
