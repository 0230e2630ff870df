//! The yardstick of issue 21 (BENCHMARKS.md, "The yardstick"): what a submission and a
//! worker-queue page cost with no framework layers — actix-web, a tokio-postgres pool of the
//! same size as SafeGrid's, the same JWT check, then exactly the SQL SafeGrid sends for them
//! (`sql.rs`, copied from PostgreSQL's statement log), prepared and cached as sqlx does.
//! Nothing else: no routing index (the grid of the benchmark's point comes from the
//! environment), no bus, no relay, no metrics, no logs; the answers are the rows as JSON.
//!
//! Environment: BASELINE_DATABASE_URL, BASELINE_BIND, BASELINE_JWT_SECRET, BASELINE_POOL_SIZE
//! (16, SafeGrid's default), BASELINE_POOL (`worker`: a pool per actix worker, the default;
//! `shared`), BASELINE_GRID / BASELINE_GRID_PATH / BASELINE_GRID_PARENT (the grid the
//! benchmark's submission routes to).

mod sql;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use actix_web::{get, post, web, App, HttpRequest, HttpResponse, HttpServer};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};

struct State {
    key: DecodingKey,
    validation: Validation,
    grid: String,
    grid_path: String,
    grid_parent: String,
    /// The current block of case numbers: (next, end).
    numbers: tokio::sync::Mutex<(i64, i64)>,
    seq: AtomicI64,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
}

#[derive(Deserialize)]
struct Location {
    lat: f64,
    lng: f64,
    coord: String,
}

#[derive(Deserialize)]
struct NewReport {
    category: String,
    description: String,
    location: Location,
    address: Option<String>,
    #[serde(default)]
    anonymous: bool,
}

type Fail = actix_web::Error;

fn err(e: impl std::fmt::Display) -> Fail {
    actix_web::error::ErrorInternalServerError(e.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The same checks as SafeGrid's `JwtKeys::verify`: HS256, iss, aud, exp, sub, 30 s leeway.
fn verify(state: &State, req: &HttpRequest) -> Result<String, Fail> {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| actix_web::error::ErrorUnauthorized("no token"))?;
    let data = decode::<Claims>(token.trim(), &state.key, &state.validation)
        .map_err(actix_web::error::ErrorUnauthorized)?;
    if data.claims.iat > now_ms() / 1000 + 30 {
        return Err(actix_web::error::ErrorUnauthorized("iat"));
    }
    Ok(data.claims.sub)
}

/// The principal's rows: (grid memberships as (code, role)), like SafeGrid's `principal::load`.
async fn principal(client: &deadpool_postgres::Client, user: &str) -> Result<Vec<Row>, Fail> {
    let st = client.prepare_cached(sql::PRINCIPAL).await.map_err(err)?;
    let rows = client.query(&st, &[&user]).await.map_err(err)?;
    if rows.is_empty() {
        return Err(actix_web::error::ErrorUnauthorized("unknown user"));
    }
    Ok(rows)
}

/// A row as a JSON object (every column, by its type).
fn row_json(row: &Row) -> Value {
    let mut m = Map::new();
    for (i, c) in row.columns().iter().enumerate() {
        let v = match *c.type_() {
            Type::VARCHAR | Type::TEXT => json!(row.get::<_, Option<String>>(i)),
            Type::FLOAT8 => json!(row.get::<_, Option<f64>>(i)),
            Type::BOOL => json!(row.get::<_, Option<bool>>(i)),
            Type::INT8 => json!(row.get::<_, Option<i64>>(i)),
            Type::INT4 => json!(row.get::<_, Option<i32>>(i)),
            Type::INT2 => json!(row.get::<_, Option<i16>>(i)),
            _ => Value::Null,
        };
        m.insert(c.name().to_owned(), v);
    }
    Value::Object(m)
}

/// `$from, …, $(from+n-1)`.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Asia/Shanghai day (UTC+8, no DST) of `ms` as (YYYYMMDD, YYYY-MM-DD).
fn shanghai_day(ms: i64) -> (String, String) {
    let days = (ms + 8 * 3_600_000).div_euclid(86_400_000);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{y:04}-{m:02}-{d:02}"),
    )
}

/// The next case number, as SafeGrid's `CaseNumbers::next`: block `b` of the sequence holds
/// `(b-1)·20+1 ..= b·20`, and the lock is held across the round trip (no block wasted).
async fn case_number(state: &State, client: &deadpool_postgres::Client) -> Result<i64, Fail> {
    let mut b = state.numbers.lock().await;
    if b.0 >= b.1 {
        let st = client.prepare_cached(sql::NEXTVAL).await.map_err(err)?;
        let block: i64 = client.query_one(&st, &[]).await.map_err(err)?.get(0);
        *b = ((block - 1) * 20 + 1, (block - 1) * 20 + 21);
    }
    b.0 += 1;
    Ok(b.0 - 1)
}

#[post("/api/v1/reports")]
async fn submit(
    state: web::Data<State>,
    pool: web::Data<Pool>,
    req: HttpRequest,
    body: web::Json<NewReport>,
) -> Result<HttpResponse, Fail> {
    let user = verify(&state, &req)?;
    let client = pool.get().await.map_err(err)?;
    principal(&client, &user).await?;
    let r = body.into_inner();
    let now = now_ms();
    let n = case_number(&state, &client).await?;
    let (ymd, day) = shanghai_day(now);
    let case_no = format!("R{ymd}-{n:05}");
    let id = uuid::Uuid::now_v7().to_string();
    // The ownership rule: the grid's ancestors' paths, outermost first.
    let mut paths = Vec::new();
    let mut at = 0;
    while let Some(i) = state.grid_path[at + 1..].find('/') {
        at += i + 1;
        paths.push(state.grid_path[..=at].to_owned());
    }
    let st = client.prepare_cached(sql::OWNER_FOR).await.map_err(err)?;
    let mut p: Vec<&(dyn ToSql + Sync)> = vec![&r.category, &true];
    p.extend(paths.iter().map(|x| x as &(dyn ToSql + Sync)));
    let one = 1i64;
    p.push(&one);
    let owner = client.query(&st, &p).await.map_err(err)?;
    let _ = owner;

    let dlat = 50.0 / 111_000.0;
    let dlng = dlat / r.location.lat.to_radians().cos().max(0.01);
    let (lat, lng) = (r.location.lat, r.location.lng);
    let queue_data = json!({"queue": state.grid, "source": "resident"}).to_string();
    // The outbox payload with SafeGrid's field order (codes, paths and ids need no escaping).
    let payload = format!(
        r#"{{"kind":"report_submitted","queue_code":"{}","queue_path":"{}","subject_id":"{id}","case_no":"{case_no}","status":"submitted","at":{now}}}"#,
        state.grid, state.grid_path
    );
    let (none_s, none_i): (Option<String>, Option<i64>) = (None, None);
    let (none_i16, zero32): (Option<i16>, i32) = (None, 0);
    let (f, zero64) = (false, 0i64);
    let since = now - 7 * 86_400_000;
    let (lat0, lat1, lng0, lng1) = (lat - dlat, lat + dlat, lng - dlng, lng + dlng);
    let open = [
        "submitted",
        "accepted",
        "in_progress",
        "escalated",
        "suspended",
        "resolved",
    ];
    let ten = 10i64;
    let params: Vec<&(dyn ToSql + Sync)> = vec![
        &id,
        &case_no,
        &user,
        &r.category,
        &r.description,
        &lat,
        &lng,
        &r.location.coord,
        &r.address,
        &r.anonymous,
        &"normal",
        &"submitted",
        &state.grid,
        &state.grid,
        &state.grid_path,
        &none_s,
        &now,
        &none_i,
        &none_i,
        &none_i,
        &none_i,
        &none_i,
        &zero32,
        &none_i16,
        &none_s,
        &none_i,
        &none_s,
        &none_s,
        &f,
        &f,
        &none_s,
        &f,
        &zero32,
        &"resident",
        &none_s,
        &none_s,
        &none_s,
        // caller_phone_hash, retained_at (issue 19)
        &none_s,
        &none_i,
        &none_s,
        &none_s,
        &none_i,
        &none_i,
        &none_s,
        &none_i,
        &none_s,
        &zero32,
        &now,
        // timeline
        &"report",
        &id,
        &user,
        &"reporter",
        &"submit",
        &"",
        &"submitted",
        &none_s,
        &queue_data,
        &now,
        // outbox
        &state.grid,
        &"report_submitted",
        &payload,
        &now,
        &none_i,
        // nearby
        &r.category,
        &since,
        &lat0,
        &lat1,
        &lng0,
        &lng1,
        &open[0],
        &open[1],
        &open[2],
        &open[3],
        &open[4],
        &open[5],
        &id,
        &ten,
    ];
    let st = client
        .prepare_cached(sql::INSERT_REPORT)
        .await
        .map_err(err)?;
    let nearby = client.query(&st, &params).await.map_err(err)?;
    let st = client.prepare_cached(sql::MARK_STALE).await.map_err(err)?;
    client
        .execute(
            &st,
            &[
                &state.grid,
                &"g",
                &day,
                &r.category,
                &state.grid_parent,
                &"grid",
                &state.grid_path,
                &zero64,
                &zero64,
                &state.grid,
                &"g",
                &day,
                &r.category,
                &zero64,
            ],
        )
        .await
        .map_err(err)?;
    drop(client);
    state.seq.fetch_add(1, Ordering::Relaxed);
    Ok(HttpResponse::Created().json(json!({
        "id": id, "case_no": case_no, "category": r.category, "description": r.description,
        "location": {"lat": lat, "lng": lng}, "address": r.address, "status": "submitted",
        "grid": state.grid, "submitted_at": now,
        "possible_duplicates": nearby.iter().map(|n| n.get::<_, String>(0)).collect::<Vec<_>>(),
    })))
}

#[get("/api/v1/worker/tasks")]
async fn tasks(
    state: web::Data<State>,
    pool: web::Data<Pool>,
    req: HttpRequest,
) -> Result<HttpResponse, Fail> {
    let user = verify(&state, &req)?;
    let client = pool.get().await.map_err(err)?;
    let me = principal(&client, &user).await?;
    let grids: Vec<String> = me
        .iter()
        .filter_map(|r| {
            let role: Option<String> = r.get("m_role");
            matches!(role.as_deref(), Some("worker" | "backup"))
                .then(|| r.get::<_, String>("m_grid_code"))
        })
        .collect();
    if grids.len() != 1 {
        return Err(actix_web::error::ErrorForbidden("one grid expected"));
    }
    let limit = 101i64;
    let st = client
        .prepare_cached(sql::QUEUE_REPORTS)
        .await
        .map_err(err)?;
    let rows = client
        .query(
            &st,
            &[
                &grids[0],
                &"submitted",
                &"accepted",
                &"in_progress",
                &"escalated",
                &"suspended",
                &limit,
            ],
        )
        .await
        .map_err(err)?;
    let mut reporters: Vec<String> = rows.iter().map(|r| r.get("reporter_id")).collect();
    reporters.sort();
    reporters.dedup();
    let users_sql = format!("{}{})", sql::USERS_IN, placeholders(1, reporters.len()));
    let st = client.prepare_cached(&users_sql).await.map_err(err)?;
    let p: Vec<&(dyn ToSql + Sync)> = reporters.iter().map(|x| x as &(dyn ToSql + Sync)).collect();
    let users = client.query(&st, &p).await.map_err(err)?;
    let ids: Vec<String> = rows.iter().map(|r| r.get("id")).collect();
    let uploads_sql = format!(
        "{}{}{}",
        sql::UPLOADS_IN,
        placeholders(2, ids.len()),
        sql::UPLOADS_IN_END
    );
    let st = client.prepare_cached(&uploads_sql).await.map_err(err)?;
    let mut p: Vec<&(dyn ToSql + Sync)> = vec![&"report"];
    p.extend(ids.iter().map(|x| x as &(dyn ToSql + Sync)));
    let photos = client.query(&st, &p).await.map_err(err)?;
    let st = client
        .prepare_cached(sql::QUEUE_WISHES)
        .await
        .map_err(err)?;
    let wishes = client
        .query(&st, &[&grids[0], &"expired", &limit])
        .await
        .map_err(err)?;
    drop(client);
    let names: std::collections::HashMap<String, Option<String>> = users
        .iter()
        .map(|u| (u.get("id"), u.get("nickname")))
        .collect();
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = row_json(r);
            let reporter: String = r.get("reporter_id");
            let id: String = r.get("id");
            v["reporter"] = json!({ "id": reporter, "nickname": names.get(&reporter) });
            v["photo_ids"] = json!(photos
                .iter()
                .filter(|p| p.get::<_, Option<String>>("attached_id").as_deref() == Some(&id))
                .map(|p| p.get::<_, String>("id"))
                .collect::<Vec<_>>());
            v
        })
        .collect();
    let wishes: Vec<Value> = wishes.iter().map(row_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "wishes": wishes, "next_cursor": null })))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = env("BASELINE_DATABASE_URL");
    let size: usize = std::env::var("BASELINE_POOL_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let config: tokio_postgres::Config = url.parse().expect("a PostgreSQL URL");
    // BASELINE_POOL=worker (the default): each actix worker gets its own pool, built on its
    // thread, so a connection's task runs on the runtime of the worker that uses it, as
    // SafeGrid's `WorkerPool` does; `shared`: one pool for all workers (the yardstick before
    // 2026-12-05 evening), whose replies cross threads when another worker opened the connection.
    let per_worker = match std::env::var("BASELINE_POOL").as_deref() {
        Ok("shared") => false,
        Ok("worker") | Err(_) => true,
        Ok(other) => panic!("BASELINE_POOL must be worker or shared, not {other}"),
    };
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let new_pool = move |size: usize| {
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(size)
            .build()
            .expect("a pool")
    };
    let shared = (!per_worker).then(|| new_pool(size));
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["safegrid"]);
    validation.set_audience(&["safegrid-api"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 30;
    let state = web::Data::new(State {
        key: DecodingKey::from_secret(env("BASELINE_JWT_SECRET").as_bytes()),
        validation,
        grid: env("BASELINE_GRID"),
        grid_path: env("BASELINE_GRID_PATH"),
        grid_parent: env("BASELINE_GRID_PARENT"),
        numbers: tokio::sync::Mutex::new((0, 0)),
        seq: AtomicI64::new(0),
    });
    let _keep = Arc::new(());
    HttpServer::new(move || {
        let pool = match &shared {
            Some(pool) => pool.clone(),
            None => new_pool(size.div_ceil(workers).max(2)),
        };
        App::new()
            .app_data(state.clone())
            .app_data(web::Data::new(pool))
            .service(submit)
            .service(tasks)
            .route("/readyz", web::get().to(HttpResponse::Ok))
    })
    .workers(workers)
    .bind(env("BASELINE_BIND"))?
    .run()
    .await
}
