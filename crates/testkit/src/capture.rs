//! A packet capture on the loopback interface with `dumpcap` (Debian package
//! `tshark` / `wireshark-common`), for tests that check what a real peer
//! received on the wire.
//!
//! `dumpcap` needs capture rights: root, or `setcap cap_net_raw,cap_net_admin+eip
//! /usr/bin/dumpcap` (`.ci/run` does the latter when it is not root).

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::pcap::{self, UdpPacket};

/// A running capture; [`Capture::stop`] ends it and returns the packets.
pub struct Capture {
    child: Child,
    path: PathBuf,
    /// A socket that sends readiness probes to itself; its traffic is part of
    /// the capture filter and removed from the result.
    probe: UdpSocket,
    _dir: tempfile::TempDir,
}

impl Capture {
    /// Starts capturing loopback traffic that matches the BPF `filter`
    /// (e.g. `"udp and dst port 16000"`), and returns once a probe packet has
    /// reached the capture file: `dumpcap` announces itself a little before
    /// its filter is live, so the announcement alone is not enough.
    pub fn start(filter: &str) -> Result<Capture, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let path = dir.path().join("capture.pcapng");
        let probe = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("probe socket: {e}"))?;
        let probe_port = probe.local_addr().map_err(|e| e.to_string())?.port();
        let filter =
            format!("({filter}) or (udp and src port {probe_port} and dst port {probe_port})");
        let mut child = Command::new("dumpcap")
            .args(["-i", "lo", "-f", &filter, "-w"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("cannot run dumpcap ({e}): install it with `apt-get install tshark` (see .ci/run)")
            })?;
        // dumpcap reports "Capturing on 'Loopback: lo'" once the filter is set.
        // Piped stderr was requested above, so it is present.
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut said = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Capturing on") {
                    let _ = tx.send(Ok(()));
                    // Keep draining so dumpcap never blocks on a full pipe.
                    continue;
                }
                said.push(line);
                if said.len() > 20 {
                    break;
                }
            }
            let _ = tx.send(Err(said.join("\n")));
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => {
                let cap = Capture {
                    child,
                    path,
                    probe,
                    _dir: dir,
                };
                cap.await_probe(b"switchboard-capture-start")?;
                Ok(cap)
            }
            Ok(Err(said)) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("dumpcap did not start capturing: {said}"))
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err("dumpcap did not start capturing within 20 s".into())
            }
        }
    }

    /// Sends the probe `tag` until it shows in the capture file. dumpcap
    /// writes packets in order and flushes about twice a second, so once the
    /// probe is in the file, so is everything captured before it.
    fn await_probe(&self, tag: &[u8]) -> Result<(), String> {
        let to = self.probe.local_addr().map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let _ = self.probe.send_to(tag, to);
            std::thread::sleep(Duration::from_millis(50));
            let seen = pcap::read_udp(&self.path)
                .map(|packets| packets.iter().any(|p| p.src == to && p.payload == tag))
                .unwrap_or(false);
            if seen {
                return Ok(());
            }
        }
        Err("dumpcap captured nothing within 20 s (capture rights? see .ci/run)".into())
    }

    /// Stops the capture and returns the UDP packets captured. Packets sent
    /// before the call are all included: a final probe is awaited in the file
    /// first (libpcap hands packets over in blocks, and a block not yet handed
    /// over when dumpcap is interrupted would be lost).
    pub fn stop(mut self) -> Result<Vec<UdpPacket>, String> {
        self.await_probe(b"switchboard-capture-end")?;
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let probe = self.probe.local_addr().map_err(|e| e.to_string())?;
        let packets = pcap::read_udp(&self.path).map_err(|e| e.to_string())?;
        Ok(packets.into_iter().filter(|p| p.src != probe).collect())
    }

    /// Where the capture is being written (removed when the capture is dropped).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn captures_what_is_sent_on_loopback() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rx.local_addr().unwrap().port();
        let cap = Capture::start(&format!("udp and dst port {port}")).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i; 20], ("127.0.0.1", port)).unwrap();
        }
        let packets = cap.stop().unwrap();
        let payloads: Vec<u8> = packets.iter().map(|p| p.payload[0]).collect();
        assert_eq!(payloads, vec![0, 1, 2, 3, 4]);
        assert!(
            packets
                .iter()
                .all(|p| p.dst.port() == port && p.payload.len() == 20)
        );
    }
}
