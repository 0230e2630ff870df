//! The operator commands behind `safegrid migrate | admin | areas | audit | keys | demo |
//! bench-data`.

use std::path::Path;

use anyhow::Context;
use sea_orm::{DatabaseConnection, QueryFilter};

use crate::config::Settings;

async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let db = crate::infra::db::connect(&settings.database_url)
        .await
        .context("could not connect to SAFEGRID_DATABASE_URL")?;
    crate::infra::db::migrate(&db)
        .await
        .context("could not run migrations")?;
    Ok(db)
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    connect_and_migrate(settings).await.map(|_| ())
}

/// `safegrid dashboard rebuild`: recomputes every dashboard rollup from the raw reports.
pub async fn dashboard_rebuild(settings: &Settings) -> anyhow::Result<()> {
    let db = connect_and_migrate(settings).await?;
    let started = std::time::Instant::now();
    let summary = crate::dashboard::rebuild(&db).await?;
    println!(
        "dashboard rollups rebuilt: {} own rows, {} subtree rows in {:.1}s",
        summary.own_rows,
        summary.subtree_rows,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub async fn create_admin(
    settings: &Settings,
    username: &str,
    password: &str,
    area: &str,
) -> anyhow::Result<()> {
    let db = connect_and_migrate(settings).await?;
    crate::auth::service::create_admin_requiring_change(&db, username, password, area).await
}

pub async fn create_duty_admin(
    settings: &Settings,
    username: &str,
    password: &str,
    duty: &str,
) -> anyhow::Result<()> {
    let db = connect_and_migrate(settings).await?;
    crate::auth::service::create_duty_admin(&db, username, password, duty, true).await
}

/// `safegrid keys rotate`: every phone number under the current key.
pub async fn keys_rotate(settings: &Settings, page: u64) -> anyhow::Result<()> {
    let db = connect_and_migrate(settings).await?;
    if settings.keys.is_development() {
        eprintln!("warning: SAFEGRID_DATA_KEYS is not set: rotating to the public development key");
    }
    let done = crate::compliance::keys::rotate(&db, &settings.keys, page).await?;
    println!(
        "phone numbers re-encrypted under key {}: {} users, {} reports",
        settings.keys.current_kid(),
        done.users,
        done.reports
    );
    Ok(())
}

/// `safegrid audit verify`: the first broken record makes it fail, by id and reason.
pub async fn audit_verify(settings: &Settings) -> anyhow::Result<()> {
    let db = connect_and_migrate(settings).await?;
    match crate::compliance::audit::verify(&db).await? {
        Ok(checked) => {
            println!("audit trail intact: {checked} sealed records checked");
            Ok(())
        }
        Err(broken) => anyhow::bail!("audit trail broken at record {}: {}", broken.id, broken.why),
    }
}

pub async fn import_areas(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let db = connect_and_migrate(settings).await?;
    // Streamed from the file, one feature at a time (BENCHMARKS.md, "GeoJSON import").
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?,
    );
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {pos} areas ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("importing");
    let progress = |done: usize, _total: usize| bar.set_position(done as u64);
    match crate::grids::service::import_reader(&db, reader, None, &progress).await {
        Ok(summary) => {
            bar.finish_and_clear();
            println!(
                "imported {} areas: {} new, {} updated",
                summary.total, summary.created, summary.updated
            );
            Ok(())
        }
        Err(crate::grids::service::ImportError::Invalid(problems)) => {
            bar.abandon();
            for p in &problems {
                let at = p
                    .index
                    .map(|i| format!("feature {i}"))
                    .unwrap_or_else(|| "file".into());
                eprintln!(
                    "{at} {}: {} ({})",
                    p.code.as_deref().unwrap_or("-"),
                    p.message,
                    p.problem
                );
            }
            anyhow::bail!("{} problem(s); nothing was imported", problems.len())
        }
        Err(crate::grids::service::ImportError::NotJson(message)) => {
            bar.abandon();
            anyhow::bail!("{} is not valid JSON: {message}", file.display())
        }
        Err(crate::grids::service::ImportError::OutsideScope(_)) => {
            anyhow::bail!("areas outside the allowed scope")
        }
        Err(crate::grids::service::ImportError::Db(e)) => Err(e.into()),
    }
}

/// The demo district: 3 streets × 2 communities × 5 grids of realistic shape near Shanghai.
pub fn demo_geojson() -> serde_json::Value {
    let shapes = crate::grids::synth::synthetic_city(30, 2026);
    let mut features = vec![area_feature("D01", "示范区", "district", None, None)];
    let streets = ["东城街道", "西城街道", "南湖街道"];
    let communities = [
        "幸福社区",
        "和谐社区",
        "平安社区",
        "阳光社区",
        "友谊社区",
        "文明社区",
    ];
    for (s, street) in streets.iter().enumerate() {
        let street_code = format!("S{:02}", s + 1);
        features.push(area_feature(
            &street_code,
            street,
            "street",
            Some("D01"),
            None,
        ));
        for c in 0..2 {
            let ci = s * 2 + c;
            let community_code = format!("C{:02}", ci + 1);
            features.push(area_feature(
                &community_code,
                communities[ci],
                "community",
                Some(&street_code),
                None,
            ));
            for g in 0..5 {
                let gi = ci * 5 + g;
                let geometry = shapes.get(gi).map(|shape| {
                    serde_json::json!({
                        "type": "MultiPolygon",
                        "coordinates": serde_json::from_str::<serde_json::Value>(
                            &crate::grids::service::multipolygon_to_json(&shape.geometry)
                        ).unwrap_or_default(),
                    })
                });
                features.push(area_feature(
                    &format!("G{:02}", gi + 1),
                    &format!("{}第{}网格", communities[ci], g + 1),
                    "grid",
                    Some(&community_code),
                    geometry,
                ));
            }
        }
    }
    serde_json::json!({ "type": "FeatureCollection", "features": features })
}

fn area_feature(
    code: &str,
    name: &str,
    level: &str,
    parent: Option<&str>,
    geometry: Option<serde_json::Value>,
) -> serde_json::Value {
    serde_json::json!({
        "type": "Feature",
        "properties": { "code": code, "name": name, "level": level, "parent_code": parent },
        "geometry": geometry,
    })
}

/// Loads the demo district, an admin and a few residents' reports into the current database.
pub async fn demo(settings: &Settings, tokens: Option<&Path>) -> anyhow::Result<()> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let db = connect_and_migrate(settings).await?;
    crate::reports::categories::ensure_defaults(&db).await?;
    crate::grids::service::import(&db, &demo_geojson(), None, &|_, _| {})
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "demo import failed: {:?}",
                crate::error::ApiError::from(e).message
            )
        })?;
    let password = "safegrid-demo-2026";
    let has_admin = entity::users::Entity::find()
        .filter(sea_orm::ColumnTrait::eq(
            &entity::users::Column::Username,
            "admin",
        ))
        .count(&db)
        .await?
        > 0;
    if !has_admin {
        crate::auth::service::create_admin(&db, "admin", password, "D01").await?;
    }
    let people = ensure_demo_people(&db, &settings.wechat_appid).await?;
    let reports = seed_demo_reports(&db, &people.resident).await?;
    // The demo writes reports directly, so its rollups are rebuilt from them.
    crate::dashboard::rebuild(&db).await?;
    println!("demo district D01 loaded: 3 streets, 6 communities, 30 grids, {reports} reports");
    if let Some(path) = tokens {
        write_demo_tokens(settings, &db, path).await?;
        println!(
            "access tokens of the demo resident, worker and admin written to {}",
            path.display()
        );
    }
    println!(
        "admin console: http://{}/admin — log in as admin / {password}",
        settings.bind
    );
    if settings.dev_login {
        println!(
            "development login (SAFEGRID_DEV_LOGIN, never in production): on the console's \
             login page, or POST /api/v1/auth/dev-login {{\"openid\": …}} with one of"
        );
        for (openid, who) in DEMO_PEOPLE {
            println!("  {openid:<16} {who}");
        }
    }
    Ok(())
}

/// The demo's people who sign in through WeChat (or, in development, `dev-login`).
const DEMO_PEOPLE: [(&str, &str); 5] = [
    ("demo-resident", "居民 (resident): reports of their own"),
    ("demo-worker", "网格员 of G01 (worker): the grid's queue"),
    ("demo-volunteer", "志愿者 of G01 (volunteer): the wish wall"),
    (
        "demo-unit",
        "协同单位 DEMO-WY 物业 (unit lead): dispatched cases",
    ),
    (
        "demo-applicant",
        "a resident whose volunteer application waits for approval",
    ),
];

/// The demo's people, made once: ids of the ones other seeds need.
pub struct DemoPeople {
    pub resident: String,
    pub worker: String,
}

async fn ensure_demo_people(db: &DatabaseConnection, appid: &str) -> anyhow::Result<DemoPeople> {
    use crate::util::{new_id, now_ms};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, Set};
    let now = now_ms();
    let mut ids = std::collections::HashMap::new();
    for (openid, _) in DEMO_PEOPLE {
        let existing = entity::users::Entity::find()
            .filter(entity::users::Column::Openid.eq(openid))
            .one(db)
            .await?;
        let user = match existing {
            Some(u) => u,
            None => {
                let nickname = match openid {
                    "demo-resident" => "示范居民",
                    "demo-worker" => "示范网格员",
                    "demo-volunteer" => "示范志愿者",
                    "demo-unit" => "示范物业",
                    _ => "示范申请人",
                };
                let user = entity::users::ActiveModel {
                    id: Set(new_id()),
                    appid: Set(Some(appid.to_owned())),
                    openid: Set(Some(openid.into())),
                    nickname: Set(nickname.into()),
                    is_volunteer: Set(openid == "demo-volunteer"),
                    volunteer_unit: Set(
                        (openid == "demo-volunteer").then(|| "幸福社区志愿队".into())
                    ),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(db)
                .await?;
                match openid {
                    "demo-worker" | "demo-volunteer" => {
                        entity::grid_members::ActiveModel {
                            user_id: Set(user.id.clone()),
                            grid_code: Set("G01".into()),
                            role: Set(if openid == "demo-worker" {
                                "worker"
                            } else {
                                "volunteer"
                            }
                            .into()),
                            created_at: Set(now),
                            ..Default::default()
                        }
                        .insert(db)
                        .await?;
                    }
                    "demo-unit" => ensure_demo_unit(db, &user.id).await?,
                    "demo-applicant" => {
                        let community = entity::areas::Entity::find_by_id("C01".to_owned())
                            .one(db)
                            .await?
                            .context("demo community C01 missing")?;
                        entity::volunteer_requests::ActiveModel {
                            id: Set(new_id()),
                            user_id: Set(user.id.clone()),
                            unit: Set("幸福社区志愿队".into()),
                            area_code: Set(community.code),
                            area_path: Set(community.path),
                            status: Set("pending".into()),
                            created_at: Set(now),
                            ..Default::default()
                        }
                        .insert(db)
                        .await?;
                    }
                    _ => {}
                }
                user
            }
        };
        ids.insert(openid, user.id);
    }
    Ok(DemoPeople {
        resident: ids.remove("demo-resident").context("demo resident")?,
        worker: ids.remove("demo-worker").context("demo worker")?,
    })
}

/// A property company serving the whole demo district, led by `lead`.
async fn ensure_demo_unit(db: &DatabaseConnection, lead: &str) -> anyhow::Result<()> {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let now = crate::util::now_ms();
    let district = entity::areas::Entity::find_by_id("D01".to_owned())
        .one(db)
        .await?
        .context("demo district D01 missing")?;
    if entity::units::Entity::find_by_id("DEMO-WY".to_owned())
        .one(db)
        .await?
        .is_none()
    {
        entity::units::ActiveModel {
            code: Set("DEMO-WY".into()),
            name: Set("示范物业公司".into()),
            kind: Set(entity::enums::UnitKind::Property),
            active: Set(true),
            owner_path: Set(district.path.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
        entity::unit_areas::ActiveModel {
            unit_code: Set("DEMO-WY".into()),
            area_code: Set(district.code.clone()),
            area_path: Set(district.path.clone()),
        }
        .insert(db)
        .await?;
    }
    entity::unit_members::ActiveModel {
        unit_code: Set("DEMO-WY".into()),
        user_id: Set(lead.to_owned()),
        role: Set("unit_lead".into()),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A few reports in every state, written directly (the demo has no WeChat behind it).
async fn seed_demo_reports(db: &DatabaseConnection, resident_id: &str) -> anyhow::Result<usize> {
    use crate::util::{new_id, now_ms};
    use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};
    if entity::reports::Entity::find().count(db).await? > 0 {
        return Ok(0);
    }
    let areas = entity::areas::Entity::find().all(db).await?;
    let grids: Vec<_> = areas.iter().filter(|a| a.level == "grid").collect();
    let resident_id = resident_id.to_owned();
    use entity::enums::{ReportStatus as S, Urgency};
    let states = [
        S::Submitted,
        S::Escalated,
        S::Accepted,
        S::InProgress,
        S::Resolved,
        S::Closed,
        S::Closed,
        S::Closed,
        S::Rejected,
    ];
    let categories = [
        "sanitation",
        "fire_hazard",
        "dispute",
        "public_facility",
        "ebike_charging",
    ];
    let now = now_ms();
    let mut count = 0;
    let numbers = crate::cases::number::CaseNumbers::default();
    for (i, grid) in grids.iter().enumerate().take(24) {
        let status = states[i % states.len()];
        let submitted = now - (i as i64 + 1) * 5 * 3_600_000;
        let accepted =
            (status != S::Submitted && status != S::Rejected).then_some(submitted + 1_800_000);
        let id = new_id();
        let centre = grid
            .geometry
            .as_deref()
            .and_then(crate::grids::geojson::multipolygon_from_json)
            .and_then(|mp| geo::Centroid::centroid(&mp))
            .map(|p| (p.y(), p.x()))
            .unwrap_or((31.2, 121.4));
        // An escalated case waits in the community's queue (to be handed down or handled).
        let queue = match status {
            S::Escalated => areas
                .iter()
                .find(|a| grid.parent_code.as_deref() == Some(a.code.as_str()))
                .unwrap_or(grid),
            _ => grid,
        };
        let case_no = numbers
            .next(db, crate::cases::number::CaseKind::Report, submitted)
            .await?;
        entity::reports::ActiveModel {
            id: Set(id.clone()),
            case_no: Set(case_no),
            reporter_id: Set(resident_id.clone()),
            category: Set(categories[i % categories.len()].into()),
            description: Set(format!("示范上报 #{}：请网格员处理", i + 1)),
            lat: Set(centre.0),
            lng: Set(centre.1),
            coord_input: Set("gcj02".into()),
            address: Set(None),
            anonymous: Set(false),
            urgency: Set(Urgency::Normal),
            status: Set(status),
            grid_code: Set(grid.code.clone()),
            queue_code: Set(queue.code.clone()),
            queue_path: Set(queue.path.clone()),
            accepted_by: Set(None),
            submitted_at: Set(submitted),
            accepted_at: Set(accepted),
            deadline: Set(accepted.map(|a| a + 8 * 3_600_000)),
            suspended_at: Set(None),
            resolved_at: Set(status.is_handled().then_some(submitted + 4 * 3_600_000)),
            closed_at: Set((status == S::Closed).then_some(submitted + 5 * 3_600_000)),
            rework_count: Set(0),
            rating: Set((status == S::Closed).then_some(5)),
            rating_comment: Set(None),
            extension_until: Set(None),
            extension_reason: Set(None),
            duplicate_of: Set(None),
            flagged: Set(false),
            lead_unit: Set(None),
            supervised: Set(false),
            return_count: Set(0),
            source: Set(entity::enums::Source::Resident),
            external_ref: Set(None),
            patrol_id: Set(None),
            caller_phone: Set(None),
            caller_phone_hash: Set(None),
            retained_at: Set(None),
            mediation_tier: Set(None),
            mediation_outcome: Set(None),
            mediated_at: Set(None),
            follow_up_due: Set(None),
            follow_up_result: Set(None),
            follow_up_at: Set(None),
            media_url: Set(None),
            overdue_notified: Set(false),
            version: Set(0),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
        crate::timeline::record(
            db,
            crate::timeline::Entry {
                subject_kind: "report",
                subject_id: &id,
                actor_id: Some(&resident_id),
                actor_role: "reporter",
                action: "submit",
                from: "",
                to: "submitted",
                note: Some("demo".into()),
                data: None,
                at: submitted,
            },
        )
        .await?;
        count += 1;
    }
    Ok(count)
}

/// Access tokens for the demo's resident, a worker of G01 (enrolled here if needed) and the admin.
async fn write_demo_tokens(
    settings: &Settings,
    db: &DatabaseConnection,
    path: &Path,
) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, EntityTrait};
    let find = |column: entity::users::Column, value: &'static str| {
        entity::users::Entity::find()
            .filter(column.eq(value))
            .one(db)
    };
    let resident = find(entity::users::Column::Openid, "demo-resident")
        .await?
        .context("demo resident missing")?;
    let admin = find(entity::users::Column::Username, "admin")
        .await?
        .context("demo admin missing")?;
    let worker = find(entity::users::Column::Openid, "demo-worker")
        .await?
        .context("demo worker missing")?;
    let keys = crate::auth::jwt::JwtKeys::new(settings.jwt_secret_bytes(), 24 * 3_600);
    let token = |id: &str| keys.issue(id).map_err(|e| anyhow::anyhow!("token: {e}"));
    let doc = serde_json::json!({
        "resident": token(&resident.id)?,
        "worker": token(&worker.id)?,
        "admin": token(&admin.id)?,
    });
    std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

/// `safegrid bench-data`: the synthetic city of `benchdata`, with a progress bar per stage.
pub async fn bench_data(
    settings: &Settings,
    opts: &crate::benchdata::Options,
) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>9} [{bar:40}] {pos}/{len} ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = |stage: &str, done: usize, total: usize| {
        bar.set_message(stage.to_string());
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let started = std::time::Instant::now();
    let s = crate::benchdata::run(settings, opts, &progress).await?;
    bar.finish_and_clear();
    println!(
        "bench data in {:.1} s: {} grids, {} users, {} reports ({} open, {} closed on time, {} reworked, {} dispatched to unit {}), {} wishes",
        started.elapsed().as_secs_f64(),
        s.grids,
        s.users,
        s.reports,
        s.open_reports,
        s.closed_on_time,
        s.reworked,
        s.unit_tasks,
        crate::benchdata::BENCH_UNIT,
        s.wishes
    );
    if let Some(path) = &opts.tokens {
        println!("tokens and a sample report written to {}", path.display());
    }
    Ok(())
}
