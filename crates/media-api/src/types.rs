//! Requests, responses and events of the control interface.
//!
//! Requests reject unknown fields, so a misspelt field is an error that names it rather than a
//! silently ignored setting.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A media session, unique within one handler process.
    SessionId
);
id_type!(
    /// A leg (one RTP/RTCP port pair toward one endpoint), unique within one handler process.
    LegId
);
id_type!(
    /// A route between two legs of a session.
    RouteId
);
id_type!(
    /// One item played (or queued) to a leg.
    PlaybackId
);
id_type!(
    /// A recording of a session.
    RecordingId
);
id_type!(
    /// A mix of three or more legs.
    MixId
);

/// The media services a session is created for. The handler uses them to account for the
/// session's cost; a service not named at creation may still be started later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceType {
    /// Relay media between two legs.
    Route,
    /// Play prompts, tones or silence to a leg.
    Play,
    /// Record a leg, two legs as stereo, or a mix.
    Record,
    /// Mix three or more legs.
    Mix,
}

/// `POST /v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// The media service types the session is for (at least one).
    pub services: Vec<ServiceType>,
    /// The bandwidth the controller's bandwidth manager reserved for this session, in kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_kbps: Option<u32>,
    /// A free-form label for logs (e.g. the Call-ID). Never interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A media session and everything in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// The service types given at creation.
    pub services: Vec<ServiceType>,
    /// The reservation given at creation (0 when none).
    pub reserved_kbps: u32,
    /// The label given at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The session's legs.
    pub legs: Vec<Leg>,
    /// Active routes.
    pub routes: Vec<Route>,
    /// Active mixes.
    pub mixes: Vec<Mix>,
    /// Recordings that are running or paused.
    pub recordings: Vec<Recording>,
}

/// Whether a leg carries audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// Audio: every service applies.
    #[default]
    Audio,
    /// Video: only routed to another video leg, payload untouched, 90 kHz clock.
    Video,
}

/// What the handler does with a leg's media, seen from the handler, i.e. the direction of the
/// handler's own SDP toward that endpoint. When a phone holds with `a=sendonly`, the handler's
/// answer (and this field) is `recvonly`: it keeps receiving and sends nothing to that phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Send and receive.
    #[default]
    Sendrecv,
    /// Send only; inbound media is dropped.
    Sendonly,
    /// Receive only; nothing is sent to the endpoint.
    Recvonly,
    /// Neither send nor receive (hold).
    Inactive,
}

/// One codec a leg may use, as negotiated in SDP (`a=rtpmap` + `a=fmtp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Codec {
    /// Encoding name as in `a=rtpmap`, e.g. `PCMU`, `PCMA`, `H264` (case-insensitive).
    pub name: String,
    /// RTP payload type, 0–127.
    pub payload_type: u8,
    /// Clock rate in Hz, e.g. 8000 for G.711, 90000 for video.
    pub clock_rate: u32,
    /// Audio channels (1 when absent).
    #[serde(default = "one")]
    pub channels: u8,
    /// The `a=fmtp` parameters, passed through untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmtp: Option<String>,
}

fn one() -> u8 {
    1
}

/// `POST /v1/sessions/{session_id}/legs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLeg {
    /// Audio (default) or video.
    #[serde(default)]
    pub kind: MediaKind,
    /// Where the endpoint wants RTP. Absent: the leg latches to the first valid source.
    /// Present: the handler sends there at once, and still latches to the address the
    /// endpoint actually sends from (symmetric RTP); after latching, other sources are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "192.0.2.10:4000")]
    pub remote_rtp: Option<SocketAddr>,
    /// Where the endpoint wants RTCP (default: the RTP port + 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "192.0.2.10:4001")]
    pub remote_rtcp: Option<SocketAddr>,
    /// Negotiated codecs, preferred first: the handler sends with the first one it supports
    /// (audio: PCMU, PCMA, G729, GSM, opus/48000; video: any, relayed untouched). Routes
    /// between legs without a common codec transcode through PCM.
    pub codecs: Vec<Codec>,
    /// The payload type of `telephone-event/8000` (RFC 4733), if negotiated. Without it the
    /// handler detects DTMF in-band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone_event_pt: Option<u8>,
    /// Packet time in ms for what the handler generates (20 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptime_ms: Option<u16>,
    /// Direction from the handler's side (sendrecv when absent).
    #[serde(default)]
    pub direction: Direction,
    /// Report `rtp_timeout` after this long without inbound RTP (30000 when absent; 0 = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtp_timeout_ms: Option<u32>,
}

/// `PATCH /v1/sessions/{session_id}/legs/{leg_id}` (re-INVITE, hold, unhold). Absent fields
/// stay as they are. A new `remote_rtp` restarts latching.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLeg {
    /// New remote RTP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub remote_rtp: Option<SocketAddr>,
    /// New remote RTCP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub remote_rtcp: Option<SocketAddr>,
    /// New codec list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codecs: Option<Vec<Codec>>,
    /// New telephone-event payload type; `null` is "no change" — send `clear_telephone_event`
    /// to remove it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone_event_pt: Option<u8>,
    /// Remove the telephone-event payload type (in-band detection takes over).
    #[serde(default)]
    pub clear_telephone_event: bool,
    /// New packet time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptime_ms: Option<u16>,
    /// New direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
}

/// A leg: one RTP/RTCP port pair on the handler toward one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Leg {
    /// The leg's id.
    pub id: LegId,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// Audio or video.
    pub kind: MediaKind,
    /// The handler's media address: put it in the SDP toward the endpoint.
    #[schema(value_type = String, example = "192.0.2.1")]
    pub local_ip: IpAddr,
    /// The handler's RTP port for this leg (even): the outbound media port.
    pub rtp_port: u16,
    /// The handler's RTCP port for this leg (`rtp_port + 1`).
    pub rtcp_port: u16,
    /// Where the handler sends RTP (given, or latched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub remote_rtp: Option<SocketAddr>,
    /// Where the handler sends RTCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub remote_rtcp: Option<SocketAddr>,
    /// Whether the leg has latched to a source (then other sources are dropped).
    pub latched: bool,
    /// Negotiated codecs.
    pub codecs: Vec<Codec>,
    /// The telephone-event payload type, if negotiated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone_event_pt: Option<u8>,
    /// Packet time in ms.
    pub ptime_ms: u16,
    /// Direction from the handler's side.
    pub direction: Direction,
    /// Counters for the leg.
    pub stats: LegStats,
}

/// Per-leg counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LegStats {
    /// RTP packets accepted from the endpoint.
    pub packets_in: u64,
    /// RTP payload octets accepted from the endpoint.
    pub octets_in: u64,
    /// RTP packets sent to the endpoint.
    pub packets_out: u64,
    /// RTP payload octets sent to the endpoint.
    pub octets_out: u64,
    /// Inbound packets lost, from sequence numbers (RFC 3550 A.3).
    pub packets_lost: i64,
    /// Inbound interarrival jitter (RFC 3550 A.8), in ms.
    pub jitter_ms: f64,
    /// Packets dropped because they came from another source than the latched one.
    pub foreign_dropped: u64,
    /// Packets dropped because they were not valid RTP/RTCP, or carried a payload type the
    /// leg did not negotiate.
    pub malformed_dropped: u64,
    /// Packets of a source the leg's output had already switched away from, dropped.
    pub late_dropped: u64,
    /// RTCP packets received from the endpoint.
    pub rtcp_in: u64,
    /// RTCP packets sent to the endpoint.
    pub rtcp_out: u64,
    /// The fraction lost the endpoint last reported in RTCP, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_fraction_lost_pct: Option<f64>,
    /// The interarrival jitter the endpoint last reported in RTCP, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_jitter_ms: Option<f64>,
}

/// `POST /v1/sessions/{session_id}/routes`: relay media between `a` and `b`, both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoute {
    /// One leg.
    pub a: LegId,
    /// The other leg.
    pub b: LegId,
}

/// An active route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Route {
    /// The route's id.
    pub id: RouteId,
    /// One leg.
    pub a: LegId,
    /// The other leg.
    pub b: LegId,
}

/// A call-progress or signal tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// 440 + 480 Hz, 2 s on, 4 s off (one cycle is 6 s).
    Ringback,
    /// 1000 Hz for 250 ms.
    Beep,
    /// 480 + 620 Hz, 0.5 s on, 0.5 s off.
    Busy,
    /// 350 + 440 Hz, continuous.
    Dial,
}

/// What to play.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PlaySource {
    /// A WAV file, PCM 16-bit mono at 8 or 16 kHz (any multiple of 8 kHz up to 48 kHz).
    /// Relative paths are taken from `<data-dir>/prompts/`. Decoded once and cached.
    File {
        /// The file.
        path: String,
    },
    /// A tone; `duration_ms` defaults to one cycle of the tone (see [`Tone`]).
    Tone {
        /// Which tone.
        tone: Tone,
        /// How long, in ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u32>,
    },
    /// Silence (comfort for the far end: packets keep flowing).
    Silence {
        /// How long, in ms (1000 when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u32>,
    },
}

/// Whether a new playback replaces what plays or waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlayMode {
    /// Stop what plays (it ends with reason `replaced`), clear the queue, play this now.
    #[default]
    Replace,
    /// Play this after everything already playing or queued.
    Enqueue,
}

/// `POST /v1/sessions/{session_id}/legs/{leg_id}/play`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Play {
    /// What to play.
    pub source: PlaySource,
    /// Repeat until stopped or replaced.
    #[serde(default)]
    pub looped: bool,
    /// Replace (default) or enqueue.
    #[serde(default)]
    pub mode: PlayMode,
}

/// The state of a playback when the request returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaybackState {
    /// Playing now.
    Playing,
    /// Waiting behind other playbacks.
    Queued,
}

/// A started or queued playback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Playback {
    /// The playback's id, repeated in its `playback_finished` event.
    pub id: PlaybackId,
    /// The leg it plays to.
    pub leg_id: LegId,
    /// Playing or queued.
    pub state: PlaybackState,
    /// Its length in ms (absent when looped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// What a recording captures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecordSource {
    /// One leg's inbound audio, mono.
    Leg {
        /// The leg.
        leg: LegId,
    },
    /// Two legs' inbound audio as stereo: `left` on the left channel, `right` on the right.
    Stereo {
        /// Left channel (by convention the customer).
        left: LegId,
        /// Right channel (by convention the agent).
        right: LegId,
    },
    /// A mono mix of the inbound audio of several legs.
    Mix {
        /// The legs (at least one).
        legs: Vec<LegId>,
    },
}

/// `POST /v1/sessions/{session_id}/recordings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRecording {
    /// What to record.
    pub source: RecordSource,
    /// File name relative to `<data-dir>/recordings/` (no `..`, must end in `.wav`).
    /// Absent: `<session>-<recording>-<unix seconds>.wav`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The state of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Writing audio.
    Recording,
    /// Writing silence (the timeline stays true) until resumed.
    Paused,
    /// Stopped; the file is being (or has been) finalized.
    Stopped,
}

/// A recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Recording {
    /// The recording's id.
    pub id: RecordingId,
    /// What it captures.
    pub source: RecordSource,
    /// The WAV file's absolute path on the handler's machine.
    pub path: String,
    /// Its state.
    pub state: RecordingState,
}

/// `POST /v1/sessions/{session_id}/mixes`: each leg hears all the others, not itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMix {
    /// The legs (at least three; two legs are a route).
    pub legs: Vec<LegId>,
}

/// An active mix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Mix {
    /// The mix's id.
    pub id: MixId,
    /// Its legs.
    pub legs: Vec<LegId>,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The handler's software version.
    pub version: String,
    /// Bandwidth this handler may carry, kbit/s (`--capacity-kbps`).
    pub capacity_kbps: u32,
    /// Sum of the sessions' `reserved_kbps`.
    pub reserved_kbps: u32,
    /// Measured RTP+RTCP bandwidth in and out (IP/UDP headers included), kbit/s, over the
    /// last few seconds.
    pub measured_kbps: f64,
    /// RTP/RTCP packets received per second.
    pub packets_in_per_s: f64,
    /// RTP/RTCP packets sent per second.
    pub packets_out_per_s: f64,
    /// Open sessions.
    pub sessions: u32,
    /// Open legs.
    pub legs: u32,
    /// Media threads.
    pub media_threads: u32,
    /// The media threads' I/O loop: `uring` (io_uring, one system call per loop iteration
    /// for all legs) or `epoll` (a system call per packet; where io_uring is unavailable).
    #[serde(default)]
    pub media_io: String,
    /// Free RTP/RTCP port pairs.
    pub ports_free: u32,
    /// All RTP/RTCP port pairs of the pool.
    pub ports_total: u32,
    /// Recordings running or paused.
    pub recordings: u32,
    /// Seconds since start.
    pub uptime_s: u64,
}

/// Where a DTMF digit was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DtmfSource {
    /// An RFC 4733 telephone-event.
    Rfc4733,
    /// Goertzel detection in the audio.
    Inband,
}

/// Why a playback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaybackEndReason {
    /// It played to its end.
    Completed,
    /// Stopped by `DELETE .../play`, or the leg or session went away.
    Stopped,
    /// A `replace` playback took its place.
    Replaced,
}

/// One message on `/v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A DTMF digit ended.
    Dtmf {
        /// The session.
        session_id: SessionId,
        /// The leg it came from.
        leg_id: LegId,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: String,
        /// How long the digit lasted, ms.
        duration_ms: u32,
        /// RFC 4733 or in-band.
        source: DtmfSource,
    },
    /// A playback ended.
    PlaybackFinished {
        /// The session.
        session_id: SessionId,
        /// The leg it played to.
        leg_id: LegId,
        /// The playback.
        playback_id: PlaybackId,
        /// Why it ended.
        reason: PlaybackEndReason,
    },
    /// A recording's file is complete and closed.
    RecordingFinished {
        /// The session.
        session_id: SessionId,
        /// The recording.
        recording_id: RecordingId,
        /// The WAV file's absolute path.
        path: String,
        /// Its length, ms.
        duration_ms: u64,
    },
    /// No RTP arrived on a leg for its `rtp_timeout_ms` (reported once until media resumes).
    RtpTimeout {
        /// The session.
        session_id: SessionId,
        /// The leg.
        leg_id: LegId,
        /// How long it has been silent, ms.
        silent_ms: u64,
    },
    /// A leg latched to the address its endpoint sends from.
    LegLatched {
        /// The session.
        session_id: SessionId,
        /// The leg.
        leg_id: LegId,
        /// The latched source address.
        #[schema(value_type = String)]
        remote: SocketAddr,
    },
    /// This subscriber fell behind and missed events.
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
}

/// What a handler started with `--controller` posts to the controller periodically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Registration {
    /// The handler's control URL, e.g. `http://10.0.0.7:9090`.
    pub url: String,
    /// Its status when it posted.
    pub status: Status,
    /// The bearer token its control interface requires (`--control-token`), so the
    /// controller can drive it. Sent only over the admin-authenticated registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_token: Option<String>,
}
