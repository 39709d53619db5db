//! A media thread: one [`media::Engine`], the sockets of its legs, an I/O loop, and the
//! 20 ms tick. The loop is io_uring ([`crate::uring`]: one system call per iteration for all
//! legs) where the kernel allows it, else level-triggered epoll with one `recvfrom` and one
//! `sendto` per packet ([`IoMode`]).
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
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use media::{Engine, EngineConfig, Forward, LegSlot, RecordOutput, TICK};
use tokio::sync::{broadcast, oneshot};

use crate::convert;
use crate::sys::{BUF_SIZE, Batch, Epoll, EventFd};
use crate::uring::{Completion, Kind, Sock, Uring};
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
    /// io_uring loop only: a second socket on the RTP port, connected to where RTP is sent
    /// (made at the first send; see [`crate::sys::twin_socket`]).
    twin: Option<Twin>,
    /// A twin could not be made: send from `rtp`.
    no_twin: bool,
}

struct Twin {
    sock: UdpSocket,
    peer: SocketAddr,
}

impl LegSockets {
    /// The socket to send RTP to `to` from, and `to` unless that socket is connected to it.
    /// In the io_uring loop the first send makes the leg's twin, connected to `to`; a later
    /// send elsewhere (the peer moved, or latching found its real address) reconnects it.
    fn rtp_sender(
        &mut self,
        ring: &mut Uring,
        slot: u32,
        to: SocketAddr,
    ) -> ((u32, Sock, RawFd), Option<SocketAddr>) {
        if !self.no_twin {
            match &mut self.twin {
                Some(t) if t.peer == to => {
                    return ((slot, Sock::Twin, t.sock.as_raw_fd()), None);
                }
                Some(t) => {
                    if t.sock.connect(to).is_ok() {
                        t.peer = to;
                        return ((slot, Sock::Twin, t.sock.as_raw_fd()), None);
                    }
                }
                None => match crate::sys::twin_socket(&self.rtp).and_then(|sock| {
                    sock.connect(to)?;
                    ring.attach_twin(slot, sock.as_raw_fd())?;
                    Ok(sock)
                }) {
                    Ok(sock) => {
                        let fd = sock.as_raw_fd();
                        self.twin = Some(Twin { sock, peer: to });
                        return ((slot, Sock::Twin, fd), None);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "no connected socket for a leg; sending unconnected");
                        self.no_twin = true;
                    }
                },
            }
        }
        ((slot, Sock::Rtp, self.rtp.as_raw_fd()), Some(to))
    }
}

/// Which I/O loop a media thread runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IoMode {
    /// io_uring where the kernel allows it, else epoll.
    #[default]
    Auto,
    /// io_uring, or fail to start.
    Uring,
    /// epoll with a system call per packet.
    Epoll,
}

enum Io {
    Epoll(Epoll),
    Uring(Box<Uring>),
}

impl Io {
    fn name(&self) -> &'static str {
        match self {
            Io::Epoll(_) => "epoll",
            Io::Uring(_) => "uring",
        }
    }
}

/// What a command closure can touch.
pub struct Ctx {
    /// The engine.
    pub engine: Engine,
    io: Io,
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
        match &mut self.io {
            Io::Epoll(epoll) => {
                let token = u64::from(slot.0) << 1;
                epoll.add(rtp.as_raw_fd(), token)?;
                if let Err(e) = epoll.add(rtcp.as_raw_fd(), token | 1) {
                    let _ = epoll.delete(rtp.as_raw_fd());
                    return Err(e);
                }
            }
            Io::Uring(ring) => ring.attach(slot.0, rtp.as_raw_fd(), rtcp.as_raw_fd())?,
        }
        let i = slot.0 as usize;
        if self.sockets.len() <= i {
            self.sockets.resize_with(i + 1, || None);
        }
        self.sockets[i] = Some(LegSockets {
            rtp,
            rtcp,
            twin: None,
            no_twin: false,
        });
        Ok(())
    }

    /// Unregister and close a leg's sockets.
    pub fn detach(&mut self, slot: LegSlot) {
        if let Some(Some(s)) = self.sockets.get_mut(slot.0 as usize).map(Option::take) {
            match &mut self.io {
                Io::Epoll(epoll) => {
                    let _ = epoll.delete(s.rtp.as_raw_fd());
                    let _ = epoll.delete(s.rtcp.as_raw_fd());
                }
                Io::Uring(ring) => ring.detach(
                    slot.0,
                    s.rtp.as_raw_fd(),
                    s.rtcp.as_raw_fd(),
                    s.twin.as_ref().map(|t| t.sock.as_raw_fd()),
                ),
            }
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
    /// Its I/O loop: "uring" or "epoll".
    pub io: &'static str,
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
    io: IoMode,
    events: broadcast::Sender<media_api::Event>,
    writer: SyncSender<WriterMsg>,
) -> std::io::Result<ThreadHandle> {
    let wake = Arc::new(EventFd::new()?);
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let counters = Arc::new(Counters::default());
    let (w, c) = (wake.clone(), counters.clone());
    // The ring is made on the thread that uses it (a single-issuer ring refuses others).
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let join = std::thread::Builder::new()
        .name(format!("media-{index}"))
        .spawn(move || {
            let io = match open_io(io, w.raw()) {
                Ok(io) => {
                    let _ = ready_tx.send(Ok(io.name()));
                    io
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let ctx = Ctx {
                engine: Engine::new(seed, config),
                io,
                sockets: Vec::new(),
                stop: false,
            };
            run(ctx, rx, w, c, events, writer)
        })?;
    let io = match ready_rx.recv() {
        Ok(Ok(name)) => name,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(std::io::Error::other("media thread ended while starting")),
    };
    Ok(ThreadHandle {
        tx,
        wake,
        join: std::sync::Mutex::new(Some(join)),
        counters,
        io,
    })
}

fn open_io(mode: IoMode, wake: RawFd) -> std::io::Result<Io> {
    if mode != IoMode::Epoll {
        match Uring::new(wake) {
            Ok(ring) => return Ok(Io::Uring(Box::new(ring))),
            Err(e) if mode == IoMode::Uring => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("io_uring is not available: {e}"),
                ));
            }
            Err(e) => {
                tracing::info!(error = %e, "io_uring is not available; the media thread uses epoll");
            }
        }
    }
    let epoll = Epoll::new()?;
    epoll.add(wake, WAKE)?;
    Ok(Io::Epoll(epoll))
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
    ctx: Ctx,
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
    match ctx.io {
        Io::Epoll(_) => run_epoll(ctx, &rx, &wake, &mut lp),
        Io::Uring(_) => run_uring(ctx, &rx, &wake, &mut lp),
    }
    // Finish recordings still running so their files are closed properly.
    let _ = lp.writer.send(WriterMsg::FinishAll);
}

/// Run queued commands, draining the engine after each.
fn run_jobs(ctx: &mut Ctx, rx: &Receiver<Job>, wake: &EventFd, lp: &mut Loop) {
    wake.drain();
    while let Ok(job) = rx.try_recv() {
        job(ctx);
        lp.drain(ctx);
    }
}

fn tick(ctx: &mut Ctx, now: Instant, next_tick: &mut Instant) {
    if now >= *next_tick {
        ctx.engine.tick(now, unix_now());
        while *next_tick <= now {
            *next_tick += TICK;
        }
    }
}

fn run_epoll(mut ctx: Ctx, rx: &Receiver<Job>, wake: &EventFd, lp: &mut Loop) {
    let mut ready = crate::sys::events(256);
    let mut next_tick = Instant::now();
    while !ctx.stop {
        let now = Instant::now();
        let timeout = next_tick.saturating_duration_since(now);
        let timeout_ms = timeout.as_micros().div_ceil(1000).min(1000) as i32;
        let Io::Epoll(epoll) = &ctx.io else {
            return;
        };
        let n = match epoll.wait(&mut ready, timeout_ms) {
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
                run_jobs(&mut ctx, rx, wake, lp);
                continue;
            }
            let slot = LegSlot((token >> 1) as u32);
            if token & 1 == 1 {
                lp.rtcp_ready(&mut ctx, now, slot);
            } else {
                lp.rtp_ready(&mut ctx, now, slot);
            }
        }
        tick(&mut ctx, now, &mut next_tick);
        lp.drain(&mut ctx);
    }
}

fn ring(ctx: &mut Ctx) -> Option<&mut Uring> {
    match &mut ctx.io {
        Io::Uring(r) => Some(r),
        Io::Epoll(_) => None,
    }
}

fn run_uring(mut ctx: Ctx, rx: &Receiver<Job>, wake: &EventFd, lp: &mut Loop) {
    let mut next_tick = Instant::now();
    while !ctx.stop {
        let timeout = next_tick
            .saturating_duration_since(Instant::now())
            .min(std::time::Duration::from_secs(1));
        let Some(r) = ring(&mut ctx) else {
            return;
        };
        if let Err(e) = r.submit_and_wait(timeout) {
            tracing::error!(error = %e, "io_uring_enter failed; media thread stops");
            break;
        }
        let done = r.take_completions();
        let now = Instant::now();
        let mut commands = false;
        for c in &done {
            match c.kind {
                Kind::Rtp | Kind::Twin => lp.uring_rtp(&mut ctx, now, c),
                Kind::Rtcp => lp.uring_rtcp(&mut ctx, now, c),
                Kind::Wake => {
                    commands = true;
                    if !c.more()
                        && !c.refused()
                        && let Some(r) = ring(&mut ctx)
                    {
                        r.arm_wake();
                    }
                }
                Kind::Send => {
                    if let Some(r) = ring(&mut ctx) {
                        r.send_done(c);
                    }
                    if c.result >= 0 {
                        lp.counters.packets_out.fetch_add(1, Ordering::Relaxed);
                        lp.counters
                            .bytes_out
                            .fetch_add(c.result as u64, Ordering::Relaxed);
                    }
                }
                Kind::Cancel => {}
            }
        }
        if let Some(r) = ring(&mut ctx) {
            r.restore_completions(done);
            r.publish_buffers();
        }
        if commands {
            run_jobs(&mut ctx, rx, wake, lp);
        }
        tick(&mut ctx, now, &mut next_tick);
        lp.drain(&mut ctx);
        // A pass over what arrived takes microseconds; a long one delays every leg of the
        // thread (the call sequence shows it as a late packet), so say so in the log.
        let busy = now.elapsed();
        if busy > std::time::Duration::from_millis(50) {
            tracing::warn!(
                busy_ms = busy.as_millis() as u64,
                "media thread loop pass was slow"
            );
        }
    }
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

    /// A multishot receive completed on a leg's RTP socket.
    fn uring_rtp(&mut self, ctx: &mut Ctx, now: Instant, c: &Completion) {
        let Ctx {
            engine,
            io,
            sockets,
            ..
        } = ctx;
        let Io::Uring(ring) = io else {
            return;
        };
        let current = ring.current(c);
        let slot = LegSlot(c.slot);
        if let Some(bid) = c.buffer() {
            if current && let Some((from, buf, len)) = ring.datagram(bid, c) {
                self.counters.packets_in.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_in
                    .fetch_add(len as u64, Ordering::Relaxed);
                if let Forward::Send {
                    from: out_slot,
                    to,
                    len,
                } = engine.handle_rtp(now, slot, from, buf, len)
                    && let Some(Some(peer)) = sockets.get_mut(out_slot.0 as usize)
                {
                    let (sender, to) = peer.rtp_sender(ring, out_slot.0, to);
                    if ring.send_received(bid, len, sender, to) == Some(true) {
                        self.counters.packets_out.fetch_add(1, Ordering::Relaxed);
                        self.counters
                            .bytes_out
                            .fetch_add(len as u64, Ordering::Relaxed);
                    }
                }
            }
            ring.recycle(bid);
        }
        // A multishot receive ends on errors (an ICMP error surfacing, no free buffer);
        // arm it again while the leg lives. An error that would only repeat (the kernel
        // refusing the request itself) leaves the socket unread rather than spinning.
        let refused = c.refused();
        if refused && current {
            tracing::error!(
                errno = -c.result,
                "io_uring refused a leg's receive; the leg gets no more media (run with --io epoll)"
            );
        }
        if !c.more()
            && current
            && !refused
            && let Some(Some(s)) = sockets.get(slot.0 as usize)
        {
            if c.kind == Kind::Twin {
                if let Some(t) = &s.twin {
                    ring.arm_recv(slot.0, Sock::Twin, t.sock.as_raw_fd());
                }
            } else {
                ring.arm_recv(slot.0, Sock::Rtp, s.rtp.as_raw_fd());
            }
        }
    }

    /// A leg's RTCP socket became readable.
    fn uring_rtcp(&mut self, ctx: &mut Ctx, now: Instant, c: &Completion) {
        let current = ring(ctx).is_some_and(|r| r.current(c));
        if !current {
            return;
        }
        let slot = LegSlot(c.slot);
        self.rtcp_ready(ctx, now, slot);
        if !c.more()
            && !c.refused()
            && let Some(Some(s)) = ctx.sockets.get(slot.0 as usize)
        {
            let fd = s.rtcp.as_raw_fd();
            if let Some(r) = ring(ctx) {
                r.arm_rtcp(slot.0, fd);
            }
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
            let Some(Some(s)) = ctx.sockets.get_mut(t.from.0 as usize) else {
                continue;
            };
            let data = &self.tx_buf[..t.len];
            let sent = match &mut ctx.io {
                Io::Uring(ring) if t.rtcp => {
                    ring.send((t.from.0, Sock::Rtcp, s.rtcp.as_raw_fd()), data, Some(t.to))
                }
                Io::Uring(ring) => {
                    let (sender, to) = s.rtp_sender(ring, t.from.0, t.to);
                    ring.send(sender, data, to)
                }
                Io::Epoll(_) => {
                    let sock = if t.rtcp { &s.rtcp } else { &s.rtp };
                    Some(sock.send_to(data, t.to).is_ok())
                }
            };
            if sent == Some(true) {
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
