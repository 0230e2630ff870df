//! Background work inside the server process.
//!
//! Per-instance loops (the routing index refresh) run everywhere. Jobs that must run once
//! across all instances take a lease in `job_leases` first: a conditional update that only one
//! instance can win per period, and that expires if its holder dies.

use std::time::Duration;

use actix_web::web;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::state::AppState;
use crate::util::Stopping;

/// The background loops of one process, stopped together after the server stops.
pub struct Jobs {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Jobs {
    /// Asks every loop to stop at its next wait and waits up to `grace` for the work in hand
    /// (a leased job, a relay batch) to finish, so a stopping process neither cuts a job off
    /// mid-transaction nor logs the errors of loops polling a shutting-down runtime. What
    /// still runs after `grace` is dropped: leases expire and the outbox keeps what was not
    /// relayed. Returns how many loops had to be dropped.
    pub async fn stop(mut self, grace: Duration) -> usize {
        let _ = self.stop.send(true);
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_ok() {
            return 0;
        }
        let dropped = self.tasks.len();
        tracing::warn!(
            still_running = dropped,
            "background jobs did not stop in time; dropping them"
        );
        self.tasks.abort_all();
        dropped
    }
}

pub fn spawn_all(state: web::Data<AppState>) -> Jobs {
    let (stop, stopping) = watch::channel(false);
    let stopping = Stopping::new(stopping);
    let mut tasks = JoinSet::new();
    if state.settings.run_jobs {
        tasks.spawn(crate::notify::relay::run(state.clone(), stopping.clone()));
        tasks.spawn(crate::notify::subscribe::run(
            state.notify.clone(),
            state.instance_id.clone(),
            stopping.clone(),
        ));
        let s = state.clone();
        let mut stopping = stopping.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(s.settings.job_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = stopping.requested() => return,
                    _ = tick.tick() => {}
                }
                run_leased_jobs(&s).await;
            }
        });
    }
    let s = state.clone();
    let mut stopping = stopping.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stopping.requested() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = s.router.refresh(&s.db, false).await {
                tracing::warn!(error = %e, "routing index refresh failed");
            }
        }
    });
    Jobs { stop, tasks }
}

/// The jobs that must run once across all instances, each behind its own lease.
async fn run_leased_jobs(state: &AppState) {
    let ttl = state.settings.job_interval * 3;
    let holder = state.instance_id.as_str();
    if lease(state, "reports_auto_close", holder, ttl).await {
        match crate::reports::jobs::auto_close(&state.cases()).await {
            Ok(n) if n > 0 => tracing::info!(closed = n, "auto-closed resolved reports"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "auto-close failed"),
        }
    }
    if lease(state, "reports_overdue", holder, ttl).await {
        if let Err(e) = crate::reports::jobs::mark_overdue(&state.cases()).await {
            tracing::warn!(error = %e, "overdue marking failed");
        }
    }
    if lease(state, "wishes", holder, ttl).await {
        let now = crate::util::now_ms();
        match crate::wishes::actions::expire_unclaimed(&state.cases(), now).await {
            Ok(n) if n > 0 => tracing::info!(expired = n, "unclaimed wishes moved to grid queues"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "wish expiry failed"),
        }
        if let Err(e) = crate::wishes::actions::auto_confirm(&state.cases(), now).await {
            tracing::warn!(error = %e, "wish auto-confirm failed");
        }
    }
    if lease(state, "dashboard_upkeep", holder, ttl).await {
        // Rows marked by changes, and those the clock changed: open reports passing their
        // deadline, agreements' follow-ups turning due.
        match crate::dashboard::upkeep(&state.db, 2_000, &state.upkeep_pace).await {
            Ok(n) if n > 0 => {
                tracing::info!(rows = n, "dashboard rollups caught up with the clock")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "dashboard upkeep failed"),
        }
    }
    if lease(state, "audit", holder, ttl).await {
        match crate::compliance::audit::seal_with(
            &state.db,
            state.settings.keys.suite(),
            crate::compliance::audit::SEAL_AFTER_MS,
            5_000,
        )
        .await
        {
            Ok(n) if n > 0 => tracing::debug!(records = n, "audit records sealed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "audit sealing failed"),
        }
        let retention = state.settings.audit_retention.as_millis() as i64;
        if let Err(e) = crate::compliance::audit::purge(&state.db, retention).await {
            tracing::warn!(error = %e, "audit purge failed");
        }
    }
    if lease(state, "case_retention", holder, ttl).await {
        match crate::compliance::retention::run_daily(state).await {
            Ok(Some(done)) => tracing::info!(
                cases = done.cases,
                photos = done.photos,
                "closed cases past their retention reduced to their grid"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "case retention failed"),
        }
    }
    if lease(state, "cleanup", holder, ttl).await {
        if let Err(e) = crate::uploads::purge_unattached(state).await {
            tracing::warn!(error = %e, "upload cleanup failed");
        }
        if let Err(e) = crate::idempotency::purge(&state.db).await {
            tracing::warn!(error = %e, "idempotency cleanup failed");
        }
        let retention = state.settings.patrol_track_retention.as_millis() as i64;
        match crate::patrols::service::coarsen_old_tracks(&state.db, retention).await {
            Ok(n) if n > 0 => tracing::info!(points = n, "old patrol tracks coarsened"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "patrol track coarsening failed"),
        }
    }
}

async fn lease(state: &AppState, name: &str, holder: &str, ttl: Duration) -> bool {
    match crate::infra::lease::acquire(&state.db, name, holder, ttl).await {
        Ok(won) => won,
        Err(e) => {
            tracing::warn!(error = %e, job = name, "could not take the job lease");
            false
        }
    }
}
