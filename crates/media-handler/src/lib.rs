//! The media-handler process: sockets, media threads, the control interface server, and
//! registration with a controller.
//!
//! A media handler anchors RTP for the controller (design.md §2). This crate is the thin
//! driver around the sans-IO engine of `crates/media`:
//!
//! - [`thread`]: a small fixed number of media threads, each owning an [`media::Engine`] and
//!   its legs' sockets in an I/O loop with a 20 ms tick: io_uring ([`uring`]: every leg's
//!   receives and sends in one system call per iteration) or, where io_uring is unavailable,
//!   level-triggered epoll. Commands arrive as closures over a channel with an eventfd wake-up.
//! - [`state`]: sessions as the control interface sees them, the port pool, the prompt cache.
//! - [`api`]: HTTP/JSON under `/v1` (axum), the WebSocket event stream, the OpenAPI document.
//! - [`writer`]: the recording writer thread (bounded channel, crash-safe WAV headers) and
//!   header repair at start.
//! - [`bench`]: `switchboard bench relay`, the relay load generator (also against rtpengine).
//! - [`sys`] and [`uring`]: the only unsafe code: epoll, eventfd, recvmmsg/sendmmsg; the
//!   io_uring ring and its buffers.
//!
//! Start one with [`spawn`] (embedded in another process, e.g. the controller's `run` mode)
//! or [`run`] (the `switchboard media` command).
//!
//! **Architecture invariants:** no media decision is taken here — the engine decides, this
//! crate moves bytes and time. Packets never take the control lock, never allocate, and never
//! wait on the disk (recordings go through the writer's bounded channel).

pub mod api;
pub mod bench;
pub mod config;
mod convert;
pub mod pool;
pub mod state;
pub mod sys;
pub mod thread;
pub mod uring;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{HandlerConfig, MediaArgs};
use media::EngineConfig;
pub use thread::IoMode;
use tokio::sync::{broadcast, watch};

/// Why a handler could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The control interface address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory cannot be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A thread or system resource could not be created.
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
}

/// A running handler.
#[derive(Debug)]
pub struct Handle {
    /// Its control URL, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// The control interface's bound address.
    pub addr: SocketAddr,
    shutdown: Option<watch::Sender<bool>>,
    server: Option<tokio::task::JoinHandle<()>>,
    state: Arc<state::Handler>,
}

impl Handle {
    /// A client for this handler.
    pub fn client(&self) -> media_api::MediaClient {
        media_api::MediaClient::new(self.url.clone())
            .with_token(self.state.config.control_token.as_deref())
    }

    /// Stop: the server closes, recordings are finalized, media threads end.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let state = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || state.stop_threads()).await;
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
            let state = self.state.clone();
            // Best effort: media threads stop in the background.
            std::thread::spawn(move || state.stop_threads());
        }
    }
}

fn os_seed() -> u64 {
    // The engines' identifiers need variety, not secrecy: mix the clock and the process id
    // through std's randomly keyed hasher.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Start a handler inside the current tokio runtime.
pub async fn spawn(config: HandlerConfig) -> Result<Handle, StartError> {
    for sub in ["recordings", "prompts"] {
        let dir = config.data_dir.join(sub);
        std::fs::create_dir_all(&dir).map_err(|source| StartError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let rec_dir = config.data_dir.join("recordings");
    let repaired = tokio::task::spawn_blocking(move || writer::repair_dir(&rec_dir))
        .await
        .unwrap_or(0);
    if repaired > 0 {
        tracing::warn!(repaired, "repaired unfinished recordings");
    }
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.http_listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let url = config.public_url.clone().unwrap_or_else(|| {
        let host = if addr.ip().is_unspecified() {
            config.rtp_ip
        } else {
            addr.ip()
        };
        format!("http://{}", SocketAddr::new(host, addr.port()))
    });
    let (events, _) = broadcast::channel(4096);
    let (wtx, wrx) = std::sync::mpsc::sync_channel(writer::CHANNEL);
    let wev = events.clone();
    std::thread::Builder::new()
        .name("rec-writer".into())
        .spawn(move || writer::run(wrx, wev))?;
    let fd_limit = sys::raise_fd_limit();
    let seed = config.seed.unwrap_or_else(os_seed);
    let engine_cfg = EngineConfig {
        rtcp_interval: config.rtcp_interval,
    };
    let mut threads = Vec::new();
    for i in 0..config.media_threads.max(1) {
        let s = seed.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        threads.push(thread::start(
            i,
            s,
            engine_cfg,
            config.io,
            events.clone(),
            wtx.clone(),
        )?);
    }
    let handler = Arc::new(state::Handler::new(
        config.clone(),
        url.clone(),
        threads,
        events,
        wtx,
    ));
    let (stx, srx) = watch::channel(false);

    // Measured rates, once a second.
    let (h, mut stop) = (handler.clone(), srx.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = every.tick() => h.sample_rates(),
                _ = stop.changed() => break,
            }
        }
    });
    if let Some(controller) = config.controller.clone() {
        tokio::spawn(register(
            handler.clone(),
            controller,
            config.controller_token.clone(),
            config.register_every,
            srx.clone(),
        ));
    }

    let app = api::router(
        Arc::new(api::AppState {
            handler: handler.clone(),
            shutdown: srx.clone(),
        }),
        config.control_token.clone(),
    );
    let mut stop = srx;
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "control interface server failed");
        }
    });
    tracing::info!(%url, rtp_ip = %config.rtp_ip, ports = %config.rtp_ports, threads = config.media_threads, fd_limit, "media handler started");
    Ok(Handle {
        url,
        addr,
        shutdown: Some(stx),
        server: Some(server),
        state: handler,
    })
}

/// Post this handler's registration to the controller periodically, tolerating its absence.
async fn register(
    h: Arc<state::Handler>,
    controller: String,
    token: Option<String>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let client = reqwest::Client::new();
    let target = format!(
        "{}{}",
        controller.trim_end_matches('/'),
        media_api::REGISTRATION_PATH
    );
    let mut tick = tokio::time::interval(every);
    let mut reachable = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let body = media_api::Registration {
            url: h.url.clone(),
            status: h.status().await,
            control_token: h.config.control_token.clone(),
        };
        let mut req = client
            .post(&target)
            .json(&body)
            .timeout(Duration::from_secs(5));
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let status = req.send().await.map(|r| r.status());
        let ok = matches!(&status, Ok(s) if s.is_success());
        if ok != reachable {
            match status {
                Ok(_) if ok => tracing::info!(%target, "registered with the controller"),
                Ok(s) if s.as_u16() == 401 || s.as_u16() == 403 => tracing::warn!(
                    %target,
                    status = s.as_u16(),
                    "the controller refuses the registration: give its media-handler token (http.media_handler_token) or admin token with --controller-token; will keep trying"
                ),
                _ => {
                    tracing::warn!(%target, "cannot register with the controller; will keep trying")
                }
            }
            reachable = ok;
        }
    }
}

/// Run `switchboard media` until Ctrl-C or SIGTERM.
pub fn run(args: MediaArgs) -> Result<(), StartError> {
    // Logs to stderr unless the binary already installed a subscriber; RUST_LOG filters.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let handle = spawn(HandlerConfig::from(args)).await?;
        println!("media handler listening on {}", handle.url);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        handle.shutdown().await;
        Ok(())
    })
}
