//! Golden files: real-world SDP offers in, our typed view and our answer out.
//!
//! Each directory under `tests/golden/` holds:
//! - `offer.sdp`: the input, as a phone or peer sends it;
//! - `case.txt`: what our side supports for this case (`key = value` lines, see
//!   [`Case::read`]);
//! - `view.txt`: the expected typed view of the offer;
//! - `answer.sdp` (expected answer) or `error.txt` (expected SIP rejection).
//!
//! `BLESS=1 cargo test -p sdp --test golden` rewrites the expected files from the current
//! output; review the diff before committing.

use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sdp::{
    Capabilities, Codec, Connection, Direction, Host, LocalMedia, LocalSession, Preference,
    SessionDescription, StreamOutcome,
};

struct Case {
    caps: Capabilities,
    address: IpAddr,
    ports: Vec<u16>,
}

fn codec_named(name: &str) -> Codec {
    Codec::ALL
        .into_iter()
        .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("unknown codec {name} in case.txt"))
}

impl Case {
    /// Keys: `codecs` (audio, our preference order), `video`, `preference`
    /// (`offerer`|`ours`), `address`, `ports`, `direction`, `drop_video`, `opus_max`,
    /// `comfort_noise`, `telephone_event`, `rtcp_mux`.
    fn read(path: &Path) -> Case {
        let mut case = Case {
            caps: Capabilities::audio(&[Codec::Pcmu, Codec::Pcma]),
            address: "198.51.100.1".parse().expect("literal"),
            ports: vec![20000, 20002, 20004, 20006],
        };
        let text = fs::read_to_string(path).unwrap_or_default();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (key, value) = line.split_once('=').expect("key = value");
            let (key, value) = (key.trim(), value.trim());
            let words = || value.split_whitespace();
            let yes = value == "yes";
            match key {
                "codecs" => case.caps.audio = words().map(codec_named).collect(),
                "video" => case.caps.video = words().map(codec_named).collect(),
                "preference" => {
                    case.caps.preference = match value {
                        "ours" => Preference::Ours,
                        _ => Preference::Offerer,
                    }
                }
                "address" => case.address = value.parse().expect("address"),
                "ports" => case.ports = words().map(|p| p.parse().expect("port")).collect(),
                "direction" => {
                    case.caps.local_direction = Direction::from_attribute(value).expect("direction")
                }
                "drop_video" => case.caps.drop_video = yes,
                "opus_max" => case.caps.opus_max_average_bitrate = value.parse().ok(),
                "comfort_noise" => case.caps.comfort_noise = yes,
                "telephone_event" => case.caps.telephone_event = yes,
                "rtcp_mux" => case.caps.rtcp_mux = yes,
                other => panic!("unknown key {other} in {}", path.display()),
            }
        }
        case
    }
}

fn connection(c: Option<&Connection>) -> String {
    match c {
        None => "-".to_owned(),
        Some(c) => match &c.host {
            Host::Ip(ip) => format!("{} {ip}", c.family.as_str()),
            Host::Name(n) => format!("{} {n}", c.family.as_str()),
        },
    }
}

fn view(d: &SessionDescription) -> String {
    let mut out = String::new();
    let o = d.origin();
    let _ = writeln!(out, "origin: id {} version {}", o.sess_id, o.sess_version);
    let _ = writeln!(out, "connection: {}", connection(d.connection()));
    for b in d.bandwidths() {
        let _ = writeln!(out, "bandwidth: {:?} {}", b.kind, b.value);
    }
    if let Some(dir) = d.session_direction() {
        let _ = writeln!(out, "direction: {dir}");
    }
    for m in d.media() {
        let _ = writeln!(
            out,
            "m{} {} ({}) port {} {:?} ({}) {}",
            m.index, m.kind, m.media_type, m.port, m.protocol, m.proto, m.direction
        );
        let _ = writeln!(out, "  connection: {}", connection(m.connection.as_ref()));
        for b in &m.bandwidths {
            let _ = writeln!(out, "  bandwidth: {:?} {}", b.kind, b.value);
        }
        if let Some(p) = m.ptime {
            let _ = writeln!(out, "  ptime: {p}");
        }
        if let Some(p) = m.maxptime {
            let _ = writeln!(out, "  maxptime: {p}");
        }
        if m.rtcp_mux {
            let _ = writeln!(out, "  rtcp-mux");
        }
        if let Some(r) = &m.rtcp {
            let _ = writeln!(
                out,
                "  rtcp: {} {}",
                r.port,
                connection(r.connection.as_ref())
            );
        }
        if let Some(mid) = &m.mid {
            let _ = writeln!(out, "  mid: {mid}");
        }
        for c in &m.crypto {
            let _ = writeln!(
                out,
                "  crypto: {} {:?} tag {:?}",
                c.tag,
                c.suite,
                c.suite.auth_tag_len()
            );
        }
        if !m.protocol.is_rtp() {
            let _ = writeln!(out, "  fmt: {}", m.fmt.join(" "));
        }
        for f in &m.formats {
            let codec = f.codec.map_or("-".to_owned(), |c| format!("{c:?}"));
            let enc = f.encoding.as_ref().map_or("?".to_owned(), |e| {
                format!("{}/{}/{}", e.name, e.clock_rate, e.channels)
            });
            let fmtp = f
                .fmtp
                .as_ref()
                .map_or(String::new(), |p| format!(" fmtp[{}]", p.raw()));
            let _ = writeln!(out, "  {} {enc} {codec}{fmtp}", f.payload_type);
        }
    }
    out
}

fn check(path: &Path, actual: &str, bless: bool, failures: &mut Vec<String>) {
    if bless {
        fs::write(path, actual).expect("write golden file");
        return;
    }
    match fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )),
        Err(_) => failures.push(format!("{} is missing; actual:\n{actual}", path.display())),
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("tests/golden exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.join("offer.sdp").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn golden_offers_give_the_expected_view_and_answer() {
    let bless = std::env::var_os("BLESS").is_some();
    let dirs = cases();
    assert!(
        dirs.len() >= 15,
        "expected the golden corpus, found {} cases",
        dirs.len()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let input = fs::read(dir.join("offer.sdp")).expect("offer.sdp");
        let case = Case::read(&dir.join("case.txt"));
        let offer = match SessionDescription::parse(&input) {
            Ok(o) => o,
            Err(e) => {
                let out = format!("{} {}\n{e}\n", e.status_code(), e.reason_phrase());
                check(&dir.join("error.txt"), &out, bless, &mut failures);
                continue;
            }
        };

        // Unchanged input comes back byte for byte, and the canonical rewrite by
        // sdp-types describes the same session.
        assert_eq!(offer.as_bytes(), &input[..], "{}", dir.display());
        let rewritten = SessionDescription::parse(&offer.canonical_bytes())
            .unwrap_or_else(|e| panic!("{}: canonical form does not parse: {e}", dir.display()));
        assert_eq!(rewritten.media(), offer.media(), "{}", dir.display());

        check(&dir.join("view.txt"), &view(&offer), bless, &mut failures);

        let answer = sdp::negotiate(&offer, &case.caps).and_then(|n| {
            let local = LocalMedia {
                address: case.address,
                ports: case.ports.clone(),
            };
            let mut session = LocalSession::new(1000, 1, case.address);
            sdp::build_answer(&offer, &n, &local, &mut session).map(|a| (n, a))
        });
        match answer {
            Ok((negotiation, answer)) => {
                // The answer we wrote reads back, as the offerer will read it, to the
                // same codecs and the reverse of our directions.
                let read_back = sdp::process_answer(&offer, &answer)
                    .unwrap_or_else(|e| panic!("{}: our answer is rejected: {e}", dir.display()));
                for (ours, theirs) in negotiation.streams.iter().zip(&read_back.streams) {
                    match (ours, theirs) {
                        (StreamOutcome::Accepted(a), StreamOutcome::Accepted(b)) => {
                            assert_eq!(a.codec.codec, b.codec.codec, "{}", dir.display());
                            assert_eq!(
                                a.codec.recv_payload_type,
                                b.codec.send_payload_type,
                                "{}",
                                dir.display()
                            );
                            assert_eq!(b.direction, a.direction.reverse(), "{}", dir.display());
                        }
                        (StreamOutcome::Rejected(_), StreamOutcome::Rejected(_)) => {}
                        _ => panic!("{}: accepted/rejected differ on read-back", dir.display()),
                    }
                }
                check(
                    &dir.join("answer.sdp"),
                    &answer.to_string(),
                    bless,
                    &mut failures,
                );
            }
            Err(e) => {
                let out = format!(
                    "{} {}\nwarning: {:?}\n{e}\n",
                    e.status_code(),
                    e.reason_phrase(),
                    e.warning_code()
                );
                check(&dir.join("error.txt"), &out, bless, &mut failures);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
