//! WeChat subscribe messages, sent by a background consumer — never inside a user's request.
//!
//! The relay turns stored events into jobs ([`Sender::jobs_for`], [`Sender::enqueue`]). With
//! Redis, jobs go to a Redis Stream read by a consumer group, so every instance shares the
//! work and a job whose consumer died mid-send is claimed again after a minute. Without
//! Redis, an in-process queue does the same inside one process.
//!
//! The consent ledger (`subscriptions`): each "accept" allows one send of that template;
//! a send takes one unit first and gives it back if the send failed for a passing reason.
//! 43101 (WeChat has no quota for the user) zeroes the ledger; 47003 (a value breaks its
//! field's type) is logged with the payload and dead-lettered; other failures are retried a
//! bounded number of times with backoff, then dead-lettered for an admin to see.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Mutex};

use super::event::{EventKind, StoredEvent};
use crate::infra::redis::RedisHandle;
use crate::infra::wechat::{truncate_for_field, SubscribeMessage, WeChatClient, WeChatError};
use crate::infra::wechat_token::AccessTokenCache;
use crate::telemetry::Metrics;

pub const MAX_ATTEMPTS: u32 = 5;

/// One message to one user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub event_id: i64,
    /// The event's kind; picks the template.
    pub kind: EventKind,
    pub user_id: String,
    pub subject_id: String,
    pub attempts: u32,
}

/// The subscribe-message sender: what building, queueing and sending jobs needs, built once
/// at start and shared by the relay (which hands it jobs) and the consumer loop.
pub struct Sender {
    db: DatabaseConnection,
    /// Template ids by event kind (`SAFEGRID_TEMPLATES`); a kind without one sends nothing.
    templates: HashMap<EventKind, String>,
    wechat: WeChatClient,
    tokens: Arc<AccessTokenCache>,
    metrics: Metrics,
    queue: Arc<JobQueue>,
}

impl Sender {
    pub fn new(
        db: DatabaseConnection,
        templates: HashMap<EventKind, String>,
        wechat: WeChatClient,
        tokens: Arc<AccessTokenCache>,
        metrics: Metrics,
        queue: JobQueue,
    ) -> Sender {
        Sender {
            db,
            templates,
            wechat,
            tokens,
            metrics,
            queue: Arc::new(queue),
        }
    }

    /// Which users the stored event `event_id` notifies. A database error is returned, not
    /// taken for "nobody": the relay then leaves the event to be published again.
    pub async fn jobs_for(
        &self,
        event_id: i64,
        event: &StoredEvent,
    ) -> Result<Vec<Job>, sea_orm::DbErr> {
        let job = |user_id: String| Job {
            event_id,
            kind: event.kind,
            user_id,
            subject_id: event.subject_id.clone(),
            attempts: 0,
        };
        if !self.templates.contains_key(&event.kind) {
            return Ok(Vec::new());
        }
        Ok(match event.kind {
            // Residents hear about their own report.
            EventKind::ReportAccepted | EventKind::ReportResolved | EventKind::ReportClosed => {
                event.notify_user.clone().map(job).into_iter().collect()
            }
            // Workers hear about new and late tasks in their grid.
            EventKind::ReportSubmitted | EventKind::ReportOverdue | EventKind::ReportHandedDown => {
                entity::grid_members::Entity::find()
                    .filter(entity::grid_members::Column::GridCode.eq(&event.queue_code))
                    .filter(entity::grid_members::Column::Role.is_in(["worker", "backup"]))
                    .all(&self.db)
                    .await?
                    .into_iter()
                    .map(|m| job(m.user_id))
                    .collect()
            }
            // Unit staff hear about cases sent to them and supervision of their cases.
            EventKind::ReportDispatched | EventKind::ReportSupervised
                if !event.units.is_empty() =>
            {
                entity::unit_members::Entity::find()
                    .filter(entity::unit_members::Column::UnitCode.is_in(event.units.clone()))
                    .all(&self.db)
                    .await?
                    .into_iter()
                    .map(|m| job(m.user_id))
                    .collect()
            }
            _ => Vec::new(),
        })
    }

    /// Queues a job (once per event, user and attempt).
    pub async fn enqueue(&self, job: &Job) -> Result<(), String> {
        self.queue.enqueue(job).await
    }
}

/// The queue the relay hands jobs to.
pub enum JobQueue {
    Redis {
        redis: Arc<RedisHandle>,
        blocking: Mutex<Option<redis::aio::ConnectionManager>>,
    },
    Local {
        tx: mpsc::UnboundedSender<Job>,
        rx: Mutex<mpsc::UnboundedReceiver<Job>>,
    },
}

const APPEND_ONCE: &str = r#"
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', 604800) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', '100000', '*', 'job', ARGV[1])
end
return false
"#;
const GROUP: &str = "senders";

impl JobQueue {
    pub fn new(redis: Option<Arc<RedisHandle>>) -> JobQueue {
        match redis {
            Some(redis) => JobQueue::Redis {
                redis,
                blocking: Mutex::new(None),
            },
            None => {
                let (tx, rx) = mpsc::unbounded_channel();
                JobQueue::Local {
                    tx,
                    rx: Mutex::new(rx),
                }
            }
        }
    }

    fn stream(r: &RedisHandle) -> String {
        r.key("notify:jobs")
    }

    /// Adds a job once per (event, user, attempt).
    pub async fn enqueue(&self, job: &Job) -> Result<(), String> {
        match self {
            JobQueue::Local { tx, .. } => tx.send(job.clone()).map_err(|e| e.to_string()),
            JobQueue::Redis { redis: r, .. } => {
                let mut conn = r.conn().await.map_err(|e| e.to_string())?;
                let marker = r.key(&format!(
                    "notify:seen:{}:{}:{}",
                    job.event_id, job.user_id, job.attempts
                ));
                let payload = serde_json::to_string(job).map_err(|e| e.to_string())?;
                redis::Script::new(APPEND_ONCE)
                    .key(Self::stream(r))
                    .key(marker)
                    .arg(payload)
                    .invoke_async::<Option<String>>(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// The next jobs for this consumer, each with the receipt to acknowledge it by.
    async fn next(&self, consumer: &str) -> Result<Vec<(Option<String>, Job)>, String> {
        match self {
            JobQueue::Local { rx, .. } => {
                let mut rx = rx.lock().await;
                match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
                    Ok(Some(job)) => Ok(vec![(None, job)]),
                    _ => Ok(Vec::new()),
                }
            }
            JobQueue::Redis { redis: r, blocking } => {
                let mut slot = blocking.lock().await;
                if slot.is_none() {
                    *slot = Some(r.dedicated().await.map_err(|e| e.to_string())?);
                }
                let mut conn = slot.as_ref().map(Clone::clone).ok_or("no connection")?;
                drop(slot);
                let stream = Self::stream(r);
                let _: Result<(), _> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&stream)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async(&mut conn)
                    .await;
                // Jobs whose consumer died mid-send come back after a minute.
                let claimed: redis::Value = redis::cmd("XAUTOCLAIM")
                    .arg(&stream)
                    .arg(GROUP)
                    .arg(consumer)
                    .arg(60_000)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(10)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut out = parse_entries(&claimed);
                if out.is_empty() {
                    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
                        .arg("GROUP")
                        .arg(GROUP)
                        .arg(consumer)
                        .arg("COUNT")
                        .arg(10)
                        .arg("BLOCK")
                        .arg(500)
                        .arg("STREAMS")
                        .arg(&stream)
                        .arg(">")
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| e.to_string())?;
                    for key in reply.keys {
                        for entry in key.ids {
                            if let Some(job) = entry
                                .get::<String>("job")
                                .and_then(|j| serde_json::from_str(&j).ok())
                            {
                                out.push((Some(entry.id.clone()), job));
                            }
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    async fn ack(&self, receipt: Option<String>) {
        if let (JobQueue::Redis { redis: r, .. }, Some(id)) = (self, receipt) {
            if let Ok(mut conn) = r.conn().await {
                let _: Result<i64, _> = redis::cmd("XACK")
                    .arg(Self::stream(r))
                    .arg(GROUP)
                    .arg(id)
                    .query_async(&mut conn)
                    .await;
            }
        }
    }
}

/// XAUTOCLAIM's reply: [next-cursor, [[id, [field, value, …]], …], …].
fn parse_entries(value: &redis::Value) -> Vec<(Option<String>, Job)> {
    let redis::Value::Array(parts) = value else {
        return Vec::new();
    };
    let Some(redis::Value::Array(entries)) = parts.get(1) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let redis::Value::Array(pair) = entry else {
                return None;
            };
            let id: String = redis::from_redis_value(pair.first()?).ok()?;
            let fields: Vec<String> = redis::from_redis_value(pair.get(1)?).ok()?;
            let job = fields
                .chunks(2)
                .find(|kv| kv[0] == "job")
                .and_then(|kv| serde_json::from_str(kv.get(1)?).ok())?;
            Some((Some(id), job))
        })
        .collect()
}

/// The consumer loop of this instance (`consumer` names it in the Redis consumer group).
pub async fn run(sender: Arc<Sender>, consumer: String, mut stopping: crate::util::Stopping) {
    loop {
        // Waiting for jobs is cut off when stopping; a job taken is sent and acknowledged first.
        // A Redis job read but not yet acknowledged comes back to another consumer.
        let next = tokio::select! {
            _ = stopping.requested() => return,
            next = sender.queue.next(&consumer) => next,
        };
        match next {
            Ok(jobs) => {
                for (receipt, job) in jobs {
                    handle(&sender, job).await;
                    sender.queue.ack(receipt).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "notification queue unavailable");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

enum Outcome {
    Sent,
    Skipped,
    Retry(String),
    Dead(String),
}

async fn handle(sender: &Sender, job: Job) {
    match send(sender, &job).await {
        Outcome::Sent => sender.metrics.notifications_sent.inc(),
        Outcome::Skipped => {}
        Outcome::Retry(reason) if job.attempts + 1 < MAX_ATTEMPTS => {
            sender.metrics.notifications_retried.inc();
            let next = Job {
                attempts: job.attempts + 1,
                ..job
            };
            tracing::info!(kind = %next.kind, attempts = next.attempts, %reason, "notification will be retried");
            let queue = sender.queue.clone();
            // Exponential backoff without holding the consumer.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(next.attempts))).await;
                if let Err(e) = queue.enqueue(&next).await {
                    tracing::warn!(error = %e, "could not requeue a notification");
                }
            });
        }
        Outcome::Retry(reason) | Outcome::Dead(reason) => {
            sender.metrics.notifications_dead.inc();
            let row = entity::dead_letters::ActiveModel {
                kind: Set(job.kind.as_str().into()),
                payload: Set(serde_json::to_string(&job).unwrap_or_default()),
                error: Set(reason),
                attempts: Set(job.attempts as i32 + 1),
                created_at: Set(crate::util::now_ms()),
                ..Default::default()
            };
            if let Err(e) = row.insert(&sender.db).await {
                tracing::error!(error = %e, "could not record a dead letter");
            }
        }
    }
}

async fn send(sender: &Sender, job: &Job) -> Outcome {
    use entity::subscriptions as sub;
    let Some(template) = sender.templates.get(&job.kind).cloned() else {
        return Outcome::Skipped;
    };
    let user = match entity::users::Entity::find_by_id(job.user_id.clone())
        .one(&sender.db)
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => return Outcome::Skipped,
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let Some(openid) = user.openid else {
        return Outcome::Skipped;
    };
    // Take one unit of consent first; no consent, no send.
    let taken = sub::Entity::update_many()
        .col_expr(
            sub::Column::Remaining,
            Expr::col(sub::Column::Remaining).sub(1),
        )
        .filter(sub::Column::UserId.eq(&job.user_id))
        .filter(sub::Column::TemplateId.eq(&template))
        .filter(sub::Column::Remaining.gt(0))
        .exec(&sender.db)
        .await;
    match taken {
        Ok(r) if r.rows_affected == 1 => {}
        Ok(_) => return Outcome::Skipped,
        Err(e) => return Outcome::Retry(e.to_string()),
    }
    let message = match compose(sender, job, &openid, &template).await {
        Ok(m) => m,
        Err(e) => return Outcome::Retry(e),
    };
    let wechat = sender.wechat.clone();
    let result = sender
        .tokens
        .with_token(|token| {
            let (wechat, message) = (wechat.clone(), message.clone());
            async move { wechat.send_subscribe(&token, &message).await }
        })
        .await;
    let give_back = || async {
        let _ = sub::Entity::update_many()
            .col_expr(
                sub::Column::Remaining,
                Expr::col(sub::Column::Remaining).add(1),
            )
            .filter(sub::Column::UserId.eq(&job.user_id))
            .filter(sub::Column::TemplateId.eq(&template))
            .exec(&sender.db)
            .await;
    };
    match result {
        Ok(()) => Outcome::Sent,
        Err(e) if e.is_quota_exhausted() => {
            // WeChat holds no consent for this user: our ledger was optimistic.
            let _ = sub::Entity::update_many()
                .col_expr(sub::Column::Remaining, Expr::value(0))
                .filter(sub::Column::UserId.eq(&job.user_id))
                .filter(sub::Column::TemplateId.eq(&template))
                .exec(&sender.db)
                .await;
            Outcome::Skipped
        }
        Err(e) if e.is_value_invalid() => {
            give_back().await;
            tracing::error!(kind = %job.kind, data = ?message.data, "subscribe message refused: a value breaks its field type (47003)");
            Outcome::Dead(e.to_string())
        }
        Err(e @ (WeChatError::Unavailable(_) | WeChatError::Api { .. })) => {
            give_back().await;
            Outcome::Retry(e.to_string())
        }
        Err(e) => {
            give_back().await;
            Outcome::Dead(e.to_string())
        }
    }
}

/// The message for a job: `thing1` what, `phrase2` the state, `time3` when,
/// `character_string4` the case number.
async fn compose(
    sender: &Sender,
    job: &Job,
    openid: &str,
    template: &str,
) -> Result<SubscribeMessage, String> {
    // What the case says and its number: a report's description, a wish's title.
    let (summary, case_no, page) = if job.kind.is_wish() {
        let wish = entity::wishes::Entity::find_by_id(job.subject_id.clone())
            .one(&sender.db)
            .await
            .map_err(|e| e.to_string())?;
        let (title, case_no) = wish.map(|w| (w.title, w.case_no)).unzip();
        (
            title.unwrap_or_else(|| "微心愿".into()),
            case_no,
            format!("pages/wish/detail?id={}", job.subject_id),
        )
    } else {
        let report = entity::reports::Entity::find_by_id(job.subject_id.clone())
            .one(&sender.db)
            .await
            .map_err(|e| e.to_string())?;
        let (description, case_no) = report.map(|r| (r.description, r.case_no)).unzip();
        (
            description.unwrap_or_else(|| "平安上报".into()),
            case_no,
            format!("pages/report/detail?id={}", job.subject_id),
        )
    };
    let phrase = match job.kind {
        EventKind::ReportAccepted => "已受理",
        EventKind::ReportResolved => "待确认",
        EventKind::ReportClosed => "已办结",
        EventKind::ReportSubmitted | EventKind::ReportHandedDown => "新任务",
        EventKind::ReportOverdue => "已超期",
        EventKind::ReportDispatched => "待签收",
        EventKind::ReportSupervised => "督办",
        _ => "有更新",
    };
    let when = {
        use chrono::TimeZone;
        chrono_tz::Asia::Shanghai
            .timestamp_millis_opt(crate::util::now_ms())
            .single()
            .map(|t| t.format("%Y年%-m月%-d日 %H:%M").to_string())
            .unwrap_or_default()
    };
    let data: BTreeMap<String, String> = [
        ("thing1", summary),
        ("phrase2", phrase.to_string()),
        ("time3", when),
        ("character_string4", case_no.unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), truncate_for_field(k, &v)))
    .collect();
    Ok(SubscribeMessage {
        touser: openid.to_string(),
        template_id: template.to_string(),
        page: Some(page),
        data,
        miniprogram_state: None,
    })
}
