//! An event in its three shapes, one per layer, so a field meant for the server cannot reach
//! a client:
//!
//! - [`StoredEvent`]: the outbox row's payload, read by the relay and the subscribe sender. It
//!   alone names the user to message (`notify_user`).
//! - [`BusEvent`]: what the relay publishes and instances exchange (streams and pub/sub). No
//!   user: subscribe jobs are built by the relay from the stored row, not from the bus.
//! - [`ClientEvent`]: an SSE event's `data` (API.md, "Events"), rendered once per process.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What happened. The names are stable: they are stored in outbox rows, bus streams and
/// dead letters, sent as the SSE `event:` and `kind`, and key `SAFEGRID_TEMPLATES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ReportSubmitted,
    ReportAccepted,
    ReportRejected,
    ReportEscalated,
    ReportHandedDown,
    ReportResolved,
    ReportClosed,
    ReportRework,
    ReportCancelled,
    ReportSuspended,
    ReportResumed,
    ReportExtensionRequested,
    ReportOverdue,
    ReportDispatched,
    ReportSigned,
    ReportReturned,
    ReportSupervised,
    WishSubmitted,
    WishPublished,
    WishRejected,
    WishClaimed,
    WishReleased,
    WishFulfilled,
    WishClosed,
    WishCancelled,
    WishExpired,
}

impl EventKind {
    pub const ALL: [EventKind; 26] = [
        EventKind::ReportSubmitted,
        EventKind::ReportAccepted,
        EventKind::ReportRejected,
        EventKind::ReportEscalated,
        EventKind::ReportHandedDown,
        EventKind::ReportResolved,
        EventKind::ReportClosed,
        EventKind::ReportRework,
        EventKind::ReportCancelled,
        EventKind::ReportSuspended,
        EventKind::ReportResumed,
        EventKind::ReportExtensionRequested,
        EventKind::ReportOverdue,
        EventKind::ReportDispatched,
        EventKind::ReportSigned,
        EventKind::ReportReturned,
        EventKind::ReportSupervised,
        EventKind::WishSubmitted,
        EventKind::WishPublished,
        EventKind::WishRejected,
        EventKind::WishClaimed,
        EventKind::WishReleased,
        EventKind::WishFulfilled,
        EventKind::WishClosed,
        EventKind::WishCancelled,
        EventKind::WishExpired,
    ];

    /// The stable name (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ReportSubmitted => "report_submitted",
            EventKind::ReportAccepted => "report_accepted",
            EventKind::ReportRejected => "report_rejected",
            EventKind::ReportEscalated => "report_escalated",
            EventKind::ReportHandedDown => "report_handed_down",
            EventKind::ReportResolved => "report_resolved",
            EventKind::ReportClosed => "report_closed",
            EventKind::ReportRework => "report_rework",
            EventKind::ReportCancelled => "report_cancelled",
            EventKind::ReportSuspended => "report_suspended",
            EventKind::ReportResumed => "report_resumed",
            EventKind::ReportExtensionRequested => "report_extension_requested",
            EventKind::ReportOverdue => "report_overdue",
            EventKind::ReportDispatched => "report_dispatched",
            EventKind::ReportSigned => "report_signed",
            EventKind::ReportReturned => "report_returned",
            EventKind::ReportSupervised => "report_supervised",
            EventKind::WishSubmitted => "wish_submitted",
            EventKind::WishPublished => "wish_published",
            EventKind::WishRejected => "wish_rejected",
            EventKind::WishClaimed => "wish_claimed",
            EventKind::WishReleased => "wish_released",
            EventKind::WishFulfilled => "wish_fulfilled",
            EventKind::WishClosed => "wish_closed",
            EventKind::WishCancelled => "wish_cancelled",
            EventKind::WishExpired => "wish_expired",
        }
    }
}

impl EventKind {
    /// Whether the subject is a wish (else a report).
    pub fn is_wish(self) -> bool {
        self.as_str().starts_with("wish_")
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`EventKind`].
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event kind `{}`", self.0)
    }
}

impl std::error::Error for UnknownKind {}

impl FromStr for EventKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<EventKind, UnknownKind> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// The outbox row's payload: what the relay publishes and the subscribe sender reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub kind: EventKind,
    /// The queue (grid or upper area) the subject sits in.
    pub queue_code: String,
    /// `/D/S/C/G/` of the queue: the event reaches every area on it.
    pub queue_path: String,
    pub subject_id: String,
    /// The case number; absent on rows written before case numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_no: Option<String>,
    pub status: String,
    /// Epoch milliseconds.
    pub at: i64,
    /// The user to message (the reporter or wisher), if any. Never leaves the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_user: Option<String>,
    /// The partner units the event reaches (their staff's topics `unit:CODE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
}

impl StoredEvent {
    /// The message the relay publishes for the outbox row `id`.
    pub fn to_bus(&self, id: i64) -> BusEvent {
        BusEvent {
            id,
            kind: self.kind,
            queue_code: self.queue_code.clone(),
            queue_path: self.queue_path.clone(),
            subject_id: self.subject_id.clone(),
            case_no: self.case_no.clone(),
            status: self.status.clone(),
            at: self.at,
            units: self.units.clone(),
        }
    }
}

/// What instances exchange on the bus and keep in the topic streams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusEvent {
    /// The outbox id: one per event, whatever the topics it lands in.
    pub id: i64,
    pub kind: EventKind,
    pub queue_code: String,
    pub queue_path: String,
    pub subject_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_no: Option<String>,
    pub status: String,
    /// Epoch milliseconds.
    pub at: i64,
    /// The partner units the event reaches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
}

/// The SSE topic of a partner unit's staff.
pub fn unit_topic(code: &str) -> String {
    format!("unit:{code}")
}

impl BusEvent {
    /// Every area code from the district down to the queue, and `unit:CODE` of every unit it
    /// reaches: the SSE topics it lands in.
    pub fn topics(&self) -> Vec<String> {
        self.queue_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .chain(self.units.iter().map(|u| unit_topic(u)))
            .collect()
    }

    /// The `data` of its SSE frames.
    pub fn to_client(&self) -> ClientEvent {
        ClientEvent {
            id: self.id,
            kind: self.kind,
            case_no: self.case_no.clone(),
            subject_id: self.subject_id.clone(),
            status: self.status.clone(),
            queue_code: self.queue_code.clone(),
            at: crate::util::rfc3339(self.at),
        }
    }
}

/// A live queue event, the `data` of an SSE frame (whose `id:` is the stream position and
/// `event:` the kind). It never carries a user id.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Event)]
pub struct ClientEvent {
    /// The event's id (the same for every topic it reaches).
    pub id: i64,
    pub kind: EventKind,
    /// The case number (e.g. `R20261205-00042`); null for an event without one.
    #[schema(required = true)]
    pub case_no: Option<String>,
    /// The report or wish id.
    pub subject_id: String,
    /// The subject's status after the event.
    pub status: String,
    /// The queue (grid or upper area) the subject sits in.
    pub queue_code: String,
    /// RFC 3339, Asia/Shanghai.
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredEvent {
        StoredEvent {
            kind: EventKind::ReportAccepted,
            queue_code: "G01".into(),
            queue_path: "/D01/S01/C01/G01/".into(),
            subject_id: "r1".into(),
            case_no: Some("R20261205-00042".into()),
            status: "accepted".into(),
            at: 1_764_892_800_000,
            notify_user: Some("user-7".into()),
            units: vec!["GAS1".into()],
        }
    }

    #[test]
    fn an_event_reaches_the_topics_of_its_areas_and_units() {
        let bus = stored().to_bus(9);
        assert_eq!(bus.topics(), ["D01", "S01", "C01", "G01", "unit:GAS1"]);
        let client = serde_json::to_string(&bus.to_client()).unwrap();
        assert!(
            !client.contains("GAS1"),
            "units stay off the SSE data: {client}"
        );
    }

    #[test]
    fn every_kind_is_named_by_its_serde_name_and_parses_back() {
        for kind in EventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
        assert!("report_lost".parse::<EventKind>().is_err());
    }

    #[test]
    fn a_client_event_has_exactly_the_documented_fields_and_no_user() {
        let client = serde_json::to_value(stored().to_bus(42).to_client()).unwrap();
        let mut fields: Vec<&str> = client
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "at",
                "case_no",
                "id",
                "kind",
                "queue_code",
                "status",
                "subject_id"
            ]
        );
        assert_eq!(client["at"], "2025-12-05T08:00:00+08:00");
        assert_eq!(client["kind"], "report_accepted");
        assert!(!client.to_string().contains("user-7"));
    }

    #[test]
    fn the_bus_message_carries_no_user() {
        let bus = serde_json::to_string(&stored().to_bus(42)).unwrap();
        assert!(!bus.contains("user-7") && !bus.contains("notify_user"));
    }

    #[test]
    fn payloads_written_before_the_reshape_still_read() {
        // The old payload: one type for every layer, with a placeholder id.
        let old = r#"{"id":0,"kind":"report_closed","queue_code":"G01","queue_path":"/D01/G01/","subject_id":"r1","status":"closed","at":5,"notify_user":"u1"}"#;
        let stored: StoredEvent = serde_json::from_str(old).unwrap();
        assert_eq!(stored.kind, EventKind::ReportClosed);
        assert_eq!(stored.notify_user.as_deref(), Some("u1"));
        assert_eq!(stored.case_no, None);
        // An old stream entry read back as a bus message drops the user.
        let bus: BusEvent = serde_json::from_str(old).unwrap();
        assert_eq!(bus.topics(), ["D01", "G01"]);
    }
}
