//! Explicit mapping between the control interface's JSON types (`media-api`) and the engine's
//! core types (`media`). The core crates know nothing of serde.

use std::time::Duration;

use media::{CodecSpec, MediaError};
use media_api as api;
use media_api::{ApiError, ErrorCode};

/// An engine error as the control interface's error body.
pub fn error(e: MediaError) -> ApiError {
    let code = match &e {
        MediaError::UnknownLeg(_) => ErrorCode::UnknownLeg,
        MediaError::UnknownRoute(_) => ErrorCode::UnknownRoute,
        MediaError::UnknownRecording(_) => ErrorCode::UnknownRecording,
        MediaError::UnknownMix(_) => ErrorCode::UnknownMix,
        MediaError::DuplicateId(_) => ErrorCode::Internal,
        MediaError::InvalidState(_) => ErrorCode::InvalidState,
        MediaError::WrongSession { .. } => ErrorCode::UnknownLeg,
        MediaError::UnsupportedCodec(_) => ErrorCode::UnsupportedCodec,
        MediaError::BadRequest(_) => ErrorCode::BadRequest,
        MediaError::UnsupportedFile(_) => ErrorCode::UnsupportedFile,
    };
    ApiError::new(code, e.to_string())
}

/// Codecs from the API.
pub fn codecs(c: &[api::Codec]) -> Vec<CodecSpec> {
    c.iter()
        .map(|c| CodecSpec {
            name: c.name.clone(),
            payload_type: c.payload_type,
            clock_rate: c.clock_rate,
            channels: c.channels,
            fmtp: c.fmtp.clone(),
        })
        .collect()
}

/// Kind from the API.
pub fn kind(k: api::MediaKind) -> media::MediaKind {
    match k {
        api::MediaKind::Audio => media::MediaKind::Audio,
        api::MediaKind::Video => media::MediaKind::Video,
    }
}

/// Direction from the API.
pub fn direction(d: api::Direction) -> media::Direction {
    match d {
        api::Direction::Sendrecv => media::Direction::SendRecv,
        api::Direction::Sendonly => media::Direction::SendOnly,
        api::Direction::Recvonly => media::Direction::RecvOnly,
        api::Direction::Inactive => media::Direction::Inactive,
    }
}

/// The engine's leg configuration for an `AddLeg` request.
pub fn leg_config(req: &api::AddLeg) -> media::LegConfig {
    media::LegConfig {
        kind: kind(req.kind),
        remote_rtp: req.remote_rtp,
        remote_rtcp: req.remote_rtcp,
        codecs: codecs(&req.codecs),
        telephone_event_pt: req.telephone_event_pt,
        ptime_ms: req.ptime_ms.unwrap_or(20),
        direction: direction(req.direction),
        rtp_timeout: match req.rtp_timeout_ms {
            None => Some(Duration::from_secs(30)),
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(u64::from(ms))),
        },
    }
}

/// The engine's update for an `UpdateLeg` request.
pub fn leg_update(req: &api::UpdateLeg) -> media::LegUpdate {
    media::LegUpdate {
        remote_rtp: req.remote_rtp,
        remote_rtcp: req.remote_rtcp,
        codecs: req.codecs.as_deref().map(codecs),
        telephone_event_pt: if req.clear_telephone_event {
            Some(None)
        } else {
            req.telephone_event_pt.map(Some)
        },
        ptime_ms: req.ptime_ms,
        direction: req.direction.map(direction),
    }
}

/// Counters for the API.
pub fn stats(s: &media::LegStats) -> api::LegStats {
    api::LegStats {
        packets_in: s.packets_in,
        octets_in: s.octets_in,
        packets_out: s.packets_out,
        octets_out: s.octets_out,
        packets_lost: s.packets_lost,
        jitter_ms: s.jitter_ms,
        foreign_dropped: s.foreign_dropped,
        malformed_dropped: s.malformed_dropped,
        late_dropped: s.late_dropped,
        rtcp_in: s.rtcp_in,
        rtcp_out: s.rtcp_out,
        remote_fraction_lost_pct: s.remote_fraction_lost_pct,
        remote_jitter_ms: s.remote_jitter_ms,
    }
}

/// A tone for the engine.
pub fn tone(t: api::Tone) -> media::Tone {
    match t {
        api::Tone::Ringback => media::Tone::Ringback,
        api::Tone::Beep => media::Tone::Beep,
        api::Tone::Busy => media::Tone::Busy,
        api::Tone::Dial => media::Tone::Dial,
    }
}

/// A recording source for the engine.
pub fn record_source(s: &api::RecordSource) -> media::RecordSource {
    match s {
        api::RecordSource::Leg { leg } => media::RecordSource::Leg(media::LegId(leg.0)),
        api::RecordSource::Stereo { left, right } => {
            media::RecordSource::Stereo(media::LegId(left.0), media::LegId(right.0))
        }
        api::RecordSource::Mix { legs } => {
            media::RecordSource::Mix(legs.iter().map(|l| media::LegId(l.0)).collect())
        }
    }
}

/// An engine event for the event stream.
pub fn event(e: media::EngineEvent) -> api::Event {
    match e {
        media::EngineEvent::Dtmf {
            session,
            leg,
            digit,
            duration,
            source,
        } => api::Event::Dtmf {
            session_id: api::SessionId(session.0),
            leg_id: api::LegId(leg.0),
            digit: digit.to_string(),
            duration_ms: duration.as_millis().min(u128::from(u32::MAX)) as u32,
            source: match source {
                media::DtmfSource::Rfc4733 => api::DtmfSource::Rfc4733,
                media::DtmfSource::Inband => api::DtmfSource::Inband,
            },
        },
        media::EngineEvent::PlaybackFinished {
            session,
            leg,
            playback,
            reason,
        } => api::Event::PlaybackFinished {
            session_id: api::SessionId(session.0),
            leg_id: api::LegId(leg.0),
            playback_id: api::PlaybackId(playback.0),
            reason: match reason {
                media::EndReason::Completed => api::PlaybackEndReason::Completed,
                media::EndReason::Stopped => api::PlaybackEndReason::Stopped,
                media::EndReason::Replaced => api::PlaybackEndReason::Replaced,
            },
        },
        media::EngineEvent::RtpTimeout {
            session,
            leg,
            silent,
        } => api::Event::RtpTimeout {
            session_id: api::SessionId(session.0),
            leg_id: api::LegId(leg.0),
            silent_ms: silent.as_millis() as u64,
        },
        media::EngineEvent::LegLatched {
            session,
            leg,
            remote,
        } => api::Event::LegLatched {
            session_id: api::SessionId(session.0),
            leg_id: api::LegId(leg.0),
            remote,
        },
    }
}
