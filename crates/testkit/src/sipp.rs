//! Running sipp (Debian package `sip-tester`) scenarios against Switchboard.
//!
//! Scenarios live in `crates/testkit/sipp/` (the team's reference scenarios,
//! adapted: media files are looked up next to the scenario, by the names
//! `caller.pcap`, `caller_dtmf.pcap` and `agent.pcap`). Each run gets its own
//! temporary directory holding the scenario, any extra files (pcaps,
//! injection CSVs) and sipp's logs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bundled scenario folder.
pub fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp")
}

/// A sipp invocation being prepared.
pub struct Sipp {
    name: String,
    args: Vec<String>,
    dir: tempfile::TempDir,
    timeout: Duration,
}

/// What a finished sipp run reported.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// sipp's exit code: 0 all calls succeeded, 1 some failed, 97 stopped by
    /// command, 99 no call processed, 255 fatal error.
    pub code: i32,
    pub successful: u64,
    pub failed: u64,
    /// sipp's stdout, stderr and error log, for messages.
    pub output: String,
}

impl Sipp {
    /// Prepares a run of the bundled scenario `name` (e.g. `"uac_call"`).
    pub fn scenario(name: &str) -> Sipp {
        let src = scenario_dir().join(format!("{name}.xml"));
        let xml =
            std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        Sipp::inline(name, &xml)
    }

    /// Prepares a run of a scenario given as XML text.
    pub fn inline(name: &str, xml: &str) -> Sipp {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(format!("{name}.xml"));
        std::fs::write(&path, xml).expect("write scenario");
        Sipp {
            name: name.to_string(),
            args: vec![
                "-sf".into(),
                path.display().to_string(),
                "-nostdin".into(),
                "-trace_stat".into(),
                "-stf".into(),
                "stats.csv".into(),
                "-fd".into(),
                "1".into(),
                "-trace_err".into(),
                "-error_file".into(),
                "errors.log".into(),
            ],
            dir,
            timeout: Duration::from_secs(60),
        }
    }

    /// Puts a file next to the scenario (a pcap to play, a CSV to inject).
    pub fn file(self, name: &str, contents: &[u8]) -> Sipp {
        std::fs::write(self.dir.path().join(name), contents).expect("write file");
        self
    }

    /// The run's directory (files and logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Appends raw arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Sipp {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Local SIP address (`-i`, `-p`) and media address (`-mi`, `-mp`).
    pub fn local(self, sip_port: u16, media_port: u16) -> Sipp {
        self.args([
            "-i".to_string(),
            "127.0.0.1".into(),
            "-p".into(),
            sip_port.to_string(),
            "-mi".into(),
            "127.0.0.1".into(),
            "-mp".into(),
            media_port.to_string(),
        ])
    }

    /// Number of calls (`-m`).
    pub fn calls(self, n: u64) -> Sipp {
        self.args(["-m".to_string(), n.to_string()])
    }

    /// A scenario variable (`-set name value`).
    pub fn set(self, name: &str, value: &str) -> Sipp {
        self.args(["-set".to_string(), name.into(), value.into()])
    }

    /// Gives up (and counts the run as failed) after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Sipp {
        self.timeout = timeout;
        let secs = timeout.as_secs().max(1);
        self.args([
            "-timeout".to_string(),
            format!("{secs}s"),
            "-timeout_error".into(),
        ])
    }

    /// The remote address to call (client scenarios).
    pub fn target(self, addr: &str) -> Sipp {
        self.args([addr.to_string()])
    }

    /// Starts sipp in the background (e.g. an answering agent phone).
    pub fn spawn(self) -> Running {
        let child = Command::new("sipp")
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.dir.path().join("stdout.log")).expect("log"))
            .stderr(std::fs::File::create(self.dir.path().join("stderr.log")).expect("log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run sipp ({e}): install it with `apt-get install sip-tester` (see .ci/run)")
            });
        Running { sipp: self, child }
    }

    /// Runs sipp to completion (or its timeout, plus a margin).
    pub fn run(self) -> Outcome {
        let timeout = self.timeout + Duration::from_secs(10);
        let mut running = self.spawn();
        running.wait(timeout)
    }
}

/// A sipp process running in the background.
pub struct Running {
    sipp: Sipp,
    child: Child,
}

impl Running {
    /// Waits for sipp to finish by itself, killing it after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        let code = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break -1;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.outcome(code)
    }

    /// Stops sipp (SIGUSR1 makes sipp quit, writing its final statistics)
    /// and returns what it reported.
    pub fn stop(&mut self) -> Outcome {
        let _ = Command::new("kill")
            .args(["-USR1", &self.child.id().to_string()])
            .status();
        self.wait(Duration::from_secs(10))
    }

    /// Whether sipp is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn outcome(&self, code: i32) -> Outcome {
        let dir = self.sipp.dir.path();
        let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap_or_default();
        let (successful, failed) = parse_stats(&read("stats.csv"));
        let output = format!(
            "sipp {} exited {code}\n--- stdout\n{}\n--- stderr\n{}\n--- errors\n{}",
            self.sipp.name,
            tail(&read("stdout.log"), 60),
            tail(&read("stderr.log"), 40),
            tail(&read("errors.log"), 60)
        );
        Outcome {
            code,
            successful,
            failed,
            output,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Successful and failed call counts from the last row of sipp's `-trace_stat` CSV.
fn parse_stats(csv: &str) -> (u64, u64) {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return (0, 0);
    };
    let cols: Vec<&str> = header.split(';').collect();
    let Some(last) = lines.rfind(|l| !l.trim().is_empty()) else {
        return (0, 0);
    };
    let vals: Vec<&str> = last.split(';').collect();
    let get = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .and_then(|i| vals.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (get("SuccessfulCall(C)"), get("FailedCall(C)"))
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_come_from_the_last_row() {
        let csv = "StartTime;SuccessfulCall(C);FailedCall(C);\n1;0;0;\n2;7;1;\n";
        assert_eq!(parse_stats(csv), (7, 1));
        assert_eq!(parse_stats(""), (0, 0));
    }
}
