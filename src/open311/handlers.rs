//! HTTP for Open311: every endpoint as `.json` and `.xml`, errors as the specification's
//! list. Mounted outside `/api/v1` (the standard's own paths) and described in the OpenAPI
//! document by `openapi::open311_paths`.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};

use super::doc::Doc;
use super::service::{self, Form, Open311Error};
use crate::state::AppState;

/// The two formats of every endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

fn format(text: &str) -> Option<Format> {
    match text {
        "json" => Some(Format::Json),
        "xml" => Some(Format::Xml),
        _ => None,
    }
}

fn respond(format: Format, root: &str, status: u16, doc: &Doc) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(code);
    match format {
        Format::Json => res
            .content_type("application/json; charset=utf-8")
            .body(doc.to_json().to_string()),
        Format::Xml => res
            .content_type("text/xml; charset=utf-8")
            .body(doc.to_xml(root)),
    }
}

/// Answers `result` in `format_text` (a missing format answers 404 in JSON).
fn answer(format_text: &str, root: &str, result: service::Result<Doc>) -> HttpResponse {
    let Some(f) = format(format_text) else {
        let e = Open311Error::new(404, "the format must be json or xml");
        return respond(Format::Json, "errors", 404, &e.doc());
    };
    match result {
        Ok(doc) => respond(f, root, 200, &doc),
        Err(e) => {
            let mut res = respond(f, "errors", e.code, &e.doc());
            if e.code == 429 {
                res.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from_static("60"),
                );
            }
            res
        }
    }
}

fn form(body: &[u8]) -> Form {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The fields of a form body, then of the query string (an `api_key` may come in either).
fn form_and_query(req: &HttpRequest, body: &[u8]) -> Form {
    let mut fields = form(body);
    fields.extend(form(req.query_string().as_bytes()));
    fields
}

/// The client whose `api_key` the fields carry.
async fn keyed(
    state: &AppState,
    env: &crate::cases::env::Env<'_>,
    fields: &Form,
) -> service::Result<service::Client> {
    let key = fields
        .iter()
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v.as_str());
    service::authenticate(env, &state.limiter, key).await
}

async fn discovery(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let doc = service::discovery(&state.settings.public_base_url);
    answer(&path, "discovery", Ok(doc))
}

async fn services(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    answer(&path, "services", service::services(&state.cases()).await)
}

async fn service_definition(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (code, fmt) = path.into_inner();
    answer(
        &fmt,
        "service_definition",
        service::service_definition(&state.cases(), &code).await,
    )
}

async fn list_requests(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<BTreeMap<String, String>>,
) -> HttpResponse {
    let result = match service::parse_filter(&q, crate::util::now_ms()) {
        Ok(f) => service::requests(&state.cases(), f).await,
        Err(e) => Err(e),
    };
    answer(&path, "service_requests", result)
}

async fn file_request(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let env = state.cases();
    let fields = form_and_query(&req, &body);
    let result = match keyed(&state, &env, &fields).await {
        Ok(client) => service::file(&env, &client, &fields).await,
        Err(e) => Err(e),
    };
    answer(&path, "service_requests", result)
}

async fn one_request(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, fmt) = path.into_inner();
    answer(
        &fmt,
        "service_requests",
        service::request(&state.cases(), &id).await,
    )
}

async fn token(state: web::Data<AppState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (token, fmt) = path.into_inner();
    answer(
        &fmt,
        "service_requests",
        service::token(&state.cases(), &token).await,
    )
}

async fn list_updates(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<BTreeMap<String, String>>,
) -> HttpResponse {
    answer(
        &path,
        "service_request_updates",
        service::updates(&state.cases(), &q).await,
    )
}

async fn post_update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let env = state.cases();
    let fields = form_and_query(&req, &body);
    let result = match keyed(&state, &env, &fields).await {
        Ok(client) => service::post_update(&env, &client, &fields).await,
        Err(e) => Err(e),
    };
    answer(&path, "service_request_updates", result)
}

/// The Open311 routes, under `/open311/v2`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/open311/v2")
            .route("/discovery.{format}", web::get().to(discovery))
            .route("/services.{format}", web::get().to(services))
            .route(
                "/services/{code:[^/.]+}.{format}",
                web::get().to(service_definition),
            )
            .route("/requests.{format}", web::get().to(list_requests))
            .route("/requests.{format}", web::post().to(file_request))
            .route("/requests/{id:[^/.]+}.{format}", web::get().to(one_request))
            .route("/tokens/{token:[^/.]+}.{format}", web::get().to(token))
            .route(
                "/servicerequestupdates.{format}",
                web::get().to(list_updates),
            )
            .route(
                "/servicerequestupdates.{format}",
                web::post().to(post_update),
            ),
    );
}
