//! `GET /admin`: the admins' web page, served by the binary (no build step). The inline
//! script and style carry a per-response CSP nonce, so the policy stays strict.

use actix_web::{web, HttpResponse};

const PAGE: &str = include_str!("page.html");

async fn page() -> HttpResponse {
    let nonce = crate::util::random_token(24);
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("content-security-policy", csp))
        .insert_header(("cache-control", "no-store"))
        .body(PAGE.replace("{{NONCE}}", &nonce))
}

/// Mounted outside the API scope and outside the OpenAPI document: it is a page, not an
/// API operation.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(page));
}
