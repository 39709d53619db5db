//! A media thread: one [`media::Engine`], the sockets of its legs, a level-triggered epoll
//! loop with recvmmsg/sendmmsg, and the 20 ms tick.
//!
//! # Contract with the engine (mutate, then drain)
//!
//! Every loop iteration feeds the engine what arrived (datagrams, due ticks, queued
//! commands), then drains all of its outputs — generated packets, events, recording audio —
//! before waiting again. Relayed packets are rewritten in place in the receive batch and sent
//! from the same buffers; nothing is allocated per packet.
//!
//! Commands arrive as closures over [`Ctx`] on a channel, with an eventfd to wake the loop;
//! each closure answers through its own one-shot channel.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use media::{Engine, EngineConfig, Forward, LegSlot, RecordOutput, TICK};
use tokio::sync::{broadcast, oneshot};

use crate::convert;
use crate::sys::{BUF_SIZE, Batch, Epoll, EventFd};
use crate::writer::WriterMsg;

const WAKE: u64 = u64::MAX;
const BATCH: usize = 32;

/// Packet and byte counters of one media thread (read by the status sampler).
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams received.
    pub packets_in: AtomicU64,
    /// Bytes received (UDP payload).
    pub bytes_in: AtomicU64,
    /// Datagrams sent.
    pub packets_out: AtomicU64,
    /// Bytes sent (UDP payload).
    pub bytes_out: AtomicU64,
    /// Recording chunks dropped because the writer fell behind.
    pub record_chunks_dropped: AtomicU64,
}

struct LegSockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

/// What a command closure can touch.
pub struct Ctx {
    /// The engine.
    pub engine: Engine,
    epoll: Epoll,
    sockets: Vec<Option<LegSockets>>,
    stop: bool,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("legs", &self.engine.leg_count())
            .finish_non_exhaustive()
    }
}

impl Ctx {
    /// Register a new leg's sockets under its slot.
    pub fn attach(
        &mut self,
        slot: LegSlot,
        rtp: UdpSocket,
        rtcp: UdpSocket,
    ) -> std::io::Result<()> {
        rtp.set_nonblocking(true)?;
        rtcp.set_nonblocking(true)?;
        let token = u64::from(slot.0) << 1;
        self.epoll.add(rtp.as_raw_fd(), token)?;
        if let Err(e) = self.epoll.add(rtcp.as_raw_fd(), token | 1) {
            let _ = self.epoll.delete(rtp.as_raw_fd());
            return Err(e);
        }
        let i = slot.0 as usize;
        if self.sockets.len() <= i {
            self.sockets.resize_with(i + 1, || None);
        }
        self.sockets[i] = Some(LegSockets { rtp, rtcp });
        Ok(())
    }

    /// Unregister and close a leg's sockets.
    pub fn detach(&mut self, slot: LegSlot) {
        if let Some(Some(s)) = self.sockets.get_mut(slot.0 as usize).map(Option::take) {
            let _ = self.epoll.delete(s.rtp.as_raw_fd());
            let _ = self.epoll.delete(s.rtcp.as_raw_fd());
        }
    }

    /// Ask the loop to end after this command.
    pub fn stop(&mut self) {
        self.stop = true;
    }
}

type Job = Box<dyn FnOnce(&mut Ctx) + Send>;

/// The media thread is gone (shutting down, or it panicked).
#[derive(Debug, Clone, Copy)]
pub struct Gone;

/// The control side's handle on a media thread.
#[derive(Debug)]
pub struct ThreadHandle {
    tx: Sender<Job>,
    wake: Arc<EventFd>,
    join: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Its counters.
    pub counters: Arc<Counters>,
}

impl ThreadHandle {
    /// Run `f` on the media thread and wait for its answer.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ctx) -> R + Send + 'static,
    ) -> Result<R, Gone> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Box::new(move |ctx: &mut Ctx| {
                let _ = tx.send(f(ctx));
            }))
            .map_err(|_| Gone)?;
        self.wake.notify();
        rx.await.map_err(|_| Gone)
    }

    /// Stop the thread and wait for it.
    pub fn stop(&self) {
        if self.tx.send(Box::new(|ctx: &mut Ctx| ctx.stop())).is_ok() {
            self.wake.notify();
        }
        let join = self.join.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(j) = join {
            let _ = j.join();
        }
    }
}

/// Start a media thread.
pub fn start(
    index: usize,
    seed: u64,
    config: EngineConfig,
    events: broadcast::Sender<media_api::Event>,
    writer: SyncSender<WriterMsg>,
) -> std::io::Result<ThreadHandle> {
    let epoll = Epoll::new()?;
    let wake = Arc::new(EventFd::new()?);
    epoll.add(wake.raw(), WAKE)?;
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let counters = Arc::new(Counters::default());
    let ctx = Ctx {
        engine: Engine::new(seed, config),
        epoll,
        sockets: Vec::new(),
        stop: false,
    };
    let (w, c) = (wake.clone(), counters.clone());
    let join = std::thread::Builder::new()
        .name(format!("media-{index}"))
        .spawn(move || run(ctx, rx, w, c, events, writer))?;
    Ok(ThreadHandle {
        tx,
        wake,
        join: std::sync::Mutex::new(Some(join)),
        counters,
    })
}

fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

struct Loop {
    batch: Batch,
    out: Vec<(usize, LegSlot, SocketAddr, usize)>,
    send_idx: Vec<(usize, SocketAddr, usize)>,
    tx_buf: Box<[u8; BUF_SIZE]>,
    counters: Arc<Counters>,
    events: broadcast::Sender<media_api::Event>,
    writer: SyncSender<WriterMsg>,
}

fn run(
    mut ctx: Ctx,
    rx: Receiver<Job>,
    wake: Arc<EventFd>,
    counters: Arc<Counters>,
    events: broadcast::Sender<media_api::Event>,
    writer: SyncSender<WriterMsg>,
) {
    let mut lp = Loop {
        batch: Batch::new(BATCH),
        out: Vec::with_capacity(BATCH),
        send_idx: Vec::with_capacity(BATCH),
        tx_buf: Box::new([0; BUF_SIZE]),
        counters,
        events,
        writer,
    };
    let mut ready = crate::sys::events(256);
    let mut next_tick = Instant::now();
    while !ctx.stop {
        let now = Instant::now();
        let timeout = next_tick.saturating_duration_since(now);
        let timeout_ms = timeout.as_micros().div_ceil(1000).min(1000) as i32;
        let n = match ctx.epoll.wait(&mut ready, timeout_ms) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "epoll_wait failed; media thread stops");
                break;
            }
        };
        let now = Instant::now();
        for ev in &ready[..n] {
            let token = ev.u64;
            if token == WAKE {
                wake.drain();
                while let Ok(job) = rx.try_recv() {
                    job(&mut ctx);
                    lp.drain(&mut ctx);
                }
                continue;
            }
            let slot = LegSlot((token >> 1) as u32);
            if token & 1 == 1 {
                lp.rtcp_ready(&mut ctx, now, slot);
            } else {
                lp.rtp_ready(&mut ctx, now, slot);
            }
        }
        if now >= next_tick {
            ctx.engine.tick(now, unix_now());
            while next_tick <= now {
                next_tick += TICK;
            }
        }
        lp.drain(&mut ctx);
    }
    // Finish recordings still running so their files are closed properly.
    let _ = lp.writer.send(WriterMsg::FinishAll);
}

impl Loop {
    fn rtp_ready(&mut self, ctx: &mut Ctx, now: Instant, slot: LegSlot) {
        let Some(Some(s)) = ctx.sockets.get(slot.0 as usize) else {
            return;
        };
        let fd = s.rtp.as_raw_fd();
        // One datagram per readiness: a leg socket carries one packet per packet time, so a
        // batch receive would mostly find nothing more; if more is queued, the
        // level-triggered epoll reports the socket again at once.
        let n = match self.batch.recv_one(fd) {
            Ok(got) => usize::from(got),
            Err(_) => {
                // An ICMP error from an earlier send surfaces here; it is not data.
                return;
            }
        };
        if n == 0 {
            return;
        }
        let mut bytes = 0u64;
        self.out.clear();
        for i in 0..n {
            let len = self.batch.len(i);
            bytes += len as u64;
            let Some(from) = self.batch.addr(i) else {
                continue;
            };
            if let Forward::Send {
                from: out_slot,
                to,
                len,
            } = ctx
                .engine
                .handle_rtp(now, slot, from, self.batch.buf_mut(i), len)
            {
                self.out.push((i, out_slot, to, len));
            }
        }
        self.counters
            .packets_in
            .fetch_add(n as u64, Ordering::Relaxed);
        self.counters.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        // Send per outgoing socket (usually all go to one peer).
        while let Some(&(_, out_slot, _, _)) = self.out.first() {
            self.send_idx.clear();
            // Keep the arrival order: a relay must not reorder a stream.
            let send_idx = &mut self.send_idx;
            self.out.retain(|&(i, s, to, len)| {
                if s == out_slot {
                    send_idx.push((i, to, len));
                    false
                } else {
                    true
                }
            });
            let Some(Some(peer)) = ctx.sockets.get(out_slot.0 as usize) else {
                continue;
            };
            let sent = self
                .batch
                .send_indexed(peer.rtp.as_raw_fd(), &self.send_idx);
            let sent_bytes: usize = self.send_idx.iter().map(|(_, _, l)| *l).sum();
            self.counters
                .packets_out
                .fetch_add(sent as u64, Ordering::Relaxed);
            self.counters
                .bytes_out
                .fetch_add(sent_bytes as u64, Ordering::Relaxed);
        }
    }

    fn rtcp_ready(&mut self, ctx: &mut Ctx, now: Instant, slot: LegSlot) {
        let Some(Some(s)) = ctx.sockets.get(slot.0 as usize) else {
            return;
        };
        let buf = &mut self.tx_buf[..];
        for _ in 0..BATCH {
            match s.rtcp.recv_from(buf) {
                Ok((len, from)) => {
                    self.counters.packets_in.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .bytes_in
                        .fetch_add(len as u64, Ordering::Relaxed);
                    ctx.engine.handle_rtcp(now, slot, from, &buf[..len]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            }
        }
    }

    /// Drain every output of the engine.
    fn drain(&mut self, ctx: &mut Ctx) {
        while let Some(t) = ctx.engine.poll_transmit(&mut self.tx_buf[..]) {
            let Some(Some(s)) = ctx.sockets.get(t.from.0 as usize) else {
                continue;
            };
            let sock = if t.rtcp { &s.rtcp } else { &s.rtp };
            if sock.send_to(&self.tx_buf[..t.len], t.to).is_ok() {
                self.counters.packets_out.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_out
                    .fetch_add(t.len as u64, Ordering::Relaxed);
            }
        }
        while let Some(ev) = ctx.engine.poll_event() {
            // No subscriber is fine: events are for whoever listens.
            let _ = self.events.send(convert::event(ev));
        }
        while let Some(r) = ctx.engine.poll_record() {
            let msg = match r {
                RecordOutput::Samples { id, samples } => WriterMsg::Samples { id, samples },
                RecordOutput::Finished { id, session, .. } => {
                    // The end of a recording must not be lost: wait for room.
                    let _ = self.writer.send(WriterMsg::Finish { id, session });
                    continue;
                }
            };
            match self.writer.try_send(msg) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.counters
                        .record_chunks_dropped
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}
