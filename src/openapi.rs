//! The OpenAPI document, generated from the same route functions the server mounts, so the
//! two cannot drift. `openapi/openapi.json` is its checked-in copy (see tests/api/openapi.rs).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SafeGrid API",
        description = "Grid-based community safety: safety-key reports, micro-wishes, grid worker queues and closure dashboards.",
        version = "1.0.0"
    ),
    components(schemas(crate::error::ErrorBody, crate::error::Code)),
    modifiers(&BearerAuth, &Open311Paths)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The Open311 GeoReport v2 endpoints (mounted outside `/api/v1`, as the standard names
/// them; see `open311::handlers`), described by hand: their bodies are the specification's,
/// in JSON or XML by the `{format}` suffix.
struct Open311Paths;

impl Modify for Open311Paths {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{
            HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
        };
        use utoipa::openapi::{ContentBuilder, ObjectBuilder, Required, ResponseBuilder, Type};
        let endpoints: [(&str, HttpMethod, &str, &[&str]); 9] = [
            ("/open311/v2/discovery.{format}", HttpMethod::Get, "Discovery: the endpoint, its specification and formats.", &[]),
            ("/open311/v2/services.{format}", HttpMethod::Get, "Services: the report categories as service codes, with keywords and group.", &[]),
            ("/open311/v2/services/{service_code}.{format}", HttpMethod::Get, "A service definition: its attributes (urgency as a single-value list).", &["service_code"]),
            ("/open311/v2/requests.{format}", HttpMethod::Get, "Requests: service_request_id (a comma list, overriding the rest), service_code, start_date/end_date (at most 90 days apart), status. No identity; points in WGS-84 rounded to about 100 m.", &[]),
            ("/open311/v2/requests.{format}", HttpMethod::Post, "File a request (form-encoded, with api_key): service_code, lat/long (WGS-84) or address_string with address_id (an area code), description, attribute[urgency], media_url (kept as a link).", &[]),
            ("/open311/v2/requests/{service_request_id}.{format}", HttpMethod::Get, "One request (its case number).", &["service_request_id"]),
            ("/open311/v2/tokens/{token}.{format}", HttpMethod::Get, "A token's request: SafeGrid answers POST requests with the id at once, so a token is the id.", &["token"]),
            ("/open311/v2/servicerequestupdates.{format}", HttpMethod::Get, "Updates between start_date and end_date (the last day by default).", &[]),
            ("/open311/v2/servicerequestupdates.{format}", HttpMethod::Post, "A partner's status for a case it filed (form-encoded, with api_key), once per update_id: CLOSED confirms a resolved case, OPEN sends it back; anything else is refused with the reason.", &[]),
        ];
        for (path, method, summary, params) in endpoints {
            let text = ObjectBuilder::new().schema_type(Type::String).build();
            let mut op = OperationBuilder::new()
                .tag("open311")
                .summary(Some(summary))
                .parameter(
                    ParameterBuilder::new()
                        .name("format")
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .description(Some("json or xml"))
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .enum_values(Some(["json", "xml"]))
                                .build(),
                        )),
                );
            for p in params {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(*p)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(text.clone())),
                );
            }
            // JSON: the specification's shapes (a list, or an object for discovery and a
            // service definition), described as any value; XML: the document as text.
            let any = ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
                .build();
            let body = |d: &str| {
                ResponseBuilder::new()
                    .description(d)
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(any.clone())).build(),
                    )
                    .content(
                        "text/xml",
                        ContentBuilder::new().schema(Some(text.clone())).build(),
                    )
                    .build()
            };
            op = op
                .response("200", body("the specification's document"))
                .response("400", body("errors: [{code, description}]"))
                .response("403", body("errors: a missing, unknown or revoked api_key"))
                .response("404", body("errors: not found"));
            // The form fields of the two POSTs, as the specification names them.
            let form: &[(&str, bool)] = match (path, &method) {
                ("/open311/v2/requests.{format}", HttpMethod::Post) => &[
                    ("api_key", true),
                    ("service_code", true),
                    ("lat", false),
                    ("long", false),
                    ("address_string", false),
                    ("address_id", false),
                    ("description", true),
                    ("attribute[urgency]", false),
                    ("media_url", false),
                ],
                ("/open311/v2/servicerequestupdates.{format}", HttpMethod::Post) => &[
                    ("api_key", true),
                    ("update_id", true),
                    ("service_request_id", true),
                    ("status", true),
                    ("updated_datetime", false),
                    ("description", false),
                    ("media_url", false),
                ],
                _ => &[],
            };
            if !form.is_empty() {
                let mut object = ObjectBuilder::new();
                for (name, required) in form {
                    object = object.property(*name, text.clone());
                    if *required {
                        object = object.required(*name);
                    }
                }
                op = op.request_body(Some(
                    utoipa::openapi::request_body::RequestBodyBuilder::new()
                        .content(
                            "application/x-www-form-urlencoded",
                            ContentBuilder::new().schema(Some(object.build())).build(),
                        )
                        .build(),
                ));
            }
            let item = PathItem::new(method, op.build());
            match openapi.paths.paths.get_mut(path) {
                Some(existing) => existing.merge_operations(item),
                None => {
                    openapi.paths.paths.insert(path.to_owned(), item);
                }
            }
        }
    }
}

/// The document describing every route of [`crate::routes::configure`].
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    doc
}

/// The document as pretty JSON with a trailing newline, as checked in.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
