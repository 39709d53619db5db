//! Settings of a media handler: the command line of `switchboard media` (also settable by
//! `SWITCHBOARD_*` environment variables) and the same settings as a plain struct for
//! handlers embedded in another process.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::pool::PortRange;
pub use crate::thread::IoMode;

/// `switchboard media`: one standalone media handler.
#[derive(Debug, Clone, clap::Args)]
pub struct MediaArgs {
    /// Address of the control interface (HTTP/JSON under /v1).
    #[arg(
        long,
        env = "SWITCHBOARD_HTTP_LISTEN",
        default_value = "127.0.0.1:9090"
    )]
    pub http_listen: SocketAddr,
    /// Address for RTP/RTCP sockets (also the address given to endpoints).
    #[arg(long, env = "SWITCHBOARD_RTP_IP", default_value = "127.0.0.1")]
    pub rtp_ip: IpAddr,
    /// RTP port range, e.g. 20000-29999 (RTP even, RTCP odd).
    #[arg(long, env = "SWITCHBOARD_RTP_PORTS", default_value = "20000-29999")]
    pub rtp_ports: PortRange,
    /// Bandwidth this handler offers to the controller, kbit/s.
    #[arg(long, env = "SWITCHBOARD_CAPACITY_KBPS", default_value_t = 100_000)]
    pub capacity_kbps: u32,
    /// Data directory: prompts in `prompts/`, recordings written to `recordings/`.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Controller to register with (POSTs this handler's URL and status every 10 s).
    #[arg(long, env = "SWITCHBOARD_CONTROLLER")]
    pub controller: Option<String>,
    /// The controller's media-handler token (its `http.media_handler_token`, good for
    /// registering only) or its admin token, sent with each registration (the controller
    /// refuses registrations without one).
    #[arg(long, env = "SWITCHBOARD_CONTROLLER_TOKEN", hide_env_values = true)]
    pub controller_token: Option<String>,
    /// Media threads (default: the number of cores, at most 4).
    #[arg(long, env = "SWITCHBOARD_MEDIA_THREADS")]
    pub media_threads: Option<usize>,
    /// The URL the controller should use for this handler (default: from --http-listen).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A bearer token every control request must carry (`Authorization: Bearer ...`); sent
    /// to the controller with each registration. Without it the control interface is open
    /// to whoever reaches --http-listen.
    #[arg(long, env = "SWITCHBOARD_MEDIA_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// The media threads' I/O loop: io_uring (one system call per loop for all legs), epoll
    /// (a system call per packet), or auto (io_uring where the kernel allows it).
    #[arg(long, env = "SWITCHBOARD_MEDIA_IO", value_enum, default_value = "auto")]
    pub io: IoMode,
}

/// Everything a handler needs to start.
#[derive(Debug, Clone)]
pub struct HandlerConfig {
    /// Control interface address (port 0: any free port).
    pub http_listen: SocketAddr,
    /// RTP address.
    pub rtp_ip: IpAddr,
    /// RTP port range.
    pub rtp_ports: PortRange,
    /// Capacity, kbit/s.
    pub capacity_kbps: u32,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Controller URL to register with.
    pub controller: Option<String>,
    /// Bearer token sent with each registration.
    pub controller_token: Option<String>,
    /// Bearer token the control interface requires (`None`: open).
    pub control_token: Option<String>,
    /// Media threads.
    pub media_threads: usize,
    /// Their I/O loop.
    pub io: IoMode,
    /// URL announced to the controller.
    pub public_url: Option<String>,
    /// Mean RTCP report interval.
    pub rtcp_interval: Duration,
    /// Seed of the engines' random choices (`None`: from the OS).
    pub seed: Option<u64>,
    /// Registration period.
    pub register_every: Duration,
}

/// The default number of media threads: the cores, at most 4.
pub fn default_media_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

impl HandlerConfig {
    /// Defaults for an embedded handler on loopback: any free HTTP port, RTP on 127.0.0.1,
    /// the given port range and data directory.
    pub fn local(rtp_ports: PortRange, data_dir: impl Into<PathBuf>) -> Self {
        HandlerConfig {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            rtp_ip: IpAddr::from([127, 0, 0, 1]),
            rtp_ports,
            capacity_kbps: 100_000,
            data_dir: data_dir.into(),
            controller: None,
            controller_token: None,
            control_token: None,
            media_threads: default_media_threads(),
            io: IoMode::Auto,
            public_url: None,
            rtcp_interval: Duration::from_secs(5),
            seed: None,
            register_every: Duration::from_secs(10),
        }
    }
}

impl From<MediaArgs> for HandlerConfig {
    fn from(a: MediaArgs) -> Self {
        HandlerConfig {
            http_listen: a.http_listen,
            rtp_ip: a.rtp_ip,
            rtp_ports: a.rtp_ports,
            capacity_kbps: a.capacity_kbps,
            data_dir: a.data_dir,
            controller: a.controller,
            controller_token: a.controller_token,
            control_token: a.control_token.filter(|t| !t.is_empty()),
            media_threads: a.media_threads.unwrap_or_else(default_media_threads).max(1),
            io: a.io,
            public_url: a.public_url,
            rtcp_interval: Duration::from_secs(5),
            seed: None,
            register_every: Duration::from_secs(10),
        }
    }
}
