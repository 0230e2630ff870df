//! The authorization matrix: every route × every kind of caller, with the expected status
//! from one table. A route in the OpenAPI document without a row fails the test.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::grids::import_demo_tree;
use crate::helpers::{spawn_app, Session, TestApp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    ResidentA,
    ResidentB,
    WorkerOfGrid,
    WorkerOfOtherGrid,
    Volunteer,
    CommunityAdmin,
    OtherStreetAdmin,
    /// Staff of the unit leading report U (dispatched by the community admin).
    StaffOfLeadUnit,
    /// Staff of another unit serving the same community, not on any case.
    StaffOfOtherUnit,
}

const EVERYONE: [Who; 10] = [
    Who::Anonymous,
    Who::ResidentA,
    Who::ResidentB,
    Who::WorkerOfGrid,
    Who::WorkerOfOtherGrid,
    Who::Volunteer,
    Who::CommunityAdmin,
    Who::OtherStreetAdmin,
    Who::StaffOfLeadUnit,
    Who::StaffOfOtherUnit,
];

fn is_unit_staff(w: Who) -> bool {
    matches!(w, Who::StaffOfLeadUnit | Who::StaffOfOtherUnit)
}

fn is_admin(w: Who) -> bool {
    matches!(w, Who::CommunityAdmin | Who::OtherStreetAdmin)
}

/// Logged in at all (401 otherwise), then `status`.
fn logged_in(w: Who, status: u16) -> u16 {
    if w == Who::Anonymous {
        401
    } else {
        status
    }
}

/// Who may see report R (submitted by resident A in grid G01 of community C01).
fn sees_report(w: Who) -> bool {
    matches!(w, Who::ResidentA | Who::WorkerOfGrid | Who::CommunityAdmin)
}

enum Body {
    None,
    Json(Value),
    Png,
}

struct Row {
    method: &'static str,
    /// The OpenAPI path template.
    template: &'static str,
    /// The concrete path (placeholders {report}, {upload} filled in).
    path: &'static str,
    body: fn(&Ids) -> Body,
    expect: fn(Who) -> u16,
}

struct Ids {
    report: String,
    /// Report U, dispatched to unit U1.
    unit_report: String,
    /// A patrol of the worker of G01.
    patrol: String,
    upload: String,
    wish: String,
    volunteer_request: String,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            method: "GET",
            template: "/healthz",
            path: "/healthz",
            body: |_| Body::None,
            expect: |_| 200,
        },
        Row {
            method: "GET",
            template: "/readyz",
            path: "/readyz",
            body: |_| Body::None,
            expect: |_| 200,
        },
        Row {
            method: "GET",
            template: "/metrics",
            path: "/metrics",
            body: |_| Body::None,
            expect: |_| 200,
        },
        Row {
            method: "POST",
            template: "/api/v1/auth/wechat-login",
            path: "/api/v1/auth/wechat-login",
            body: |_| Body::Json(json!({ "code": "bogus" })),
            expect: |_| 401,
        },
        Row {
            method: "POST",
            template: "/api/v1/auth/password-login",
            path: "/api/v1/auth/password-login",
            body: |_| Body::Json(json!({ "username": "nobody", "password": "wrong-password" })),
            expect: |_| 401,
        },
        Row {
            method: "POST",
            template: "/api/v1/auth/refresh",
            path: "/api/v1/auth/refresh",
            body: |_| Body::Json(json!({ "refresh_token": "bogus" })),
            expect: |_| 401,
        },
        Row {
            method: "POST",
            template: "/api/v1/auth/mfa/enrol",
            path: "/api/v1/auth/mfa/enrol",
            body: |_| Body::None,
            // Password accounts (admins) only; the factor stays pending until confirmed.
            expect: |w| logged_in(w, if is_admin(w) { 200 } else { 403 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/auth/mfa/confirm",
            path: "/api/v1/auth/mfa/confirm",
            body: |_| Body::Json(json!({ "code": "abcdef" })),
            expect: |w| logged_in(w, if is_admin(w) { 422 } else { 403 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/auth/password",
            path: "/api/v1/auth/password",
            body: |_| {
                Body::Json(
                    json!({ "old_password": "Not-the-old-one-1", "new_password": "Tide-pool-42-lantern" }),
                )
            },
            // Admins: the old password is wrong (422); others have no password.
            expect: |w| logged_in(w, if is_admin(w) { 422 } else { 403 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/me",
            path: "/api/v1/me",
            body: |_| Body::None,
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "POST",
            template: "/api/v1/me/phone",
            path: "/api/v1/me/phone",
            body: |_| Body::Json(json!({ "code": "bogus" })),
            // Admins have no WeChat identity to bind a phone to.
            expect: |w| logged_in(w, if is_admin(w) { 403 } else { 400 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/me/enrolments",
            path: "/api/v1/me/enrolments",
            body: |_| Body::Json(json!({ "invite_code": "NOPE" })),
            expect: |w| logged_in(w, 404),
        },
        Row {
            method: "POST",
            template: "/api/v1/me/subscriptions",
            path: "/api/v1/me/subscriptions",
            body: |_| Body::Json(json!({ "results": {} })),
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/invites",
            path: "/api/v1/admin/invites",
            body: |_| Body::Json(json!({ "grid_code": "G01", "role": "worker" })),
            expect: |w| logged_in(w, if w == Who::CommunityAdmin { 201 } else { 403 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/areas/import",
            path: "/api/v1/admin/areas/import",
            body: |_| {
                Body::Json(json!({ "type": "FeatureCollection", "features": [{
                    "type": "Feature",
                    "properties": { "code": "G01", "name": "第一网格", "level": "grid", "parent_code": "C01" },
                    "geometry": { "type": "Polygon", "coordinates": [[[121.40, 31.20], [121.41, 31.20], [121.41, 31.21], [121.40, 31.21], [121.40, 31.20]]] },
                }]}))
            },
            expect: |w| logged_in(w, if w == Who::CommunityAdmin { 200 } else { 403 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/areas/{code}",
            path: "/api/v1/areas/C01",
            body: |_| Body::None,
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "GET",
            template: "/api/v1/areas/{code}/children",
            path: "/api/v1/areas/C01/children",
            body: |_| Body::None,
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "GET",
            template: "/api/v1/grids/locate",
            path: "/api/v1/grids/locate?lat=31.205&lng=121.405",
            body: |_| Body::None,
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "GET",
            template: "/api/v1/categories",
            path: "/api/v1/categories",
            body: |_| Body::None,
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "POST",
            template: "/api/v1/uploads",
            path: "/api/v1/uploads",
            body: |_| Body::Png,
            expect: |w| logged_in(w, 201),
        },
        Row {
            method: "GET",
            template: "/api/v1/uploads/{id}/content",
            path: "/api/v1/uploads/{upload}/content",
            body: |_| Body::None,
            // No signature, no photo: a token is not a permission here.
            expect: |_| 403,
        },
        Row {
            method: "POST",
            template: "/api/v1/reports",
            path: "/api/v1/reports",
            body: |_| {
                Body::Json(
                    json!({ "category": "other", "description": "矩阵测试", "location": { "lat": 31.205, "lng": 121.405 } }),
                )
            },
            expect: |w| logged_in(w, if is_admin(w) { 403 } else { 201 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/me/reports",
            path: "/api/v1/me/reports",
            body: |_| Body::None,
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "GET",
            template: "/api/v1/reports/{id}",
            path: "/api/v1/reports/{report}",
            body: |_| Body::None,
            expect: |w| logged_in(w, if sees_report(w) { 200 } else { 404 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/reports/{id}/actions",
            path: "/api/v1/reports/{report}/actions",
            body: |_| Body::Json(json!({ "action": "note", "text": "矩阵" })),
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        Who::WorkerOfGrid | Who::CommunityAdmin => 200,
                        // The reporter sees it but may not add worker notes.
                        Who::ResidentA => 403,
                        _ => 404,
                    },
                )
            },
        },
        Row {
            method: "GET",
            template: "/api/v1/worker/tasks",
            path: "/api/v1/worker/tasks",
            body: |_| Body::None,
            expect: |w| {
                logged_in(
                    w,
                    if matches!(w, Who::WorkerOfGrid | Who::WorkerOfOtherGrid) || is_admin(w) {
                        200
                    } else {
                        403
                    },
                )
            },
        },
        Row {
            method: "GET",
            template: "/api/v1/worker/events",
            path: "/api/v1/worker/events",
            body: |_| Body::None,
            expect: |w| {
                logged_in(
                    w,
                    if matches!(w, Who::WorkerOfGrid | Who::WorkerOfOtherGrid)
                        || is_admin(w)
                        || is_unit_staff(w)
                    {
                        200
                    } else {
                        403
                    },
                )
            },
        },
        Row {
            method: "GET",
            template: "/api/v1/reports/{id}",
            path: "/api/v1/reports/{unit_report}",
            body: |_| Body::None,
            expect: |w| {
                logged_in(
                    w,
                    if sees_report(w) || w == Who::StaffOfLeadUnit {
                        200
                    } else {
                        404
                    },
                )
            },
        },
        Row {
            method: "POST",
            template: "/api/v1/reports/{id}/actions",
            path: "/api/v1/reports/{unit_report}/actions",
            body: |_| Body::Json(json!({ "action": "note", "text": "矩阵" })),
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        Who::WorkerOfGrid | Who::CommunityAdmin | Who::StaffOfLeadUnit => 200,
                        Who::ResidentA => 403,
                        _ => 404,
                    },
                )
            },
        },
        Row {
            method: "POST",
            template: "/api/v1/reports/{id}/actions",
            path: "/api/v1/reports/{unit_report}/actions",
            body: |_| Body::Json(json!({ "action": "supervise", "note": "矩阵督办" })),
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        Who::CommunityAdmin => 200,
                        Who::ResidentA | Who::WorkerOfGrid | Who::StaffOfLeadUnit => 403,
                        _ => 404,
                    },
                )
            },
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/units",
            path: "/api/v1/admin/units",
            body: |_| {
                Body::Json(
                    json!({ "code": "MX", "name": "矩阵单位", "kind": "other", "area_codes": ["C01"] }),
                )
            },
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        Who::CommunityAdmin => 201,
                        // C01 is outside the other street.
                        Who::OtherStreetAdmin => 422,
                        _ => 403,
                    },
                )
            },
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/units",
            path: "/api/v1/admin/units",
            body: |_| Body::None,
            expect: |w| logged_in(w, if is_admin(w) { 200 } else { 403 }),
        },
        Row {
            method: "PATCH",
            template: "/api/v1/admin/units/{code}",
            path: "/api/v1/admin/units/U1",
            body: |_| Body::Json(json!({ "name": "矩阵改名" })),
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        Who::CommunityAdmin => 200,
                        // U1 serves C01 only: another street does not learn it exists.
                        Who::OtherStreetAdmin => 404,
                        _ => 403,
                    },
                )
            },
        },
        Row {
            method: "PATCH",
            template: "/api/v1/admin/categories/{code}",
            path: "/api/v1/admin/categories/other",
            body: |_| Body::Json(json!({ "direct_dispatch": false })),
            // Categories are shared: district admins only, and no caller here is one.
            expect: |w| logged_in(w, 403),
        },
        Row {
            method: "POST",
            template: "/api/v1/patrols",
            path: "/api/v1/patrols",
            body: |_| Body::Json(json!({ "grid_code": "G01" })),
            // The worker of G01 is already walking it: the same patrol, 200.
            expect: |w| logged_in(w, if w == Who::WorkerOfGrid { 200 } else { 403 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/patrols",
            path: "/api/v1/patrols",
            body: |_| Body::None,
            expect: |w| {
                logged_in(
                    w,
                    if matches!(w, Who::WorkerOfGrid | Who::WorkerOfOtherGrid) || is_admin(w) {
                        200
                    } else {
                        403
                    },
                )
            },
        },
        Row {
            method: "GET",
            template: "/api/v1/patrols/{id}",
            path: "/api/v1/patrols/{patrol}",
            body: |_| Body::None,
            expect: |w| {
                logged_in(
                    w,
                    if matches!(w, Who::WorkerOfGrid | Who::CommunityAdmin) {
                        200
                    } else {
                        404
                    },
                )
            },
        },
        Row {
            method: "POST",
            template: "/api/v1/patrols/{id}/checkins",
            path: "/api/v1/patrols/{patrol}/checkins",
            body: |_| {
                Body::Json(json!({ "items": [{
                    "client_id": "m1", "lat": 31.205, "lng": 121.405,
                    "at": chrono::Utc::now().to_rfc3339(),
                }] }))
            },
            expect: |w| logged_in(w, if w == Who::WorkerOfGrid { 200 } else { 404 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/patrols/{id}/end",
            path: "/api/v1/patrols/{patrol}/end",
            body: |_| Body::Json(json!({})),
            expect: |w| logged_in(w, if w == Who::WorkerOfGrid { 200 } else { 404 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/integrations",
            path: "/api/v1/admin/integrations",
            body: |_| Body::Json(json!({ "name": "矩阵平台" })),
            expect: |w| logged_in(w, if is_admin(w) { 201 } else { 403 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/integrations/devices/alarms",
            path: "/api/v1/integrations/devices/alarms",
            body: |_| Body::Json(json!({ "alarm_id": "x" })),
            // Signed, not bearer-authenticated: without the headers nobody gets in.
            expect: |_| 401,
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/reports/{id}/caller-phone",
            path: "/api/v1/admin/reports/{report}/caller-phone",
            body: |_| Body::None,
            // Report R has no caller (a resident's): the admin above it hears 404 too.
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        Who::ResidentA | Who::WorkerOfGrid => 403,
                        _ => 404,
                    },
                )
            },
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/reports/caller-lookup",
            path: "/api/v1/admin/reports/caller-lookup",
            body: |_| Body::Json(json!({ "caller_phone": "13800138000" })),
            // Area admins (only their area's cases are listed).
            expect: |w| logged_in(w, if is_admin(w) { 200 } else { 403 }),
        },
        // The security admin's account work (tests/api/duties.rs); no caller here is one.
        Row {
            method: "POST",
            template: "/api/v1/admin/accounts/{id}/unlock",
            path: "/api/v1/admin/accounts/nobody/unlock",
            body: |_| Body::Json(json!({})),
            expect: |w| logged_in(w, 403),
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/accounts/{id}/password-reset",
            path: "/api/v1/admin/accounts/nobody/password-reset",
            body: |_| Body::Json(json!({})),
            expect: |w| logged_in(w, 403),
        },
        Row {
            method: "PUT",
            template: "/api/v1/admin/accounts/{id}/duty",
            path: "/api/v1/admin/accounts/nobody/duty",
            body: |_| Body::Json(json!({ "duty": "audit" })),
            expect: |w| logged_in(w, 403),
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/audit",
            path: "/api/v1/admin/audit",
            body: |_| Body::None,
            // The audit admin only (tests/api/audit.rs); no caller here is one.
            expect: |w| logged_in(w, 403),
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/audit.csv",
            path: "/api/v1/admin/audit.csv",
            body: |_| Body::None,
            expect: |w| logged_in(w, 403),
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/open311-clients",
            path: "/api/v1/admin/open311-clients",
            body: |_| Body::Json(json!({ "name": "矩阵客户端" })),
            expect: |w| logged_in(w, if is_admin(w) { 201 } else { 403 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/open311-clients/{id}/revoke",
            path: "/api/v1/admin/open311-clients/nobody/revoke",
            body: |_| Body::Json(json!({})),
            expect: |w| logged_in(w, if is_admin(w) { 404 } else { 403 }),
        },
        // Open311: the public feed is public (a bearer token changes nothing); filing and
        // updating need an api_key, which no caller here holds.
        Row {
            method: "GET",
            template: "/open311/v2/discovery.{format}",
            path: "/open311/v2/discovery.json",
            body: |_| Body::None,
            expect: |_| 200,
        },
        Row {
            method: "GET",
            template: "/open311/v2/services.{format}",
            path: "/open311/v2/services.xml",
            body: |_| Body::None,
            expect: |_| 200,
        },
        Row {
            method: "GET",
            template: "/open311/v2/services/{service_code}.{format}",
            path: "/open311/v2/services/sanitation.json",
            body: |_| Body::None,
            expect: |_| 200,
        },
        Row {
            method: "GET",
            template: "/open311/v2/requests.{format}",
            path: "/open311/v2/requests.json",
            body: |_| Body::None,
            expect: |_| 200,
        },
        Row {
            method: "POST",
            template: "/open311/v2/requests.{format}",
            path: "/open311/v2/requests.json",
            body: |_| Body::Json(json!({})),
            expect: |_| 403,
        },
        Row {
            method: "GET",
            template: "/open311/v2/requests/{service_request_id}.{format}",
            path: "/open311/v2/requests/R19990101-00001.json",
            body: |_| Body::None,
            expect: |_| 404,
        },
        Row {
            method: "GET",
            template: "/open311/v2/tokens/{token}.{format}",
            path: "/open311/v2/tokens/R19990101-00001.xml",
            body: |_| Body::None,
            expect: |_| 404,
        },
        Row {
            method: "GET",
            template: "/open311/v2/servicerequestupdates.{format}",
            path: "/open311/v2/servicerequestupdates.json",
            body: |_| Body::None,
            expect: |_| 200,
        },
        Row {
            method: "POST",
            template: "/open311/v2/servicerequestupdates.{format}",
            path: "/open311/v2/servicerequestupdates.json",
            body: |_| Body::Json(json!({})),
            expect: |_| 403,
        },
        Row {
            method: "GET",
            template: "/api/v1/unit/tasks",
            path: "/api/v1/unit/tasks",
            body: |_| Body::None,
            expect: |w| logged_in(w, if is_unit_staff(w) { 200 } else { 403 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/wishes",
            path: "/api/v1/wishes",
            body: |_| {
                Body::Json(
                    json!({ "title": "矩阵", "description": "矩阵测试", "kind": "goods", "location": { "lat": 31.205, "lng": 121.405 } }),
                )
            },
            expect: |w| logged_in(w, if is_admin(w) { 403 } else { 201 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/wishes",
            path: "/api/v1/wishes?area=C01",
            body: |_| Body::None,
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "GET",
            template: "/api/v1/me/wishes",
            path: "/api/v1/me/wishes",
            body: |_| Body::None,
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "GET",
            template: "/api/v1/wishes/{id}",
            path: "/api/v1/wishes/{wish}",
            body: |_| Body::None,
            // Not yet published: the wisher and the community only.
            expect: |w| logged_in(w, if sees_report(w) { 200 } else { 404 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/wishes/{id}/actions",
            path: "/api/v1/wishes/{wish}/actions",
            body: |_| Body::Json(json!({ "action": "claim" })),
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        // The community may claim, but not before the wish is published.
                        Who::WorkerOfGrid | Who::CommunityAdmin => 409,
                        // Nobody claims their own wish.
                        Who::ResidentA => 403,
                        _ => 404,
                    },
                )
            },
        },
        Row {
            method: "GET",
            template: "/api/v1/worker/wishes",
            path: "/api/v1/worker/wishes",
            body: |_| Body::None,
            expect: |w| {
                logged_in(
                    w,
                    if matches!(w, Who::WorkerOfGrid | Who::WorkerOfOtherGrid) || is_admin(w) {
                        200
                    } else {
                        403
                    },
                )
            },
        },
        Row {
            method: "POST",
            template: "/api/v1/me/volunteer",
            path: "/api/v1/me/volunteer",
            body: |_| Body::Json(json!({ "unit": "幸福社区党支部", "area_code": "C01" })),
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        Who::Volunteer => 409,
                        w if is_admin(w) => 403,
                        _ => 201,
                    },
                )
            },
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/volunteers",
            path: "/api/v1/admin/volunteers",
            body: |_| Body::None,
            expect: |w| logged_in(w, if is_admin(w) { 200 } else { 403 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/volunteers/{id}/approve",
            path: "/api/v1/admin/volunteers/{volunteer_request}/approve",
            body: |_| Body::None,
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        Who::CommunityAdmin => 200,
                        // Another street's admin does not see the application at all.
                        Who::OtherStreetAdmin => 404,
                        _ => 403,
                    },
                )
            },
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/volunteers/{id}/reject",
            path: "/api/v1/admin/volunteers/{volunteer_request}/reject",
            body: |_| Body::Json(json!({ "reason": "名额已满" })),
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        // Approved by the row above: decided once.
                        Who::CommunityAdmin => 409,
                        Who::OtherStreetAdmin => 404,
                        _ => 403,
                    },
                )
            },
        },
        Row {
            method: "GET",
            template: "/api/v1/labels",
            path: "/api/v1/labels",
            body: |_| Body::None,
            expect: |_| 200,
        },
        Row {
            method: "GET",
            template: "/api/v1/auth/dev-login",
            path: "/api/v1/auth/dev-login",
            body: |_| Body::None,
            // Tests run in development, where it is on.
            expect: |_| 200,
        },
        Row {
            method: "POST",
            template: "/api/v1/auth/dev-login",
            path: "/api/v1/auth/dev-login",
            body: |_| Body::Json(json!({ "openid": "matrix-dev" })),
            expect: |_| 200,
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/reports",
            path: "/api/v1/admin/reports?grid=G01",
            body: |_| Body::None,
            expect: |w| {
                logged_in(
                    w,
                    match w {
                        Who::CommunityAdmin => 200,
                        // G01 lies outside the other street.
                        _ => 403,
                    },
                )
            },
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/reports.csv",
            path: "/api/v1/admin/reports.csv",
            body: |_| Body::None,
            expect: |w| logged_in(w, if is_admin(w) { 200 } else { 403 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/grids/{code}/team",
            path: "/api/v1/admin/grids/G01/team",
            body: |_| Body::None,
            expect: |w| logged_in(w, if w == Who::CommunityAdmin { 200 } else { 403 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/invites",
            path: "/api/v1/admin/invites?grid=G01",
            body: |_| Body::None,
            expect: |w| logged_in(w, if w == Who::CommunityAdmin { 200 } else { 403 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/admin/invites/{code}/revoke",
            path: "/api/v1/admin/invites/NO-SUCH-CODE/revoke",
            body: |_| Body::None,
            expect: |w| logged_in(w, if is_admin(w) { 404 } else { 403 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/areas/{code}/outlines",
            path: "/api/v1/admin/areas/C01/outlines",
            body: |_| Body::None,
            expect: |w| logged_in(w, if w == Who::CommunityAdmin { 200 } else { 403 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/dead-letters",
            path: "/api/v1/admin/dead-letters",
            body: |_| Body::None,
            expect: |w| logged_in(w, if is_admin(w) { 200 } else { 403 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/dashboard",
            path: "/api/v1/admin/dashboard?area=C01",
            body: |_| Body::None,
            // The community admin's own area; C01 is outside the other street's.
            expect: |w| logged_in(w, if w == Who::CommunityAdmin { 200 } else { 403 }),
        },
        Row {
            method: "GET",
            template: "/api/v1/admin/dashboard.csv",
            path: "/api/v1/admin/dashboard.csv?area=C01&group_by=grid",
            body: |_| Body::None,
            expect: |w| logged_in(w, if w == Who::CommunityAdmin { 200 } else { 403 }),
        },
        Row {
            method: "POST",
            template: "/api/v1/auth/logout",
            path: "/api/v1/auth/logout",
            body: |_| Body::Json(json!({ "refresh_token": "not-mine" })),
            expect: |w| logged_in(w, 204),
        },
        Row {
            method: "GET",
            template: "/api/v1/me/export",
            path: "/api/v1/me/export",
            body: |_| Body::None,
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "PATCH",
            template: "/api/v1/me",
            path: "/api/v1/me",
            body: |_| Body::Json(json!({ "nickname": "矩阵" })),
            expect: |w| logged_in(w, 200),
        },
        Row {
            method: "DELETE",
            template: "/api/v1/me/subscriptions",
            path: "/api/v1/me/subscriptions",
            body: |_| Body::None,
            expect: |w| logged_in(w, 204),
        },
        // Last: it deletes the callers' accounts. The worker of G01 holds report R (accepted)
        // and a patrol, the community admin report U (accepted by its dispatch): they must
        // hand them over first.
        Row {
            method: "DELETE",
            template: "/api/v1/me",
            path: "/api/v1/me",
            body: |_| Body::None,
            expect: |w| {
                logged_in(
                    w,
                    if matches!(w, Who::WorkerOfGrid | Who::CommunityAdmin) {
                        409
                    } else {
                        204
                    },
                )
            },
        },
    ]
}

async fn send(app: &TestApp, who: Option<&Session>, row: &Row, ids: &Ids) -> u16 {
    let path = row
        .path
        .replace("{report}", &ids.report)
        .replace("{unit_report}", &ids.unit_report)
        .replace("{patrol}", &ids.patrol)
        .replace("{upload}", &ids.upload)
        .replace("{wish}", &ids.wish)
        .replace("{volunteer_request}", &ids.volunteer_request);
    let mut req = match row.method {
        "GET" => app.http.get(app.url(&path)),
        "POST" => app.http.post(app.url(&path)),
        "PATCH" => app.http.patch(app.url(&path)),
        "DELETE" => app.http.delete(app.url(&path)),
        "PUT" => app.http.put(app.url(&path)),
        other => panic!("method {other} needs a case"),
    };
    if let Some(s) = who {
        req = req.bearer_auth(&s.access);
    }
    req = match (row.body)(ids) {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Png => {
            let part =
                reqwest::multipart::Part::bytes(crate::uploads::PNG.to_vec()).file_name("a.png");
            req.multipart(reqwest::multipart::Form::new().part("file", part))
        }
    };
    req.send().await.expect("request").status().as_u16()
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_table_says() {
    let app = spawn_app().await;
    import_demo_tree(&app).await;
    let district = app.admin("district", "D01").await;
    let resident_a = app.login_wechat("openid-a").await;
    let resident_b = app.login_wechat("openid-b").await;
    let worker = app.enrolled("openid-w1", "G01", "worker", &district).await;
    let other_worker = app.enrolled("openid-w5", "G05", "worker", &district).await;
    let volunteer = app
        .enrolled("openid-v", "G01", "volunteer", &district)
        .await;
    let community = app.admin("community", "C01").await;
    let other_street = app.admin("west", "S02").await;
    let report = app.report_at(&resident_a, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.act(&worker, &report, json!({ "action": "accept" }))
            .await
            .status(),
        200
    );
    let upload: Value = crate::uploads::upload(
        &app,
        &resident_a,
        crate::uploads::PNG.to_vec(),
        "a.png",
        "image/png",
    )
    .await
    .json()
    .await
    .unwrap();
    let wish = crate::wishes::wish_at(&app, &resident_a, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let applicant = app.login_wechat("openid-applicant").await;
    let application: Value = app
        .post_json(
            "/api/v1/me/volunteer",
            Some(&applicant.access),
            &json!({ "unit": "幸福社区党支部", "area_code": "C01" }),
        )
        .await
        .json()
        .await
        .unwrap();
    // Report U, dispatched by the community admin to unit U1; U2 serves C01 too.
    let unit_report = app.report_at(&resident_a, 31.205, 121.405).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut unit_staff = Vec::new();
    for (code, openid) in [("U1", "openid-u1"), ("U2", "openid-u2")] {
        let res = app
            .post_json(
                "/api/v1/admin/units",
                Some(&community.access),
                &json!({ "code": code, "name": code, "kind": "police", "area_codes": ["C01"] }),
            )
            .await;
        assert_eq!(res.status(), 201);
        let invite: Value = app
            .post_json(
                "/api/v1/admin/invites",
                Some(&community.access),
                &json!({ "unit_code": code, "role": "unit_member" }),
            )
            .await
            .json()
            .await
            .unwrap();
        let staff = app.login_wechat(openid).await;
        let res = app
            .post_json(
                "/api/v1/me/enrolments",
                Some(&staff.access),
                &json!({ "invite_code": invite["invite_code"] }),
            )
            .await;
        assert_eq!(res.status(), 200);
        unit_staff.push(staff);
    }
    let res = app
        .act(
            &community,
            &unit_report,
            json!({ "action": "dispatch", "lead_unit": "U1", "instruction": "矩阵" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let patrol: Value = app
        .post_json(
            "/api/v1/patrols",
            Some(&worker.access),
            &json!({ "grid_code": "G01" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let ids = Ids {
        report,
        unit_report,
        patrol: patrol["id"].as_str().unwrap().to_string(),
        upload: upload["id"].as_str().unwrap().to_string(),
        wish,
        volunteer_request: application["id"].as_str().unwrap().to_string(),
    };

    let session = |w: Who| -> Option<&Session> {
        match w {
            Who::Anonymous => None,
            Who::ResidentA => Some(&resident_a),
            Who::ResidentB => Some(&resident_b),
            Who::WorkerOfGrid => Some(&worker),
            Who::WorkerOfOtherGrid => Some(&other_worker),
            Who::Volunteer => Some(&volunteer),
            Who::CommunityAdmin => Some(&community),
            Who::OtherStreetAdmin => Some(&other_street),
            Who::StaffOfLeadUnit => Some(&unit_staff[0]),
            Who::StaffOfOtherUnit => Some(&unit_staff[1]),
        }
    };
    let mut wrong = Vec::new();
    for row in rows() {
        for who in EVERYONE {
            let got = send(&app, session(who), &row, &ids).await;
            let want = (row.expect)(who);
            if got != want {
                wrong.push(format!(
                    "{} {} as {who:?}: got {got}, want {want}",
                    row.method, row.path
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "authorization matrix mismatches:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_documented_operation_has_a_row() {
    let doc: Value = serde_json::from_str(&safegrid::openapi::document_json()).unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let tabled: BTreeSet<(String, String)> = rows()
        .iter()
        .map(|r| (r.method.to_string(), r.template.to_string()))
        .collect();
    let missing: Vec<_> = documented.difference(&tabled).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix: {missing:?}"
    );
}
