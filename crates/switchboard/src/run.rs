//! `switchboard run` (the all-in-one, also the default with no subcommand)
//! and `switchboard controller` (the controller alone).
//!
//! `run` starts `[media] embedded` media handlers in this process, sharing
//! the RTP port range between them, and registers them with the controller;
//! `controller` uses the `[[media_handlers]]` of the configuration and the
//! handlers that register themselves (`switchboard media --controller URL`).
//! Both use the same [`controller::Controller`] and talk to every handler over
//! the same HTTP control interface. Ctrl-C or SIGTERM shuts down gracefully:
//! calls are hung up, recordings finalized, call records closed.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use controller::config::{Config, Listen, parse_port_range};
use controller::registry::Origin;
use controller::{Controller, HandlerSpec, StartOptions};
use media_handler::pool::PortRange;
use toml::Spanned;

use crate::settings::{ConfigArgs, Loaded};

/// How long shutdown waits for calls to end.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `run` and `controller` (each also settable as `SWITCHBOARD_*`).
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// SIP listen addresses, replacing the file's `sip.listen`
    /// (repeat, or separate with commas): `udp:0.0.0.0:5060,tcp:0.0.0.0:5060`.
    #[arg(long, env = "SWITCHBOARD_SIP_LISTEN", value_delimiter = ',')]
    pub sip_listen: Vec<String>,
    /// HTTP address of the API and metrics.
    #[arg(long, env = "SWITCHBOARD_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// RTP port range shared by the embedded media handlers, e.g. 20000-29999.
    #[arg(long, env = "SWITCHBOARD_RTP_PORTS")]
    pub rtp_ports: Option<String>,
    /// How many media handlers `run` embeds.
    #[arg(long, env = "SWITCHBOARD_EMBEDDED")]
    pub embedded: Option<usize>,
    /// Concurrent calls before new ones get 503 + Retry-After.
    #[arg(long, env = "SWITCHBOARD_MAX_CALLS")]
    pub max_calls: Option<usize>,
}

#[derive(clap::Parser)]
struct EnvOnly {
    #[command(flatten)]
    args: RunArgs,
}

impl RunArgs {
    /// The options from the environment alone (plain `switchboard`).
    pub fn from_env() -> RunArgs {
        EnvOnly::parse_from(["switchboard"]).args
    }

    /// Applies the flags on top of the file.
    fn apply(&self, config: &mut Config) -> anyhow::Result<()> {
        if !self.sip_listen.is_empty() {
            for l in &self.sip_listen {
                l.parse::<Listen>()
                    .map_err(|e| anyhow::anyhow!("--sip-listen: {e}"))?;
            }
            config.sip.listen = self
                .sip_listen
                .iter()
                .map(|l| Spanned::new(0..0, l.clone()))
                .collect();
        }
        if let Some(h) = self.http_listen {
            config.http.listen = h;
        }
        if let Some(r) = &self.rtp_ports {
            parse_port_range(r).map_err(|e| anyhow::anyhow!("--rtp-ports: {e}"))?;
            config.media.rtp_ports = Spanned::new(0..0, r.clone());
        }
        if let Some(n) = self.embedded {
            config.media.embedded = n;
        }
        if let Some(n) = self.max_calls {
            config.sip.max_calls = n;
        }
        Ok(())
    }
}

fn init_logging() {
    let filter =
        // sqlx warns on every slow pool acquisition: under load, a flood of
        // lines about one cause (the call-record backlog, limited and counted).
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| "info,sqlx::pool::acquire=error".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Splits `first..=last` into `n` ranges of an even number of ports.
fn split_ports(first: u16, last: u16, n: usize) -> Vec<PortRange> {
    let n = n.max(1) as u32;
    let first = u32::from(first) + u32::from(first) % 2;
    let len = ((u32::from(last) + 1).saturating_sub(first) / n) & !1;
    (0..n)
        .filter(|_| len >= 2)
        .map(|i| {
            let a = first + i * len;
            // Invariant: a + len - 1 <= last <= u16::MAX by the division above.
            PortRange {
                first: a as u16,
                last: (a + len - 1) as u16,
            }
        })
        .collect()
}

/// Runs the controller until Ctrl-C or SIGTERM; `embedded`: with the
/// configured number of in-process media handlers.
pub fn run(args: RunArgs, embedded: bool) -> anyhow::Result<()> {
    init_logging();
    let Loaded {
        mut config,
        path,
        is_demo,
    } = args.config.load()?;
    args.apply(&mut config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let metrics = controller::metrics::install();
        let mut handles = Vec::new();
        let mut handlers = Vec::new();
        if embedded && config.media.embedded > 0 {
            let (first, last) = config.rtp_port_range();
            let ranges = split_ports(first, last, config.media.embedded);
            anyhow::ensure!(
                !ranges.is_empty(),
                "the RTP port range {first}-{last} is too small for {} media handlers",
                config.media.embedded
            );
            for (i, ports) in ranges.into_iter().enumerate() {
                let mut hc = media_handler::HandlerConfig::local(ports, config.data_dir.clone());
                hc.rtp_ip = config.media_rtp_ip();
                // The embedded handlers listen on loopback, but any local process could
                // reach them: each gets a fresh control token only this process knows.
                hc.control_token = Some(
                    controller::agents::auth::new_token()
                        .context("making a control token for an embedded media handler")?,
                );
                hc.capacity_kbps = u32::try_from(config.media.capacity_kbps).unwrap_or(u32::MAX);
                let hc_token = hc.control_token.clone();
                let handle = media_handler::spawn(hc)
                    .await
                    .with_context(|| format!("starting embedded media handler {}", i + 1))?;
                handlers.push(HandlerSpec {
                    id: Some(format!("embedded-{}", i + 1)),
                    url: handle.url.clone(),
                    control_token: hc_token,
                    capacity_kbps: None,
                    origin: Origin::Embedded,
                });
                handles.push(handle);
            }
        }
        for h in &config.media_handlers {
            handlers.push(HandlerSpec {
                id: None,
                url: h.url.get_ref().clone(),
                control_token: h.control_token.clone(),
                capacity_kbps: h.capacity_kbps,
                origin: Origin::Configured,
            });
        }
        let banner_config = config.clone();
        let controller = Controller::start(StartOptions {
            config,
            handlers,
            queues: None,
            metrics,
        })
        .await?;
        print_banner(&controller, &banner_config, &path, is_demo, handles.len());

        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        controller.shutdown(SHUTDOWN_TIMEOUT).await;
        for h in handles {
            h.shutdown().await;
        }
        println!("Switchboard stopped.");
        Ok(())
    })
}

fn print_banner(
    c: &Controller,
    config: &Config,
    path: &std::path::Path,
    is_demo: bool,
    embedded: usize,
) {
    let version = env!("CARGO_PKG_VERSION");
    let source = if is_demo {
        format!("the bundled demo, {}", path.display())
    } else {
        path.display().to_string()
    };
    println!("Switchboard {version} is running ({source})");
    let sip: Vec<String> = c
        .sip
        .iter()
        .map(|l| {
            let t = match l.transport {
                controller::config::Transport::Udp => "udp",
                controller::config::Transport::Tcp => "tcp",
            };
            format!("{t}:{}", l.addr)
        })
        .collect();
    println!(
        "  SIP      {}  (contact host {})",
        sip.join("  "),
        c.sip_host
    );
    let port = c.sip.first().map_or(5060, |l| l.addr.port());
    for r in &config.routes {
        println!(
            "  Dial     sip:{}@{}:{port}  → flow \"{}\"",
            r.number.get_ref(),
            c.sip_host,
            r.flow.get_ref()
        );
    }
    if !config.agents.is_empty() {
        println!(
            "  Agents   register with user and password, realm {}:",
            config.sip.domain
        );
        for a in &config.agents {
            let id = a.id.get_ref();
            let user = a.sip_user.as_deref().unwrap_or(id);
            let name = a.name.as_deref().unwrap_or(id);
            if is_demo {
                println!("           {user:<8} {name:<10} password {}", a.password);
            } else {
                println!("           {user:<8} {name}");
            }
        }
    }
    println!(
        "  HTTP     http://{}/api/v1  (OpenAPI /api/v1/openapi.json, metrics /metrics)",
        c.http
    );
    let token = match &c.admin_token_source {
        controller::agents::auth::TokenSource::Configured => "set in the configuration".to_string(),
        controller::agents::auth::TokenSource::File(p)
        | controller::agents::auth::TokenSource::Generated(p) => format!("in {}", p.display()),
    };
    println!("  Admin    token {token} (Authorization: Bearer ...)");
    if embedded > 0 {
        println!(
            "  Media    {embedded} embedded handlers, RTP {} ports {}",
            config.media_rtp_ip(),
            config.media.rtp_ports.get_ref()
        );
    }
    println!("  Data     {}", config.data_dir.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_is_split_into_even_disjoint_parts() {
        let parts = split_ports(20000, 29999, 2);
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].first, parts[0].last), (20000, 24999));
        assert_eq!((parts[1].first, parts[1].last), (25000, 29999));
        let odd = split_ports(20001, 20010, 3);
        assert!(
            odd.iter()
                .all(|p| p.first % 2 == 0 && (p.last - p.first + 1) % 2 == 0)
        );
        assert!(odd.windows(2).all(|w| w[0].last < w[1].first));
        assert!(split_ports(20000, 20001, 4).is_empty());
    }
}
