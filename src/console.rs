//! `GET /admin`: the staff console, a page of plain HTML, CSS and JavaScript kept in `web/`
//! and compiled into the binary (`include_str!`), so nothing is fetched from outside — many
//! government intranets have no internet — and no Node is needed to build. The policy is
//! strict: scripts and styles from this server only, no inline code.

use actix_web::{web, HttpResponse};

const INDEX: &str = include_str!("../web/console/index.html");
const SCRIPT: &str = include_str!("../web/console/app.js");
const STYLE: &str = include_str!("../web/console/app.css");

/// The console's Content-Security-Policy (also checked by its test).
pub const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("content-security-policy", POLICY))
        // Assets change with the binary; revalidation is cheap on an intranet.
        .insert_header(("cache-control", "no-cache"))
        .body(body)
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// Mounted outside the API scope and outside the OpenAPI document: pages, not operations.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(index))
        .route("/admin/", web::get().to(index))
        .route("/admin/assets/app.js", web::get().to(script))
        .route("/admin/assets/app.css", web::get().to(style));
}
