//! Settings: defaults in code, overridden by `SAFEGRID_*` environment variables (and an
//! optional `.env`). A missing or malformed value stops the server at start with a message
//! naming the variable; nothing reads the environment after start.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::notify::EventKind;

/// Where the server runs: production refuses generated secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    Development,
    Production,
}

/// Whether administrators need a second factor (`SAFEGRID_ADMIN_MFA`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminMfa {
    /// An admin without an active factor may log in only to enrol one (production default).
    Required,
    /// A factor is checked once an admin has confirmed one (default outside production).
    Optional,
}

/// Every setting of one SafeGrid process.
#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: RunMode,
    pub bind: String,
    pub database_url: String,
    /// Connections in the database pool (SQLite always uses one).
    pub database_pool_size: u32,
    /// HTTP worker threads (`SAFEGRID_HTTP_WORKERS`); 0 means one per CPU core (actix-web's
    /// default).
    pub http_workers: usize,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so several deployments (or tests) share one Redis.
    pub redis_prefix: String,
    pub jwt_secret: SecretString,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub wechat_appid: String,
    pub wechat_secret: SecretString,
    pub wechat_api_base: String,
    pub wechat_timeout: Duration,
    /// Check report and wish texts with WeChat's msg_sec_check.
    pub content_check: bool,
    pub upload_dir: String,
    pub public_base_url: String,
    /// Resolved reports close by themselves after this long without an objection.
    pub confirm_window: Duration,
    /// Upper bound of a wish's estimated value, in fen.
    pub wish_cap_fen: i64,
    /// How long an approved wish waits for a claimant before it becomes a grid task.
    pub wish_claim_window: Duration,
    /// Patrol tracks older than this are coarsened to about 100 m (PIPL: workers' location).
    pub patrol_track_retention: Duration,
    /// A mediated agreement is visited again this long after (调后回访).
    pub follow_up_after: Duration,
    /// Closed cases keep their exact point, address and photos this long.
    pub closed_case_retention: Duration,
    /// Audit records are kept this long (never less than 180 days, MLPS).
    pub audit_retention: Duration,
    pub holidays_file: Option<String>,
    /// Run the background jobs (overdue marking, auto-close, cleanup, outbox relay).
    pub run_jobs: bool,
    /// How often the background jobs look for work.
    pub job_interval: Duration,
    /// Subscribe-message templates by event kind (`report_accepted=TEMPLATE_ID,...`).
    pub templates: HashMap<EventKind, String>,
    pub log_filter: String,
    pub admin_mfa: AdminMfa,
    /// An admin's refresh token unused for this long is refused (`SAFEGRID_ADMIN_IDLE_MINUTES`).
    pub admin_idle: Duration,
    /// `POST /auth/dev-login` signs in as any openid without WeChat (`SAFEGRID_DEV_LOGIN`):
    /// on by default in development so a newcomer can try every role of the demo; production
    /// refuses to start with it.
    pub dev_login: bool,
    /// Keys protecting phone numbers at rest (`SAFEGRID_CRYPTO`, `SAFEGRID_DATA_KEYS`,
    /// `SAFEGRID_PHONE_HASH_KEY`); the public development keys when none are configured.
    pub keys: crate::infra::crypto::Keyring,
}

/// A setting that could not be used, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

impl Settings {
    /// Reads the process environment (after loading `.env` if there is one).
    pub fn from_env() -> Result<Settings, ConfigError> {
        let _ = dotenvy::dotenv();
        let vars: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("SAFEGRID_"))
            .collect();
        Settings::from_map(&vars)
    }

    /// Builds settings from a map of `SAFEGRID_*` variables; the testable core of `from_env`.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let get = |name: &str| {
            vars.get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mode = match get("SAFEGRID_ENV").as_deref() {
            None | Some("development") | Some("dev") | Some("test") => RunMode::Development,
            Some("production") | Some("prod") => RunMode::Production,
            Some(other) => {
                return Err(err(
                    "SAFEGRID_ENV",
                    format!("expected development or production, got {other:?}"),
                ))
            }
        };
        let bind = get("SAFEGRID_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        if bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(err(
                "SAFEGRID_BIND",
                format!("expected host:port such as 127.0.0.1:8080, got {bind:?}"),
            ));
        }
        let database_url =
            get("SAFEGRID_DATABASE_URL").unwrap_or_else(|| "sqlite://safegrid.db?mode=rwc".into());
        if ![
            "sqlite:",
            "postgres://",
            "postgresql://",
            "mysql://",
            "mariadb://",
        ]
        .iter()
        .any(|p| database_url.starts_with(p))
        {
            return Err(err(
                "SAFEGRID_DATABASE_URL",
                "expected a sqlite:, postgres:// or mysql:// URL".into(),
            ));
        }
        // Without TLS, sqlx-mysql sends the password with the RSA exchange (RUSTSEC-2023-0071,
        // accepted in .cargo/audit.toml on this condition; see SECURITY.md).
        if mode == RunMode::Production
            && ["mysql://", "mariadb://"]
                .iter()
                .any(|p| database_url.starts_with(p))
            && !mysql_requires_tls(&database_url)
        {
            return Err(err(
                "SAFEGRID_DATABASE_URL",
                "a mysql:// URL must require TLS in production: add \
                 ssl-mode=VERIFY_IDENTITY (or VERIFY_CA, REQUIRED)"
                    .into(),
            ));
        }
        let redis_url = get("SAFEGRID_REDIS_URL");
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(err("SAFEGRID_REDIS_URL", "expected a redis:// URL".into()));
            }
        }
        let jwt_secret = match get("SAFEGRID_JWT_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(err(
                    "SAFEGRID_JWT_SECRET",
                    "must be at least 32 characters".into(),
                ))
            }
            Some(s) => SecretString::from(s),
            None if mode == RunMode::Production => {
                return Err(err(
                    "SAFEGRID_JWT_SECRET",
                    "is required in production".into(),
                ))
            }
            // Development only: a fresh secret per process (tokens die with the process).
            None => SecretString::from(crate::util::random_token(48)),
        };
        let wechat_secret = match get("SAFEGRID_WECHAT_SECRET") {
            Some(s) => SecretString::from(s),
            None if mode == RunMode::Production => {
                return Err(err(
                    "SAFEGRID_WECHAT_SECRET",
                    "is required in production".into(),
                ))
            }
            None => SecretString::from(String::new()),
        };
        let wechat_appid = get("SAFEGRID_WECHAT_APPID").unwrap_or_else(|| "wx-dev-app".into());
        let wechat_api_base = get("SAFEGRID_WECHAT_API_BASE")
            .unwrap_or_else(|| "https://api.weixin.qq.com".into())
            .trim_end_matches('/')
            .to_string();
        // Empty means "the address we actually bound", filled in at start.
        let public_base_url = get("SAFEGRID_PUBLIC_BASE_URL")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        let dev_login = boolean(vars, "SAFEGRID_DEV_LOGIN", mode == RunMode::Development)?;
        if dev_login && mode == RunMode::Production {
            return Err(err(
                "SAFEGRID_DEV_LOGIN",
                "development login signs anyone in without WeChat; it cannot be on in production"
                    .into(),
            ));
        }
        let admin_mfa = match get("SAFEGRID_ADMIN_MFA").as_deref() {
            None if mode == RunMode::Production => AdminMfa::Required,
            None => AdminMfa::Optional,
            Some("required") => AdminMfa::Required,
            Some("optional") => AdminMfa::Optional,
            Some(other) => {
                return Err(err(
                    "SAFEGRID_ADMIN_MFA",
                    format!("expected required or optional, got {other:?}"),
                ))
            }
        };
        let templates = match get("SAFEGRID_TEMPLATES") {
            None => HashMap::new(),
            Some(text) => parse_pairs(&text)
                .ok_or_else(|| {
                    err(
                        "SAFEGRID_TEMPLATES",
                        "expected kind=template_id pairs separated by commas".into(),
                    )
                })?
                .into_iter()
                .map(|(kind, template)| {
                    let kind = kind
                        .parse::<EventKind>()
                        .map_err(|e| err("SAFEGRID_TEMPLATES", e.to_string()))?;
                    Ok((kind, template))
                })
                .collect::<Result<_, ConfigError>>()?,
        };
        let suite = match get("SAFEGRID_CRYPTO").as_deref() {
            None | Some("standard") => crate::infra::crypto::Suite::Standard,
            Some("sm") => crate::infra::crypto::Suite::Sm,
            Some(other) => {
                return Err(err(
                    "SAFEGRID_CRYPTO",
                    format!("expected standard or sm, got {other:?}"),
                ))
            }
        };
        let data_keys = get("SAFEGRID_DATA_KEYS");
        if mode == RunMode::Production && data_keys.is_none() {
            return Err(err(
                "SAFEGRID_DATA_KEYS",
                "is required in production (phone numbers are encrypted with it)".into(),
            ));
        }
        let keys = crate::infra::crypto::Keyring::parse(
            suite,
            data_keys.as_deref(),
            get("SAFEGRID_PHONE_HASH_KEY").as_deref(),
        )
        .map_err(|e| err(e.variable, e.problem))?;
        Ok(Settings {
            keys,
            mode,
            bind,
            database_url,
            redis_url,
            redis_prefix: get("SAFEGRID_REDIS_PREFIX").unwrap_or_else(|| "safegrid:".into()),
            jwt_secret,
            access_token_ttl: Duration::from_secs(number(
                vars,
                "SAFEGRID_ACCESS_TOKEN_TTL_SECS",
                900,
            )?),
            refresh_token_ttl: Duration::from_secs(
                86_400 * number(vars, "SAFEGRID_REFRESH_TOKEN_TTL_DAYS", 30)?,
            ),
            wechat_appid,
            wechat_secret,
            wechat_api_base,
            wechat_timeout: Duration::from_millis(number(
                vars,
                "SAFEGRID_WECHAT_TIMEOUT_MS",
                5_000,
            )?),
            content_check: boolean(vars, "SAFEGRID_CONTENT_CHECK", false)?,
            upload_dir: get("SAFEGRID_UPLOAD_DIR").unwrap_or_else(|| "uploads".into()),
            public_base_url,
            confirm_window: Duration::from_secs(
                3_600 * number(vars, "SAFEGRID_CONFIRM_WINDOW_HOURS", 72)?,
            ),
            wish_cap_fen: number(vars, "SAFEGRID_WISH_CAP_FEN", 30_000)? as i64,
            wish_claim_window: Duration::from_secs(
                86_400 * number(vars, "SAFEGRID_WISH_CLAIM_DAYS", 30)?,
            ),
            patrol_track_retention: Duration::from_secs(
                86_400 * number(vars, "SAFEGRID_PATROL_TRACK_RETENTION_DAYS", 90)?.max(1),
            ),
            follow_up_after: Duration::from_secs(
                86_400 * number(vars, "SAFEGRID_FOLLOW_UP_DAYS", 7)?.max(1),
            ),
            closed_case_retention: Duration::from_secs(
                86_400 * number(vars, "SAFEGRID_CLOSED_CASE_RETENTION_DAYS", 365)?.max(1),
            ),
            audit_retention: Duration::from_secs(
                86_400 * number(vars, "SAFEGRID_AUDIT_RETENTION_DAYS", 180)?.max(180),
            ),
            holidays_file: get("SAFEGRID_HOLIDAYS_FILE"),
            http_workers: match number(vars, "SAFEGRID_HTTP_WORKERS", 0)? {
                n @ 0..=256 => n as usize,
                n => {
                    return Err(err(
                        "SAFEGRID_HTTP_WORKERS",
                        format!("expected 0 (one per core) to 256, got {n}"),
                    ))
                }
            },
            database_pool_size: match number(vars, "SAFEGRID_DATABASE_POOL_SIZE", 16)? {
                n @ 1..=1000 => n as u32,
                n => {
                    return Err(err(
                        "SAFEGRID_DATABASE_POOL_SIZE",
                        format!("expected 1 to 1000, got {n}"),
                    ))
                }
            },
            run_jobs: boolean(vars, "SAFEGRID_JOBS", true)?,
            job_interval: Duration::from_millis(
                number(vars, "SAFEGRID_JOB_INTERVAL_MS", 5_000)?.max(50),
            ),
            templates,
            log_filter: get("SAFEGRID_LOG").unwrap_or_else(|| "info".into()),
            admin_mfa,
            admin_idle: Duration::from_secs(
                60 * number(vars, "SAFEGRID_ADMIN_IDLE_MINUTES", 30)?.max(1),
            ),
            dev_login,
        })
    }

    /// The secret used to sign JWTs and photo URLs.
    pub fn jwt_secret_bytes(&self) -> &[u8] {
        self.jwt_secret.expose_secret().as_bytes()
    }
}

fn err(variable: &str, problem: String) -> ConfigError {
    ConfigError {
        variable: variable.into(),
        problem,
    }
}

fn number(vars: &HashMap<String, String>, name: &str, default: u64) -> Result<u64, ConfigError> {
    match vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| err(name, format!("expected a whole number, got {v:?}"))),
    }
}

fn boolean(vars: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, ConfigError> {
    match vars
        .get(name)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(v) => Err(err(name, format!("expected true or false, got {v:?}"))),
    }
}

/// Whether a MySQL URL makes sqlx refuse a connection without TLS: its `ssl-mode` (or
/// `sslmode`; the last one wins, as in sqlx) is REQUIRED, VERIFY_CA or VERIFY_IDENTITY.
fn mysql_requires_tls(url: &str) -> bool {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .rfind(|(k, _)| matches!(*k, "ssl-mode" | "sslmode"))
        .is_some_and(|(_, v)| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "required" | "verify_ca" | "verify_identity"
            )
        })
}

fn parse_pairs(text: &str) -> Option<HashMap<String, String>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_serve_sqlite_on_localhost() {
        let s = Settings::from_map(&HashMap::new()).expect("defaults are valid");
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert!(s.database_url.starts_with("sqlite:"));
        assert!(s.redis_url.is_none());
        assert_eq!(s.mode, RunMode::Development);
    }

    #[test]
    fn http_workers_default_to_one_per_core_and_refuse_nonsense() {
        let s = Settings::from_map(&HashMap::new()).unwrap();
        assert_eq!(s.http_workers, 0, "0 leaves actix-web's one per core");
        let s = Settings::from_map(&vars(&[("SAFEGRID_HTTP_WORKERS", "1")])).unwrap();
        assert_eq!(s.http_workers, 1);
        for bad in ["300", "-1", "two"] {
            let e = Settings::from_map(&vars(&[("SAFEGRID_HTTP_WORKERS", bad)])).unwrap_err();
            assert_eq!(e.variable, "SAFEGRID_HTTP_WORKERS", "{bad}");
        }
    }

    #[test]
    fn production_without_jwt_secret_names_the_variable() {
        let e = Settings::from_map(&vars(&[("SAFEGRID_ENV", "production")])).unwrap_err();
        assert_eq!(e.variable, "SAFEGRID_JWT_SECRET");
    }

    #[test]
    fn production_without_wechat_secret_names_the_variable() {
        let e = Settings::from_map(&vars(&[
            ("SAFEGRID_ENV", "production"),
            ("SAFEGRID_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ]))
        .unwrap_err();
        assert_eq!(e.variable, "SAFEGRID_WECHAT_SECRET");
    }

    /// 32 bytes each, base64.
    const DATA_KEYS: &str = "k2:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const HASH_KEY: &str = "aGFzaGtleWhhc2hrZXloYXNoa2V5aGFzaGtleWhhc2g=";

    #[test]
    fn production_without_a_data_key_names_the_variable() {
        let base = [
            ("SAFEGRID_ENV", "production"),
            ("SAFEGRID_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("SAFEGRID_WECHAT_SECRET", "s"),
        ];
        let e = Settings::from_map(&vars(&base)).unwrap_err();
        assert_eq!(e.variable, "SAFEGRID_DATA_KEYS");
        let mut without_hash_key = base.to_vec();
        without_hash_key.push(("SAFEGRID_DATA_KEYS", DATA_KEYS));
        let e = Settings::from_map(&vars(&without_hash_key)).unwrap_err();
        assert_eq!(e.variable, "SAFEGRID_PHONE_HASH_KEY");
        let mut complete = without_hash_key.clone();
        complete.push(("SAFEGRID_PHONE_HASH_KEY", HASH_KEY));
        let s = Settings::from_map(&vars(&complete)).unwrap();
        assert!(!s.keys.is_development());
        assert_eq!(s.keys.current_kid(), "k2");
        // Development falls back to the public development key.
        assert!(Settings::from_map(&vars(&[]))
            .unwrap()
            .keys
            .is_development());
        // SM4 takes 16-byte keys: a 32-byte current key is refused, naming the variable.
        let mut sm = complete.clone();
        sm.push(("SAFEGRID_CRYPTO", "sm"));
        assert_eq!(
            Settings::from_map(&vars(&sm)).unwrap_err().variable,
            "SAFEGRID_DATA_KEYS"
        );
    }

    #[test]
    fn development_login_is_on_in_development_and_refused_in_production() {
        assert!(Settings::from_map(&vars(&[])).unwrap().dev_login);
        assert!(
            !Settings::from_map(&vars(&[("SAFEGRID_DEV_LOGIN", "false")]))
                .unwrap()
                .dev_login
        );
        let production = [
            ("SAFEGRID_ENV", "production"),
            ("SAFEGRID_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("SAFEGRID_WECHAT_SECRET", "s"),
            ("SAFEGRID_DATABASE_URL", "postgres://db/safegrid"),
            ("SAFEGRID_DATA_KEYS", DATA_KEYS),
            ("SAFEGRID_PHONE_HASH_KEY", HASH_KEY),
        ];
        let mut on = production.to_vec();
        on.push(("SAFEGRID_DEV_LOGIN", "true"));
        let e = Settings::from_map(&vars(&on)).unwrap_err();
        assert_eq!(e.variable, "SAFEGRID_DEV_LOGIN");
        let s = Settings::from_map(&vars(&production)).unwrap();
        assert!(!s.dev_login, "off by default in production");
    }

    #[test]
    fn production_refuses_a_mysql_url_that_does_not_require_tls() {
        let production = |url: &str| {
            Settings::from_map(&vars(&[
                ("SAFEGRID_ENV", "production"),
                ("SAFEGRID_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("SAFEGRID_WECHAT_SECRET", "s"),
                ("SAFEGRID_DATA_KEYS", DATA_KEYS),
                ("SAFEGRID_PHONE_HASH_KEY", HASH_KEY),
                ("SAFEGRID_DATABASE_URL", url),
            ]))
        };
        for url in [
            "mysql://u:p@db/safegrid",
            "mysql://u:p@db/safegrid?ssl-mode=PREFERRED",
            "mariadb://u:p@db/safegrid?ssl-mode=disabled",
            "mysql://u:p@db/safegrid?ssl-mode=REQUIRED&sslmode=PREFERRED",
            "mysql://u:p@db/safegrid?charset=utf8mb4&xssl-mode=REQUIRED",
        ] {
            let e = production(url).unwrap_err();
            assert_eq!(e.variable, "SAFEGRID_DATABASE_URL", "{url}: {e}");
        }
        for url in [
            "mysql://u:p@db/safegrid?ssl-mode=VERIFY_IDENTITY",
            "mysql://u:p@db/safegrid?charset=utf8mb4&ssl-mode=verify_ca&ssl-ca=/etc/ca.pem",
            "mariadb://u:p@db/safegrid?sslmode=REQUIRED",
            "postgres://u:p@db/safegrid",
        ] {
            assert!(production(url).is_ok(), "{url}");
        }
        // Development keeps the plain URL the test suite and CI use.
        assert!(Settings::from_map(&vars(&[(
            "SAFEGRID_DATABASE_URL",
            "mysql://root@127.0.0.1:3306/test"
        )]))
        .is_ok());
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (name, value) in [
            ("SAFEGRID_BIND", "nowhere"),
            ("SAFEGRID_DATABASE_URL", "oracle://x"),
            ("SAFEGRID_REDIS_URL", "http://x"),
            ("SAFEGRID_CONTENT_CHECK", "maybe"),
            ("SAFEGRID_CONFIRM_WINDOW_HOURS", "-3"),
            ("SAFEGRID_JWT_SECRET", "short"),
            ("SAFEGRID_TEMPLATES", "report_accepted=T1,report_lost=T2"),
            ("SAFEGRID_ADMIN_MFA", "sometimes"),
            ("SAFEGRID_ADMIN_IDLE_MINUTES", "half an hour"),
            ("SAFEGRID_CRYPTO", "des"),
            ("SAFEGRID_DATA_KEYS", "k1:not-base64!"),
        ] {
            let e = Settings::from_map(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(e.variable, name, "{e}");
        }
    }

    #[test]
    fn templates_are_keyed_by_event_kind() {
        let s = Settings::from_map(&vars(&[(
            "SAFEGRID_TEMPLATES",
            "report_accepted=T1, wish_published=T2",
        )]))
        .unwrap();
        assert_eq!(s.templates[&EventKind::ReportAccepted], "T1");
        assert_eq!(s.templates[&EventKind::WishPublished], "T2");
    }

    #[test]
    fn admins_need_a_second_factor_in_production_unless_told_otherwise() {
        let dev = Settings::from_map(&vars(&[])).unwrap();
        assert_eq!(dev.admin_mfa, AdminMfa::Optional);
        assert_eq!(dev.admin_idle, Duration::from_secs(30 * 60));
        let prod = [
            ("SAFEGRID_ENV", "production"),
            (
                "SAFEGRID_JWT_SECRET",
                "a-production-secret-of-enough-length-42",
            ),
            ("SAFEGRID_WECHAT_SECRET", "wechat-secret"),
            ("SAFEGRID_DATA_KEYS", DATA_KEYS),
            ("SAFEGRID_PHONE_HASH_KEY", HASH_KEY),
        ];
        assert_eq!(
            Settings::from_map(&vars(&prod)).unwrap().admin_mfa,
            AdminMfa::Required
        );
        let mut relaxed = prod.to_vec();
        relaxed.push(("SAFEGRID_ADMIN_MFA", "optional"));
        assert_eq!(
            Settings::from_map(&vars(&relaxed)).unwrap().admin_mfa,
            AdminMfa::Optional
        );
        let strict = Settings::from_map(&vars(&[("SAFEGRID_ADMIN_MFA", "required")])).unwrap();
        assert_eq!(strict.admin_mfa, AdminMfa::Required);
    }
}
