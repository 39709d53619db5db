//! The configuration file (`switchboard.toml`): its model, loading and
//! validation. Unknown keys are rejected; every problem is reported with the
//! file, line and column it comes from.
//!
//! Objects declared here (agents, queues, routes) are created or updated in
//! the store at start; objects created through the API persist there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub sip: SipConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub media: MediaConfig,
    /// Media handlers running elsewhere (`switchboard media`).
    #[serde(default)]
    pub media_handlers: Vec<RemoteHandler>,
    #[serde(default)]
    pub bandwidth: BandwidthConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    /// Where data lives: the SQLite database and `recordings/`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Folder of YAML call flows, relative to the configuration file.
    #[serde(default = "default_flows")]
    pub flows: PathBuf,
    /// Folder of WAV prompts, relative to the configuration file.
    #[serde(default = "default_prompts")]
    pub prompts: PathBuf,
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Transports and addresses, e.g. `"udp:0.0.0.0:5060"`, `"tcp:0.0.0.0:5060"`.
    #[serde(default = "default_sip_listen")]
    pub listen: Vec<Spanned<String>>,
    /// The SIP domain agents register in (the digest realm).
    #[serde(default = "default_domain")]
    pub domain: String,
    /// The address put in Contact and Via when listening on a wildcard
    /// address; by default the first non-loopback address, else 127.0.0.1.
    #[serde(default)]
    pub advertise: Option<IpAddr>,
    /// Concurrent customer calls before new ones get `503` + `Retry-After`.
    #[serde(default = "default_max_calls")]
    pub max_calls: usize,
    /// The `Retry-After` (seconds) sent with every `503` (overload, or no media
    /// handler with room).
    #[serde(default = "default_retry_after")]
    pub retry_after: u32,
    /// Calls being set up at once (INVITE received, no final answer yet)
    /// before new ones get `503`: a backlog here means the media handlers or
    /// the store cannot keep up, and refusing early keeps the calls already
    /// admitted healthy.
    #[serde(default = "default_max_setups")]
    pub max_setups: usize,
    /// Call-record writes waiting for the store before new calls get `503`.
    #[serde(default = "default_max_record_backlog")]
    pub max_record_backlog: usize,
    /// Digest algorithms offered to registering phones, one challenge each, in this
    /// order: `"MD5"`, `"SHA-256"`. Both by default. Some phones cannot take a challenge
    /// list with an algorithm they do not know (baresip 1.0 with libre 1.1 gives up on the
    /// whole REGISTER with "Function not implemented"); offer `["MD5"]` to serve them.
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<Spanned<String>>,
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
    /// Token for the admin API; generated on first start and written to the
    /// data directory when absent.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// A token that lets a media handler register itself (`switchboard media
    /// --controller-token`) and nothing else, so handlers need not hold the admin token.
    #[serde(default)]
    pub media_handler_token: Option<String>,
}

/// `[media]`: the media handlers embedded in `switchboard run`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// How many media handlers `switchboard run` starts in-process.
    #[serde(default = "default_embedded")]
    pub embedded: usize,
    /// The address RTP is sent from and announced in SDP. By default the SIP
    /// contact address ([`Config::contact_ip`]), so a phone that reaches the SIP
    /// side reaches the media too.
    #[serde(default)]
    pub rtp_ip: Option<IpAddr>,
    /// RTP port range shared out among the embedded handlers, e.g. `"20000-29999"`.
    #[serde(default = "default_rtp_ports")]
    pub rtp_ports: Spanned<String>,
    /// Capacity of each embedded handler, kbit/s.
    #[serde(default = "default_capacity")]
    pub capacity_kbps: u64,
}

/// `[[media_handlers]]`: a handler running elsewhere.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteHandler {
    pub url: Spanned<String>,
    /// The handler's `--control-token`, if it was started with one.
    #[serde(default)]
    pub control_token: Option<String>,
    /// Overrides the capacity the handler reports.
    #[serde(default)]
    pub capacity_kbps: Option<u64>,
}

/// `[bandwidth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthConfig {
    /// Share of each handler's capacity (percent) kept for priority contacts.
    #[serde(default = "default_priority_reserve")]
    pub priority_reserve_percent: u8,
    /// Audio codecs the media handlers transcode to and from G.711, in SDP spelling:
    /// answered when an offer has nothing else in common, and as the cheaper codec
    /// when no handler has room for G.711 (degradation). Default: what
    /// `switchboard media` is built with, `["G729", "GSM", "opus"]`.
    #[serde(default = "default_transcode")]
    pub transcode: Vec<Spanned<String>>,
    /// Video codecs accepted and relayed untouched between legs that both negotiated
    /// video (empty: video is answered with port 0). Video is the first stream dropped
    /// when no handler has room. Default `["H264", "VP8", "VP9"]`.
    #[serde(default = "default_video")]
    pub video: Vec<Spanned<String>>,
}

impl BandwidthConfig {
    /// The `transcode` codecs (unknown names are reported by validation and skipped).
    pub fn transcode_codecs(&self) -> Vec<sdp::Codec> {
        self.transcode
            .iter()
            .filter_map(|n| codec_named(n.get_ref(), sdp::MediaKind::Audio))
            .collect()
    }

    /// The `video` codecs (unknown names are reported by validation and skipped).
    pub fn video_codecs(&self) -> Vec<sdp::Codec> {
        self.video
            .iter()
            .filter_map(|n| codec_named(n.get_ref(), sdp::MediaKind::Video))
            .collect()
    }
}

/// A real (non-auxiliary) codec of `kind` by its SDP encoding name.
fn codec_named(name: &str, kind: sdp::MediaKind) -> Option<sdp::Codec> {
    sdp::Codec::ALL.into_iter().find(|c| {
        c.kind() == kind && !c.is_auxiliary() && c.encoding_name().eq_ignore_ascii_case(name)
    })
}

/// `[storage]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://path` or `postgres://...`; by default `sqlite://<data_dir>/switchboard.db`.
    #[serde(default)]
    pub url: Option<String>,
}

/// `[[agents]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// The SIP user name the agent's phone registers with (default: the id).
    #[serde(default)]
    pub sip_user: Option<String>,
    pub password: String,
    /// Skill → proficiency 1–10.
    #[serde(default)]
    pub skills: BTreeMap<String, Spanned<u8>>,
    /// Queues the agent serves.
    #[serde(default)]
    pub queues: Vec<Spanned<String>>,
    /// Personal wrap-up time, overriding the queue's.
    #[serde(default)]
    pub wrap_up: Option<Spanned<Dur>>,
}

/// How a queue picks among available agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    LongestIdle,
    RoundRobin,
    FewestCalls,
    MostSkilled,
    RingAll,
}

/// `[[queues]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Required skill → minimum proficiency.
    #[serde(default)]
    pub skills: BTreeMap<String, Spanned<u8>>,
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout: Dur,
    #[serde(default)]
    pub wrap_up: Dur,
    /// Longest a contact waits before the flow's `max_wait` transition.
    #[serde(default)]
    pub max_wait: Option<Dur>,
    /// Service-level threshold: answered within this counts as in service.
    #[serde(default = "default_service_level")]
    pub service_level: Dur,
    /// Contacts abandoned sooner than this are short abandons.
    #[serde(default = "default_short_abandon")]
    pub short_abandon: Dur,
    /// Higher is served first.
    #[serde(default)]
    pub priority: i32,
    /// Record answered calls (stereo: customer left, agent right).
    #[serde(default)]
    pub record: bool,
}

/// `[[routes]]`: a dialled number and the flow it runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub number: Spanned<String>,
    pub flow: Spanned<String>,
    /// Contacts on this route may use the bandwidth reserved for priority.
    #[serde(default)]
    pub priority: bool,
    /// Initial flow variables for contacts on this route, e.g.
    /// `vars = { hours_override = "open" }` (applied after the flow's own `vars`).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// A duration written as `"15s"`, `"5m"`, `"1h30m"`, `"250ms"` or plain seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dur(pub Duration);

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(Dur)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Dur(Duration::from_secs(s))),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `"1h30m"`, `"90s"`, `"250ms"`, `"2m"`: one or more number+unit pairs.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("bad duration {s:?}: expected a number at {rest:?}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("bad duration {s:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "" => return Err(format!("bad duration {s:?}: missing unit (ms, s, m or h)")),
            other => {
                return Err(format!(
                    "bad duration {s:?}: unknown unit {other:?} (use ms, s, m or h)"
                ));
            }
        };
        total += part;
    }
    Ok(total)
}

/// A SIP listening socket: transport and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// SIP transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl FromStr for Listen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (transport, addr) = match s.split_once(':') {
            Some(("udp", rest)) => (Transport::Udp, rest),
            Some(("tcp", rest)) => (Transport::Tcp, rest),
            _ => {
                return Err(format!(
                    "bad SIP listen address {s:?}: expected udp:IP:PORT or tcp:IP:PORT"
                ));
            }
        };
        let addr = addr
            .parse()
            .map_err(|_| format!("bad SIP listen address {s:?}: {addr:?} is not IP:PORT"))?;
        Ok(Listen { transport, addr })
    }
}

/// Parses an RTP port range `"A-B"`: A even, A < B.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("bad port range {s:?}: expected A-B"))?;
    let a: u16 = a
        .trim()
        .parse()
        .map_err(|_| format!("bad port range {s:?}: {a:?} is not a port"))?;
    let b: u16 = b
        .trim()
        .parse()
        .map_err(|_| format!("bad port range {s:?}: {b:?} is not a port"))?;
    if a >= b || a < 1024 {
        return Err(format!("bad port range {s:?}: need 1024 <= A < B"));
    }
    Ok((a, b))
}

/// A problem found in a configuration file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line and column; 0 when the problem has no single place.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// 1-based (line, column) of byte `offset` in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

impl Config {
    /// Parses and validates configuration text; `file` names it in messages.
    pub fn parse(src: &str, file: &Path) -> Result<Config, Problems> {
        let config: Config = toml::from_str(src).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(src, s.start));
            Problems(vec![Problem {
                file: file.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }])
        })?;
        let problems = config.validate(src, file);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Problems(problems))
        }
    }

    /// Reads, parses and validates a configuration file. Relative `flows`,
    /// `prompts` and `data_dir` paths are resolved against the file's folder.
    pub fn load(path: &Path) -> Result<Config, Problems> {
        let src = std::fs::read_to_string(path).map_err(|e| {
            Problems(vec![Problem {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }])
        })?;
        let mut config = Config::parse(&src, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.flows = base.join(&config.flows);
        config.prompts = base.join(&config.prompts);
        Ok(config)
    }

    /// The semantic checks serde cannot make; every problem, not just the first.
    fn validate(&self, src: &str, file: &Path) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut at = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_col(src, span.start);
            out.push(Problem {
                file: file.to_path_buf(),
                line,
                column,
                message,
            });
        };

        for l in &self.sip.listen {
            if let Err(e) = l.get_ref().parse::<Listen>() {
                at(l.span(), e);
            }
        }
        if self.sip.digest_algorithms.is_empty() {
            at(
                0..0,
                "sip.digest_algorithms: offer at least one (\"MD5\", \"SHA-256\")".into(),
            );
        }
        for a in &self.sip.digest_algorithms {
            if sip::digest::Algorithm::parse(a.get_ref()).is_none() {
                at(
                    a.span(),
                    format!(
                        "sip.digest_algorithms: {:?} is not a digest algorithm (\"MD5\", \"SHA-256\")",
                        a.get_ref()
                    ),
                );
            }
        }
        if let Err(e) = parse_port_range(self.media.rtp_ports.get_ref()) {
            at(self.media.rtp_ports.span(), e);
        }
        for h in &self.media_handlers {
            let url = h.url.get_ref();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                at(
                    h.url.span(),
                    format!("media handler url {url:?} must start with http:// or https://"),
                );
            }
        }
        if self.bandwidth.priority_reserve_percent > 90 {
            at(
                0..0,
                "bandwidth.priority_reserve_percent must be at most 90".into(),
            );
        }
        for n in &self.bandwidth.transcode {
            if codec_named(n.get_ref(), sdp::MediaKind::Audio).is_none() {
                at(
                    n.span(),
                    format!(
                        "bandwidth.transcode: {:?} is not an audio codec",
                        n.get_ref()
                    ),
                );
            }
        }
        for n in &self.bandwidth.video {
            if codec_named(n.get_ref(), sdp::MediaKind::Video).is_none() {
                at(
                    n.span(),
                    format!("bandwidth.video: {:?} is not a video codec", n.get_ref()),
                );
            }
        }

        let mut queue_ids = BTreeSet::new();
        for q in &self.queues {
            if !queue_ids.insert(q.id.get_ref().as_str()) {
                at(
                    q.id.span(),
                    format!("queue {:?} is declared twice", q.id.get_ref()),
                );
            }
            for (skill, level) in &q.skills {
                if !(1..=10).contains(level.get_ref()) {
                    at(
                        level.span(),
                        format!(
                            "queue {:?}: skill {skill:?} needs a minimum proficiency from 1 to 10, not {}",
                            q.id.get_ref(),
                            level.get_ref()
                        ),
                    );
                }
            }
            if q.ring_timeout.0.is_zero() {
                at(
                    q.id.span(),
                    format!(
                        "queue {:?}: ring_timeout must be more than zero",
                        q.id.get_ref()
                    ),
                );
            }
        }

        let mut agent_ids = BTreeSet::new();
        let mut sip_users = BTreeSet::new();
        for a in &self.agents {
            let id = a.id.get_ref();
            if !agent_ids.insert(id.as_str()) {
                at(a.id.span(), format!("agent {id:?} is declared twice"));
            }
            let user = a.sip_user.as_deref().unwrap_or(id);
            if !sip_users.insert(user.to_string()) {
                at(
                    a.id.span(),
                    format!("agent {id:?}: SIP user {user:?} is already used by another agent"),
                );
            }
            if a.password.is_empty() {
                at(a.id.span(), format!("agent {id:?}: password is empty"));
            }
            for (skill, level) in &a.skills {
                if !(1..=10).contains(level.get_ref()) {
                    at(
                        level.span(),
                        format!(
                            "agent {id:?}: skill {skill:?} needs a proficiency from 1 to 10, not {}",
                            level.get_ref()
                        ),
                    );
                }
            }
            for q in &a.queues {
                if !queue_ids.contains(q.get_ref().as_str()) {
                    at(
                        q.span(),
                        format!("agent {id:?} serves unknown queue {:?}", q.get_ref()),
                    );
                }
            }
        }

        let mut numbers = BTreeSet::new();
        for r in &self.routes {
            let n = r.number.get_ref();
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+*#-_.".contains(c))
            {
                at(
                    r.number.span(),
                    format!("route number {n:?} is not a dialable number or user name"),
                );
            }
            if !numbers.insert(n.as_str()) {
                at(
                    r.number.span(),
                    format!("route number {n:?} is declared twice"),
                );
            }
        }
        out
    }

    /// The SIP listening sockets (validated at parse).
    /// The digest algorithms to offer (validated at load).
    pub fn digest_algorithms(&self) -> Vec<sip::digest::Algorithm> {
        self.sip
            .digest_algorithms
            .iter()
            .filter_map(|a| sip::digest::Algorithm::parse(a.get_ref()))
            .collect()
    }

    pub fn sip_listen(&self) -> Vec<Listen> {
        self.sip
            .listen
            .iter()
            .filter_map(|l| l.get_ref().parse().ok())
            .collect()
    }

    /// The address peers reach us at: `sip.advertise`, else the first SIP listen
    /// address when it is not a wildcard, else the address the OS routes outward
    /// from (else loopback).
    pub fn contact_ip(&self) -> IpAddr {
        let first = self.sip_listen().first().map(|l| l.addr);
        match (self.sip.advertise, first) {
            (Some(ip), _) => ip,
            (None, Some(a)) if !a.ip().is_unspecified() => a.ip(),
            _ => outward_ip(),
        }
    }

    /// The embedded handlers' RTP address: `media.rtp_ip`, else [`Config::contact_ip`].
    pub fn media_rtp_ip(&self) -> IpAddr {
        self.media.rtp_ip.unwrap_or_else(|| self.contact_ip())
    }

    /// The embedded handlers' RTP port range (validated at parse).
    pub fn rtp_port_range(&self) -> (u16, u16) {
        parse_port_range(self.media.rtp_ports.get_ref()).unwrap_or((20000, 29999))
    }

    /// The storage URL, defaulting to SQLite in the data directory.
    pub fn storage_url(&self) -> String {
        self.storage.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join("switchboard.db").display()
            )
        })
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: default_sip_listen(),
            domain: default_domain(),
            advertise: None,
            max_calls: default_max_calls(),
            retry_after: default_retry_after(),
            max_setups: default_max_setups(),
            max_record_backlog: default_max_record_backlog(),
            digest_algorithms: default_digest_algorithms(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_http_listen(),
            admin_token: None,
            media_handler_token: None,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            embedded: default_embedded(),
            rtp_ip: None,
            rtp_ports: default_rtp_ports(),
            capacity_kbps: default_capacity(),
        }
    }
}

impl Default for BandwidthConfig {
    fn default() -> Self {
        BandwidthConfig {
            priority_reserve_percent: default_priority_reserve(),
            transcode: default_transcode(),
            video: default_video(),
        }
    }
}

fn default_digest_algorithms() -> Vec<Spanned<String>> {
    vec![
        Spanned::new(0..0, "MD5".to_string()),
        Spanned::new(0..0, "SHA-256".to_string()),
    ]
}
fn default_sip_listen() -> Vec<Spanned<String>> {
    vec![
        Spanned::new(0..0, "udp:0.0.0.0:5060".to_string()),
        Spanned::new(0..0, "tcp:0.0.0.0:5060".to_string()),
    ]
}
fn default_domain() -> String {
    "switchboard.local".into()
}
fn default_max_calls() -> usize {
    1000
}
fn default_max_setups() -> usize {
    500
}
fn default_max_record_backlog() -> usize {
    20_000
}
fn default_retry_after() -> u32 {
    5
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_embedded() -> usize {
    2
}
fn default_rtp_ports() -> Spanned<String> {
    Spanned::new(0..0, "20000-29999".to_string())
}
fn default_capacity() -> u64 {
    100_000
}
fn default_priority_reserve() -> u8 {
    10
}
fn default_video() -> Vec<Spanned<String>> {
    ["H264", "VP8", "VP9"]
        .iter()
        .map(|n| Spanned::new(0..0, (*n).to_string()))
        .collect()
}
fn default_transcode() -> Vec<Spanned<String>> {
    ["G729", "GSM", "opus"]
        .iter()
        .map(|n| Spanned::new(0..0, (*n).to_string()))
        .collect()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_flows() -> PathBuf {
    PathBuf::from("flows")
}
fn default_prompts() -> PathBuf {
    PathBuf::from("prompts")
}
fn default_ring_timeout() -> Dur {
    Dur(Duration::from_secs(15))
}
fn default_service_level() -> Dur {
    Dur(Duration::from_secs(20))
}
fn default_short_abandon() -> Dur {
    Dur(Duration::from_secs(5))
}

/// The address the OS would route outward from (no packet is sent), else
/// loopback: what peers can reach when we listen on a wildcard.
fn outward_ip() -> IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr());
    match probe {
        Ok(a) if !a.ip().is_unspecified() => a.ip(),
        _ => IpAddr::from([127, 0, 0, 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Config, Problems> {
        Config::parse(src, Path::new("sb.toml"))
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.media.embedded, 2);
        assert_eq!(c.sip_listen().len(), 2);
        assert_eq!(c.rtp_port_range(), (20000, 29999));
        assert_eq!(c.http.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.storage_url(), "sqlite://data/switchboard.db");
    }

    #[test]
    fn remote_media_handlers_carry_their_control_token() {
        let c = parse(
            "[[media_handlers]]\nurl = \"http://10.0.0.21:8090\"\ncontrol_token = \"t0k\"\n\n[[media_handlers]]\nurl = \"http://10.0.0.22:8090\"\n",
        )
        .unwrap();
        assert_eq!(c.media_handlers.len(), 2);
        assert_eq!(c.media_handlers[0].control_token.as_deref(), Some("t0k"));
        assert_eq!(c.media_handlers[1].control_token, None);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse("[sip]\ndomain = \"x\"\nlisten_on = []\n").unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].line, 3);
        assert!(
            err.0[0].message.contains("unknown field `listen_on`"),
            "{err}"
        );
        assert!(err.to_string().starts_with("sb.toml:3:1: "), "{err}");
    }

    #[test]
    fn every_semantic_problem_is_reported_with_its_line() {
        let src = r#"
[[queues]]
id = "support"
skills = { english = 11 }

[[agents]]
id = "alice"
password = "pw"
queues = ["support", "sales"]

[[agents]]
id = "alice"
password = "pw2"

[[routes]]
number = "1000"
flow = "demo"

[[routes]]
number = "1000"
flow = "other"
"#;
        let err = parse(src).unwrap_err();
        let lines: Vec<(usize, &str)> =
            err.0.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert_eq!(err.0.len(), 5, "{err}");
        assert!(lines.contains(&(4, "queue \"support\": skill \"english\" needs a minimum proficiency from 1 to 10, not 11")), "{err}");
        assert!(
            lines.contains(&(9, "agent \"alice\" serves unknown queue \"sales\"")),
            "{err}"
        );
        assert!(
            lines.contains(&(12, "agent \"alice\" is declared twice")),
            "{err}"
        );
        assert!(
            lines
                .iter()
                .any(|(l, m)| *l == 12 && m.contains("SIP user \"alice\"")),
            "{err}"
        );
        assert!(
            lines.contains(&(20, "route number \"1000\" is declared twice")),
            "{err}"
        );
    }

    #[test]
    fn transcode_codecs_default_to_the_handlers_and_bad_names_are_problems() {
        let c = parse("").unwrap();
        assert_eq!(
            c.bandwidth.transcode_codecs(),
            [sdp::Codec::G729, sdp::Codec::Gsm, sdp::Codec::Opus]
        );
        let c = parse("[bandwidth]\ntranscode = [\"gsm\"]\n").unwrap();
        assert_eq!(c.bandwidth.transcode_codecs(), [sdp::Codec::Gsm]);
        let err = parse("[bandwidth]\ntranscode = [\"G729\",\n  \"H264\"]\n").unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].line, 3, "{err}");
        assert!(err.0[0].message.contains("not an audio codec"), "{err}");
        let c = parse("").unwrap();
        assert_eq!(
            c.bandwidth.video_codecs(),
            [sdp::Codec::H264, sdp::Codec::Vp8, sdp::Codec::Vp9]
        );
        let err = parse("[bandwidth]\nvideo = [\"PCMU\"]\n").unwrap_err();
        assert!(err.0[0].message.contains("not a video codec"), "{err}");
    }

    #[test]
    fn digest_algorithms_default_to_both_and_bad_names_are_problems() {
        use sip::digest::Algorithm;
        let c = parse("").unwrap();
        assert_eq!(c.digest_algorithms(), [Algorithm::Md5, Algorithm::Sha256]);
        let c = parse("[sip]\ndigest_algorithms = [\"md5\"]\n").unwrap();
        assert_eq!(c.digest_algorithms(), [Algorithm::Md5]);
        let err = parse("[sip]\ndigest_algorithms = [\"MD5\",\n  \"SHA-1\"]\n").unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].line, 3, "{err}");
        assert!(err.0[0].message.contains("not a digest algorithm"), "{err}");
        let err = parse("[sip]\ndigest_algorithms = []\n").unwrap_err();
        assert!(err.0[0].message.contains("at least one"), "{err}");
    }

    #[test]
    fn bad_listen_and_port_range_are_problems() {
        let err =
            parse("[sip]\nlisten = [\"sctp:1.2.3.4:5060\"]\n[media]\nrtp_ports = \"3000-2000\"\n")
                .unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert_eq!(err.0[0].line, 2);
        assert_eq!(err.0[1].line, 4);
    }

    #[test]
    fn durations_parse_in_several_forms() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .contains("unknown unit \"x\"")
        );
        assert!(parse_duration("10").unwrap_err().contains("missing unit"));
        assert!(parse_duration("").is_err());
        let c = parse("[[queues]]\nid = \"q\"\nring_timeout = 20\nmax_wait = \"5m\"\n").unwrap();
        assert_eq!(c.queues[0].ring_timeout, Dur(Duration::from_secs(20)));
        assert_eq!(c.queues[0].max_wait, Some(Dur(Duration::from_secs(300))));
    }

    #[test]
    fn bad_duration_names_its_line() {
        let err = parse("[[queues]]\nid = \"q\"\n\nwrap_up = \"ten seconds\"\n").unwrap_err();
        assert_eq!(err.0[0].line, 4, "{err}");
        assert!(err.0[0].message.contains("bad duration"), "{err}");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}

#[cfg(test)]
mod demo_tests {
    use super::*;

    #[test]
    fn bundled_demo_configuration_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/switchboard.toml");
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.agents.len(), 3);
        assert_eq!(c.queues.len(), 2);
        assert_eq!(c.routes[0].number.get_ref(), "1000");
    }
}
