//! The player of one leg: a queue of items (prompt, tone, silence), each played once or looped,
//! producing 8 kHz PCM frame by frame on the engine's tick.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::ids::PlaybackId;

/// A call-progress or signal tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// 440 + 480 Hz, 2 s on, 4 s off.
    Ringback,
    /// 1000 Hz, 250 ms.
    Beep,
    /// 480 + 620 Hz, 0.5 s on, 0.5 s off.
    Busy,
    /// 350 + 440 Hz, continuous.
    Dial,
}

impl Tone {
    /// (frequencies, on ms, off ms; off 0 = continuous)
    fn shape(self) -> (&'static [f32], u32, u32) {
        match self {
            Tone::Ringback => (&[440.0, 480.0], 2000, 4000),
            Tone::Beep => (&[1000.0], 250, 0),
            Tone::Busy => (&[480.0, 620.0], 500, 500),
            Tone::Dial => (&[350.0, 440.0], 1000, 0),
        }
    }

    /// One cycle of the tone, in ms (the default duration).
    pub fn cycle_ms(self) -> u32 {
        let (_, on, off) = self.shape();
        on + off
    }
}

/// What an item plays.
#[derive(Debug, Clone)]
pub enum PlaySource {
    /// Decoded 8 kHz samples (a cached prompt: shared, never copied).
    Samples(Arc<[i16]>),
    /// A tone for this many ms.
    Tone(Tone, u32),
    /// Silence for this many ms.
    Silence(u32),
}

impl PlaySource {
    /// Length in 8 kHz samples.
    pub fn len_samples(&self) -> u64 {
        match self {
            PlaySource::Samples(s) => s.len() as u64,
            PlaySource::Tone(_, ms) | PlaySource::Silence(ms) => u64::from(*ms) * 8,
        }
    }
}

/// One queued or playing item.
#[derive(Debug, Clone)]
pub struct PlayItem {
    /// Its id (repeated in its end event).
    pub id: PlaybackId,
    /// What it plays.
    pub source: PlaySource,
    /// Repeat until stopped.
    pub looped: bool,
}

/// Per-component amplitude of generated tones (about −13 dBm0).
const TONE_AMPLITUDE: f32 = 5000.0;

/// Why an item left the player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Played to its end.
    Completed,
    /// Stopped.
    Stopped,
    /// Replaced by a new item.
    Replaced,
}

/// A leg's player.
#[derive(Debug, Default)]
pub struct Player {
    queue: VecDeque<PlayItem>,
    /// Position in the current item, in samples (including loops).
    pos: u64,
}

impl Player {
    /// Whether something is playing.
    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The id of what plays now.
    pub fn current(&self) -> Option<PlaybackId> {
        self.queue.front().map(|i| i.id)
    }

    /// Play `item` now, ending everything else with `Replaced` (reported through `ended`).
    pub fn replace(&mut self, item: PlayItem, mut ended: impl FnMut(PlaybackId, EndReason)) {
        for old in self.queue.drain(..) {
            ended(old.id, EndReason::Replaced);
        }
        self.pos = 0;
        self.queue.push_back(item);
    }

    /// Queue `item` after what plays; returns whether it plays at once.
    pub fn enqueue(&mut self, item: PlayItem) -> bool {
        self.queue.push_back(item);
        if self.queue.len() == 1 {
            self.pos = 0;
            true
        } else {
            false
        }
    }

    /// Stop and clear everything.
    pub fn stop(&mut self, mut ended: impl FnMut(PlaybackId, EndReason)) {
        for old in self.queue.drain(..) {
            ended(old.id, EndReason::Stopped);
        }
        self.pos = 0;
    }

    /// Fill `out` with the next samples. Items that complete are reported through `ended`,
    /// and the next queued item continues in the same frame. Whatever is left of the frame
    /// when the queue runs dry is silence.
    pub fn fill(&mut self, out: &mut [i16], mut ended: impl FnMut(PlaybackId, EndReason)) {
        let mut at = 0;
        while at < out.len() {
            let Some(item) = self.queue.front() else {
                out[at..].fill(0);
                return;
            };
            let len = item.source.len_samples();
            if len == 0 {
                let done = self.queue.pop_front();
                if let Some(done) = done {
                    ended(done.id, EndReason::Completed);
                }
                self.pos = 0;
                continue;
            }
            let in_item = if item.looped {
                self.pos % len
            } else {
                self.pos
            };
            let n = ((len - in_item) as usize).min(out.len() - at);
            render(&item.source, in_item, &mut out[at..at + n]);
            at += n;
            self.pos += n as u64;
            if !item.looped && self.pos >= len {
                let done = self.queue.pop_front();
                if let Some(done) = done {
                    ended(done.id, EndReason::Completed);
                }
                self.pos = 0;
            }
        }
    }
}

/// Render samples `from..from + out.len()` of a source (all within it).
fn render(source: &PlaySource, from: u64, out: &mut [i16]) {
    match source {
        PlaySource::Samples(s) => {
            let from = from as usize;
            out.copy_from_slice(&s[from..from + out.len()]);
        }
        PlaySource::Silence(_) => out.fill(0),
        PlaySource::Tone(tone, _) => {
            let (freqs, on_ms, off_ms) = tone.shape();
            let cycle = u64::from(on_ms + off_ms) * 8;
            let on = u64::from(on_ms) * 8;
            for (k, o) in out.iter_mut().enumerate() {
                let n = from + k as u64;
                if off_ms > 0 && n % cycle >= on {
                    *o = 0;
                    continue;
                }
                // Phase from the sample index (exact, no drift): 2π f n / 8000.
                let mut v = 0f32;
                for &f in freqs {
                    let cycles = (f as f64 * n as f64 / 8000.0).fract() as f32;
                    v += (cycles * std::f32::consts::TAU).sin();
                }
                *o = (v * TONE_AMPLITUDE) as i16;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: u64, source: PlaySource, looped: bool) -> PlayItem {
        PlayItem {
            id: PlaybackId(id),
            source,
            looped,
        }
    }

    #[test]
    fn prompt_plays_once_then_reports_completed() {
        let mut p = Player::default();
        let samples: Arc<[i16]> = (1..=300).map(|x| x as i16).collect();
        p.enqueue(item(1, PlaySource::Samples(samples), false));
        let mut ended = Vec::new();
        let mut frame = [0i16; 160];
        p.fill(&mut frame, |id, r| ended.push((id, r)));
        assert_eq!(frame[0], 1);
        assert_eq!(frame[159], 160);
        assert!(ended.is_empty());
        p.fill(&mut frame, |id, r| ended.push((id, r)));
        assert_eq!(frame[139], 300);
        assert_eq!(frame[140], 0);
        assert_eq!(ended, vec![(PlaybackId(1), EndReason::Completed)]);
        assert!(!p.is_playing());
    }

    #[test]
    fn queued_item_continues_in_the_same_frame() {
        let mut p = Player::default();
        p.enqueue(item(
            1,
            PlaySource::Samples(Arc::from(vec![5i16; 100])),
            false,
        ));
        assert!(!p.enqueue(item(
            2,
            PlaySource::Samples(Arc::from(vec![9i16; 100])),
            false
        )));
        let mut frame = [0i16; 160];
        let mut ended = Vec::new();
        p.fill(&mut frame, |id, r| ended.push((id, r)));
        assert_eq!(&frame[98..102], &[5, 5, 9, 9]);
        assert_eq!(ended, vec![(PlaybackId(1), EndReason::Completed)]);
        assert_eq!(p.current(), Some(PlaybackId(2)));
    }

    #[test]
    fn looped_item_wraps_until_stopped() {
        let mut p = Player::default();
        p.enqueue(item(
            3,
            PlaySource::Samples(Arc::from(vec![1i16, 2, 3])),
            true,
        ));
        let mut frame = [0i16; 7];
        p.fill(&mut frame, |_, _| panic!("a looped item never completes"));
        assert_eq!(frame, [1, 2, 3, 1, 2, 3, 1]);
        let mut ended = Vec::new();
        p.stop(|id, r| ended.push((id, r)));
        assert_eq!(ended, vec![(PlaybackId(3), EndReason::Stopped)]);
    }

    #[test]
    fn replace_ends_current_and_queued_items() {
        let mut p = Player::default();
        p.enqueue(item(1, PlaySource::Silence(1000), false));
        p.enqueue(item(2, PlaySource::Silence(1000), false));
        let mut ended = Vec::new();
        p.replace(
            item(3, PlaySource::Tone(Tone::Beep, 250), false),
            |id, r| ended.push((id, r)),
        );
        assert_eq!(
            ended,
            vec![
                (PlaybackId(1), EndReason::Replaced),
                (PlaybackId(2), EndReason::Replaced)
            ]
        );
        assert_eq!(p.current(), Some(PlaybackId(3)));
    }

    #[test]
    fn ringback_follows_its_cadence() {
        let mut p = Player::default();
        p.enqueue(item(1, PlaySource::Tone(Tone::Ringback, 6000), false));
        let mut all = vec![0i16; 6000 * 8];
        p.fill(&mut all, |_, _| {});
        let energy =
            |r: std::ops::Range<usize>| all[r].iter().map(|&s| i64::from(s).pow(2)).sum::<i64>();
        assert!(energy(0..16_000) > 1_000_000_000, "on for the first 2 s");
        assert_eq!(energy(16_000..48_000), 0, "off for the next 4 s");
        let peak = all
            .iter()
            .map(|s| i32::from(*s).abs())
            .max()
            .expect("non-empty");
        assert!(
            peak <= 10_000 && peak > 9_000,
            "two components at 5000: {peak}"
        );
    }
}
