//! Running the real `switchboard` binary (or another program) in tests: a
//! temporary data directory, free ports, readiness by polling an HTTP
//! endpoint, logs kept in a file and shown when the test fails, and the
//! process killed when the handle is dropped.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// A running child process.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Process {
    /// Starts `program` with `args`, stdout and stderr going to a log file in
    /// a fresh temporary directory (also the working directory).
    pub fn spawn(name: &str, program: &Path, args: &[String], env: &[(&str, &str)]) -> Process {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file handle");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Process {
            name: name.to_string(),
            child,
            log,
            dir,
        }
    }

    /// The process's temporary working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `GET path` on `addr` answers 2xx, or panics (showing the
    /// log) after `timeout` or if the process exits.
    pub fn wait_http(&mut self, addr: SocketAddr, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if crate::http::get(addr, path).is_ok_and(|r| (200..300).contains(&r.status)) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} not ready on http://{addr}{path} after {timeout:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the log contains `needle` (e.g. a start-up line).
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before logging {needle:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not log {needle:?} within {timeout:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process with SIGKILL (as a crash would) and waits for it.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits up to `timeout`, then
    /// kills it. Returns whether it exited on its own.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill_hard();
        false
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_hard();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("---- last lines of {} ----", self.name);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP (for SIP).
pub fn free_sip_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("local addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// A free TCP address on 127.0.0.1 (for HTTP).
pub fn free_tcp_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind tcp")
        .local_addr()
        .expect("local addr")
}

/// A free UDP port on 127.0.0.1 (for a peer's media).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind udp")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A range of `len` ports (an even start) for a media handler, below the
/// kernel's ephemeral range (32768+) so it never meets ports handed out for
/// `bind(0)`. Ranges differ between tests of one process, and processes
/// (nextest runs each test in its own) start at a pid-dependent offset.
pub fn rtp_port_range(len: u16) -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let len = len.max(4) + len % 2;
    let slots = 12_000 / len;
    let offset = (std::process::id() as u16).wrapping_mul(7) % slots;
    let slot = (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % slots;
    let start = 20_000 + slot * len;
    (start, start + len - 1)
}
