//! RFC 4733 telephone-events: the 4-byte payload, and a receiver that turns the redundant
//! packets of one event into one "digit ended" report.

use std::time::{Duration, Instant};

use crate::RtpError;

/// One RFC 4733 event payload (§2.3): event code, end bit, volume, duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 `A`–`D`, 16 flash.
    pub event: u8,
    /// The E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level in −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// The payload length.
    pub const LEN: usize = 4;

    /// Parse the first event of a payload (a payload may carry several 4-byte blocks; the
    /// last ones are redundant copies of earlier events and are ignored here).
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, RtpError> {
        if payload.len() < Self::LEN {
            return Err(RtpError::Malformed);
        }
        Ok(TelephoneEvent {
            event: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3F,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }

    /// The 4-byte payload (the reserved bit is zero).
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// The DTMF character for this event, if it is a DTMF event (0–15).
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// DTMF event code → character (`0`–`9`, `*`, `#`, `A`–`D`).
pub fn event_to_digit(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => (b'0' + event) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + event - 12) as char,
        _ => return None,
    })
}

/// DTMF character → event code; accepts lower-case `a`–`d`.
pub fn digit_to_event(digit: char) -> Option<u8> {
    Some(match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => digit as u8 - b'A' + 12,
        'a'..='d' => digit as u8 - b'a' + 12,
        _ => return None,
    })
}

/// A digit that ended, as reported once per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitEnded {
    /// The DTMF character.
    pub digit: char,
    /// How long it lasted.
    pub duration: Duration,
}

/// Turns the stream of RFC 4733 packets of one source into one report per event.
///
/// An event is identified by its RTP timestamp (§2.5.1.2: all packets of one event share the
/// start timestamp). It is reported on its first end packet; the usual three redundant end
/// packets, and any retransmission of an already reported event, are ignored. An event whose
/// end packets were all lost is reported when a packet of a newer event arrives, or on
/// [`EventReceiver::poll_timeout`] once no packet of it has been seen for [`Self::IDLE_END`].
#[derive(Debug, Clone)]
pub struct EventReceiver {
    clock_rate: u32,
    current: Option<Pending>,
    last_reported: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    timestamp: u32,
    event: u8,
    duration: u16,
    last_seen: Instant,
}

impl EventReceiver {
    /// How long an event may go without packets before it is reported as ended.
    pub const IDLE_END: Duration = Duration::from_millis(500);

    /// A receiver for events on a clock of `clock_rate` Hz (8000 for `telephone-event/8000`).
    pub fn new(clock_rate: u32) -> Self {
        EventReceiver {
            clock_rate: clock_rate.max(1),
            current: None,
            last_reported: None,
        }
    }

    fn report(&self, p: Pending) -> Option<DigitEnded> {
        let digit = event_to_digit(p.event)?;
        let micros = u64::from(p.duration) * 1_000_000 / u64::from(self.clock_rate);
        Some(DigitEnded {
            digit,
            duration: Duration::from_micros(micros),
        })
    }

    /// Feed one telephone-event packet: its RTP timestamp and payload. Returns at most one
    /// ended digit: the previous event, if this packet starts a new one before the previous
    /// one's end was seen, or this one if this is its first end packet. (If both happen in the
    /// same packet, the older digit is returned and the new one is reported by its next end
    /// packet.)
    pub fn on_packet(
        &mut self,
        now: Instant,
        timestamp: u32,
        ev: TelephoneEvent,
    ) -> Option<DigitEnded> {
        if self.last_reported == Some(timestamp) {
            return None;
        }
        let mut out = None;
        match self.current {
            Some(ref mut p) if p.timestamp == timestamp => {
                p.duration = p.duration.max(ev.duration);
                p.last_seen = now;
            }
            Some(p) => {
                // A new event started and the old one's end never came.
                self.last_reported = Some(p.timestamp);
                out = self.report(p);
                self.current = Some(Pending {
                    timestamp,
                    event: ev.event,
                    duration: ev.duration,
                    last_seen: now,
                });
                if out.is_some() {
                    return out;
                }
            }
            None => {
                self.current = Some(Pending {
                    timestamp,
                    event: ev.event,
                    duration: ev.duration,
                    last_seen: now,
                });
            }
        }
        if ev.end
            && let Some(p) = self.current.take()
        {
            self.last_reported = Some(p.timestamp);
            out = self.report(p);
        }
        out
    }

    /// When [`Self::poll_timeout`] should be called next, if an event is in progress.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.current.map(|p| p.last_seen + Self::IDLE_END)
    }

    /// Report an event whose end packets never came. Harmless to call early or twice.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<DigitEnded> {
        let p = self.current?;
        if now < p.last_seen + Self::IDLE_END {
            return None;
        }
        self.current = None;
        self.last_reported = Some(p.timestamp);
        self.report(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_through_bytes() {
        let ev = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 1600,
        };
        let bytes = ev.to_bytes();
        assert_eq!(bytes, [11, 0x80 | 10, 0x06, 0x40]);
        assert_eq!(TelephoneEvent::parse(&bytes), Ok(ev));
        assert_eq!(ev.digit(), Some('#'));
    }

    #[test]
    fn reserved_bit_is_ignored_and_short_payload_rejected() {
        let ev = TelephoneEvent::parse(&[5, 0x40 | 7, 0, 160]).expect("valid");
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 5,
                end: false,
                volume: 7,
                duration: 160
            }
        );
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(RtpError::Malformed));
    }

    #[test]
    fn digit_mapping_covers_all_sixteen_events() {
        let all: String = (0..16).map(|e| event_to_digit(e).expect("dtmf")).collect();
        assert_eq!(all, "0123456789*#ABCD");
        for (e, c) in all.chars().enumerate() {
            assert_eq!(digit_to_event(c), Some(e as u8));
        }
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('x'), None);
    }

    fn ev(event: u8, end: bool, duration: u16) -> TelephoneEvent {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    #[test]
    fn three_end_packets_report_one_digit() {
        let t0 = Instant::now();
        let mut rx = EventReceiver::new(8000);
        assert_eq!(rx.on_packet(t0, 1000, ev(1, false, 160)), None);
        assert_eq!(rx.on_packet(t0, 1000, ev(1, false, 320)), None);
        let d = rx
            .on_packet(t0, 1000, ev(1, true, 800))
            .expect("first end reports");
        assert_eq!(
            d,
            DigitEnded {
                digit: '1',
                duration: Duration::from_millis(100)
            }
        );
        assert_eq!(rx.on_packet(t0, 1000, ev(1, true, 800)), None);
        assert_eq!(rx.on_packet(t0, 1000, ev(1, true, 800)), None);
        // The same digit again is a new event with a new timestamp.
        assert!(rx.on_packet(t0, 3000, ev(1, true, 400)).is_some());
    }

    #[test]
    fn lost_end_is_reported_by_the_next_event_or_by_timeout() {
        let t0 = Instant::now();
        let mut rx = EventReceiver::new(8000);
        rx.on_packet(t0, 1000, ev(2, false, 480));
        let d = rx
            .on_packet(t0, 2000, ev(3, false, 160))
            .expect("previous ended");
        assert_eq!(d.digit, '2');
        assert_eq!(rx.poll_timeout(t0 + Duration::from_millis(100)), None);
        let deadline = rx.next_timeout().expect("event pending");
        let d = rx.poll_timeout(deadline).expect("idle end");
        assert_eq!(
            d,
            DigitEnded {
                digit: '3',
                duration: Duration::from_millis(20)
            }
        );
        assert_eq!(rx.poll_timeout(deadline), None);
        // Late redundant end packets of the timed-out event are not reported again.
        assert_eq!(rx.on_packet(deadline, 2000, ev(3, true, 800)), None);
    }
}
