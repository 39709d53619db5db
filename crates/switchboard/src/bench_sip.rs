//! `switchboard bench sip`: SIP calls per second.
//!
//! Starts `switchboard run` (this binary) with a benchmark configuration and
//! drives it with sipp's short calls (`crates/testkit/sipp/uac_flood.xml`:
//! INVITE with an SDP offer → 200 → ACK → BYE → 200). Every call is real:
//! the offer is negotiated, the bandwidth manager places it on one of the two
//! embedded media handlers, a media session and a leg are created over the
//! control API, the 200 carries the handler's SDP, the flow starts playing a
//! prompt, the BYE deletes the session, and the call record is written.
//!
//! The rate doubles from `--start-rate` until a step has a failed call, then
//! bisects; the highest rate with zero failed calls is the figure. Then, when
//! `kamailio` is installed, the same search runs against Kamailio answering
//! every INVITE itself with `sl_send_reply` (`bench/kamailio.cfg`,
//! `WITH_ANSWER`): a ceiling for SIP processing alone on this machine.
//! Figures only; nothing here fails on a timing.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

const FLOOD_XML: &str = include_str!("../../testkit/sipp/uac_flood.xml");
const KAMAILIO_CFG: &str = include_str!("../../../bench/kamailio.cfg");

/// `switchboard bench sip` options.
#[derive(clap::Args, Debug, Clone)]
pub struct SipArgs {
    /// Seconds of load per rate step.
    #[arg(long, default_value_t = 10)]
    pub seconds: u32,
    /// The first rate tried, calls/s.
    #[arg(long, default_value_t = 100)]
    pub start_rate: u32,
    /// The highest rate tried, calls/s.
    #[arg(long, default_value_t = 8000)]
    pub max_rate: u32,
    /// Bisection steps after the first failing rate.
    #[arg(long, default_value_t = 3)]
    pub refine: u32,
    /// How long each call lasts after the ACK, ms (sipp -d).
    #[arg(long, default_value_t = 0)]
    pub hold_ms: u32,
    /// Skip the Kamailio ceiling.
    #[arg(long)]
    pub no_kamailio: bool,
}

/// One rate step's outcome.
#[derive(Debug, Clone)]
struct Step {
    rate: u32,
    calls: u64,
    successful: u64,
    failed: u64,
    retransmissions: u64,
    seconds: f64,
    /// CPU used by the server under test, in cores.
    cpu: Option<f64>,
}

impl Step {
    fn ok(&self) -> bool {
        self.failed == 0 && self.successful == self.calls
    }
}

fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn free_tcp_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split(' ').nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks; USER_HZ is 100 on every architecture Switchboard runs on.
    Some((utime + stime) / 100.0)
}

/// A child process stopped (by its pid, SIGTERM then SIGKILL) when dropped.
struct Server {
    name: &'static str,
    child: Child,
}

impl Server {
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("{} did not stop within 15 s; killed", self.name);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// Runs one sipp step: `rate` calls/s for `seconds`.
fn sipp_step(
    dir: &Path,
    target: &str,
    rate: u32,
    args: &SipArgs,
    server_pid: Option<u32>,
) -> anyhow::Result<Step> {
    let calls = u64::from(rate) * u64::from(args.seconds);
    let stats = dir.join(format!("stats-{target}-{rate}.csv").replace(':', "_"));
    let _ = std::fs::remove_file(&stats);
    let cpu0 = server_pid.and_then(cpu_seconds);
    let started = Instant::now();
    let status = Command::new("sipp")
        .current_dir(dir)
        .args(["-sf", "uac_flood.xml", target, "-i", "127.0.0.1"])
        .args(["-p", &free_udp_port()?.to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &free_udp_port()?.to_string()])
        .args([
            "-s",
            "1000",
            "-r",
            &rate.to_string(),
            "-m",
            &calls.to_string(),
        ])
        .args(["-l", "20000", "-d", &args.hold_ms.to_string()])
        .args(["-timeout", &format!("{}s", args.seconds * 3 + 30)])
        .args(["-timeout_error", "-nostdin", "-trace_stat", "-fd", "1"])
        .arg("-stf")
        .arg(&stats)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running sipp (apt-get install sip-tester)")?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = match (cpu0, server_pid.and_then(cpu_seconds)) {
        (Some(a), Some(b)) => Some((b - a) / seconds),
        _ => None,
    };
    let csv = std::fs::read_to_string(&stats).unwrap_or_default();
    let value = |name: &str| -> u64 {
        let mut lines = csv.lines();
        let head: Vec<&str> = lines.next().unwrap_or("").split(';').collect();
        let last: Vec<&str> = lines
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .split(';')
            .collect();
        head.iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let step = Step {
        rate,
        calls,
        successful: value("SuccessfulCall(C)"),
        failed: value("FailedCall(C)"),
        retransmissions: value("Retransmissions(C)"),
        seconds,
        cpu,
    };
    if !status.success() && step.ok() {
        anyhow::bail!("sipp exited with {status} but reported no failure");
    }
    Ok(step)
}

fn print_step(who: &str, s: &Step) {
    println!(
        "  {who:<11} {:>6} calls/s  {:>7} calls  {:>7} ok  {:>5} failed  {:>6} retrans  {:>6.1} s{}",
        s.rate,
        s.calls,
        s.successful,
        s.failed,
        s.retransmissions,
        s.seconds,
        s.cpu
            .map(|c| format!("  server CPU {:.0}%", c * 100.0))
            .unwrap_or_default()
    );
}

/// The doubling-then-bisecting search; returns the best passing step.
fn search(
    who: &str,
    dir: &Path,
    target: &str,
    args: &SipArgs,
    pid: Option<u32>,
    settle: &dyn Fn(),
) -> anyhow::Result<Option<Step>> {
    let mut best: Option<Step> = None;
    let mut failing: Option<u32> = None;
    let mut rate = args.start_rate.max(1);
    loop {
        let s = sipp_step(dir, target, rate, args, pid)?;
        print_step(who, &s);
        settle();
        if s.ok() {
            best = Some(s);
            if rate >= args.max_rate {
                break;
            }
            rate = (rate * 2).min(args.max_rate);
        } else {
            failing = Some(rate);
            break;
        }
    }
    if let Some(mut bad) = failing {
        for _ in 0..args.refine {
            let good = best.as_ref().map_or(0, |b| b.rate);
            let mid = (good + bad) / 2 / 50 * 50;
            if mid <= good || mid >= bad {
                break;
            }
            let s = sipp_step(dir, target, mid, args, pid)?;
            print_step(who, &s);
            settle();
            if s.ok() {
                best = Some(s);
            } else {
                bad = mid;
            }
        }
    }
    Ok(best)
}

fn bench_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("switchboard-bench-sip-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("uac_flood.xml"), FLOOD_XML)?;
    Ok(dir)
}

/// Starts `switchboard run` with the benchmark configuration.
fn start_switchboard(dir: &Path) -> anyhow::Result<(Server, String, SocketAddr)> {
    let demo = dir.join("demo");
    crate::demo::extract(&demo).context("writing the demo prompts")?;
    let flows = dir.join("bench-flows");
    std::fs::create_dir_all(&flows)?;
    std::fs::write(
        flows.join("bench.yaml"),
        "name: bench\nstart: hello\nstates:\n  hello: { play: welcome, next: hangup }\n",
    )?;
    let sip = free_udp_port()?;
    let http = free_tcp_addr()?;
    let config = format!(
        "flows = \"{flows}\"\nprompts = \"{prompts}\"\n\n[sip]\nlisten = [\"udp:127.0.0.1:{sip}\"]\nmax_calls = 100000\n\n[http]\nlisten = \"{http}\"\n\n[media]\nembedded = 2\nrtp_ports = \"10000-19999\"\n\n[[routes]]\nnumber = \"1000\"\nflow = \"bench\"\n",
        flows = flows.display(),
        prompts = demo.join("prompts").display(),
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, config)?;
    let log = std::fs::File::create(dir.join("switchboard.log"))?;
    let child = Command::new(std::env::current_exe()?)
        .arg("run")
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn,sqlx::pool::acquire=error")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting switchboard run")?;
    let mut server = Server {
        name: "switchboard",
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(http, "/api/v1/health").is_none_or(|(s, _)| s != 200) {
        if Instant::now() > deadline || !matches!(server.child.try_wait(), Ok(None)) {
            server.stop();
            anyhow::bail!(
                "switchboard did not start; see {}",
                dir.join("switchboard.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((server, format!("127.0.0.1:{sip}"), http))
}

/// Waits (up to 60 s) until Switchboard has no call left from a step.
fn drained(http: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let active = http_get(http, "/metrics").and_then(|(_, body)| {
            body.lines()
                .find(|l| l.starts_with("switchboard_calls_active "))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        });
        if active.is_none_or(|n| n == 0.0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_kamailio(dir: &Path) -> anyhow::Result<Option<(Server, String)>> {
    if Command::new("kamailio").arg("-v").output().is_err() {
        println!("kamailio is not installed (apt-get install kamailio): no ceiling measured");
        return Ok(None);
    }
    let cfg = dir.join("kamailio.cfg");
    std::fs::write(&cfg, KAMAILIO_CFG)?;
    let run = dir.join("kamailio-run");
    std::fs::create_dir_all(&run)?;
    let port = free_udp_port()?;
    let log = std::fs::File::create(dir.join("kamailio.log"))?;
    let child = Command::new("kamailio")
        .arg("-f")
        .arg(&cfg)
        .args(["-DD", "-E", "-m", "256", "-M", "16"])
        .arg("-w")
        .arg(&run)
        .arg("-Y")
        .arg(&run)
        .args(["-A", "WITH_ANSWER", "-A"])
        .arg(format!("LISTEN=udp:127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting kamailio")?;
    let server = Server {
        name: "kamailio",
        child,
    };
    // Ready when it answers OPTIONS.
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let local = sock.local_addr()?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 2048];
    loop {
        let ping = format!(
            "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKbench{n}\r\nFrom: <sip:bench@{local}>;tag=b\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: bench-ping@{local}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            n = deadline
                .saturating_duration_since(Instant::now())
                .as_millis()
        );
        sock.send_to(ping.as_bytes(), ("127.0.0.1", port))?;
        if sock.recv(&mut buf).is_ok() {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "kamailio did not answer OPTIONS");
    }
    Ok(Some((server, format!("127.0.0.1:{port}"))))
}

/// Runs the benchmark and prints its figures.
pub fn run(args: &SipArgs) -> anyhow::Result<()> {
    let dir = bench_dir()?;
    println!(
        "SIP calls per second: sipp uac_flood (INVITE/200/ACK/BYE, hold {} ms), {} s per step, 0 failed calls required",
        args.hold_ms, args.seconds
    );
    println!("  files and logs: {}", dir.display());
    let (mut sb, target, http) = start_switchboard(&dir)?;
    let pid = sb.child.id();
    let ours = search("switchboard", &dir, &target, args, Some(pid), &|| {
        drained(http)
    })?;
    sb.stop();
    let theirs = if args.no_kamailio {
        None
    } else {
        match start_kamailio(&dir)? {
            Some((mut kam, target)) => {
                let best = search("kamailio", &dir, &target, args, None, &|| {})?;
                kam.stop();
                best
            }
            None => None,
        }
    };
    println!();
    match &ours {
        Some(s) => println!(
            "switchboard run: {} calls/s with 0 failed calls ({} calls{})",
            s.rate,
            s.calls,
            s.cpu
                .map(|c| format!(", server CPU {:.0}% of a core", c * 100.0))
                .unwrap_or_default()
        ),
        None => println!("switchboard run: no rate passed"),
    }
    if let Some(k) = &theirs {
        println!(
            "kamailio (sl_send_reply ceiling): {} calls/s with 0 failed calls",
            k.rate
        );
    }
    Ok(())
}
