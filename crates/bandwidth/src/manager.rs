//! The ledger of media handlers and reservations, handler health, selection and
//! degradation.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use sdp::{Capabilities, Codec, MediaKind, Negotiation, Preference, SdpError, SessionDescription};

use crate::estimate::{Estimate, Need, Services, estimate_negotiation};

/// A media handler's id, as the controller names it (e.g. `mh-1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HandlerId(pub String);

impl fmt::Display for HandlerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for HandlerId {
    fn from(s: &str) -> HandlerId {
        HandlerId(s.to_owned())
    }
}

/// A contact's id, as the controller names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContactId(pub String);

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ContactId {
    fn from(s: &str) -> ContactId {
        ContactId(s.to_owned())
    }
}

/// A handler's state as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandlerState {
    /// Reporting in time and taking new contacts.
    Up,
    /// Reporting in time, keeping its contacts, taking no new ones.
    Draining,
    /// Never reported, or its last status is [`Config::stale_after`] old or older: no
    /// new contacts.
    Down,
}

impl HandlerState {
    /// `up`, `draining` or `down`, as in `GET /api/v1/media-handlers`.
    pub fn as_str(self) -> &'static str {
        match self {
            HandlerState::Up => "up",
            HandlerState::Draining => "draining",
            HandlerState::Down => "down",
        }
    }
}

/// Whether a contact may use the headroom kept back for priority contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// Placed within `capacity × (100 − priority_headroom_percent)%`.
    #[default]
    Normal,
    /// Placed within the full capacity (a route or queue marked it).
    High,
}

/// The manager's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How we answer when there is room: codecs in preference order, telephone-event,
    /// video. The controller's normal answering policy.
    pub answer: Capabilities,
    /// A handler whose last status is this old is down (3 s).
    pub stale_after: Duration,
    /// A handler silent this long has lost its contacts' media: [`BandwidthManager::take_lost`]
    /// hands them to the driver to end (10 s). Longer than `stale_after`, so a handler
    /// that is only slow to answer loses new contacts first, and its calls only if it
    /// stays silent.
    pub lost_after: Duration,
    /// Share of each handler's capacity only priority contacts may use (10%).
    pub priority_headroom_percent: u8,
    /// The lowest Opus bitrate degradation answers with, bit/s (12,000).
    pub opus_floor_bps: u32,
    /// The `Retry-After` suggested with a refusal (30 s).
    pub retry_after: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            answer: Capabilities::audio(&[Codec::Pcmu, Codec::Pcma]),
            stale_after: Duration::from_secs(3),
            lost_after: Duration::from_secs(10),
            priority_headroom_percent: 10,
            opus_floor_bps: 12_000,
            retry_after: Duration::from_secs(30),
        }
    }
}

/// A handler's status report, as the driver polls it (at least once a second).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandlerStatus {
    /// The capacity the handler announces, used when the configuration gives none.
    pub capacity_kbps: Option<u64>,
    /// Measured media traffic in the busier direction, kbit/s at IP level.
    pub measured_kbps: u64,
    /// Measured packets/s in the busier direction.
    pub measured_pps: Option<u64>,
    /// Sessions the handler says it runs.
    pub sessions: Option<u32>,
}

/// A change of a handler's state, reported by [`BandwidthManager::tick`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    /// The handler.
    pub handler: HandlerId,
    /// Its state before.
    pub from: HandlerState,
    /// Its state now.
    pub to: HandlerState,
}

/// One handler in `GET /api/v1/media-handlers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerView {
    /// Its id.
    pub id: HandlerId,
    /// Its control URL.
    pub url: String,
    /// Up, draining or down.
    pub state: HandlerState,
    /// Capacity (configured, else reported; 0 when neither is known).
    pub capacity_kbps: u64,
    /// Reserved by the ledger.
    pub reserved_kbps: u64,
    /// Reserved packets/s.
    pub reserved_pps: u64,
    /// Last measured traffic.
    pub measured_kbps: u64,
    /// Last measured packets/s.
    pub measured_pps: u64,
    /// Contacts placed on it by the ledger.
    pub sessions: u32,
    /// Sessions it reported itself.
    pub reported_sessions: Option<u32>,
    /// Time since its last status, if it ever reported.
    pub status_age: Option<Duration>,
}

/// Everything one placement decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaceRequest<'a> {
    /// The caller's offer.
    pub offer: &'a SessionDescription,
    /// The services the contact will use.
    pub services: Services,
    /// Normal or priority.
    pub priority: Priority,
    /// Codecs the media handlers can transcode to and from G.711 (e.g. G.729, GSM,
    /// Opus): allowed when the normal answer finds no common codec, and as cheaper
    /// codecs when degrading.
    pub transcodable: &'a [Codec],
}

/// A step taken to lower a contact's need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Degradation {
    /// Video answered with port 0.
    DroppedVideo {
        /// The m-line positions.
        streams: Vec<usize>,
    },
    /// A cheaper audio codec from the offer.
    CheaperCodec {
        /// The codec the normal answer would have used.
        from: Codec,
        /// The codec answered instead.
        to: Codec,
    },
    /// Opus capped with `maxaveragebitrate`.
    OpusBitrate {
        /// The cap, bit/s.
        bps: u32,
    },
}

/// Why a handler could not take a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exclusion {
    /// It is down.
    Down,
    /// It is draining.
    Draining,
    /// Its capacity is unknown (no configuration and no report).
    NoCapacity,
    /// The need does not fit in its usable capacity.
    NoRoom,
}

/// A handler as seen by one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The handler.
    pub handler: HandlerId,
    /// Its state.
    pub state: HandlerState,
    /// Its capacity.
    pub capacity_kbps: u64,
    /// The capacity this contact may use (less the priority headroom for normal ones).
    pub usable_kbps: u64,
    /// Reserved, not counting this contact.
    pub reserved_kbps: u64,
    /// Measured.
    pub measured_kbps: u64,
    /// The larger of reserved and measured.
    pub load_kbps: u64,
    /// Load relative to capacity, in tenths of a percent.
    pub load_permille: u64,
    /// Why it was not eligible, if it was not.
    pub excluded: Option<Exclusion>,
}

/// One try at placing a contact, at one level of degradation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The degradations in force (empty for the normal answer).
    pub degradations: Vec<Degradation>,
    /// The audio codec answered.
    pub codec: Option<Codec>,
    /// The estimate at this level.
    pub estimate: Estimate,
    /// Every handler considered, in id order.
    pub candidates: Vec<Candidate>,
    /// The handler chosen, if any.
    pub chosen: Option<HandlerId>,
}

/// Why a placement decided what it did: the record the controller keeps in the
/// contact's API view and call record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Normal or priority.
    pub priority: Priority,
    /// The attempts in order; the last one placed the contact or was the cheapest tried.
    pub attempts: Vec<Attempt>,
}

impl Explanation {
    /// The attempt that placed the contact.
    pub fn chosen(&self) -> Option<&Attempt> {
        self.attempts.iter().find(|a| a.chosen.is_some())
    }
}

/// A contact placed on a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The contact.
    pub contact: ContactId,
    /// The handler chosen.
    pub handler: HandlerId,
    /// Its control URL.
    pub url: String,
    /// The decisions to answer with: pass to [`sdp::build_answer`] with the handler's
    /// address and ports.
    pub negotiation: Negotiation,
    /// What is reserved.
    pub estimate: Estimate,
    /// The degradations applied (empty when the normal answer fitted).
    pub degradations: Vec<Degradation>,
    /// How it was decided.
    pub explanation: Explanation,
}

/// Why a contact was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// No handler is up.
    NoHandlerUp,
    /// Handlers are up but even the lowest need fits on none.
    NoRoom,
}

/// A contact no handler can take: answer `503` with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub reason: RefusalReason,
    /// The suggested `Retry-After`.
    pub retry_after: Duration,
    /// The lowest need tried.
    pub lowest_need: Need,
    /// The attempts.
    pub explanation: Explanation,
}

/// Why [`BandwidthManager::place`] or [`BandwidthManager::adjust`] did not place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// The offer is malformed or has nothing we can answer (400/488).
    #[error("offer not acceptable: {0}")]
    Offer(#[from] SdpError),
    /// No handler has room (503 with `Retry-After`).
    #[error("no media handler has room ({:?})", .0.reason)]
    Refused(Box<Refusal>),
    /// The contact is already placed (a controller bug).
    #[error("contact {0} is already placed")]
    AlreadyPlaced(ContactId),
    /// The contact is not placed (a controller bug).
    #[error("contact {0} is not placed")]
    UnknownContact(ContactId),
}

impl PlaceError {
    /// The SIP status to answer the INVITE with.
    pub fn status_code(&self) -> u16 {
        match self {
            PlaceError::Offer(e) => e.status_code(),
            PlaceError::Refused(_) => 503,
            PlaceError::AlreadyPlaced(_) | PlaceError::UnknownContact(_) => 500,
        }
    }

    /// The `Retry-After` to send with a 503.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PlaceError::Refused(r) => Some(r.retry_after),
            _ => None,
        }
    }
}

/// Errors of the registry calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No handler with this id (404 in the API).
    #[error("unknown media handler {0}")]
    UnknownHandler(HandlerId),
    /// A handler with this id exists already (409 in the API).
    #[error("media handler {0} exists already")]
    DuplicateHandler(HandlerId),
    /// No contact with this id is placed.
    #[error("contact {0} is not placed")]
    UnknownContact(ContactId),
}

impl RegistryError {
    /// The HTTP status for the API.
    pub fn status_code(&self) -> u16 {
        match self {
            RegistryError::UnknownHandler(_) | RegistryError::UnknownContact(_) => 404,
            RegistryError::DuplicateHandler(_) => 409,
        }
    }
}

/// What [`BandwidthManager::release`] freed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The handler the contact was on.
    pub handler: HandlerId,
    /// The need freed.
    pub need: Need,
}

/// What [`BandwidthManager::set_services`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceChange {
    /// The handler.
    pub handler: HandlerId,
    /// The reservation before.
    pub before: Need,
    /// The reservation now.
    pub after: Need,
    /// Whether the handler's reservations now exceed its capacity (the change is made
    /// anyway: the call is already there).
    pub over_capacity: bool,
}

#[derive(Debug, Clone)]
struct Handler {
    url: String,
    configured_capacity_kbps: Option<u64>,
    reported_capacity_kbps: Option<u64>,
    draining: bool,
    last_status: Option<Instant>,
    measured_bps: u64,
    measured_pps: u64,
    reported_sessions: Option<u32>,
    reserved_bps: u64,
    reserved_pps: u64,
    contacts: u32,
    announced: HandlerState,
    /// Its contacts were handed out by `take_lost` for the current silence.
    lost_announced: bool,
}

impl Handler {
    fn capacity_bps(&self) -> u64 {
        self.configured_capacity_kbps
            .or(self.reported_capacity_kbps)
            .unwrap_or(0)
            .saturating_mul(1000)
    }

    fn state(&self, now: Instant, stale_after: Duration) -> HandlerState {
        match self.last_status {
            Some(at) if now.saturating_duration_since(at) < stale_after => {
                if self.draining {
                    HandlerState::Draining
                } else {
                    HandlerState::Up
                }
            }
            _ => HandlerState::Down,
        }
    }
}

#[derive(Debug, Clone)]
struct Reservation {
    handler: HandlerId,
    offer: SessionDescription,
    placement: Placement,
}

impl Reservation {
    fn need(&self) -> Need {
        self.placement.estimate.total
    }
}

/// Where an attempt may place: any eligible handler, or the contact's own (re-INVITE).
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    New,
    Existing { handler: &'a HandlerId, old: Need },
}

/// The bandwidth manager: handler registry, reservation ledger, selection,
/// degradation. Sans-IO: every call that depends on time takes `now`.
#[derive(Debug, Clone)]
pub struct BandwidthManager {
    config: Config,
    handlers: BTreeMap<HandlerId, Handler>,
    contacts: BTreeMap<ContactId, Reservation>,
}

impl BandwidthManager {
    /// An empty manager.
    pub fn new(config: Config) -> BandwidthManager {
        BandwidthManager {
            config,
            handlers: BTreeMap::new(),
            contacts: BTreeMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Registers a handler (from the configuration or a self-registration). It is down
    /// until its first status report.
    pub fn add_handler(
        &mut self,
        id: HandlerId,
        url: &str,
        capacity_kbps: Option<u64>,
    ) -> Result<(), RegistryError> {
        if self.handlers.contains_key(&id) {
            return Err(RegistryError::DuplicateHandler(id));
        }
        self.handlers.insert(
            id,
            Handler {
                url: url.to_owned(),
                configured_capacity_kbps: capacity_kbps,
                reported_capacity_kbps: None,
                draining: false,
                last_status: None,
                measured_bps: 0,
                measured_pps: 0,
                reported_sessions: None,
                reserved_bps: 0,
                reserved_pps: 0,
                contacts: 0,
                announced: HandlerState::Down,
                lost_announced: false,
            },
        );
        Ok(())
    }

    /// Forgets a handler and the reservations on it; returns the contacts that were
    /// placed there.
    pub fn remove_handler(&mut self, id: &HandlerId) -> Result<Vec<ContactId>, RegistryError> {
        self.handlers
            .remove(id)
            .ok_or_else(|| RegistryError::UnknownHandler(id.clone()))?;
        let gone: Vec<ContactId> = self
            .contacts
            .iter()
            .filter(|(_, r)| &r.handler == id)
            .map(|(c, _)| c.clone())
            .collect();
        for c in &gone {
            self.contacts.remove(c);
        }
        Ok(gone)
    }

    /// Records a status report received at `now`.
    pub fn update_status(
        &mut self,
        now: Instant,
        id: &HandlerId,
        status: HandlerStatus,
    ) -> Result<(), RegistryError> {
        let h = self
            .handlers
            .get_mut(id)
            .ok_or_else(|| RegistryError::UnknownHandler(id.clone()))?;
        h.last_status = Some(h.last_status.map_or(now, |t| t.max(now)));
        h.lost_announced = false;
        h.reported_capacity_kbps = status.capacity_kbps.or(h.reported_capacity_kbps);
        h.measured_bps = status.measured_kbps.saturating_mul(1000);
        h.measured_pps = status.measured_pps.unwrap_or(0);
        h.reported_sessions = status.sessions;
        Ok(())
    }

    /// Sets or clears draining: a draining handler keeps its contacts and takes no new
    /// ones.
    pub fn set_draining(&mut self, id: &HandlerId, draining: bool) -> Result<(), RegistryError> {
        let h = self
            .handlers
            .get_mut(id)
            .ok_or_else(|| RegistryError::UnknownHandler(id.clone()))?;
        h.draining = draining;
        Ok(())
    }

    /// A handler's state at `now`.
    pub fn state(&self, now: Instant, id: &HandlerId) -> Option<HandlerState> {
        self.handlers
            .get(id)
            .map(|h| h.state(now, self.config.stale_after))
    }

    /// Reports the handlers whose state changed since the last call (a handler that
    /// stopped reporting goes down here, at the latest at [`next_deadline`]).
    ///
    /// State is always computed from `now`, so placement never uses a stale handler even
    /// if `tick` is late; `tick` only tells the driver about changes (for logs, events,
    /// and to fail over calls).
    ///
    /// [`next_deadline`]: BandwidthManager::next_deadline
    pub fn tick(&mut self, now: Instant) -> Vec<HealthEvent> {
        let stale_after = self.config.stale_after;
        let mut events = Vec::new();
        for (id, h) in &mut self.handlers {
            let state = h.state(now, stale_after);
            if state != h.announced {
                events.push(HealthEvent {
                    handler: id.clone(),
                    from: h.announced,
                    to: state,
                });
                h.announced = state;
            }
        }
        events
    }

    /// The contacts on handlers that have been silent for [`Config::lost_after`] or
    /// longer, each handler's once per silence (a status report starts a new one), in
    /// handler and contact order. Their media is gone with the handler: the driver ends
    /// them (and releases them as usual). A handler that never reported has none.
    pub fn take_lost(&mut self, now: Instant) -> Vec<(HandlerId, Vec<ContactId>)> {
        let lost_after = self.config.lost_after;
        let mut out = Vec::new();
        for (id, h) in &mut self.handlers {
            let silent = h
                .last_status
                .is_some_and(|t| now.saturating_duration_since(t) >= lost_after);
            if !silent || h.lost_announced {
                continue;
            }
            h.lost_announced = true;
            let contacts: Vec<ContactId> = self
                .contacts
                .iter()
                .filter(|(_, r)| &r.handler == id)
                .map(|(c, _)| c.clone())
                .collect();
            if !contacts.is_empty() {
                out.push((id.clone(), contacts));
            }
        }
        out
    }

    /// When [`tick`](BandwidthManager::tick) next has something to report if no status
    /// arrives: the earliest moment a live handler's status becomes stale.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.handlers
            .values()
            .filter_map(|h| h.last_status)
            .filter_map(|t| t.checked_add(self.config.stale_after))
            .min()
    }

    /// The handlers for `GET /api/v1/media-handlers`, in id order.
    pub fn handlers(&self, now: Instant) -> Vec<HandlerView> {
        self.handlers
            .iter()
            .map(|(id, h)| HandlerView {
                id: id.clone(),
                url: h.url.clone(),
                state: h.state(now, self.config.stale_after),
                capacity_kbps: h.capacity_bps() / 1000,
                reserved_kbps: h.reserved_bps.div_ceil(1000),
                reserved_pps: h.reserved_pps,
                measured_kbps: h.measured_bps / 1000,
                measured_pps: h.measured_pps,
                sessions: h.contacts,
                reported_sessions: h.reported_sessions,
                status_age: h.last_status.map(|t| now.saturating_duration_since(t)),
            })
            .collect()
    }

    /// The placement of a contact, as last decided.
    pub fn placement(&self, contact: &ContactId) -> Option<&Placement> {
        self.contacts.get(contact).map(|r| &r.placement)
    }

    /// Places a new contact: negotiates the answer, estimates it, and reserves on the
    /// eligible handler with the lowest load relative to its capacity; degrades before
    /// refusing (drop video, then the cheapest offered codec we can transcode or Opus at
    /// [`Config::opus_floor_bps`]).
    pub fn place(
        &mut self,
        now: Instant,
        contact: ContactId,
        request: &PlaceRequest<'_>,
    ) -> Result<Placement, PlaceError> {
        if self.contacts.contains_key(&contact) {
            return Err(PlaceError::AlreadyPlaced(contact));
        }
        let base = self.config.answer.clone();
        let placement = self.decide(now, &contact, request, base, Scope::New)?;
        self.reserve(&contact, request, placement.clone());
        Ok(placement)
    }

    /// Re-decides a placed contact for a re-INVITE's offer (new codecs, streams, hold),
    /// on the handler it is on; keeps its codec if still offered. On refusal the old
    /// reservation stays and the controller answers the re-INVITE with the error
    /// (488/503), leaving the session as it was (RFC 3261 §14.2).
    pub fn adjust(
        &mut self,
        now: Instant,
        contact: &ContactId,
        request: &PlaceRequest<'_>,
    ) -> Result<Placement, PlaceError> {
        let r = self
            .contacts
            .get(contact)
            .ok_or_else(|| PlaceError::UnknownContact(contact.clone()))?;
        let handler = r.handler.clone();
        let old = r.need();
        let mut base = self.config.answer.clone();
        if let Some(current) = r.placement.negotiation.audio().map(|a| a.codec.codec) {
            base.audio.retain(|c| *c != current);
            base.audio.insert(0, current);
            base.preference = Preference::Ours;
        }
        let placement = self.decide(
            now,
            contact,
            request,
            base,
            Scope::Existing {
                handler: &handler,
                old,
            },
        )?;
        self.unreserve(contact);
        self.reserve(contact, request, placement.clone());
        Ok(placement)
    }

    /// Changes the services a placed contact uses (the flow starts recording, the call
    /// is bridged to an agent, ...). Always applied: the call is already on the handler.
    pub fn set_services(
        &mut self,
        contact: &ContactId,
        services: Services,
    ) -> Result<ServiceChange, RegistryError> {
        let r = self
            .contacts
            .get_mut(contact)
            .ok_or_else(|| RegistryError::UnknownContact(contact.clone()))?;
        let before = r.need();
        let estimate = estimate_negotiation(&r.offer, &r.placement.negotiation, services);
        let after = estimate.total;
        r.placement.estimate = estimate;
        let handler = r.handler.clone();
        let h = self
            .handlers
            .get_mut(&handler)
            .expect("invariant: a reservation's handler is registered (remove_handler drops its reservations)");
        h.reserved_bps = h
            .reserved_bps
            .saturating_sub(before.peak_bps())
            .saturating_add(after.peak_bps());
        h.reserved_pps = h
            .reserved_pps
            .saturating_sub(before.peak_pps())
            .saturating_add(after.peak_pps());
        let over_capacity = h.reserved_bps > h.capacity_bps();
        Ok(ServiceChange {
            handler,
            before,
            after,
            over_capacity,
        })
    }

    /// Releases a contact's reservation at its end. `None` if it was not placed.
    pub fn release(&mut self, contact: &ContactId) -> Option<Released> {
        let need = self.contacts.get(contact)?.need();
        let handler = self.unreserve(contact)?;
        Some(Released { handler, need })
    }

    fn reserve(&mut self, contact: &ContactId, request: &PlaceRequest<'_>, placement: Placement) {
        let need = placement.estimate.total;
        let h = self
            .handlers
            .get_mut(&placement.handler)
            .expect("invariant: decide() only chooses registered handlers");
        h.reserved_bps = h.reserved_bps.saturating_add(need.peak_bps());
        h.reserved_pps = h.reserved_pps.saturating_add(need.peak_pps());
        h.contacts = h.contacts.saturating_add(1);
        self.contacts.insert(
            contact.clone(),
            Reservation {
                handler: placement.handler.clone(),
                offer: request.offer.clone(),
                placement,
            },
        );
    }

    fn unreserve(&mut self, contact: &ContactId) -> Option<HandlerId> {
        let r = self.contacts.remove(contact)?;
        let need = r.need();
        if let Some(h) = self.handlers.get_mut(&r.handler) {
            h.reserved_bps = h.reserved_bps.saturating_sub(need.peak_bps());
            h.reserved_pps = h.reserved_pps.saturating_sub(need.peak_pps());
            h.contacts = h.contacts.saturating_sub(1);
        }
        Some(r.handler)
    }

    /// Runs the attempts: normal, then without video, then the cheapest codec.
    fn decide(
        &self,
        now: Instant,
        contact: &ContactId,
        request: &PlaceRequest<'_>,
        base: Capabilities,
        scope: Scope<'_>,
    ) -> Result<Placement, PlaceError> {
        let offer = request.offer;
        let transcodable: Vec<Codec> = request
            .transcodable
            .iter()
            .copied()
            .filter(|c| c.kind() == MediaKind::Audio && !c.is_auxiliary())
            .collect();

        // Level 0: the normal answer; a codec only the transcoder has is fine too when
        // nothing else is common.
        let (caps, negotiation) = match sdp::negotiate(offer, &base) {
            Ok(n) => (base, n),
            Err(e @ SdpError::NoCommonCodec { .. }) => {
                let mut with_transcoding = base.clone();
                with_transcoding.audio.extend(
                    transcodable
                        .iter()
                        .filter(|c| !base.audio.contains(c))
                        .copied(),
                );
                match sdp::negotiate(offer, &with_transcoding) {
                    Ok(n) => (with_transcoding, n),
                    Err(_) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };

        let mut attempts: Vec<Attempt> = Vec::new();
        let mut outcomes: Vec<Negotiation> = Vec::new();
        let normal_codec = negotiation.audio().map(|a| a.codec.codec);
        let first = self.attempt(now, request, &negotiation, Vec::new(), scope);
        attempts.push(first);
        outcomes.push(negotiation.clone());

        let any_up = attempts[0].candidates.iter().any(|c| {
            matches!(scope, Scope::Existing { .. })
                || !matches!(c.excluded, Some(Exclusion::Down | Exclusion::Draining))
        });

        if attempts[0].chosen.is_none() && any_up {
            // Level 1: drop optional streams (video).
            let video: Vec<usize> = negotiation
                .accepted()
                .filter(|s| s.kind == MediaKind::Video)
                .map(|s| s.index)
                .collect();
            let mut caps1 = caps.clone();
            if !video.is_empty() {
                caps1.drop_video = true;
                if let Ok(n1) = sdp::negotiate(offer, &caps1) {
                    let d = vec![Degradation::DroppedVideo {
                        streams: video.clone(),
                    }];
                    attempts.push(self.attempt(now, request, &n1, d, scope));
                    outcomes.push(n1);
                }
            }

            // Level 2: the cheapest audio codec the offer allows.
            let placed = attempts.iter().any(|a| a.chosen.is_some());
            if !placed {
                let current = attempts
                    .last()
                    .map_or(u64::MAX, |a| a.estimate.total.peak_bps());
                if let Some((codec, n2, estimate_bps)) =
                    self.cheapest(offer, &caps1, &transcodable, request.services)
                    && estimate_bps < current
                {
                    let mut d = Vec::new();
                    if !video.is_empty() {
                        d.push(Degradation::DroppedVideo {
                            streams: video.clone(),
                        });
                    }
                    if let Some(from) = normal_codec.filter(|from| *from != codec) {
                        d.push(Degradation::CheaperCodec { from, to: codec });
                    }
                    if codec == Codec::Opus {
                        d.push(Degradation::OpusBitrate {
                            bps: self.config.opus_floor_bps,
                        });
                    }
                    attempts.push(self.attempt(now, request, &n2, d, scope));
                    outcomes.push(n2);
                }
            }
        }

        let explanation = Explanation {
            priority: request.priority,
            attempts,
        };
        let Some(i) = explanation.attempts.iter().position(|a| a.chosen.is_some()) else {
            let lowest_need = explanation
                .attempts
                .iter()
                .map(|a| a.estimate.total)
                .min_by_key(|n| n.peak_bps())
                .unwrap_or(Need::ZERO);
            return Err(PlaceError::Refused(Box::new(Refusal {
                reason: if any_up {
                    RefusalReason::NoRoom
                } else {
                    RefusalReason::NoHandlerUp
                },
                retry_after: self.config.retry_after,
                lowest_need,
                explanation,
            })));
        };
        let attempt = &explanation.attempts[i];
        let handler = attempt
            .chosen
            .clone()
            .expect("invariant: position() found an attempt with a chosen handler");
        let url = self
            .handlers
            .get(&handler)
            .map(|h| h.url.clone())
            .unwrap_or_default();
        Ok(Placement {
            contact: contact.clone(),
            handler,
            url,
            negotiation: outcomes.swap_remove(i),
            estimate: attempt.estimate.clone(),
            degradations: attempt.degradations.clone(),
            explanation,
        })
    }

    /// The audio codec with the lowest need among those the offer has and we can use
    /// (normal ones and transcodable ones); Opus at the floor bitrate.
    fn cheapest(
        &self,
        offer: &SessionDescription,
        caps: &Capabilities,
        transcodable: &[Codec],
        services: Services,
    ) -> Option<(Codec, Negotiation, u64)> {
        let mut usable: Vec<Codec> = caps.audio.clone();
        usable.extend(transcodable.iter().filter(|c| !caps.audio.contains(c)));
        let offered: Vec<Codec> = offer
            .media()
            .iter()
            .filter(|m| m.kind == MediaKind::Audio && m.is_enabled())
            .flat_map(|m| m.formats.iter().filter_map(|f| f.codec))
            .filter(|c| usable.contains(c))
            .collect();
        let mut best: Option<(Codec, Negotiation, u64)> = None;
        for codec in offered {
            let mut c = caps.clone();
            c.audio = vec![codec];
            c.preference = Preference::Ours;
            if codec == Codec::Opus {
                c.opus_max_average_bitrate = Some(self.config.opus_floor_bps);
            }
            let Ok(n) = sdp::negotiate(offer, &c) else {
                continue;
            };
            let bps = estimate_negotiation(offer, &n, services).total.peak_bps();
            if best.as_ref().is_none_or(|(_, _, b)| bps < *b) {
                best = Some((codec, n, bps));
            }
        }
        best
    }

    /// Evaluates every handler for one negotiation and picks the least loaded that fits.
    fn attempt(
        &self,
        now: Instant,
        request: &PlaceRequest<'_>,
        negotiation: &Negotiation,
        degradations: Vec<Degradation>,
        scope: Scope<'_>,
    ) -> Attempt {
        let estimate = estimate_negotiation(request.offer, negotiation, request.services);
        let need = estimate.total.peak_bps();
        let headroom = match request.priority {
            Priority::High => 0,
            Priority::Normal => u64::from(self.config.priority_headroom_percent.min(100)),
        };
        let mut candidates = Vec::new();
        // (relative load as load·capacity cross-products, capacity, id)
        let mut best: Option<(u64, u64, &HandlerId)> = None;
        for (id, h) in &self.handlers {
            let state = h.state(now, self.config.stale_after);
            let capacity = h.capacity_bps();
            let usable =
                capacity / 100 * (100 - headroom) + capacity % 100 * (100 - headroom) / 100;
            let (own, old) = match scope {
                Scope::New => (true, 0),
                Scope::Existing { handler, old } => (handler == id, old.peak_bps()),
            };
            let reserved = h.reserved_bps.saturating_sub(old);
            let measured = h.measured_bps.saturating_sub(old);
            let load = reserved.max(measured);
            let excluded = if !own {
                continue;
            } else if matches!(scope, Scope::Existing { .. }) && need <= old {
                // Lowering an existing contact's need always fits.
                None
            } else if state == HandlerState::Down && matches!(scope, Scope::New) {
                Some(Exclusion::Down)
            } else if state == HandlerState::Draining && matches!(scope, Scope::New) {
                Some(Exclusion::Draining)
            } else if capacity == 0 {
                Some(Exclusion::NoCapacity)
            } else if load.saturating_add(need) > usable {
                Some(Exclusion::NoRoom)
            } else {
                None
            };
            if excluded.is_none() {
                let better = match best {
                    None => true,
                    Some((b_load, b_cap, _)) => {
                        // load/capacity < b_load/b_cap, exactly.
                        let lhs = u128::from(load) * u128::from(b_cap);
                        let rhs = u128::from(b_load) * u128::from(capacity);
                        lhs < rhs || (lhs == rhs && capacity > b_cap)
                    }
                };
                if better {
                    best = Some((load, capacity, id));
                }
            }
            candidates.push(Candidate {
                handler: id.clone(),
                state,
                capacity_kbps: capacity / 1000,
                usable_kbps: usable / 1000,
                reserved_kbps: reserved.div_ceil(1000),
                measured_kbps: measured / 1000,
                load_kbps: load.div_ceil(1000),
                load_permille: if capacity == 0 {
                    0
                } else {
                    u64::try_from(u128::from(load) * 1000 / u128::from(capacity))
                        .unwrap_or(u64::MAX)
                },
                excluded,
            });
        }
        Attempt {
            degradations,
            codec: negotiation.audio().map(|a| a.codec.codec),
            estimate,
            candidates,
            chosen: best.map(|(_, _, id)| id.clone()),
        }
    }
}
