//! Where a new report comes from (DOMAIN.md §9), decided without I/O: who may submit with
//! which `source`, and the state the report starts in. A resident's report is `resident`
//! whatever it asks; a worker's own report in their grid starts accepted by them, or resolved
//! when fixed on the spot; a hotline order is entered by an admin above the place, with its
//! order number and perhaps the hotline's deadline; device alarms come only through a signed
//! integration.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::content::text_field;
use crate::error::{ApiError, ApiResult};
use crate::util::parse_rfc3339;
use entity::enums::{ReportStatus, Source};

/// A case fixed on the spot (现场处置 / 即知即改): the result and its photos.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
pub struct OnSite {
    pub note: String,
    /// Up to 9 ids from `POST /uploads`.
    #[serde(default)]
    pub photo_ids: Vec<String>,
}

/// The staff fields of a submission, as sent (see `dto::NewReport`).
#[derive(Debug, Clone, Default)]
pub struct StaffFields {
    pub source: Option<Source>,
    pub patrol_id: Option<String>,
    pub resolved_on_site: Option<OnSite>,
    pub hotline_order_no: Option<String>,
    pub caller_phone: Option<String>,
    pub deadline: Option<String>,
}

/// Where a new report comes from, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Resident,
    /// A worker's own report (patrol or visit) in their grid.
    Worker {
        source: Source,
        patrol_id: Option<String>,
        on_site: Option<OnSite>,
    },
    Hotline {
        order_no: String,
        caller_phone: Option<String>,
        deadline: Option<i64>,
    },
    Device {
        external_ref: String,
    },
    /// Filed by an Open311 client (recorded by its name).
    Open311 {
        client: String,
    },
}

/// The caller's standing at the place the report routes to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Standing {
    pub is_resident: bool,
    /// A worker or backup of the grid the point fell in.
    pub works_the_grid: bool,
    /// An admin whose area contains the place.
    pub administers_place: bool,
}

fn refused(why: &str) -> ApiError {
    ApiError::forbidden().field("source", why)
}

/// Decides the origin of a submission from its staff fields and the caller's standing.
pub fn decide(fields: &StaffFields, who: Standing, now: i64) -> ApiResult<Origin> {
    let no_staff_fields = fields.patrol_id.is_none()
        && fields.resolved_on_site.is_none()
        && fields.hotline_order_no.is_none()
        && fields.caller_phone.is_none()
        && fields.deadline.is_none();
    match fields.source.unwrap_or(Source::Resident) {
        Source::Resident if no_staff_fields && who.is_resident => Ok(Origin::Resident),
        Source::Resident if who.is_resident => Err(refused(
            "patrol_id, resolved_on_site and the hotline fields need a staff source",
        )),
        Source::Resident => Err(ApiError::forbidden()),
        source @ (Source::Patrol | Source::Visit) => {
            if !who.works_the_grid {
                return Err(refused(
                    "only a worker of the grid the place lies in may report as patrol or visit",
                ));
            }
            let on_site = match &fields.resolved_on_site {
                None => None,
                Some(s) => {
                    if s.photo_ids.len() > 9 {
                        return Err(ApiError::invalid(
                            "resolved_on_site.photo_ids",
                            "at most 9 photos",
                        ));
                    }
                    Some(OnSite {
                        note: text_field("resolved_on_site.note", Some(&s.note), 2_000)?,
                        photo_ids: s.photo_ids.clone(),
                    })
                }
            };
            if source == Source::Visit && fields.patrol_id.is_some() {
                return Err(ApiError::invalid(
                    "patrol_id",
                    "only a patrol report has one",
                ));
            }
            Ok(Origin::Worker {
                source,
                patrol_id: fields.patrol_id.clone(),
                on_site,
            })
        }
        Source::Hotline => {
            if !who.administers_place {
                return Err(refused(
                    "only an admin of the place may enter a hotline work order",
                ));
            }
            let order_no = text_field("hotline_order_no", fields.hotline_order_no.as_deref(), 64)?;
            let caller_phone = match fields.caller_phone.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(p)
                    if p.len() <= 20
                        && p.chars()
                            .all(|c| c.is_ascii_digit() || c == '-' || c == '+') =>
                {
                    Some(p.to_owned())
                }
                Some(_) => {
                    return Err(ApiError::invalid(
                        "caller_phone",
                        "digits, '-' or '+', at most 20",
                    ))
                }
            };
            let deadline = match fields.deadline.as_deref() {
                None => None,
                Some(text) => match parse_rfc3339(text) {
                    Some(at) if at > now => Some(at),
                    Some(_) => return Err(ApiError::invalid("deadline", "must be in the future")),
                    None => {
                        return Err(ApiError::invalid(
                            "deadline",
                            "an RFC 3339 time is required",
                        ))
                    }
                },
            };
            Ok(Origin::Hotline {
                order_no,
                caller_phone,
                deadline,
            })
        }
        Source::Device | Source::Open311 => Err(refused(
            "device and open311 cases come only through their integrations",
        )),
    }
}

impl Origin {
    pub fn source(&self) -> Source {
        match self {
            Origin::Resident => Source::Resident,
            Origin::Worker { source, .. } => *source,
            Origin::Hotline { .. } => Source::Hotline,
            Origin::Device { .. } => Source::Device,
            Origin::Open311 { .. } => Source::Open311,
        }
    }

    /// The status the report starts in.
    pub fn initial_status(&self) -> ReportStatus {
        match self {
            Origin::Worker {
                on_site: Some(_), ..
            } => ReportStatus::Resolved,
            Origin::Worker { .. } => ReportStatus::Accepted,
            _ => ReportStatus::Submitted,
        }
    }

    /// `hotline:<no>` or the device's reference: a second submission of it is the same case.
    pub fn external_ref(&self) -> Option<String> {
        match self {
            Origin::Hotline { order_no, .. } => Some(format!("hotline:{order_no}")),
            Origin::Device { external_ref } => Some(external_ref.clone()),
            _ => None,
        }
    }

    /// The timeline's name for who submitted it.
    pub fn actor_role(&self) -> &'static str {
        match self {
            Origin::Resident => "reporter",
            Origin::Worker { .. } => "worker",
            Origin::Hotline { .. } => "admin",
            Origin::Device { .. } => "system",
            Origin::Open311 { .. } => "open311",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESIDENT: Standing = Standing {
        is_resident: true,
        works_the_grid: false,
        administers_place: false,
    };
    const WORKER: Standing = Standing {
        is_resident: true,
        works_the_grid: true,
        administers_place: false,
    };
    const ADMIN: Standing = Standing {
        is_resident: false,
        works_the_grid: false,
        administers_place: true,
    };

    fn with(source: Source) -> StaffFields {
        StaffFields {
            source: Some(source),
            ..StaffFields::default()
        }
    }

    #[test]
    fn a_resident_cannot_set_a_source() {
        assert_eq!(
            decide(&StaffFields::default(), RESIDENT, 0).unwrap(),
            Origin::Resident
        );
        for source in [
            Source::Patrol,
            Source::Visit,
            Source::Hotline,
            Source::Device,
            Source::Open311,
        ] {
            let e = decide(&with(source), RESIDENT, 0).unwrap_err();
            assert_eq!(e.code, crate::error::Code::Forbidden, "{source:?}");
        }
        let sneaky = StaffFields {
            hotline_order_no: Some("12345".into()),
            ..StaffFields::default()
        };
        assert!(decide(&sneaky, RESIDENT, 0).is_err());
    }

    #[test]
    fn a_workers_report_starts_accepted_or_resolved_when_fixed_on_the_spot() {
        let patrol = decide(&with(Source::Patrol), WORKER, 0).unwrap();
        assert_eq!(patrol.initial_status(), ReportStatus::Accepted);
        let fixed = StaffFields {
            resolved_on_site: Some(OnSite {
                note: "已清理".into(),
                photo_ids: vec![],
            }),
            ..with(Source::Visit)
        };
        let fixed = decide(&fixed, WORKER, 0).unwrap();
        assert_eq!(fixed.initial_status(), ReportStatus::Resolved);
        assert_eq!(fixed.source(), Source::Visit);
        assert!(decide(&with(Source::Hotline), WORKER, 0).is_err());
    }

    #[test]
    fn a_hotline_order_needs_its_number_and_a_future_deadline() {
        let base = StaffFields {
            hotline_order_no: Some("GD-2026-001".into()),
            caller_phone: Some("138-0013-8000".into()),
            deadline: Some("2026-12-10T18:00:00+08:00".into()),
            ..with(Source::Hotline)
        };
        let o = decide(&base, ADMIN, 0).unwrap();
        assert_eq!(o.external_ref().as_deref(), Some("hotline:GD-2026-001"));
        assert_eq!(o.initial_status(), ReportStatus::Submitted);
        let no_number = StaffFields {
            hotline_order_no: None,
            ..base.clone()
        };
        assert!(decide(&no_number, ADMIN, 0).is_err());
        let past = i64::MAX;
        assert!(decide(&base, ADMIN, past).is_err());
        assert!(decide(&base, WORKER, 0).is_err());
    }
}
