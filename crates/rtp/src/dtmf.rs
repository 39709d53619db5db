//! In-band DTMF detection on 8 kHz linear PCM: the Goertzel algorithm on the eight DTMF
//! frequencies, block by block, with the checks that keep speech and tones from passing as
//! digits.
//!
//! Each block of [`BLOCK`] samples (25.6 ms) is tested for one row tone (697–941 Hz) and one
//! column tone (1209–1633 Hz). A block is a hit for a digit when:
//! - both tones are above a minimum level (about −32 dBm0 each);
//! - the strongest row and the strongest column each stand out from the others of their group
//!   by [`PEAK_RATIO_DB`];
//! - the twist (level difference between the two) is within [`MAX_ROW_OVER_COL_DB`] when the
//!   row is louder and [`MAX_COL_OVER_ROW_DB`] when the column is louder;
//! - the two tones carry at least [`MIN_TONE_SHARE`] of the block's energy (speech and music
//!   spread their energy over many frequencies);
//! - the second harmonics of the two tones are weak (voiced speech is rich in harmonics, DTMF
//!   is not).
//!
//! A digit starts after two consecutive hit blocks (so at least 40 ms of tone, as Q.24 asks)
//! and ends after two consecutive blocks without it; one missing block inside a digit is
//! tolerated. The digit is reported when it ends, with its duration.

use std::time::Duration;

use crate::event::DigitEnded;

/// Samples per analysis block at 8 kHz (the classic choice: bins land close to the DTMF
/// frequencies).
pub const BLOCK: usize = 205;
/// The sample rate the detector works at.
pub const SAMPLE_RATE: u32 = 8000;

/// Row (low group) frequencies, Hz.
pub const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies, Hz.
pub const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// How far the louder row tone may exceed the column tone.
pub const MAX_ROW_OVER_COL_DB: f32 = 8.0;
/// How far the louder column tone may exceed the row tone.
pub const MAX_COL_OVER_ROW_DB: f32 = 6.0;
/// How far the strongest tone of a group must exceed the others of that group.
pub const PEAK_RATIO_DB: f32 = 8.0;
/// The share of the block's energy the two tones must carry.
pub const MIN_TONE_SHARE: f32 = 0.75;
/// Minimum mean power of each tone on the 16-bit scale (amplitude ≈ 560, about −32 dBm0).
const MIN_TONE_POWER: f32 = 560.0 * 560.0 / 2.0;
/// How far below its fundamental each tone's second harmonic must be.
const HARMONIC_REJECT_DB: f32 = 12.0;

fn db_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// A Goertzel filter state for one frequency.
#[derive(Debug, Clone, Copy)]
struct Goertzel {
    coeff: f32,
    s1: f32,
    s2: f32,
}

impl Goertzel {
    fn new(freq: f32) -> Self {
        let w = 2.0 * std::f32::consts::PI * freq / SAMPLE_RATE as f32;
        Goertzel {
            coeff: 2.0 * w.cos(),
            s1: 0.0,
            s2: 0.0,
        }
    }

    #[inline]
    fn push(&mut self, x: f32) {
        let s0 = x + self.coeff * self.s1 - self.s2;
        self.s2 = self.s1;
        self.s1 = s0;
    }

    /// Mean power of the component at this frequency over a block of `n` samples, and reset.
    fn take_power(&mut self, n: usize) -> f32 {
        let mag2 = self.s1 * self.s1 + self.s2 * self.s2 - self.coeff * self.s1 * self.s2;
        self.s1 = 0.0;
        self.s2 = 0.0;
        // |X|² ≈ (A·n/2)² for a sine of amplitude A; its mean power is A²/2.
        2.0 * mag2 / (n as f32 * n as f32)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No digit; `candidate` hit in the last block.
    Idle { candidate: Option<char> },
    /// A digit is on: `blocks` hit so far, `misses` consecutive blocks without it.
    On {
        digit: char,
        blocks: u32,
        misses: u32,
    },
}

/// Streaming in-band DTMF detector for one audio source at 8 kHz.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    filters: [Goertzel; 16],
    energy: f32,
    filled: usize,
    state: State,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfDetector {
    /// A detector with nothing heard yet.
    pub fn new() -> Self {
        let mut filters = [Goertzel::new(0.0); 16];
        for i in 0..4 {
            filters[i] = Goertzel::new(ROWS[i]);
            filters[4 + i] = Goertzel::new(COLS[i]);
            filters[8 + i] = Goertzel::new(2.0 * ROWS[i]);
            filters[12 + i] = Goertzel::new(2.0 * COLS[i]);
        }
        DtmfDetector {
            filters,
            energy: 0.0,
            filled: 0,
            state: State::Idle { candidate: None },
        }
    }

    /// Forget everything heard (e.g. when the source changes).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Feed 8 kHz samples; `on_digit` is called for each digit that ended within them.
    pub fn process(&mut self, samples: &[i16], mut on_digit: impl FnMut(DigitEnded)) {
        for &s in samples {
            let x = s as f32;
            self.energy += x * x;
            for f in &mut self.filters {
                f.push(x);
            }
            self.filled += 1;
            if self.filled == BLOCK {
                let hit = self.analyse_block();
                if let Some(d) = self.advance(hit) {
                    on_digit(d);
                }
            }
        }
    }

    /// The digit this block holds, if any; resets the block.
    fn analyse_block(&mut self) -> Option<char> {
        let n = self.filled;
        let mean_power = self.energy / n as f32;
        self.energy = 0.0;
        self.filled = 0;
        let mut p = [0f32; 16];
        for (pi, f) in p.iter_mut().zip(&mut self.filters) {
            *pi = f.take_power(n);
        }
        let (row, row_p) = strongest(&p[0..4]);
        let (col, col_p) = strongest(&p[4..8]);
        if row_p < MIN_TONE_POWER || col_p < MIN_TONE_POWER {
            return None;
        }
        if row_p > col_p * db_ratio(MAX_ROW_OVER_COL_DB)
            || col_p > row_p * db_ratio(MAX_COL_OVER_ROW_DB)
        {
            return None;
        }
        let peak = db_ratio(PEAK_RATIO_DB);
        let stands_out = |group: &[f32], best: usize, best_p: f32| {
            group
                .iter()
                .enumerate()
                .all(|(i, &q)| i == best || q * peak <= best_p)
        };
        if !stands_out(&p[0..4], row, row_p) || !stands_out(&p[4..8], col, col_p) {
            return None;
        }
        if row_p + col_p < MIN_TONE_SHARE * mean_power {
            return None;
        }
        let harmonic = db_ratio(HARMONIC_REJECT_DB);
        // Compared as sums: a loud column tone leaks into the bin of a row's second harmonic
        // (1336 Hz is 58 Hz from 2 × 697), which alone would reject good digits.
        if (p[8 + row] + p[12 + col]) * harmonic > row_p + col_p {
            return None;
        }
        Some(KEYS[row][col])
    }

    fn advance(&mut self, hit: Option<char>) -> Option<DigitEnded> {
        let block = Duration::from_micros(BLOCK as u64 * 1_000_000 / SAMPLE_RATE as u64);
        match self.state {
            State::Idle { candidate } => {
                self.state = match (candidate, hit) {
                    (Some(c), Some(h)) if c == h => State::On {
                        digit: h,
                        blocks: 2,
                        misses: 0,
                    },
                    (_, h) => State::Idle { candidate: h },
                };
                None
            }
            State::On {
                digit,
                blocks,
                misses,
            } => {
                if hit == Some(digit) {
                    self.state = State::On {
                        digit,
                        blocks: blocks + 1,
                        misses: 0,
                    };
                    return None;
                }
                if misses + 1 >= 2 {
                    self.state = State::Idle { candidate: hit };
                    return Some(DigitEnded {
                        digit,
                        duration: block * blocks,
                    });
                }
                self.state = State::On {
                    digit,
                    blocks,
                    misses: misses + 1,
                };
                None
            }
        }
    }
}

fn strongest(group: &[f32]) -> (usize, f32) {
    let mut best = (0, group[0]);
    for (i, &q) in group.iter().enumerate().skip(1) {
        if q > best.1 {
            best = (i, q);
        }
    }
    best
}
