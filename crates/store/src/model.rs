//! The values the store keeps: configuration objects and call records.
//!
//! These are plain data. The controller maps its own core types (ACD queues, flow
//! states, bandwidth placements) to and from them; the HTTP layer owns the JSON
//! shapes. Wall-clock times are [`jiff::Timestamp`] (UTC) and are kept to the
//! millisecond: anything finer is truncated (toward zero) when stored.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

/// Declares a fieldless enum stored as a fixed lowercase string, with `as_str`,
/// `FromStr` and `Display` derived from one table.
macro_rules! str_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable text form, as stored in the database and used on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownVariant;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(UnknownVariant { kind: stringify!($name), text: text.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A text that names none of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {text:?}")]
pub struct UnknownVariant {
    /// The enum's Rust name, e.g. `QueueStrategy`.
    pub kind: &'static str,
    /// The text that was given.
    pub text: String,
}

str_enum! {
    /// Where a configuration object came from. Objects declared in the configuration
    /// file are re-applied at every start; objects created through the admin API are
    /// only ever changed through the API (or by a file that starts declaring them).
    pub enum Origin {
        /// Declared in the configuration file.
        Config => "config",
        /// Created or last changed through the admin API.
        Api => "api",
    }
}

/// A stored configuration object with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored<T> {
    /// The object itself.
    pub value: T,
    /// Who wrote it last.
    pub origin: Origin,
    /// When it was last written (the time the writer passed in).
    pub updated_at: Timestamp,
}

/// Whether an upsert created a new object or replaced an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// No object had this key; one was created.
    Created,
    /// An object had this key; it was replaced.
    Updated,
}

/// The secret an agent's SIP device authenticates with (digest, RFC 2617 / RFC 7616).
///
/// Digest authentication needs either the plain password or `HA1 = H(user:realm:password)`
/// for each hash algorithm offered. Storing the HA1 values ([`SipSecret::digest`]) keeps
/// the plain password out of the database, at the price of binding the secret to one
/// realm: changing the SIP domain invalidates every stored HA1. The store keeps
/// whichever form it is given; the configuration file usually gives the plain password.
///
/// `Debug` never prints the password or the hashes.
#[derive(Clone, PartialEq, Eq)]
pub enum SipSecret {
    /// The plain password, as configured.
    Password(String),
    /// Precomputed digest HA1 values for one realm, lowercase hex.
    Ha1 {
        /// The realm the hashes were computed for.
        realm: String,
        /// `MD5(user:realm:password)`.
        md5: String,
        /// `SHA-256(user:realm:password)`.
        sha256: String,
    },
}

impl SipSecret {
    /// Computes the MD5 and SHA-256 HA1 values for `user` in `realm`, so that the plain
    /// password need not be stored.
    pub fn digest(user: &str, realm: &str, password: &str) -> Self {
        use md5::Digest as _;
        let input = format!("{user}:{realm}:{password}");
        let md5 = hex::encode(md5::Md5::digest(input.as_bytes()));
        let sha256 = hex::encode(sha2::Sha256::digest(input.as_bytes()));
        SipSecret::Ha1 {
            realm: realm.to_owned(),
            md5,
            sha256,
        }
    }
}

impl fmt::Debug for SipSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SipSecret::Password(_) => f.write_str("Password(<redacted>)"),
            SipSecret::Ha1 { realm, .. } => f
                .debug_struct("Ha1")
                .field("realm", realm)
                .finish_non_exhaustive(),
        }
    }
}

/// Lowest skill proficiency (and lowest minimum a queue may require).
pub const PROFICIENCY_MIN: u8 = 1;
/// Highest skill proficiency.
pub const PROFICIENCY_MAX: u8 = 10;

/// An agent: a person with a SIP device who takes contacts from queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Stable identifier (e.g. `alice`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// SIP user name the agent's device registers with; unique across agents.
    pub sip_user: String,
    /// Digest secret; `None` for an agent with no SIP credentials yet.
    pub secret: Option<SipSecret>,
    /// Skill name → proficiency, [`PROFICIENCY_MIN`]..=[`PROFICIENCY_MAX`].
    pub skills: BTreeMap<String, u8>,
    /// Queues the agent serves, by queue id. Not checked against the queues table:
    /// the configuration layer validates references, so objects can arrive in any order.
    pub queues: BTreeSet<String>,
    /// Wrap-up time overriding the queue's, if set.
    pub wrap_up: Option<Duration>,
}

str_enum! {
    /// How a queue picks among eligible agents.
    pub enum QueueStrategy {
        /// The agent available for the longest time (the default).
        LongestIdle => "longest_idle",
        /// Agents in turn.
        RoundRobin => "round_robin",
        /// The agent who has taken the fewest contacts.
        FewestCalls => "fewest_calls",
        /// The agent with the highest proficiency in the queue's skills.
        MostSkilled => "most_skilled",
        /// Every eligible agent at once; the first to answer wins.
        RingAll => "ring_all",
    }
}

/// A queue: contacts wait here for an agent with the required skills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// Stable identifier (e.g. `support`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Skill name → minimum proficiency an agent needs, [`PROFICIENCY_MIN`]..=[`PROFICIENCY_MAX`].
    pub skills: BTreeMap<String, u8>,
    /// Agent selection strategy.
    pub strategy: QueueStrategy,
    /// How long an offer rings before it counts as not answered.
    pub ring_timeout: Duration,
    /// Wrap-up time after each contact.
    pub wrap_up: Duration,
    /// Longest a contact may wait before the flow's `max_wait` transition; `None` waits forever.
    pub max_wait: Option<Duration>,
    /// Service-level threshold: contacts answered within it count as in service level.
    pub service_level: Duration,
    /// Contacts abandoned sooner than this are short abandons (excluded from service level).
    pub short_abandon: Duration,
    /// Queue priority; higher is served first by agents in several queues.
    pub priority: i32,
    /// Whether answered contacts are recorded.
    pub record: bool,
}

/// A dialled number routed to a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The number (or SIP user part) callers dial; the key.
    pub number: String,
    /// Name of the flow that handles the contact.
    pub flow: String,
    /// Whether contacts on this route are priority contacts (may use reserved headroom).
    pub priority: bool,
}

/// A call flow: its name and YAML source. The flow crate parses and validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The flow's name; the key.
    pub name: String,
    /// The YAML source, kept byte for byte.
    pub source: String,
}

/// Everything a configuration file declares, applied in one transaction by
/// [`Store::apply_config`](crate::Store::apply_config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigObjects {
    /// Queues declared in the file.
    pub queues: Vec<Queue>,
    /// Agents declared in the file.
    pub agents: Vec<Agent>,
    /// Routes declared in the file.
    pub routes: Vec<Route>,
    /// Flows loaded from the flows directory.
    pub flows: Vec<Flow>,
}

/// What [`Store::apply_config`](crate::Store::apply_config) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Objects that did not exist before.
    pub created: usize,
    /// Objects that existed and were replaced.
    pub updated: usize,
}

str_enum! {
    /// Whether a contact is still going on.
    pub enum ContactStatus {
        /// The contact has arrived and has not ended (or the process died before it did).
        InProgress => "in_progress",
        /// The contact has ended.
        Ended => "ended",
    }
}

str_enum! {
    /// Who ended a contact.
    pub enum Party {
        /// The caller hung up.
        Customer => "customer",
        /// The agent hung up.
        Agent => "agent",
        /// Switchboard ended it (flow hang-up, error, overload, shutdown).
        System => "system",
    }
}

str_enum! {
    /// How an offer to an agent ended.
    pub enum OfferResult {
        /// The agent answered.
        Answered => "answered",
        /// The ring timeout passed.
        NoAnswer => "no_answer",
        /// The device answered busy.
        Busy => "busy",
        /// The agent declined.
        Declined => "declined",
        /// Switchboard withdrew the offer (caller hung up, another agent answered).
        Cancelled => "cancelled",
    }
}

str_enum! {
    /// What a recording holds.
    pub enum RecordingKind {
        /// The conversation between customer and agent.
        Call => "call",
        /// A message the caller left.
        Voicemail => "voicemail",
    }
}

/// The end reason [`Store::close_in_progress`](crate::Store::close_in_progress) writes
/// for contacts left in progress by a process that did not shut down cleanly.
pub const END_REASON_INTERRUPTED: &str = "interrupted";

/// The first write of a call record, at arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    /// Contact id, assigned by the controller; unique.
    pub id: String,
    /// When the call arrived.
    pub arrived_at: Timestamp,
    /// Caller (From user or URI), if known.
    pub caller: Option<String>,
    /// Dialled number (Request-URI user), if known.
    pub dialed: Option<String>,
    /// Flow the contact was routed to, if any.
    pub flow: Option<String>,
}

/// The end of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactEnd {
    /// When it ended.
    pub at: Timestamp,
    /// Who hung up, if known.
    pub hangup_by: Option<Party>,
    /// Free-text reason, e.g. `normal`, `no_agents`, `overload`.
    pub reason: String,
    /// Whether the caller gave up before reaching an agent.
    pub abandoned: bool,
}

/// Where a contact's media runs and why it was placed there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlacement {
    /// Media handler id.
    pub handler: String,
    /// Negotiated codec name, e.g. `PCMU`.
    pub codec: Option<String>,
    /// The bandwidth manager's explanation (estimate, candidates, choice, degradation)
    /// as a JSON document. The store keeps it as opaque text, byte for byte.
    pub explanation: Option<String>,
}

/// A call record's main row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Contact id.
    pub id: String,
    /// Arrival time.
    pub arrived_at: Timestamp,
    /// Caller, if known.
    pub caller: Option<String>,
    /// Dialled number, if known.
    pub dialed: Option<String>,
    /// Flow, if routed.
    pub flow: Option<String>,
    /// In progress or ended.
    pub status: ContactStatus,
    /// The queue the contact entered last, if any.
    pub queue: Option<String>,
    /// When it entered that queue.
    pub queued_at: Option<Timestamp>,
    /// The agent who answered, if any.
    pub agent: Option<String>,
    /// When an agent answered.
    pub answered_at: Option<Timestamp>,
    /// When the contact ended.
    pub ended_at: Option<Timestamp>,
    /// Who hung up.
    pub hangup_by: Option<Party>,
    /// Why it ended ([`END_REASON_INTERRUPTED`] after a crash).
    pub end_reason: Option<String>,
    /// Whether the caller abandoned.
    pub abandoned: bool,
    /// Disposition set by the agent at wrap-up.
    pub disposition: Option<String>,
    /// Media handler, codec and placement explanation.
    pub media: Option<MediaPlacement>,
}

/// One state of the flow a contact passed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStep {
    /// Flow state name.
    pub state: String,
    /// When the contact entered it.
    pub entered_at: Timestamp,
}

/// Identifier of an offer, assigned by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferId(pub i64);

impl fmt::Display for OfferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A contact offered to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Store-assigned id.
    pub id: OfferId,
    /// The agent offered to.
    pub agent: String,
    /// The queue the offer came from, if any (a direct transfer has none).
    pub queue: Option<String>,
    /// When the agent's device started ringing.
    pub offered_at: Timestamp,
    /// How it ended; `None` while ringing (or if the process died meanwhile).
    pub result: Option<OfferResult>,
    /// When the result was known.
    pub result_at: Option<Timestamp>,
}

/// A recording's index entry. The WAV file itself lives at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Recording id, assigned by the caller; unique.
    pub id: String,
    /// The contact it belongs to.
    pub contact_id: String,
    /// Call or voicemail.
    pub kind: RecordingKind,
    /// File path of the WAV.
    pub path: String,
    /// When recording started.
    pub started_at: Timestamp,
    /// Length, once finished; `None` while recording (or if the process died meanwhile).
    pub duration: Option<Duration>,
    /// Channel count (2 for customer left / agent right).
    pub channels: u16,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

/// A full call record: the contact with its path, offers and recordings, each in
/// the order they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The main row.
    pub contact: Contact,
    /// Flow states in order of entry.
    pub path: Vec<PathStep>,
    /// Offers in order.
    pub offers: Vec<Offer>,
    /// Recordings in order of start.
    pub recordings: Vec<Recording>,
}

/// Default page size of [`ContactFilter`].
pub const DEFAULT_CONTACT_LIMIT: u32 = 100;

/// Which call records to list (`GET /api/v1/cdrs`). Results are newest first
/// (arrival time descending, then id descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactFilter {
    /// Arrived at or after this time.
    pub arrived_from: Option<Timestamp>,
    /// Arrived strictly before this time.
    pub arrived_until: Option<Timestamp>,
    /// Last queue entered.
    pub queue: Option<String>,
    /// Agent who answered.
    pub agent: Option<String>,
    /// Status.
    pub status: Option<ContactStatus>,
    /// Abandoned or not.
    pub abandoned: Option<bool>,
    /// Page size.
    pub limit: u32,
    /// Records to skip.
    pub offset: u64,
}

impl Default for ContactFilter {
    fn default() -> Self {
        ContactFilter {
            arrived_from: None,
            arrived_until: None,
            queue: None,
            agent: None,
            status: None,
            abandoned: None,
            limit: DEFAULT_CONTACT_LIMIT,
            offset: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_text_round_trips_and_rejects_unknown() {
        for s in QueueStrategy::ALL {
            assert_eq!(s.as_str().parse::<QueueStrategy>(), Ok(*s));
        }
        for r in OfferResult::ALL {
            assert_eq!(r.to_string().parse::<OfferResult>(), Ok(*r));
        }
        let err = "ringing"
            .parse::<OfferResult>()
            .expect_err("\"ringing\" is no OfferResult");
        assert_eq!(err.kind, "OfferResult");
        assert_eq!(err.to_string(), "unknown OfferResult \"ringing\"");
    }

    #[test]
    fn ha1_matches_rfc_2617_example() {
        // RFC 2617 §3.5: Mufasa / testrealm@host.com / "Circle Of Life".
        let SipSecret::Ha1 { md5, sha256, realm } =
            SipSecret::digest("Mufasa", "testrealm@host.com", "Circle Of Life")
        else {
            panic!("digest() always returns Ha1");
        };
        assert_eq!(realm, "testrealm@host.com");
        assert_eq!(md5, "939e7578ed9e3c518a452acee763bce9");
        // Cross-checked with Python: hashlib.sha256(b"Mufasa:testrealm@host.com:Circle Of Life").
        assert_eq!(
            sha256,
            "3ba6cd94661c5ef34598040c868f13b8775df29109986be50ad35ae537dd3aa4"
        );
    }

    #[test]
    fn secret_debug_hides_password_and_hashes() {
        let shown = format!("{:?}", SipSecret::Password("hunter2".into()));
        assert!(!shown.contains("hunter2"), "{shown}");
        let shown = format!("{:?}", SipSecret::digest("a", "r", "hunter2"));
        let SipSecret::Ha1 { md5, .. } = SipSecret::digest("a", "r", "hunter2") else {
            panic!("digest() always returns Ha1");
        };
        assert!(!shown.contains(&md5), "{shown}");
    }
}
