//! The codec table: which encodings Switchboard knows by name, their RTP clock rates,
//! static payload types (RFC 3551 §6) and the payload types we pick when we offer them.
//!
//! The table describes *identity* only (how a codec is named in SDP and how it maps to a
//! payload type). What a codec costs on the wire is the bandwidth manager's business.

use std::fmt;

use crate::view::MediaKind;

/// A codec (or an auxiliary RTP format such as DTMF events) that Switchboard recognises.
///
/// Formats that are not in the table are still parsed and kept (see
/// [`PayloadFormat::encoding`](crate::PayloadFormat::encoding)); they simply have no
/// `Codec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Codec {
    /// G.711 µ-law, static PT 0.
    Pcmu,
    /// G.711 A-law, static PT 8.
    Pcma,
    /// G.722 (16 kHz audio, RTP clock 8000 for historical reasons), static PT 9.
    G722,
    /// G.723.1, static PT 4.
    G723,
    /// G.729 (and its bit-compatible annex A), static PT 18.
    G729,
    /// GSM 06.10 full rate, static PT 3.
    Gsm,
    /// iLBC (RFC 3952), dynamic.
    Ilbc,
    /// AMR narrowband (RFC 4867), dynamic.
    Amr,
    /// AMR wideband (RFC 4867), dynamic.
    AmrWb,
    /// Opus (RFC 7587), always `opus/48000/2` in SDP, dynamic.
    Opus,
    /// RFC 4733 named telephone events (DTMF), dynamic; its clock rate follows the audio codec.
    TelephoneEvent,
    /// RFC 3389 comfort noise, static PT 13 at 8000 Hz, dynamic at other rates.
    ComfortNoise,
    /// H.264 video (RFC 6184), dynamic.
    H264,
    /// VP8 video (RFC 7741), dynamic.
    Vp8,
    /// VP9 video, dynamic.
    Vp9,
    /// AV1 video, dynamic.
    Av1,
    /// RFC 2198 redundant audio / video RED, dynamic.
    Red,
    /// RFC 4588 retransmission, dynamic.
    Rtx,
    /// RFC 5109 ULP forward error correction, dynamic.
    Ulpfec,
}

/// One row of the table.
struct Entry {
    codec: Codec,
    /// The encoding name as we write it in `a=rtpmap`.
    name: &'static str,
    /// Alternative names accepted when parsing (case-insensitive).
    aliases: &'static [&'static str],
    kind: MediaKind,
    /// The RTP clock rate the codec requires, or `None` when it follows its context.
    clock_rate: Option<u32>,
    /// The clock rate we write when the codec's rate follows its context.
    default_clock_rate: u32,
    /// The encoding parameters we write in `a=rtpmap` (channels), if any.
    channels: Option<u16>,
    static_pt: Option<u8>,
    /// The payload type we use when we offer this codec (dynamic codecs only).
    preferred_pt: Option<u8>,
    /// Default packetisation time in ms (audio), the value assumed when SDP has no `a=ptime`.
    default_ptime: Option<u32>,
}

const TABLE: &[Entry] = &[
    Entry {
        codec: Codec::Pcmu,
        name: "PCMU",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: Some(8000),
        default_clock_rate: 8000,
        channels: None,
        static_pt: Some(0),
        preferred_pt: None,
        default_ptime: Some(20),
    },
    Entry {
        codec: Codec::Pcma,
        name: "PCMA",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: Some(8000),
        default_clock_rate: 8000,
        channels: None,
        static_pt: Some(8),
        preferred_pt: None,
        default_ptime: Some(20),
    },
    Entry {
        codec: Codec::G722,
        name: "G722",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: Some(8000),
        default_clock_rate: 8000,
        channels: None,
        static_pt: Some(9),
        preferred_pt: None,
        default_ptime: Some(20),
    },
    Entry {
        codec: Codec::G723,
        name: "G723",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: Some(8000),
        default_clock_rate: 8000,
        channels: None,
        static_pt: Some(4),
        preferred_pt: None,
        default_ptime: Some(30),
    },
    Entry {
        codec: Codec::G729,
        name: "G729",
        aliases: &["G729A"],
        kind: MediaKind::Audio,
        clock_rate: Some(8000),
        default_clock_rate: 8000,
        channels: None,
        static_pt: Some(18),
        preferred_pt: None,
        default_ptime: Some(20),
    },
    Entry {
        codec: Codec::Gsm,
        name: "GSM",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: Some(8000),
        default_clock_rate: 8000,
        channels: None,
        static_pt: Some(3),
        preferred_pt: None,
        default_ptime: Some(20),
    },
    Entry {
        codec: Codec::Ilbc,
        name: "iLBC",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: Some(8000),
        default_clock_rate: 8000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(97),
        default_ptime: Some(30),
    },
    Entry {
        codec: Codec::Amr,
        name: "AMR",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: Some(8000),
        default_clock_rate: 8000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(98),
        default_ptime: Some(20),
    },
    Entry {
        codec: Codec::AmrWb,
        name: "AMR-WB",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: Some(16000),
        default_clock_rate: 16000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(99),
        default_ptime: Some(20),
    },
    Entry {
        codec: Codec::Opus,
        name: "opus",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: Some(48000),
        default_clock_rate: 48000,
        channels: Some(2),
        static_pt: None,
        preferred_pt: Some(111),
        default_ptime: Some(20),
    },
    Entry {
        codec: Codec::TelephoneEvent,
        name: "telephone-event",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: None,
        default_clock_rate: 8000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(101),
        default_ptime: None,
    },
    Entry {
        codec: Codec::ComfortNoise,
        name: "CN",
        aliases: &[],
        kind: MediaKind::Audio,
        clock_rate: None,
        default_clock_rate: 8000,
        channels: None,
        static_pt: Some(13),
        preferred_pt: Some(13),
        default_ptime: None,
    },
    Entry {
        codec: Codec::H264,
        name: "H264",
        aliases: &[],
        kind: MediaKind::Video,
        clock_rate: Some(90000),
        default_clock_rate: 90000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(102),
        default_ptime: None,
    },
    Entry {
        codec: Codec::Vp8,
        name: "VP8",
        aliases: &[],
        kind: MediaKind::Video,
        clock_rate: Some(90000),
        default_clock_rate: 90000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(96),
        default_ptime: None,
    },
    Entry {
        codec: Codec::Vp9,
        name: "VP9",
        aliases: &[],
        kind: MediaKind::Video,
        clock_rate: Some(90000),
        default_clock_rate: 90000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(98),
        default_ptime: None,
    },
    Entry {
        codec: Codec::Av1,
        name: "AV1",
        aliases: &[],
        kind: MediaKind::Video,
        clock_rate: Some(90000),
        default_clock_rate: 90000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(45),
        default_ptime: None,
    },
    Entry {
        codec: Codec::Red,
        name: "red",
        aliases: &[],
        kind: MediaKind::Other,
        clock_rate: None,
        default_clock_rate: 8000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(63),
        default_ptime: None,
    },
    Entry {
        codec: Codec::Rtx,
        name: "rtx",
        aliases: &[],
        kind: MediaKind::Other,
        clock_rate: None,
        default_clock_rate: 90000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(97),
        default_ptime: None,
    },
    Entry {
        codec: Codec::Ulpfec,
        name: "ulpfec",
        aliases: &[],
        kind: MediaKind::Video,
        clock_rate: Some(90000),
        default_clock_rate: 90000,
        channels: None,
        static_pt: None,
        preferred_pt: Some(127),
        default_ptime: None,
    },
];

/// Static payload types of RFC 3551 §6 (tables 4 and 5): name, clock rate, channels.
/// Every assigned static type is listed, so the typed view names formats like `DVI4`
/// even though they have no [`Codec`].
const STATIC_PTS: &[(u8, &str, u32, u16)] = &[
    (0, "PCMU", 8000, 1),
    (3, "GSM", 8000, 1),
    (4, "G723", 8000, 1),
    (5, "DVI4", 8000, 1),
    (6, "DVI4", 16000, 1),
    (7, "LPC", 8000, 1),
    (8, "PCMA", 8000, 1),
    (9, "G722", 8000, 1),
    (10, "L16", 44100, 2),
    (11, "L16", 44100, 1),
    (12, "QCELP", 8000, 1),
    (13, "CN", 8000, 1),
    (14, "MPA", 90000, 1),
    (15, "G728", 8000, 1),
    (16, "DVI4", 11025, 1),
    (17, "DVI4", 22050, 1),
    (18, "G729", 8000, 1),
    (25, "CelB", 90000, 1),
    (26, "JPEG", 90000, 1),
    (28, "nv", 90000, 1),
    (31, "H261", 90000, 1),
    (32, "MPV", 90000, 1),
    (33, "MP2T", 90000, 1),
    (34, "H263", 90000, 1),
];

impl Codec {
    /// Every codec in the table, in table order.
    pub const ALL: [Codec; 19] = [
        Codec::Pcmu,
        Codec::Pcma,
        Codec::G722,
        Codec::G723,
        Codec::G729,
        Codec::Gsm,
        Codec::Ilbc,
        Codec::Amr,
        Codec::AmrWb,
        Codec::Opus,
        Codec::TelephoneEvent,
        Codec::ComfortNoise,
        Codec::H264,
        Codec::Vp8,
        Codec::Vp9,
        Codec::Av1,
        Codec::Red,
        Codec::Rtx,
        Codec::Ulpfec,
    ];

    fn entry(self) -> &'static Entry {
        // The table has exactly one row per variant; `table_has_one_row_per_codec` checks it.
        TABLE
            .iter()
            .find(|e| e.codec == self)
            .expect("invariant: every Codec variant has a row in TABLE")
    }

    /// The encoding name as written in `a=rtpmap` (e.g. `PCMU`, `opus`, `telephone-event`).
    pub fn encoding_name(self) -> &'static str {
        self.entry().name
    }

    /// The media kind the codec belongs to; [`MediaKind::Other`] for formats that serve
    /// both audio and video (RED, RTX).
    pub fn kind(self) -> MediaKind {
        self.entry().kind
    }

    /// The RTP clock rate the codec requires, or `None` when it follows the codec it
    /// accompanies (telephone-event, CN, RED, RTX).
    pub fn required_clock_rate(self) -> Option<u32> {
        self.entry().clock_rate
    }

    /// The RTP clock rate we write for this codec when nothing else decides it.
    pub fn default_clock_rate(self) -> u32 {
        self.entry().default_clock_rate
    }

    /// The encoding parameter (channel count) written in `a=rtpmap`, e.g. `2` for Opus.
    pub fn rtpmap_channels(self) -> Option<u16> {
        self.entry().channels
    }

    /// The static payload type (RFC 3551), if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        self.entry().static_pt
    }

    /// The payload type we use when we offer this codec: its static type if it has one,
    /// else a conventional dynamic number (101 for telephone-event, 111 for Opus, ...).
    pub fn preferred_payload_type(self) -> u8 {
        let e = self.entry();
        e.static_pt.or(e.preferred_pt).unwrap_or(96)
    }

    /// The packetisation time (ms) assumed when SDP carries no `a=ptime`; `None` for
    /// formats without one (video, events).
    pub fn default_ptime_ms(self) -> Option<u32> {
        self.entry().default_ptime
    }

    /// Whether the format only accompanies a real codec (DTMF events, comfort noise,
    /// redundancy, retransmission, FEC) and is never chosen as a stream's codec.
    pub fn is_auxiliary(self) -> bool {
        matches!(
            self,
            Codec::TelephoneEvent | Codec::ComfortNoise | Codec::Red | Codec::Rtx | Codec::Ulpfec
        )
    }

    /// Looks a codec up by its `a=rtpmap` encoding name (case-insensitive) and clock rate.
    /// A codec with a required clock rate only matches at that rate.
    pub fn from_encoding(name: &str, clock_rate: u32) -> Option<Codec> {
        TABLE
            .iter()
            .find(|e| {
                (e.name.eq_ignore_ascii_case(name)
                    || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
                    && e.clock_rate.is_none_or(|r| r == clock_rate)
            })
            .map(|e| e.codec)
    }

    /// The encoding a static payload type stands for when no `a=rtpmap` overrides it.
    pub fn static_encoding(pt: u8) -> Option<Encoding> {
        STATIC_PTS
            .iter()
            .find(|(p, ..)| *p == pt)
            .map(|&(_, name, clock_rate, channels)| Encoding {
                name: name.to_owned(),
                clock_rate,
                channels,
            })
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoding_name())
    }
}

/// An RTP encoding as named by `a=rtpmap` (or implied by a static payload type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// Encoding name as written (case preserved).
    pub name: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count (the rtpmap encoding parameter; 1 when absent).
    pub channels: u16,
}

/// The parameters of one `a=fmtp` line, split at `;` into `name[=value]` items.
///
/// The raw text is kept for faithful echoing; lookups are case-insensitive and ignore
/// whitespace around items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatParameters {
    raw: String,
    params: Vec<(String, Option<String>)>,
}

impl FormatParameters {
    /// Parses the text after `a=fmtp:<pt> `.
    pub fn parse(raw: &str) -> FormatParameters {
        let params = raw
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
                None => (p.to_owned(), None),
            })
            .collect();
        FormatParameters {
            raw: raw.to_owned(),
            params,
        }
    }

    /// Builds parameters from `name=value` pairs, written `a;b` style.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let raw = pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        FormatParameters::parse(&raw)
    }

    /// The text as written after the payload type.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The value of `name=value`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    /// The value of `name=value` parsed as an unsigned integer.
    pub fn get_u32(&self, name: &str) -> Option<u32> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    /// All items in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }
}

impl fmt::Display for FormatParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A set of RFC 4733 event codes as written in a telephone-event `a=fmtp` (`0-15,66`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSet {
    /// Inclusive ranges, sorted and non-overlapping.
    ranges: Vec<(u8, u8)>,
}

impl EventSet {
    /// The DTMF digits 0-9, `*`, `#`, A-D (events 0-15), what RFC 4733 assumes when a
    /// telephone-event format has no `a=fmtp`.
    pub fn dtmf() -> EventSet {
        EventSet {
            ranges: vec![(0, 15)],
        }
    }

    /// Parses `0-15,66,70`. Returns `None` when any item is not a number or range of
    /// numbers within 0-255.
    pub fn parse(s: &str) -> Option<EventSet> {
        let mut ranges = Vec::new();
        for item in s.split(',').map(str::trim) {
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (a.trim().parse::<u8>().ok()?, b.trim().parse::<u8>().ok()?),
                None => {
                    let v = item.parse::<u8>().ok()?;
                    (v, v)
                }
            };
            if lo > hi {
                return None;
            }
            ranges.push((lo, hi));
        }
        Some(EventSet::normalised(ranges))
    }

    fn normalised(mut ranges: Vec<(u8, u8)>) -> EventSet {
        ranges.sort_unstable();
        let mut out: Vec<(u8, u8)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match out.last_mut() {
                Some(last) if u16::from(lo) <= u16::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        EventSet { ranges: out }
    }

    /// Whether the set holds `event`.
    pub fn contains(&self, event: u8) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| lo <= event && event <= hi)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The events in both sets.
    pub fn intersect(&self, other: &EventSet) -> EventSet {
        let mut out = Vec::new();
        for &(a_lo, a_hi) in &self.ranges {
            for &(b_lo, b_hi) in &other.ranges {
                let lo = a_lo.max(b_lo);
                let hi = a_hi.min(b_hi);
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        EventSet::normalised(out)
    }
}

impl fmt::Display for EventSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_row_per_codec() {
        for codec in Codec::ALL {
            assert_eq!(
                TABLE.iter().filter(|e| e.codec == codec).count(),
                1,
                "{codec:?}"
            );
        }
        assert_eq!(TABLE.len(), Codec::ALL.len());
    }

    #[test]
    fn static_payload_types_match_rfc_3551() {
        assert_eq!(Codec::Pcmu.static_payload_type(), Some(0));
        assert_eq!(Codec::Gsm.static_payload_type(), Some(3));
        assert_eq!(Codec::Pcma.static_payload_type(), Some(8));
        assert_eq!(Codec::G722.static_payload_type(), Some(9));
        assert_eq!(Codec::ComfortNoise.static_payload_type(), Some(13));
        assert_eq!(Codec::G729.static_payload_type(), Some(18));
        assert_eq!(Codec::Opus.static_payload_type(), None);
        for codec in Codec::ALL {
            if let Some(pt) = codec.static_payload_type() {
                let enc = Codec::static_encoding(pt).expect("static PT in STATIC_PTS");
                assert_eq!(Codec::from_encoding(&enc.name, enc.clock_rate), Some(codec));
            }
        }
    }

    #[test]
    fn encoding_lookup_is_case_insensitive_and_checks_clock_rate() {
        assert_eq!(Codec::from_encoding("pcmu", 8000), Some(Codec::Pcmu));
        assert_eq!(Codec::from_encoding("OPUS", 48000), Some(Codec::Opus));
        assert_eq!(Codec::from_encoding("opus", 16000), None);
        assert_eq!(Codec::from_encoding("G729a", 8000), Some(Codec::G729));
        assert_eq!(
            Codec::from_encoding("telephone-event", 48000),
            Some(Codec::TelephoneEvent)
        );
        assert_eq!(Codec::from_encoding("speex", 8000), None);
    }

    #[test]
    fn fmtp_items_are_trimmed_and_found_case_insensitively() {
        let p = FormatParameters::parse("minptime=10; useinbandfec=1;MaxAverageBitrate=20000");
        assert_eq!(p.get("useinbandfec"), Some("1"));
        assert_eq!(p.get_u32("maxaveragebitrate"), Some(20000));
        assert_eq!(p.get("stereo"), None);
        assert_eq!(
            p.raw(),
            "minptime=10; useinbandfec=1;MaxAverageBitrate=20000"
        );
    }

    #[test]
    fn event_sets_parse_merge_and_intersect() {
        let offered = EventSet::parse("0-11, 12-15,16,66").expect("valid");
        assert_eq!(offered.to_string(), "0-16,66");
        let ours = EventSet::parse("0-16").expect("valid");
        assert_eq!(offered.intersect(&ours).to_string(), "0-16");
        assert_eq!(EventSet::dtmf().intersect(&offered).to_string(), "0-15");
        assert!(EventSet::parse("0-x").is_none());
        assert!(EventSet::parse("15-0").is_none());
        assert!(EventSet::parse("300").is_none());
        assert!(!offered.contains(17));
        assert!(offered.contains(66));
    }
}
