//! The conference controller: SIP transports, registrar, B2BUA, media-handler
//! registry, and the drivers for the bandwidth manager, flows and ACD.
//!
//! # Architecture
//!
//! The controller is a thin tokio driver around sans-IO cores. Every decision
//! is taken in a core — SIP (`sip::endpoint::Endpoint`, `sip::registrar`),
//! SDP offer/answer (`sdp`), placement (`bandwidth::BandwidthManager`), call
//! flows (`flow::Contact`), agents and queues (`acd::Acd`) — and this crate feeds them inputs
//! with the current time and executes their outputs. Each core has exactly one
//! driver, which documents its loop ("mutate, then drain") where it runs:
//!
//! | task | owns / drives | talks to |
//! |---|---|---|
//! | UDP receive (one per listen address), TCP accept, TCP connection (one reader + one writer per connection) — [`transport`] | sockets; TCP framing with `sip::check_stream` | the signalling task (bounded channel of [`transport::Inbound`]) |
//! | **signalling** (one) — [`signalling`] | the SIP `Endpoint` (transactions, dialogs, 2xx retransmission) and the `Registrar`; one timer at `poll_timeout` | transports (sends), contact tasks (per-call channel of [`signalling::SipEvent`], found by server transaction, dialog or client transaction) |
//! | **contact** (one per customer call) — [`call`] | the customer side of the B2BUA, the contact's `flow::Contact` (one timer at its `poll_timeout`), its media session | signalling ([`signalling::SigCommand`]), its media handler (HTTP, `media_api::MediaClient`), the registry, the queue service, its call-record writer |
//! | media events (one per media handler) — [`media_events`] | the handler's `/v1/events` WebSocket | contact tasks, by session id |
//! | registry pollers (one per handler) + health — [`registry`] | the `BandwidthManager` (behind a mutex: short synchronous calls from pollers, contacts and the API) | media handlers' `/v1/status` |
//! | call-record writer (one per contact) — [`records`] | that contact's store writes, in order | the store (`store::Store`) |
//! | **agent manager** (one) — [`agents`] | the `acd::Acd`; one timer at `poll_timeout` | contact tasks (a per-contact forwarder, [`agents::service`]: offers, cancels, confirmations), the agent and admin API (requests with a reply), its call-record writer (queue entry, offers, answer, disposition), a broadcast of statistics (`/api/v1/stats/ws`) |
//! | HTTP API — [`api`] | axum: `/api/v1/...`, `/metrics` | registry, store, live contacts |
//!
//! Why this shape: the SIP stack is one state machine for the whole process
//! (transactions are matched across calls), so one task owns it and nothing
//! waits on it — every slow thing (HTTP to media handlers, the database,
//! webhooks, DNS) happens in a contact task or a writer task, never in the
//! signalling loop. A contact task is the natural unit of a call: it owns the
//! call's flow, media session and dialogs, so their state needs no lock.
//!
//! **Architecture Invariant:** the signalling task never awaits anything but
//! its inputs; it answers inline only what needs no I/O (REGISTER, OPTIONS,
//! refusals, 404, overload `503`).
//!
//! **Architecture Invariant:** no decision logic here that belongs to a core:
//! which response a SIP request gets, what the answer SDP says, which handler
//! takes a contact, what a flow does next — each is asked of its core.
//!
//! **The ACD seam** is [`queue::QueueService`]: `enqueue` commands go there,
//! queue decisions come back as [`queue::QueueEvent`]s (including
//! [`queue::QueueEvent::Offer`], which makes the contact dial an agent on its
//! own media session). The service is the agent manager
//! ([`agents::service::AcdQueues`]); which agent rings, and who gets a contact
//! when a device answers, is decided only in the ACD.

pub mod agents;
pub mod api;
pub mod call;
pub mod config;
pub mod explain;
pub mod live;
pub mod media_events;
pub mod metrics;
pub mod queue;
pub mod records;
pub mod registry;
pub mod signalling;
pub mod transport;

use std::collections::{BTreeSet, HashMap};
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{mpsc, watch};

use crate::call::{CallContext, Calls};
use crate::config::{Config, Listen};
use crate::live::LiveContacts;
use crate::media_events::MediaEvents;
use crate::queue::QueueService;
use crate::registry::{Origin, Registry};
use crate::signalling::{SigCommand, Signalling, SignallingConfig};

/// A media handler to register at start.
#[derive(Debug, Clone)]
pub struct HandlerSpec {
    /// Its id (default: from the URL).
    pub id: Option<String>,
    /// Its control URL.
    pub url: String,
    /// The bearer token its control interface requires, if any.
    pub control_token: Option<String>,
    /// Overrides the capacity it reports.
    pub capacity_kbps: Option<u64>,
    /// Where it comes from.
    pub origin: Origin,
}

/// What [`Controller::start`] needs.
pub struct StartOptions {
    /// The configuration (validated).
    pub config: Config,
    /// Media handlers to register now (embedded ones; `[[media_handlers]]`).
    pub handlers: Vec<HandlerSpec>,
    /// The queue service (default: the agent manager, [`agents::service::AcdQueues`];
    /// [`queue::MusicOnly`] plays music only).
    pub queues: Option<Arc<dyn QueueService>>,
    /// The Prometheus recorder's handle, for `/metrics`.
    pub metrics: Option<PrometheusHandle>,
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory cannot be created.
    #[error("cannot create {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    /// The store cannot be opened or written.
    #[error("storage: {0}")]
    Store(#[from] store::StoreError),
    /// The flows do not load.
    #[error("flows:\n{0}")]
    Flows(String),
    /// A socket cannot be bound.
    #[error("cannot listen on {what} {addr}: {source}")]
    Bind {
        /// `SIP` or `HTTP`.
        what: &'static str,
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The SIP endpoint refused its settings.
    #[error("SIP: {0}")]
    Sip(#[from] sip::Error),
    /// A media handler could not be registered.
    #[error("media handler: {0}")]
    Handler(#[from] bandwidth::RegistryError),
    /// The OS random number generator is unavailable.
    #[error("OS RNG: {0}")]
    Rng(std::io::Error),
}

/// A running controller.
pub struct Controller {
    /// The SIP sockets bound.
    pub sip: Vec<Listen>,
    /// The host put in Via and Contact.
    pub sip_host: String,
    /// The HTTP API address.
    pub http: SocketAddr,
    /// The signalling task's handle (registrations, lookups).
    pub signalling: Signalling,
    /// The media-handler registry.
    pub registry: Registry,
    /// The store.
    pub store: Arc<dyn store::Store>,
    /// Live contacts.
    pub live: LiveContacts,
    /// The flows loaded.
    pub flows: Arc<RwLock<flow::FlowSet>>,
    /// The agent manager (ACD) and the directory of credentials and routes.
    pub agents: agents::Agents,
    /// The admin token and agent sessions of the HTTP API.
    pub auth: agents::Auth,
    /// Where the admin token came from (for the start-up banner).
    pub admin_token_source: agents::auth::TokenSource,
    context: Arc<CallContext>,
    media_events: MediaEvents,
    drain: records::DrainWait,
    sig_task: tokio::task::JoinHandle<()>,
    health_task: tokio::task::JoinHandle<()>,
    http_stop: watch::Sender<bool>,
    http_task: tokio::task::JoinHandle<()>,
}

/// `N` bytes from the OS random number generator.
fn os_random<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b)
}

/// The flows in a folder, with the prompts and queues they are checked against.
pub fn load_flows(config: &Config) -> Result<flow::FlowSet, String> {
    let prompts = flow::prompts_in_dir(&config.prompts)
        .map_err(|e| format!("{}: {e}", config.prompts.display()))?;
    let queues: BTreeSet<String> = config
        .queues
        .iter()
        .map(|q| q.id.get_ref().clone())
        .collect();
    let catalog = flow::Catalog::new(&prompts, &queues);
    flow::FlowSet::load_dir(&config.flows, &catalog).map_err(|e| e.to_string())
}

/// Puts the flows uploaded through the API (kept in the store) in service
/// beside the folder's; a flow file of the same name wins. One that no longer
/// validates (a prompt or queue removed since) is reported and skipped.
async fn load_api_flows(
    config: &Config,
    store: &dyn store::Store,
    flows: &mut flow::FlowSet,
) -> Result<(), StartError> {
    let prompts = flow::prompts_in_dir(&config.prompts)
        .map_err(|e| StartError::Flows(format!("{}: {e}", config.prompts.display())))?;
    let queues: BTreeSet<String> = config
        .queues
        .iter()
        .map(|q| q.id.get_ref().clone())
        .collect();
    let catalog = flow::Catalog::new(&prompts, &queues);
    for stored in store.list_flows().await? {
        if stored.origin != store::Origin::Api || flows.get(&stored.value.name).is_some() {
            continue;
        }
        let file = format!("{}.yaml", stored.value.name);
        if let Err(errors) = flows.upsert(&file, &stored.value.source, &catalog) {
            tracing::warn!(flow = %stored.value.name, %errors, "stored flow no longer valid; not loaded");
        }
    }
    Ok(())
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The configuration's agents, queues, routes and flows, for the store.
fn config_objects(config: &Config, flows: &flow::FlowSet) -> store::ConfigObjects {
    let strategy = |s: config::Strategy| match s {
        config::Strategy::LongestIdle => store::QueueStrategy::LongestIdle,
        config::Strategy::RoundRobin => store::QueueStrategy::RoundRobin,
        config::Strategy::FewestCalls => store::QueueStrategy::FewestCalls,
        config::Strategy::MostSkilled => store::QueueStrategy::MostSkilled,
        config::Strategy::RingAll => store::QueueStrategy::RingAll,
    };
    let queues = config
        .queues
        .iter()
        .map(|q| store::Queue {
            id: q.id.get_ref().clone(),
            name: q.name.clone().unwrap_or_else(|| q.id.get_ref().clone()),
            skills: q
                .skills
                .iter()
                .map(|(k, v)| (k.clone(), *v.get_ref()))
                .collect(),
            strategy: strategy(q.strategy),
            ring_timeout: q.ring_timeout.0,
            wrap_up: q.wrap_up.0,
            max_wait: q.max_wait.map(|d| d.0),
            service_level: q.service_level.0,
            short_abandon: q.short_abandon.0,
            priority: q.priority,
            record: q.record,
        })
        .collect();
    let agents = config
        .agents
        .iter()
        .map(|a| {
            let id = a.id.get_ref().clone();
            let user = a.sip_user.clone().unwrap_or_else(|| id.clone());
            store::Agent {
                name: a.name.clone().unwrap_or_else(|| id.clone()),
                secret: Some(store::SipSecret::digest(
                    &user,
                    &config.sip.domain,
                    &a.password,
                )),
                sip_user: user,
                skills: a
                    .skills
                    .iter()
                    .map(|(k, v)| (k.clone(), *v.get_ref()))
                    .collect(),
                queues: a.queues.iter().map(|q| q.get_ref().clone()).collect(),
                wrap_up: a.wrap_up.as_ref().map(|d| d.get_ref().0),
                id,
            }
        })
        .collect();
    let routes = config
        .routes
        .iter()
        .map(|r| store::Route {
            number: r.number.get_ref().clone(),
            flow: r.flow.get_ref().clone(),
            priority: r.priority,
        })
        .collect();
    let flows = flows
        .names()
        .filter_map(|name| {
            let flow = flows.get(name)?;
            let source = std::fs::read_to_string(flow.file()).ok()?;
            Some(store::Flow {
                name: name.to_string(),
                source,
            })
        })
        .collect();
    store::ConfigObjects {
        queues,
        agents,
        routes,
        flows,
    }
}

impl Controller {
    /// Opens the store, loads the flows, registers the media handlers, binds
    /// SIP and HTTP, and starts every task.
    pub async fn start(opts: StartOptions) -> Result<Controller, StartError> {
        let StartOptions {
            config,
            handlers,
            queues,
            metrics,
        } = opts;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;

        // Store: close what a killed process left open, then apply the file.
        let store = store::open(&config.storage_url()).await?;
        let closed = store.close_in_progress(jiff::Timestamp::now()).await?;
        if closed > 0 {
            tracing::warn!(
                closed,
                "closed call records left in progress by a previous run"
            );
        }
        let flows = load_flows(&config).map_err(StartError::Flows)?;
        let report = store
            .apply_config(&config_objects(&config, &flows), jiff::Timestamp::now())
            .await?;
        tracing::info!(
            created = report.created,
            updated = report.updated,
            "configuration applied to the store"
        );
        let mut flows = flows;
        load_api_flows(&config, store.as_ref(), &mut flows).await?;
        let flows = Arc::new(RwLock::new(flows));
        let (admin_token, admin_token_source) =
            agents::auth::admin_token(config.http.admin_token.as_deref(), &config.data_dir)
                .map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;
        let auth = agents::Auth::new(admin_token)
            .with_media_handler_token(config.http.media_handler_token.as_deref());

        // The agent manager (ACD) with the stored agents and queues, and the directory of
        // credentials and routes that the registrar, the contacts and the admin API share.
        let file_passwords: HashMap<String, String> = config
            .agents
            .iter()
            .map(|a| {
                (
                    a.sip_user.clone().unwrap_or_else(|| a.id.get_ref().clone()),
                    a.password.clone(),
                )
            })
            .collect();
        let agents = agents::load_from_store(
            store.clone(),
            agents::ManagerOptions::default(),
            &file_passwords,
        )
        .await?;

        // Media handlers.
        let mut answer = sdp::Capabilities::audio(&[sdp::Codec::Pcmu, sdp::Codec::Pcma]);
        answer.video = config.bandwidth.video_codecs();
        let bw = bandwidth::Config {
            answer,
            priority_headroom_percent: config.bandwidth.priority_reserve_percent,
            // One Retry-After for every 503, whether signalling or bandwidth refuses.
            retry_after: Duration::from_secs(u64::from(config.sip.retry_after)),
            ..bandwidth::Config::default()
        };
        let registry = Registry::new(bw);
        let health_task = registry.spawn_health_task();
        let media_events = MediaEvents::new();
        for h in &handlers {
            let id = registry.add(
                h.id.as_deref(),
                &h.url,
                h.control_token.as_deref(),
                h.capacity_kbps,
                h.origin,
            )?;
            if !registry.refresh(&id).await {
                tracing::warn!(handler = %id, "media handler does not answer yet");
            }
            if let Some(client) = registry.client(&id)
                && !media_events.ensure(&id, &client).await
            {
                tracing::warn!(handler = %id, "media handler events not reachable yet");
            }
        }

        // SIP transports and the signalling task.
        let (inbound_tx, inbound_rx) = mpsc::channel(8192);
        let listen = config.sip_listen();
        let transports = transport::Transports::bind(&listen, inbound_tx)
            .await
            .map_err(|source| StartError::Bind {
                what: "SIP",
                addr: listen
                    .iter()
                    .map(|l| format!("{:?}:{}", l.transport, l.addr))
                    .collect::<Vec<_>>()
                    .join(", "),
                source,
            })?;
        let bound = transports.bound();
        let first = bound.first().map(|l| l.addr);
        // The same address the embedded media handlers announce (`run` asks the config too).
        let host_ip = config.contact_ip();
        let host = sip::Host::from(host_ip);
        let port = first.map(|a| a.port());
        let seed = u64::from_le_bytes(os_random().map_err(StartError::Rng)?);
        let secret = os_random().map_err(StartError::Rng)?;
        tracing::info!(seed, "SIP endpoint seed");
        let (drain, drain_wait) = records::drain();
        let sig_config = SignallingConfig {
            host: host.clone(),
            port,
            realm: config.sip.domain.clone(),
            digest_algorithms: config.digest_algorithms(),
            max_calls: config.sip.max_calls,
            retry_after: config.sip.retry_after,
            max_setups: config.sip.max_setups,
            record_backlog: (drain.backlog(), config.sip.max_record_backlog),
            seed,
            secret,
            passwords: {
                let directory = agents.directory.clone();
                Arc::new(move |user: &str| directory.password(user))
            },
            user_agent: format!("Switchboard/{}", env!("CARGO_PKG_VERSION")),
        };
        let (signalling, inbox) = Signalling::channel();
        let live = LiveContacts::default();
        let start_ms = jiff::Timestamp::now().as_millisecond();
        let context = Arc::new(CallContext {
            routes: config
                .routes
                .iter()
                .map(|r| (r.number.get_ref().clone(), r.clone()))
                .collect(),
            directory: agents.directory.clone(),
            flows: flows.clone(),
            prompts: absolute(&config.prompts),
            registry: registry.clone(),
            transcodable: config.bandwidth.transcode_codecs(),
            store: store.clone(),
            sig: signalling.clone(),
            media_events: media_events.clone(),
            live: live.clone(),
            queues: queues.unwrap_or_else(|| {
                Arc::new(agents::service::AcdQueues::new(
                    agents.manager.clone(),
                    Arc::new(signalling.clone()),
                ))
            }),
            http: reqwest::Client::new(),
            drain,
            host,
            port,
            id_prefix: format!("{start_ms:x}"),
            counter: AtomicU64::new(0),
        });
        let sig_task = inbox.spawn(
            sig_config,
            transports,
            inbound_rx,
            Arc::new(Calls(context.clone())),
        )?;

        // HTTP.
        let app = api::router(api::ApiState {
            registry: registry.clone(),
            store: store.clone(),
            live: live.clone(),
            metrics,
            signalling: signalling.clone(),
            flows: flows.clone(),
            catalog: api::FlowCatalog {
                prompts: config.prompts.clone(),
                queues: config
                    .queues
                    .iter()
                    .map(|q| q.id.get_ref().clone())
                    .collect(),
            },
            auth: auth.clone(),
            agents: Some(agents::AgentsApi::new(
                agents.manager.clone(),
                store.clone(),
                agents.directory.clone(),
                auth.clone(),
                Some({
                    let flows = flows.clone();
                    Arc::new(move |name: &str| {
                        flows.read().map(|f| f.get(name).is_some()).unwrap_or(false)
                    })
                }),
            )),
        });
        let listener = tokio::net::TcpListener::bind(config.http.listen)
            .await
            .map_err(|source| StartError::Bind {
                what: "HTTP",
                addr: config.http.listen.to_string(),
                source,
            })?;
        let http = listener.local_addr().map_err(|source| StartError::Bind {
            what: "HTTP",
            addr: config.http.listen.to_string(),
            source,
        })?;
        let (http_stop, mut stop) = watch::channel(false);
        let http_task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(sip = ?bound, %http, "controller started");
        Ok(Controller {
            sip: bound,
            sip_host: host_ip.to_string(),
            http,
            signalling,
            registry,
            store,
            live,
            flows,
            agents,
            auth,
            admin_token_source,
            context,
            media_events,
            drain: drain_wait,
            sig_task,
            health_task,
            http_stop,
            http_task,
        })
    }

    /// Graceful shutdown: new calls get `503`, every call is hung up (BYE,
    /// recordings finalized, records closed) within `timeout`, then the
    /// servers stop and the store closes.
    pub async fn shutdown(self, timeout: Duration) {
        self.signalling.send(SigCommand::Shutdown);
        if !self.signalling.wait_idle(timeout).await {
            tracing::warn!(
                calls = self.signalling.active_calls(),
                "calls still running at shutdown"
            );
        }
        let _ = self.http_stop.send(true);
        let _ = self.http_task.await;
        self.sig_task.abort();
        let _ = self.sig_task.await;
        drop(self.context);
        if !self.drain.wait(Duration::from_secs(5)).await {
            tracing::warn!("some call records were still being written");
        }
        self.media_events.shutdown();
        self.registry.shutdown();
        self.health_task.abort();
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "closing the store");
        }
    }
}
