//! A leg's inbound audio, decoded to 8 kHz, between packet arrival and the tick that mixes or
//! records it: a fixed ring (no allocation after creation) with a small playout delay.
//!
//! Packets are written as they arrive; each tick reads one frame. Reading starts once
//! [`PREFILL`] samples are buffered, which absorbs the phase difference between the sender's
//! 20 ms and the engine's. An underrun reads silence for the missing part (and waits for the
//! prefill again); a backlog beyond [`MAX_DEPTH`] drops the oldest samples, so the delay stays
//! bounded when a sender's clock runs fast.

/// Samples buffered before reading starts (40 ms).
pub const PREFILL: usize = 320;
/// The most samples kept (200 ms).
pub const MAX_DEPTH: usize = 1600;
const CAPACITY: usize = 2048;

/// The ring of one leg.
#[derive(Debug, Clone)]
pub struct InboundAudio {
    ring: Box<[i16; CAPACITY]>,
    read: usize,
    len: usize,
    primed: bool,
    /// Samples dropped because the backlog grew too deep.
    pub overflow_samples: u64,
    /// Samples of silence read because nothing had arrived.
    pub underrun_samples: u64,
}

impl Default for InboundAudio {
    fn default() -> Self {
        InboundAudio {
            ring: Box::new([0; CAPACITY]),
            read: 0,
            len: 0,
            primed: false,
            overflow_samples: 0,
            underrun_samples: 0,
        }
    }
}

impl InboundAudio {
    /// Samples buffered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append decoded samples.
    pub fn push(&mut self, samples: &[i16]) {
        let samples = &samples[samples.len().saturating_sub(MAX_DEPTH)..];
        let excess = (self.len + samples.len()).saturating_sub(MAX_DEPTH);
        if excess > 0 {
            self.read = (self.read + excess) % CAPACITY;
            self.len -= excess;
            self.overflow_samples += excess as u64;
        }
        let mut w = (self.read + self.len) % CAPACITY;
        for &s in samples {
            self.ring[w] = s;
            w = (w + 1) % CAPACITY;
        }
        self.len += samples.len();
    }

    /// Read one frame into `out` (silence where nothing is buffered); returns whether any
    /// audio was read.
    pub fn read_frame(&mut self, out: &mut [i16]) -> bool {
        if !self.primed {
            if self.len < PREFILL {
                out.fill(0);
                return false;
            }
            self.primed = true;
        }
        let n = out.len().min(self.len);
        for o in &mut out[..n] {
            *o = self.ring[self.read];
            self.read = (self.read + 1) % CAPACITY;
        }
        self.len -= n;
        if n < out.len() {
            out[n..].fill(0);
            self.underrun_samples += (out.len() - n) as u64;
            self.primed = false;
        }
        n > 0
    }

    /// Drop everything buffered.
    pub fn clear(&mut self) {
        self.len = 0;
        self.primed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_waits_for_the_prefill_then_keeps_order() {
        let mut b = InboundAudio::default();
        let mut f = [0i16; 160];
        b.push(&[1; 160]);
        assert!(!b.read_frame(&mut f));
        b.push(&[2; 160]);
        assert!(b.read_frame(&mut f));
        assert_eq!(f, [1; 160]);
        b.push(&[3; 160]);
        assert!(b.read_frame(&mut f));
        assert_eq!(f, [2; 160]);
    }

    #[test]
    fn underrun_pads_with_silence_and_primes_again() {
        let mut b = InboundAudio::default();
        let mut f = [9i16; 160];
        b.push(&[4; 400]);
        assert!(b.read_frame(&mut f));
        assert!(b.read_frame(&mut f));
        assert!(b.read_frame(&mut f));
        assert_eq!(&f[78..82], &[4, 4, 0, 0]);
        assert_eq!(b.underrun_samples, 80);
        b.push(&[5; 160]);
        assert!(!b.read_frame(&mut f), "waits for the prefill again");
    }

    #[test]
    fn backlog_is_bounded() {
        let mut b = InboundAudio::default();
        for k in 0..40 {
            b.push(&[k as i16; 160]);
        }
        assert_eq!(b.len(), MAX_DEPTH);
        assert_eq!(b.overflow_samples, 40 * 160 - MAX_DEPTH as u64);
        let mut f = [0i16; 160];
        b.read_frame(&mut f);
        assert_eq!(f[0], 30, "the oldest kept frame");
    }
}
