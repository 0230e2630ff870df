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
//!
//! Live fan-out is one [`Live`] message per event (not per topic) carrying the SSE frame of
//! each topic it reached, rendered once per process: with a thousand connections the cost of
//! an event is a thousand `Bytes` clones, not a thousand JSON serialisations (BENCHMARKS.md,
//! SSE delivery).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::{broadcast, Notify};

use super::event::BusEvent;
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
    pub event: BusEvent,
}

/// One event as it reached this process live: where it landed in each topic's stream, and
/// the SSE frame for each landing.
#[derive(Debug)]
pub struct Live {
    pub placements: Vec<Placement>,
}

#[derive(Debug)]
pub struct Placement {
    pub topic: String,
    pub position: StreamId,
    /// `id: …\nevent: …\ndata: …\n\n`, ready to write.
    pub frame: Bytes,
}

impl Live {
    fn new(event: &BusEvent, at: impl IntoIterator<Item = (String, StreamId)>) -> Live {
        let data = client_data(event);
        Live {
            placements: at
                .into_iter()
                .map(|(topic, position)| Placement {
                    frame: render_frame(position, event.kind.as_str(), &data),
                    topic,
                    position,
                })
                .collect(),
        }
    }
}

/// The SSE frame of an event at a stream position.
pub fn sse_frame(d: &Delivery) -> Bytes {
    render_frame(d.position, d.event.kind.as_str(), &client_data(&d.event))
}

/// An SSE frame's `data`: the client's shape of the event, never the bus message itself.
fn client_data(event: &BusEvent) -> String {
    serde_json::to_string(&event.to_client()).unwrap_or_default()
}

fn render_frame(position: StreamId, kind: &str, data: &str) -> Bytes {
    Bytes::from(format!("id: {position}\nevent: {kind}\ndata: {data}\n\n"))
}

pub type BusResult<T> = Result<T, String>;

pub trait Bus: Send + Sync {
    /// Appends the event to each of its topics' streams (idempotently) and fans it out live.
    fn publish<'a>(&'a self, event: &'a BusEvent) -> BoxFuture<'a, BusResult<()>>;
    /// Events of `topics` after `after`, oldest first.
    fn history<'a>(
        &'a self,
        topics: &'a [String],
        after: StreamId,
        limit: usize,
    ) -> BoxFuture<'a, BusResult<Vec<Delivery>>>;
    /// Live events of every topic in this process, one message per event (filter by topic).
    fn subscribe(&self) -> broadcast::Receiver<Arc<Live>>;
    /// Tells the outbox relay, wherever it runs, that rows were committed. The instance that
    /// holds the relay lease is woken locally; this reaches it from the others.
    fn announce_outbox(&self) {}
}

const HISTORY_PER_TOPIC: usize = 1_000;

/// The in-process bus: history in memory, live fan-out by a broadcast channel.
pub struct InProcessBus {
    streams: Mutex<HashMap<String, VecDeque<Delivery>>>,
    /// Outbox ids already appended, per topic (idempotent appends).
    seen: Mutex<HashMap<String, std::collections::HashSet<i64>>>,
    live: broadcast::Sender<Arc<Live>>,
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
    fn publish<'a>(&'a self, event: &'a BusEvent) -> BoxFuture<'a, BusResult<()>> {
        Box::pin(async move {
            let mut landed = Vec::new();
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
                landed.push((delivery.topic, delivery.position));
            }
            if !landed.is_empty() {
                let _ = self.live.send(Arc::new(Live::new(event, landed)));
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

    fn subscribe(&self) -> broadcast::Receiver<Arc<Live>> {
        self.live.subscribe()
    }
}

/// Publishes one event in one round trip: for each topic (KEYS = stream, marker, stream,
/// marker, …) appends it once per (topic, outbox id) — marker and XADD atomically — then
/// announces the landings with one PUBLISH. ARGV: the event JSON, the live channel, then each
/// topic as a JSON string (so the message is built without a JSON library in Lua).
const PUBLISH_ONCE: &str = r#"
local landed = {}
for i = 1, #KEYS, 2 do
  if redis.call('SET', KEYS[i + 1], '1', 'NX', 'EX', 604800) then
    local id = redis.call('XADD', KEYS[i], 'MAXLEN', '~', '10000', '*', 'data', ARGV[1])
    landed[#landed + 1] = '[' .. ARGV[2 + (i + 1) / 2] .. ',"' .. id .. '"]'
  end
end
if #landed > 0 then
  redis.call('PUBLISH', ARGV[2], '{"at":[' .. table.concat(landed, ',') .. '],"event":' .. ARGV[1] .. '}')
end
return #landed
"#;

/// The Redis bus: streams per topic, pub/sub for live fan-out across instances.
pub struct RedisBus {
    redis: Arc<RedisHandle>,
    live: broadcast::Sender<Arc<Live>>,
    script: redis::Script,
    /// The local relay's wake-up, rung when another instance announces outbox rows.
    relay_nudge: Arc<Notify>,
}

/// What PUBLISH_ONCE announces: the (topic, position) landings and the event.
#[derive(serde::Deserialize)]
struct LiveMessage {
    at: Vec<(String, String)>,
    event: BusEvent,
}

impl RedisBus {
    /// Starts the pub/sub listener that feeds this process's live channel and relay nudges.
    pub fn start(redis: Arc<RedisHandle>, relay_nudge: Arc<Notify>) -> Arc<RedisBus> {
        let bus = Arc::new(RedisBus {
            redis,
            live: broadcast::channel(4_096).0,
            script: redis::Script::new(PUBLISH_ONCE),
            relay_nudge,
        });
        let listener = bus.clone();
        tokio::spawn(async move { listener.listen().await });
        bus
    }

    fn channel(&self) -> String {
        self.redis.key("events:live")
    }

    fn nudge_channel(&self) -> String {
        self.redis.key("outbox:nudge")
    }

    fn stream(&self, topic: &str) -> String {
        self.redis.key(&format!("events:{topic}"))
    }

    async fn listen(&self) {
        loop {
            match self.redis.client().get_async_pubsub().await {
                Ok(mut pubsub) => {
                    let (live, nudge) = (self.channel(), self.nudge_channel());
                    if let Err(e) = pubsub.subscribe(&[&live, &nudge]).await {
                        tracing::warn!(error = %e, "event subscription failed");
                    } else {
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            if msg.get_channel_name() == nudge {
                                self.relay_nudge.notify_one();
                                continue;
                            }
                            let Ok(payload) = msg.get_payload::<String>() else {
                                continue;
                            };
                            let Ok(message) = serde_json::from_str::<LiveMessage>(&payload) else {
                                continue;
                            };
                            let landed = message.at.into_iter().filter_map(|(topic, position)| {
                                Some((topic, StreamId::parse(&position)?))
                            });
                            let _ = self.live.send(Arc::new(Live::new(&message.event, landed)));
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
    fn publish<'a>(&'a self, event: &'a BusEvent) -> BoxFuture<'a, BusResult<()>> {
        Box::pin(async move {
            let mut conn = self.redis.conn().await.map_err(|e| e.to_string())?;
            let data = serde_json::to_string(event).map_err(|e| e.to_string())?;
            let mut call = self.script.prepare_invoke();
            call.arg(&data).arg(self.channel());
            for topic in event.topics() {
                let marker = self.redis.key(&format!("events:seen:{topic}:{}", event.id));
                call.key(self.stream(&topic)).key(marker);
                call.arg(serde_json::to_string(&topic).map_err(|e| e.to_string())?);
            }
            call.invoke_async::<i64>(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
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
                    let Ok(event) = serde_json::from_str::<BusEvent>(&data) else {
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

    fn subscribe(&self) -> broadcast::Receiver<Arc<Live>> {
        self.live.subscribe()
    }

    fn announce_outbox(&self) {
        let (redis, channel) = (self.redis.clone(), self.nudge_channel());
        // Fire and forget: the relay also polls, so a lost nudge only costs latency.
        tokio::spawn(async move {
            if let Ok(mut conn) = redis.conn().await {
                let _ = redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg("1")
                    .query_async::<i64>(&mut conn)
                    .await;
            }
        });
    }
}
