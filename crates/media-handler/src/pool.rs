//! The RTP port pool: even RTP ports with RTCP on the next odd port, from `--rtp-ports A-B`.
//!
//! Ports go back to the pool on every exit path: a [`Lease`] returns its pair when dropped
//! unless it was [`Lease::keep`]-ed, and kept pairs are returned with [`PortPool::release`]
//! when the leg goes away.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// An inclusive port range `A-B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port.
    pub last: u16,
}

impl std::str::FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("`{s}` is not a range like 20000-29999"))?;
        let first: u16 = a
            .trim()
            .parse()
            .map_err(|_| format!("`{a}` is not a port number"))?;
        let last: u16 = b
            .trim()
            .parse()
            .map_err(|_| format!("`{b}` is not a port number"))?;
        if first == 0 || last < first.saturating_add(1) {
            return Err(format!("`{s}` holds no RTP/RTCP port pair"));
        }
        Ok(PortRange { first, last })
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Free even ports, handed out oldest-freed first (so a port just released is not reused at
/// once while stray packets for the old leg may still arrive).
#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
    total: usize,
    in_use: Vec<bool>,
    first: u16,
}

impl PortPool {
    /// All pairs of the range: every even port `p` with `p + 1` also in the range.
    pub fn new(range: PortRange) -> Self {
        let start = range.first + (range.first & 1);
        let mut free = VecDeque::new();
        let mut p = u32::from(start);
        while p < u32::from(range.last) {
            free.push_back(p as u16);
            p += 2;
        }
        let total = free.len();
        PortPool {
            free,
            total,
            in_use: vec![false; total],
            first: start,
        }
    }

    fn index(&self, port: u16) -> Option<usize> {
        let i = usize::from(port.checked_sub(self.first)?) / 2;
        (port & 1 == 0 && i < self.total).then_some(i)
    }

    /// Take a pair: the even RTP port (RTCP is `+1`).
    pub fn take(&mut self) -> Option<u16> {
        let p = self.free.pop_front()?;
        if let Some(i) = self.index(p) {
            self.in_use[i] = true;
        }
        Some(p)
    }

    /// Give a pair back. Returning a port that is not out (twice, or foreign) is ignored.
    pub fn release(&mut self, port: u16) {
        if let Some(i) = self.index(port)
            && self.in_use[i]
        {
            self.in_use[i] = false;
            self.free.push_back(port);
        }
    }

    /// Free pairs.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// All pairs.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// A pair taken from a shared pool; returned on drop unless kept.
#[derive(Debug)]
pub struct Lease {
    pool: Arc<Mutex<PortPool>>,
    port: Option<u16>,
}

impl Lease {
    /// Take a pair from `pool`.
    pub fn take(pool: &Arc<Mutex<PortPool>>) -> Option<Lease> {
        // A poisoned lock means a panic elsewhere while holding it; the pool's data is still
        // consistent (every method is a single step), so keep using it.
        let port = pool.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        Some(Lease {
            pool: pool.clone(),
            port: Some(port),
        })
    }

    /// The RTP port.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(0)
    }

    /// Keep the pair beyond this lease (the caller now releases it explicitly).
    pub fn keep(mut self) -> u16 {
        self.port.take().unwrap_or(0)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(p) = self.port.take() {
            self.pool
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .release(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_parses_and_rejects_nonsense() {
        assert_eq!(
            "20000-29999".parse(),
            Ok(PortRange {
                first: 20000,
                last: 29999
            })
        );
        assert!("20000".parse::<PortRange>().is_err());
        assert!("3-2".parse::<PortRange>().is_err());
        assert!("0-10".parse::<PortRange>().is_err());
        assert!("a-10".parse::<PortRange>().is_err());
    }

    #[test]
    fn pool_hands_out_even_ports_with_room_for_rtcp() {
        let mut p = PortPool::new("20001-20006".parse().expect("valid"));
        assert_eq!(p.total(), 2);
        assert_eq!(p.take(), Some(20002));
        assert_eq!(p.take(), Some(20004));
        assert_eq!(p.take(), None);
        p.release(20002);
        p.release(20002);
        p.release(31337);
        assert_eq!(p.free(), 1);
        assert_eq!(p.take(), Some(20002));
    }

    #[test]
    fn lease_returns_its_port_unless_kept() {
        let pool = Arc::new(Mutex::new(PortPool::new(
            "30000-30009".parse().expect("valid"),
        )));
        {
            let _a = Lease::take(&pool).expect("free");
            let _b = Lease::take(&pool).expect("free");
            assert_eq!(pool.lock().expect("lock").free(), 3);
        }
        assert_eq!(pool.lock().expect("lock").free(), 5);
        let kept = Lease::take(&pool).expect("free").keep();
        assert_eq!(pool.lock().expect("lock").free(), 4);
        pool.lock().expect("lock").release(kept);
        assert_eq!(pool.lock().expect("lock").free(), 5);
    }
}
