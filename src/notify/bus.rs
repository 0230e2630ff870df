//! The event bus: one trait, two carriers.
//!
//! - [`RedisBus`] (production): one Redis Stream per queue topic (grid or upper area) keeps
//!   the history for resumption; a pub/sub channel fans events out live to every instance, so
//!   an event caused on instance A reaches an SSE client connected to instance B. Appending is
//!   idempotent per (topic, outbox id) through a Lua script, so a relay retry after a crash
//!   never writes an event twice to a stream.
//! - [`InProcessBus`] (the embedded default): the same behaviour inside one process.
//!
//! Stream positions are `ms-seq` ids; SSE uses them as `id:` and resumes after them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::outbox::Event;
use crate::infra::redis::RedisHandle;

/// A position in a topic stream: Redis's `ms-seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId(pub u64, pub u64);

impl StreamId {
    pub fn parse(s: &str) -> Option<StreamId> {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        Some(StreamId(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// An event at its position in one topic's stream.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub topic: String,
    pub position: StreamId,
    pub event: Event,
}

pub type BusResult<T> = Result<T, String>;

pub trait Bus: Send + Sync {
    /// Appends the event to each of its topics' streams (idempotently) and fans it out live.
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, BusResult<()>>;
    /// Events of `topics` after `after`, oldest first.
    fn history<'a>(
        &'a self,
        topics: &'a [String],
        after: StreamId,
        limit: usize,
    ) -> BoxFuture<'a, BusResult<Vec<Delivery>>>;
    /// Live deliveries of every topic in this process (filter by topic).
    fn subscribe(&self) -> broadcast::Receiver<Delivery>;
}

const HISTORY_PER_TOPIC: usize = 1_000;

/// The in-process bus: history in memory, live fan-out by a broadcast channel.
pub struct InProcessBus {
    streams: Mutex<HashMap<String, VecDeque<Delivery>>>,
    /// Outbox ids already appended, per topic (idempotent appends).
    seen: Mutex<HashMap<String, std::collections::HashSet<i64>>>,
    live: broadcast::Sender<Delivery>,
    clock: Mutex<StreamId>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        InProcessBus {
            streams: Mutex::default(),
            seen: Mutex::default(),
            live: broadcast::channel(4_096).0,
            clock: Mutex::default(),
        }
    }
}

impl InProcessBus {
    fn next_id(&self) -> StreamId {
        let mut clock = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        let ms = crate::util::now_ms() as u64;
        *clock = if ms > clock.0 {
            StreamId(ms, 0)
        } else {
            StreamId(clock.0, clock.1 + 1)
        };
        *clock
    }
}

impl Bus for InProcessBus {
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, BusResult<()>> {
        Box::pin(async move {
            for topic in event.topics() {
                let fresh = self
                    .seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(topic.clone())
                    .or_default()
                    .insert(event.id);
                if !fresh {
                    continue;
                }
                let delivery = Delivery {
                    topic: topic.clone(),
                    position: self.next_id(),
                    event: event.clone(),
                };
                {
                    let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
                    let stream = streams.entry(topic).or_default();
                    stream.push_back(delivery.clone());
                    if stream.len() > HISTORY_PER_TOPIC {
                        stream.pop_front();
                    }
                }
                let _ = self.live.send(delivery);
            }
            Ok(())
        })
    }

    fn history<'a>(
        &'a self,
        topics: &'a [String],
        after: StreamId,
        limit: usize,
    ) -> BoxFuture<'a, BusResult<Vec<Delivery>>> {
        Box::pin(async move {
            let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            let mut out: Vec<Delivery> = topics
                .iter()
                .filter_map(|t| streams.get(t))
                .flat_map(|s| s.iter().filter(|d| d.position > after).cloned())
                .collect();
            out.sort_by_key(|d| d.position);
            out.truncate(limit);
            Ok(out)
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Delivery> {
        self.live.subscribe()
    }
}

/// Appends once per (topic, outbox id): the marker key and the XADD happen atomically.
const APPEND_ONCE: &str = r#"
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', 604800) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', '10000', '*', 'data', ARGV[1])
end
return false
"#;

/// The Redis bus: streams per topic, pub/sub for live fan-out across instances.
pub struct RedisBus {
    redis: Arc<RedisHandle>,
    live: broadcast::Sender<Delivery>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LiveMessage {
    topic: String,
    position: String,
    event: Event,
}

impl RedisBus {
    /// Starts the pub/sub listener that feeds this process's live channel.
    pub fn start(redis: Arc<RedisHandle>) -> Arc<RedisBus> {
        let bus = Arc::new(RedisBus {
            redis,
            live: broadcast::channel(4_096).0,
        });
        let listener = bus.clone();
        tokio::spawn(async move { listener.listen().await });
        bus
    }

    fn channel(&self) -> String {
        self.redis.key("events:live")
    }

    fn stream(&self, topic: &str) -> String {
        self.redis.key(&format!("events:{topic}"))
    }

    async fn listen(&self) {
        loop {
            match self.redis.client().get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if let Err(e) = pubsub.subscribe(self.channel()).await {
                        tracing::warn!(error = %e, "event subscription failed");
                    } else {
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            let Ok(payload) = msg.get_payload::<String>() else {
                                continue;
                            };
                            let Ok(live) = serde_json::from_str::<LiveMessage>(&payload) else {
                                continue;
                            };
                            let Some(position) = StreamId::parse(&live.position) else {
                                continue;
                            };
                            let _ = self.live.send(Delivery {
                                topic: live.topic,
                                position,
                                event: live.event,
                            });
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event subscription unavailable; retrying"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

impl Bus for RedisBus {
    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, BusResult<()>> {
        Box::pin(async move {
            let mut conn = self.redis.conn().await.map_err(|e| e.to_string())?;
            let data = serde_json::to_string(event).map_err(|e| e.to_string())?;
            for topic in event.topics() {
                let marker = self.redis.key(&format!("events:seen:{topic}:{}", event.id));
                let position: Option<String> = redis::Script::new(APPEND_ONCE)
                    .key(self.stream(&topic))
                    .key(marker)
                    .arg(&data)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(position) = position {
                    let live = LiveMessage {
                        topic,
                        position,
                        event: event.clone(),
                    };
                    let text = serde_json::to_string(&live).map_err(|e| e.to_string())?;
                    redis::cmd("PUBLISH")
                        .arg(self.channel())
                        .arg(text)
                        .query_async::<i64>(&mut conn)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        })
    }

    fn history<'a>(
        &'a self,
        topics: &'a [String],
        after: StreamId,
        limit: usize,
    ) -> BoxFuture<'a, BusResult<Vec<Delivery>>> {
        Box::pin(async move {
            let mut conn = self.redis.conn().await.map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for topic in topics {
                let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                    .arg(self.stream(topic))
                    .arg(format!("({after}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                for entry in reply.ids {
                    let Some(position) = StreamId::parse(&entry.id) else {
                        continue;
                    };
                    let Some(data) = entry.get::<String>("data") else {
                        continue;
                    };
                    let Ok(event) = serde_json::from_str::<Event>(&data) else {
                        continue;
                    };
                    out.push(Delivery {
                        topic: topic.clone(),
                        position,
                        event,
                    });
                }
            }
            out.sort_by_key(|d| d.position);
            out.truncate(limit);
            Ok(out)
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Delivery> {
        self.live.subscribe()
    }
}
