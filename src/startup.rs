//! Builds and runs the server: connects, migrates, assembles the state, binds, and starts
//! the background jobs.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpRequest, HttpServer};
use anyhow::Context;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config as DocsConfig, SwaggerUi};

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::error::{self, ApiError, Code};
use crate::grids::router::GridRouter;
use crate::infra::ratelimit::RateLimiter;
use crate::infra::redis::RedisHandle;
use crate::infra::wechat::WeChatClient;
use crate::infra::wechat_token::AccessTokenCache;
use crate::state::AppState;
use crate::telemetry::Metrics;

/// Largest JSON body accepted (API.md: 1 MB).
pub const JSON_LIMIT: usize = 1024 * 1024;

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    jobs: crate::jobs::Jobs,
}

/// How long a stopping server waits for its background jobs to finish the work in hand.
const JOBS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

impl Application {
    /// Connects to every dependency, runs pending migrations and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let db =
            crate::infra::db::connect_pool(&settings.database_url, settings.database_pool_size)
                .await
                .context("could not connect to SAFEGRID_DATABASE_URL")?;
        crate::infra::db::migrate(&db)
            .await
            .context("could not run database migrations")?;
        if settings.keys.is_development() {
            tracing::warn!(
                "!!! PHONE NUMBERS ARE ENCRYPTED WITH THE PUBLIC DEVELOPMENT KEY: set \
                 SAFEGRID_DATA_KEYS and SAFEGRID_PHONE_HASH_KEY before holding real data !!!"
            );
        }
        // No number stays in clear past a start (a release before encryption left them so).
        let converted = crate::compliance::keys::encrypt_plaintext(&db, &settings.keys)
            .await
            .context("could not encrypt the phone numbers left in clear")?;
        if converted != Default::default() {
            tracing::info!(
                users = converted.users,
                reports = converted.reports,
                "encrypted phone numbers found in clear"
            );
        }
        let redis = match &settings.redis_url {
            Some(url) => Some(Arc::new(
                RedisHandle::new(url, &settings.redis_prefix)
                    .context("SAFEGRID_REDIS_URL is not a valid Redis URL")?,
            )),
            None => None,
        };
        let wechat = WeChatClient::new(
            settings.wechat_api_base.clone(),
            settings.wechat_appid.clone(),
            settings.wechat_secret.clone(),
            settings.wechat_timeout,
        );
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("could not bind SAFEGRID_BIND={}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let mut settings = settings;
        if settings.public_base_url.is_empty() {
            settings.public_base_url = format!("http://{}", listener.local_addr()?);
        }
        let relay_nudge = Arc::new(tokio::sync::Notify::new());
        let metrics = Metrics::new();
        let wechat_tokens = Arc::new(AccessTokenCache::new(wechat.clone(), redis.clone()));
        let notify = Arc::new(crate::notify::subscribe::Sender::new(
            db.clone(),
            settings.templates.clone(),
            wechat.clone(),
            wechat_tokens.clone(),
            metrics.clone(),
            crate::notify::subscribe::JobQueue::new(redis.clone()),
        ));
        let state = web::Data::new(AppState {
            db,
            jwt: JwtKeys::new(
                settings.jwt_secret_bytes(),
                settings.access_token_ttl.as_secs() as i64,
            ),
            wechat_tokens,
            limiter: RateLimiter::new(redis.clone()),
            router: GridRouter::default(),
            calendar: load_calendar(&settings)?,
            categories: Default::default(),
            case_numbers: Default::default(),
            bus: match &redis {
                Some(r) => crate::notify::bus::RedisBus::start(r.clone(), relay_nudge.clone()),
                None => Arc::new(crate::notify::bus::InProcessBus::default()),
            },
            relay_nudge,
            relay_lease_held: Default::default(),
            upkeep_pace: Default::default(),
            notify,
            settings: Arc::new(settings),
            redis,
            metrics,
            wechat,
            instance_id: crate::util::new_id(),
        });
        crate::reports::categories::ensure_defaults(&state.db)
            .await
            .context("could not seed categories")?;
        state
            .router
            .refresh(&state.db, true)
            .await
            .context("could not load the grids")?;
        let jobs = crate::jobs::spawn_all(state.clone());
        let server = serve(listener, state.clone())?;
        Ok(Application {
            port,
            server,
            state,
            jobs,
        })
    }

    /// The bound port (tests bind port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until a signal stops the server (actix-web lets requests in flight finish),
    /// then stops the background jobs.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let _ = self.jobs.stop(JOBS_GRACE).await;
        served
    }
}

/// The built-in Chinese working calendar, amended by SAFEGRID_HOLIDAYS_FILE.
fn load_calendar(settings: &Settings) -> anyhow::Result<crate::reports::calendar::WorkCalendar> {
    let mut calendar = crate::reports::calendar::WorkCalendar::china_default();
    if let Some(path) = &settings.holidays_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("SAFEGRID_HOLIDAYS_FILE: cannot read {path}"))?;
        let extra = crate::reports::calendar::WorkCalendar::from_text(&text)
            .with_context(|| format!("SAFEGRID_HOLIDAYS_FILE: {path}"))?;
        calendar.merge(extra);
    }
    Ok(calendar)
}

fn serve(listener: TcpListener, state: web::Data<AppState>) -> anyhow::Result<Server> {
    let doc = crate::openapi::document();
    let metrics = web::Data::new(state.metrics.clone());
    // 0: actix-web's default, one worker per core.
    let worker_count = if state.settings.http_workers > 0 {
        state.settings.http_workers
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    let server = HttpServer::new(move || {
        // Runs on each worker's thread: its own connections (`infra::db::WorkerPool`).
        let worker_pool = web::Data::new(crate::infra::db::WorkerPool::for_this_worker(
            &state.db,
            state.settings.database_pool_size,
            worker_count,
        ));
        let (app, _) = App::new()
            .into_utoipa_app()
            .configure(crate::routes::configure)
            .split_for_parts();
        let doc_json = doc.clone();
        app.app_data(state.clone())
            .app_data(worker_pool)
            .app_data(metrics.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(JSON_LIMIT)
                    .error_handler(error::json_error_handler),
            )
            .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
            .app_data(web::PathConfig::default().error_handler(error::path_error_handler))
            .app_data(web::PayloadConfig::new(JSON_LIMIT))
            // Swagger UI's files are compiled into the binary (the `vendored` feature): the
            // page works on an intranet with no internet access. The validator badge would
            // call swagger.io, so it is off.
            .route(
                "/docs",
                web::get().to(|| async {
                    actix_web::HttpResponse::Found()
                        .insert_header(("location", "/docs/"))
                        .finish()
                }),
            )
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    .config(DocsConfig::from("/openapi.json").validator_url("none")),
            )
            .route(
                "/openapi.json",
                web::get().to(move || {
                    let doc = doc_json.clone();
                    async move { web::Json(doc) }
                }),
            )
            .configure(crate::console::routes)
            .configure(crate::open311::routes)
            .default_service(web::to(unknown_route))
            .wrap(middleware::from_fn(security_headers))
            .wrap(middleware::from_fn(crate::telemetry::observe))
    })
    .listen(listener)?
    .shutdown_timeout(10);
    let server = server.workers(worker_count).run();
    Ok(server)
}

/// Headers every response carries; API responses also forbid any active content.
async fn security_headers(
    req: actix_web::dev::ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::http::header::{HeaderName, HeaderValue};
    let api = req.path().starts_with("/api/");
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set("x-content-type-options", "nosniff");
    set("x-frame-options", "DENY");
    set("referrer-policy", "no-referrer");
    if api {
        set(
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        );
    }
    Ok(res)
}

/// 404 for unknown paths, 405 for a known path with the wrong method; both with the body.
async fn unknown_route(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(if req.resource_map().has_resource(req.path()) {
        ApiError::new(
            Code::MethodNotAllowed,
            format!("{} is not allowed on this path.", req.method()),
            "该路径不支持此请求方法。",
        )
    } else {
        ApiError::new(Code::NotFound, "No such route.", "请求的地址不存在。")
    })
}
