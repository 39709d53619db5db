//! `switchboard bench relay`: N relayed G.711 calls through a media handler (and, for
//! comparison, through rtpengine), 20 ms streams both ways, with loss, CPU per relayed packet
//! and added one-way latency.
//!
//! The load generator sits in this process: one sender thread spreads each 20 ms period over
//! twenty 1 ms slots and sends with sendmmsg; one receiver thread reads with recvmmsg. All
//! "A" endpoints share one socket and all "B" endpoints another (a relay keeps calls apart by
//! its own ports). Each packet carries its send time, so the receiver measures the one-way
//! delay through the relay. The relay under test runs as a separate process, so its CPU time
//! comes from `/proc/PID/stat`; the generator's own CPU is printed too.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sys::{self, Batch};

/// Which relay to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// A Switchboard media handler.
    Switchboard,
    /// rtpengine (userspace, `--table=-1`), driven by its ng protocol.
    Rtpengine,
    /// Both, one after the other, printed side by side.
    Both,
}

/// `switchboard bench relay`.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// Relayed calls (each is two legs, one G.711 stream each way).
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// Seconds measured per relay (after the warm-ups).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// What to measure.
    #[arg(long, value_enum, default_value = "switchboard")]
    pub target: Target,
    /// A running handler's control URL (default: start `switchboard media` as a child).
    #[arg(long)]
    pub url: Option<String>,
    /// The running handler's PID, to read its CPU time (with --url).
    #[arg(long)]
    pub pid: Option<u32>,
    /// The running handler's control token (with --url, if it was started with one).
    #[arg(long)]
    pub control_token: Option<String>,
    /// Media threads of the handler started here.
    #[arg(long, default_value_t = 1)]
    pub media_threads: usize,
    /// The rtpengine program.
    #[arg(long, default_value = "rtpengine")]
    pub rtpengine: String,
    /// rtpengine's --num-threads.
    #[arg(long, default_value_t = 1)]
    pub rtpengine_threads: usize,
    /// Warm-up seconds before each measurement window.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Measurement windows per relay, alternating between relays (`--seconds` is split
    /// between them).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// First RTP port for the relays started here (the handler uses it, rtpengine +10000).
    #[arg(long, default_value_t = 40000)]
    pub port_base: u16,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Setting up calls failed.
    #[error("setup: {0}")]
    Setup(String),
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub struct RelayReport {
    /// What was measured.
    pub target: &'static str,
    /// Calls.
    pub calls: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Packets sent into the relay during the window.
    pub sent: u64,
    /// Of those, packets that came back out.
    pub received: u64,
    /// Relayed packets per second.
    pub pps: f64,
    /// Loss, percent.
    pub loss_pct: f64,
    /// The relay's CPU seconds during the window.
    pub cpu_s: f64,
    /// The relay's CPU microseconds per relayed packet.
    pub cpu_us_per_packet: f64,
    /// One-way delay through the relay, median, µs.
    pub p50_us: f64,
    /// One-way delay, 99th percentile, µs.
    pub p99_us: f64,
    /// The generator's own CPU seconds during the window.
    pub generator_cpu_s: f64,
    /// 1 ms send slots the generator started late (over 2 ms).
    pub late_slots: u64,
}

/// Run the benchmark as the CLI asks and print the results.
///
/// Every relay measured is set up first; then the measurement alternates between them in
/// `--rounds` windows, so that both meet the same background load on a shared machine.
pub fn relay(args: &RelayArgs) -> Result<Vec<RelayReport>, BenchError> {
    let exe = std::env::current_exe()?;
    let mut relays = Vec::new();
    if matches!(args.target, Target::Switchboard | Target::Both) {
        relays.push(setup_switchboard(args, &exe)?);
    }
    if matches!(args.target, Target::Rtpengine | Target::Both) {
        relays.push(setup_rtpengine(args)?);
    }
    let rounds = args.rounds.max(1);
    let window = Duration::from_secs_f64((args.seconds as f64 / rounds as f64).max(1.0));
    let mut totals: Vec<Totals> = relays.iter().map(|_| Totals::default()).collect();
    for _ in 0..rounds {
        for (r, t) in relays.iter().zip(totals.iter_mut()) {
            t.add(measure(r, Duration::from_secs(args.warmup), window)?);
        }
    }
    let reports: Vec<RelayReport> = relays
        .iter()
        .zip(&totals)
        .map(|(r, t)| t.report(r.name, r.calls.len()))
        .collect();
    print_table(&reports);
    Ok(reports)
}

/// Print reports as a table.
pub fn print_table(reports: &[RelayReport]) {
    println!(
        "{:<12} {:>6} {:>10} {:>8} {:>8} {:>10} {:>9} {:>9} {:>9} {:>10}",
        "relay",
        "calls",
        "pkt/s",
        "loss %",
        "cpu s",
        "cpu µs/pkt",
        "p50 µs",
        "p99 µs",
        "gen cpu s",
        "late slots"
    );
    for r in reports {
        println!(
            "{:<12} {:>6} {:>10.0} {:>8.3} {:>8.2} {:>10.2} {:>9.0} {:>9.0} {:>9.2} {:>10}",
            r.target,
            r.calls,
            r.pps,
            r.loss_pct,
            r.cpu_s,
            r.cpu_us_per_packet,
            r.p50_us,
            r.p99_us,
            r.generator_cpu_s,
            r.late_slots
        );
    }
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_tcp_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn free_udp_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The two generator sockets.
struct Endpoints {
    a: UdpSocket,
    b: UdpSocket,
}

fn endpoints() -> std::io::Result<Endpoints> {
    let a = UdpSocket::bind("127.0.0.1:0")?;
    let b = UdpSocket::bind("127.0.0.1:0")?;
    for s in [&a, &b] {
        s.set_nonblocking(true)?;
        // Hints: the kernel caps them at net.core.{r,w}mem_max.
        let _ = sys::set_int_option(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 8 << 20);
        let _ = sys::set_int_option(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, 8 << 20);
    }
    Ok(Endpoints { a, b })
}

/// One call as the generator sees it: where A sends, where B sends.
#[derive(Debug, Clone, Copy)]
struct CallPorts {
    /// The relay port A sends to (B's stream comes back out of it).
    a_to: u16,
    /// The relay port B sends to.
    b_to: u16,
}

fn setup_switchboard(args: &RelayArgs, exe: &std::path::Path) -> Result<Relay, BenchError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tmp = std::env::temp_dir().join(format!("sb-bench-{}", std::process::id()));
    let mut guard = None;
    let (url, pid) = match &args.url {
        Some(u) => (u.clone(), args.pid),
        None => {
            let port = free_tcp_port()?;
            let last = args.port_base as u32 + 4 * args.calls as u32 + 200;
            let child = Command::new(exe)
                .arg("media")
                .args(["--http-listen", &format!("127.0.0.1:{port}")])
                .args(["--rtp-ip", "127.0.0.1"])
                .args([
                    "--rtp-ports",
                    &format!("{}-{}", args.port_base, last.min(65535)),
                ])
                .args(["--data-dir", &tmp.display().to_string()])
                .args(["--media-threads", &args.media_threads.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let pid = child.id();
            guard = Some(ChildGuard(child));
            (format!("http://127.0.0.1:{port}"), Some(pid))
        }
    };
    let ep = endpoints()?;
    let (ga, gb) = (ep.a.local_addr()?, ep.b.local_addr()?);
    let client = media_api::MediaClient::new(url.clone()).with_token(args.control_token.as_deref());
    let calls = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut status = client.status().await;
        while status.is_err() {
            if Instant::now() > deadline {
                return Err(BenchError::Setup(format!(
                    "no media handler answering at {url}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            status = client.status().await;
        }
        if let Ok(s) = &status {
            println!(
                "switchboard media handler: {} media thread(s), {} loop",
                s.media_threads, s.media_io
            );
        }
        let mut calls = Vec::with_capacity(args.calls);
        for _ in 0..args.calls {
            calls.push(setup_switchboard_call(&client, ga, gb).await?);
        }
        Ok(calls)
    })?;
    Ok(Relay {
        name: "switchboard",
        ep,
        calls,
        pid,
        _guard: guard,
        tmp: Some(tmp),
    })
}

async fn setup_switchboard_call(
    client: &media_api::MediaClient,
    ga: SocketAddr,
    gb: SocketAddr,
) -> Result<CallPorts, BenchError> {
    use media_api::*;
    let err = |e: ClientError| BenchError::Setup(e.to_string());
    let s = client
        .create_session(&CreateSession {
            services: vec![ServiceType::Route],
            reserved_kbps: Some(200),
            label: None,
        })
        .await
        .map_err(err)?;
    let leg = |remote| AddLeg {
        kind: MediaKind::Audio,
        remote_rtp: Some(remote),
        remote_rtcp: None,
        codecs: vec![Codec {
            name: "PCMU".into(),
            payload_type: 0,
            clock_rate: 8000,
            channels: 1,
            fmtp: None,
        }],
        telephone_event_pt: Some(101),
        ptime_ms: Some(20),
        direction: Direction::Sendrecv,
        rtp_timeout_ms: Some(0),
    };
    let a = client.add_leg(s.id, &leg(ga)).await.map_err(err)?;
    let b = client.add_leg(s.id, &leg(gb)).await.map_err(err)?;
    client
        .create_route(s.id, &CreateRoute { a: a.id, b: b.id })
        .await
        .map_err(err)?;
    Ok(CallPorts {
        a_to: a.rtp_port,
        b_to: b.rtp_port,
    })
}

fn setup_rtpengine(args: &RelayArgs) -> Result<Relay, BenchError> {
    let ng_port = free_udp_port()?;
    let min = u32::from(args.port_base) + 10_000;
    let max = (min + 4 * args.calls as u32 + 200).min(65535);
    let child = Command::new(&args.rtpengine)
        .args([
            "--config-file=none".to_string(),
            "--interface=127.0.0.1".to_string(),
            format!("--listen-ng=127.0.0.1:{ng_port}"),
            "--table=-1".to_string(),
            "--foreground".to_string(),
            "--log-stderr".to_string(),
            "--log-level=2".to_string(),
            format!("--port-min={min}"),
            format!("--port-max={max}"),
            format!("--num-threads={}", args.rtpengine_threads),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| BenchError::Setup(format!("cannot start {}: {e}", args.rtpengine)))?;
    let pid = child.id();
    let guard = ChildGuard(child);
    let ng = Ng::new(SocketAddr::from(([127, 0, 0, 1], ng_port)))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut ping = BTreeMap::new();
        ping.insert(b"command".to_vec(), Value::Bytes(b"ping".to_vec()));
        if ng.call(&Value::Dict(ping)).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Setup(
                "rtpengine does not answer ng ping".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ep = endpoints()?;
    let (ga, gb) = (ep.a.local_addr()?, ep.b.local_addr()?);
    let mut calls = Vec::with_capacity(args.calls);
    for i in 0..args.calls {
        calls.push(setup_rtpengine_call(&ng, i, ga, gb)?);
    }
    Ok(Relay {
        name: "rtpengine",
        ep,
        calls,
        pid: Some(pid),
        _guard: Some(guard),
        tmp: None,
    })
}

fn sdp(addr: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=bench\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n",
        ip = addr.ip(),
        port = addr.port()
    )
}

fn sdp_port(sdp: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(sdp).ok()?;
    let line = text.lines().find(|l| l.starts_with("m=audio "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn setup_rtpengine_call(
    ng: &Ng,
    i: usize,
    ga: SocketAddr,
    gb: SocketAddr,
) -> Result<CallPorts, BenchError> {
    let call_id = format!("bench-{i}");
    let msg = |cmd: &str, sdp_text: String, to_tag: bool| {
        let mut d = BTreeMap::new();
        d.insert(b"command".to_vec(), Value::Bytes(cmd.as_bytes().to_vec()));
        d.insert(
            b"call-id".to_vec(),
            Value::Bytes(call_id.as_bytes().to_vec()),
        );
        d.insert(b"from-tag".to_vec(), Value::Bytes(b"a".to_vec()));
        if to_tag {
            d.insert(b"to-tag".to_vec(), Value::Bytes(b"b".to_vec()));
        }
        d.insert(b"sdp".to_vec(), Value::Bytes(sdp_text.into_bytes()));
        Value::Dict(d)
    };
    let port_of = |reply: Value| -> Result<u16, BenchError> {
        let sdp = reply.get(b"sdp").and_then(Value::as_bytes).ok_or_else(|| {
            BenchError::Setup(format!("rtpengine answered without SDP: {reply:?}"))
        })?;
        sdp_port(sdp).ok_or_else(|| BenchError::Setup("rtpengine SDP without m=audio".into()))
    };
    // The offer's answer goes to B (B sends there); the answer's goes to A.
    let b_to = port_of(ng.call(&msg("offer", sdp(ga), false))?)?;
    let a_to = port_of(ng.call(&msg("answer", sdp(gb), true))?)?;
    Ok(CallPorts { a_to, b_to })
}

const SLOTS: u32 = 20;
const HIST_US: usize = 200_000;

struct Shared {
    stop_sending: AtomicBool,
    stop_receiving: AtomicBool,
    measuring: AtomicBool,
    sent: AtomicU64,
    late_slots: AtomicU64,
}

/// A relay set up with its calls, ready to measure.
struct Relay {
    name: &'static str,
    ep: Endpoints,
    calls: Vec<CallPorts>,
    pid: Option<u32>,
    _guard: Option<ChildGuard>,
    tmp: Option<std::path::PathBuf>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(t) = &self.tmp {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

/// What one measurement window saw.
struct Window {
    seconds: f64,
    sent: u64,
    received: u64,
    cpu_s: f64,
    generator_cpu_s: f64,
    late_slots: u64,
    hist: Vec<u32>,
}

/// Windows of one relay, added up.
#[derive(Default)]
struct Totals {
    seconds: f64,
    sent: u64,
    received: u64,
    cpu_s: f64,
    generator_cpu_s: f64,
    late_slots: u64,
    hist: Vec<u32>,
}

impl Totals {
    fn add(&mut self, w: Window) {
        self.seconds += w.seconds;
        self.sent += w.sent;
        self.received += w.received;
        self.cpu_s += w.cpu_s;
        self.generator_cpu_s += w.generator_cpu_s;
        self.late_slots += w.late_slots;
        if self.hist.is_empty() {
            self.hist = w.hist;
        } else {
            for (a, b) in self.hist.iter_mut().zip(w.hist) {
                *a += b;
            }
        }
    }

    fn percentile(&self, q: f64) -> f64 {
        let total: u64 = self.hist.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return f64::NAN;
        }
        let want = (total as f64 * q).ceil() as u64;
        let mut acc = 0u64;
        for (us, &c) in self.hist.iter().enumerate() {
            acc += u64::from(c);
            if acc >= want {
                return us as f64;
            }
        }
        HIST_US as f64
    }

    fn report(&self, target: &'static str, calls: usize) -> RelayReport {
        RelayReport {
            target,
            calls,
            seconds: self.seconds,
            sent: self.sent,
            received: self.received,
            pps: self.received as f64 / self.seconds.max(1e-9),
            loss_pct: if self.sent == 0 {
                f64::NAN
            } else {
                100.0 * self.sent.saturating_sub(self.received) as f64 / self.sent as f64
            },
            cpu_s: self.cpu_s,
            cpu_us_per_packet: self.cpu_s * 1e6 / self.received.max(1) as f64,
            p50_us: self.percentile(0.50),
            p99_us: self.percentile(0.99),
            generator_cpu_s: self.generator_cpu_s,
            late_slots: self.late_slots,
        }
    }
}

/// Run traffic through `relay` for a warm-up, then measure for `window`.
///
/// Payload layout: send time (ns since `t0`, 8 bytes) then the measuring flag (1 byte).
fn measure(relay: &Relay, warmup: Duration, window: Duration) -> Result<Window, BenchError> {
    let t0 = Instant::now();
    let shared = Arc::new(Shared {
        stop_sending: AtomicBool::new(false),
        stop_receiving: AtomicBool::new(false),
        measuring: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        late_slots: AtomicU64::new(0),
    });
    let (a, b) = (relay.ep.a.try_clone()?, relay.ep.b.try_clone()?);
    let calls_tx: Vec<CallPorts> = relay.calls.clone();
    let sh = shared.clone();
    let sender = std::thread::Builder::new()
        .name("bench-send".into())
        .spawn(move || send_loop(t0, &a, &b, &calls_tx, &sh))?;
    let (a, b) = (relay.ep.a.try_clone()?, relay.ep.b.try_clone()?);
    let sh = shared.clone();
    let receiver = std::thread::Builder::new()
        .name("bench-recv".into())
        .spawn(move || recv_loop(t0, &a, &b, &sh))?;

    std::thread::sleep(warmup);
    let cpu0 = relay.pid.map(sys::process_cpu_seconds).transpose()?;
    let gen0 = sys::process_cpu_seconds(std::process::id())?;
    let w0 = Instant::now();
    shared.late_slots.store(0, Ordering::Relaxed);
    shared.measuring.store(true, Ordering::Release);
    std::thread::sleep(window);
    shared.measuring.store(false, Ordering::Release);
    let seconds = w0.elapsed().as_secs_f64();
    let cpu1 = relay.pid.map(sys::process_cpu_seconds).transpose()?;
    let gen1 = sys::process_cpu_seconds(std::process::id())?;
    // Let the last measured packets through, then stop.
    std::thread::sleep(Duration::from_millis(300));
    shared.stop_sending.store(true, Ordering::Release);
    let late_slots = shared.late_slots.load(Ordering::Relaxed);
    let sent = sender
        .join()
        .map_err(|_| BenchError::Setup("sender thread panicked".into()))?;
    std::thread::sleep(Duration::from_millis(500));
    shared.stop_receiving.store(true, Ordering::Release);
    let (received, hist) = receiver
        .join()
        .map_err(|_| BenchError::Setup("receiver thread panicked".into()))?;
    let cpu_s = match (cpu0, cpu1) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    Ok(Window {
        seconds,
        sent,
        received,
        cpu_s,
        generator_cpu_s: gen1 - gen0,
        late_slots,
        hist,
    })
}

/// Returns the number of packets sent while measuring.
fn send_loop(t0: Instant, a: &UdpSocket, b: &UdpSocket, calls: &[CallPorts], sh: &Shared) -> u64 {
    const N: usize = 64;
    let mut batch = Batch::new(N);
    let mut seq = vec![0u16; calls.len() * 2];
    let mut measured = 0u64;
    let period = Duration::from_millis(20);
    let slot_len = period / SLOTS;
    let mut tick: u64 = 0;
    let start = Instant::now();
    let ip = std::net::Ipv4Addr::LOCALHOST;
    while !sh.stop_sending.load(Ordering::Acquire) {
        let slot = (tick % u64::from(SLOTS)) as usize;
        let due = start + slot_len * tick as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > Duration::from_millis(2) {
            sh.late_slots.fetch_add(1, Ordering::Relaxed);
        }
        let measuring = sh.measuring.load(Ordering::Acquire);
        let period_no = (tick / u64::from(SLOTS)) as u32;
        for (sock, dir) in [(a, 0usize), (b, 1usize)] {
            let mut n = 0;
            let mut c = slot;
            while c < calls.len() {
                let port = if dir == 0 {
                    calls[c].a_to
                } else {
                    calls[c].b_to
                };
                let k = c * 2 + dir;
                seq[k] = seq[k].wrapping_add(1);
                let buf = batch.buf_mut(n);
                buf[0] = 0x80;
                buf[1] = 0;
                buf[2..4].copy_from_slice(&seq[k].to_be_bytes());
                buf[4..8].copy_from_slice(&(period_no.wrapping_mul(160)).to_be_bytes());
                buf[8..12].copy_from_slice(&(k as u32 + 1).to_be_bytes());
                let ns = t0.elapsed().as_nanos() as u64;
                buf[12..20].copy_from_slice(&ns.to_le_bytes());
                buf[20] = u8::from(measuring);
                buf[21..172].fill(0xFF);
                batch.set(n, 172, SocketAddr::from((ip, port)));
                n += 1;
                if n == N {
                    batch.send(sock.as_raw_fd(), n);
                    n = 0;
                }
                if measuring {
                    measured += 1;
                }
                c += SLOTS as usize;
            }
            if n > 0 {
                batch.send(sock.as_raw_fd(), n);
            }
        }
        sh.sent.store(measured, Ordering::Relaxed);
        tick += 1;
    }
    measured
}

/// The receiver polls its sockets every [`POLL`] instead of sleeping in epoll: on loopback a
/// sender pays for waking a sleeping receiver (the wake-up runs in the sending system call),
/// which would charge the relay under test for the generator's sleep; a phone on another
/// machine costs the relay nothing of the kind. The poll adds up to [`POLL`] to the measured
/// latency.
const POLL: Duration = Duration::from_micros(200);

fn recv_loop(t0: Instant, a: &UdpSocket, b: &UdpSocket, sh: &Shared) -> (u64, Vec<u32>) {
    let mut hist = vec![0u32; HIST_US + 1];
    let mut received = 0u64;
    let mut batch = Batch::new(64);
    while !sh.stop_receiving.load(Ordering::Acquire) {
        for fd in [a.as_raw_fd(), b.as_raw_fd()] {
            while let Ok(got) = batch.recv(fd) {
                if got == 0 {
                    break;
                }
                let now = t0.elapsed().as_nanos() as u64;
                for i in 0..got {
                    let buf = batch.buf(i);
                    if batch.len(i) < 21 || buf[20] != 1 {
                        continue;
                    }
                    let mut ts = [0u8; 8];
                    ts.copy_from_slice(&buf[12..20]);
                    let sent = u64::from_le_bytes(ts);
                    let us = (now.saturating_sub(sent) / 1000) as usize;
                    hist[us.min(HIST_US)] += 1;
                    received += 1;
                }
                if got < batch.capacity() {
                    break;
                }
            }
        }
        std::thread::sleep(POLL);
    }
    (received, hist)
}

/// A bencode value (rtpengine's ng protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `i42e`
    Int(i64),
    /// `4:spam`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Value>),
    /// `d...e`, keys sorted.
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// Encode.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Value::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Value::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    Value::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decode one value; returns it and the rest of the input. Never panics.
    pub fn decode(input: &[u8]) -> Option<(Value, &[u8])> {
        Self::decode_depth(input, 0)
    }

    fn decode_depth(input: &[u8], depth: usize) -> Option<(Value, &[u8])> {
        if depth > 64 {
            return None;
        }
        match *input.first()? {
            b'i' => {
                let end = input.iter().position(|&c| c == b'e')?;
                let n = std::str::from_utf8(&input[1..end]).ok()?.parse().ok()?;
                Some((Value::Int(n), &input[end + 1..]))
            }
            b'l' => {
                let mut rest = &input[1..];
                let mut items = Vec::new();
                while *rest.first()? != b'e' {
                    let (v, r) = Self::decode_depth(rest, depth + 1)?;
                    items.push(v);
                    rest = r;
                }
                Some((Value::List(items), &rest[1..]))
            }
            b'd' => {
                let mut rest = &input[1..];
                let mut map = BTreeMap::new();
                while *rest.first()? != b'e' {
                    let (Value::Bytes(k), r) = Self::decode_depth(rest, depth + 1)? else {
                        return None;
                    };
                    let (v, r) = Self::decode_depth(r, depth + 1)?;
                    map.insert(k, v);
                    rest = r;
                }
                Some((Value::Dict(map), &rest[1..]))
            }
            b'0'..=b'9' => {
                let colon = input.iter().position(|&c| c == b':')?;
                let len: usize = std::str::from_utf8(&input[..colon]).ok()?.parse().ok()?;
                let start = colon + 1;
                let end = start.checked_add(len)?;
                let bytes = input.get(start..end)?.to_vec();
                Some((Value::Bytes(bytes), &input[end..]))
            }
            _ => None,
        }
    }

    /// A dictionary entry.
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.get(key),
            _ => None,
        }
    }

    /// The bytes of a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// A minimal ng client: `<cookie> <bencoded dict>` per UDP datagram.
struct Ng {
    sock: UdpSocket,
    to: SocketAddr,
    cookie: AtomicU64,
}

impl Ng {
    fn new(to: SocketAddr) -> std::io::Result<Ng> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_read_timeout(Some(Duration::from_millis(500)))?;
        Ok(Ng {
            sock,
            to,
            cookie: AtomicU64::new(1),
        })
    }

    fn call(&self, msg: &Value) -> Result<Value, BenchError> {
        let cookie = format!("c{}", self.cookie.fetch_add(1, Ordering::Relaxed));
        let mut out = cookie.clone().into_bytes();
        out.push(b' ');
        msg.encode(&mut out);
        let mut buf = vec![0u8; 65536];
        for _ in 0..3 {
            self.sock.send_to(&out, self.to)?;
            let deadline = Instant::now() + Duration::from_millis(500);
            while Instant::now() < deadline {
                let Ok(n) = self.sock.recv(&mut buf) else {
                    break;
                };
                let reply = &buf[..n];
                let Some(space) = reply.iter().position(|&c| c == b' ') else {
                    continue;
                };
                if &reply[..space] != cookie.as_bytes() {
                    continue;
                }
                let (v, _) = Value::decode(&reply[space + 1..]).ok_or_else(|| {
                    BenchError::Setup("rtpengine sent undecodable bencode".into())
                })?;
                if v.get(b"result").and_then(Value::as_bytes) == Some(b"error") {
                    return Err(BenchError::Setup(format!("rtpengine: {v:?}")));
                }
                return Ok(v);
            }
        }
        Err(BenchError::Setup("no answer from rtpengine".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bencode_round_trips_a_dictionary() {
        let mut d = BTreeMap::new();
        d.insert(b"command".to_vec(), Value::Bytes(b"offer".to_vec()));
        d.insert(
            b"flags".to_vec(),
            Value::List(vec![
                Value::Bytes(b"trust-address".to_vec()),
                Value::Int(-3),
            ]),
        );
        let v = Value::Dict(d);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(
            out,
            b"d7:command5:offer5:flagsl13:trust-addressi-3eee".to_vec()
        );
        let (back, rest) = Value::decode(&out).expect("valid");
        assert_eq!(back, v);
        assert!(rest.is_empty());
    }

    #[test]
    fn bencode_rejects_truncated_and_hostile_input() {
        for bad in [
            &b"d3:abc"[..],
            b"5:abc",
            b"i12",
            b"l",
            b"99999999999999999999:x",
            b"x",
            b"",
        ] {
            assert_eq!(
                Value::decode(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = vec![b'l'; 10_000];
        assert_eq!(Value::decode(&deep), None);
    }

    #[test]
    fn sdp_port_is_read_from_the_audio_line() {
        let s = sdp(SocketAddr::from(([127, 0, 0, 1], 30_000)));
        assert_eq!(sdp_port(s.as_bytes()), Some(30_000));
        assert_eq!(sdp_port(b"v=0\r\n"), None);
    }
}
