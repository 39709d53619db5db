//! The io_uring back end of a media thread: one ring per thread, a multishot `recvmsg` armed on
//! every leg's RTP socket with packets landing in a ring of provided buffers, and relayed or
//! generated packets queued as `send` requests. One `io_uring_enter` per loop iteration then
//! submits every queued send and collects every arrived packet of every leg, where the epoll
//! back end makes one `recvfrom` and one `sendto` system call per packet.
//!
//! With `DEFER_TASKRUN` the kernel performs the receives in the media thread itself, when it
//! enters the ring to wait, so they are batched and charged to the thread that uses them.
//! RTCP sockets (a packet every few seconds) and the command eventfd are watched with
//! multishot polls and read with ordinary system calls.
//!
//! Every request carries a key: what it is, the leg slot, and the slot's generation. A slot
//! reused by a new leg gets a new generation, so completions still in flight for the old
//! leg are recognised and dropped (their buffers go back to the ring).
//!
//! Needs Linux 6.1 (multishot recvmsg, provided buffer rings, deferred task running); on
//! older kernels, or where io_uring is disabled (`kernel.io_uring_disabled`, container
//! seccomp profiles), [`Uring::new`] fails and the thread uses epoll.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::{IoUring, opcode, squeue, types};

use crate::sys::{BUF_SIZE, from_sockaddr, to_sockaddr};

/// Receive buffers in the provided-buffer ring (a power of two).
const RECV_BUFS: u16 = 4096;
/// Room for the source address in a receive buffer (a `sockaddr_in6`).
const NAME_LEN: usize = size_of::<libc::sockaddr_in6>();
/// What the kernel writes before the address: `struct io_uring_recvmsg_out`.
const OUT_HEADER: usize = 16;
/// Where the datagram starts in a receive buffer.
const PAYLOAD_AT: usize = OUT_HEADER + NAME_LEN;
/// One receive buffer: header, address, and a datagram of up to `BUF_SIZE` bytes.
const RECV_BUF_SIZE: usize = (PAYLOAD_AT + BUF_SIZE).next_multiple_of(64);
/// Send buffers; when all are in flight a packet is sent with a plain `sendto`.
const SEND_SLOTS: usize = 4096;
/// Submission queue entries.
const SQ_ENTRIES: u32 = 2048;
/// Completion queue entries (room for every receive buffer and send slot at once).
const CQ_ENTRIES: u32 = 16384;
/// The buffer group of the receive buffers.
const BGID: u16 = 0;

/// What a request is for (the low 4 bits of its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A leg's RTP socket: multishot recvmsg.
    Rtp,
    /// A leg's RTCP socket: multishot poll.
    Rtcp,
    /// A leg's connected sending socket (see [`crate::sys::twin_socket`]): multishot recvmsg.
    Twin,
    /// The command eventfd: multishot poll.
    Wake,
    /// A queued send; the slot field is the send buffer.
    Send,
    /// A cancellation (its completion carries nothing).
    Cancel,
}

impl Kind {
    fn bits(self) -> u64 {
        match self {
            Kind::Rtp => 1,
            Kind::Rtcp => 2,
            Kind::Wake => 3,
            Kind::Send => 4,
            Kind::Cancel => 5,
            Kind::Twin => 6,
        }
    }

    fn from_bits(b: u64) -> Option<Kind> {
        Some(match b {
            1 => Kind::Rtp,
            2 => Kind::Rtcp,
            3 => Kind::Wake,
            4 => Kind::Send,
            5 => Kind::Cancel,
            6 => Kind::Twin,
            _ => return None,
        })
    }
}

fn key(kind: Kind, slot: u32, generation: u32) -> u64 {
    kind.bits() | (u64::from(slot) << 4) | (u64::from(generation & 0x0fff_ffff) << 36)
}

/// A completion, decoded.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    /// What the request was for.
    pub kind: Kind,
    /// Leg slot (or send buffer).
    pub slot: u32,
    generation: u32,
    /// The result: a length, or a negated errno.
    pub result: i32,
    flags: u32,
}

impl Completion {
    /// Whether the multishot request that produced this is still armed.
    pub fn more(&self) -> bool {
        io_uring::cqueue::more(self.flags)
    }

    /// Whether the kernel refused the request itself (arming it again would fail the same
    /// way), as opposed to an error of the moment (an ICMP error, no free buffer).
    pub fn refused(&self) -> bool {
        matches!(
            -self.result,
            libc::EINVAL | libc::EOPNOTSUPP | libc::EBADF | libc::ENOTSOCK | libc::EFAULT
        )
    }

    /// The receive buffer this completion filled, if any.
    pub fn buffer(&self) -> Option<u16> {
        io_uring::cqueue::buffer_select(self.flags)
    }
}

/// The page-aligned ring of provided-buffer descriptors and the buffers themselves.
struct BufRing {
    ring: *mut types::BufRingEntry,
    ring_bytes: usize,
    mem: Box<[u8]>,
    tail: u16,
}

impl BufRing {
    fn new() -> io::Result<BufRing> {
        let ring_bytes = usize::from(RECV_BUFS) * size_of::<types::BufRingEntry>();
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(BufRing {
            ring: p.cast(),
            ring_bytes,
            mem: vec![0u8; usize::from(RECV_BUFS) * RECV_BUF_SIZE].into_boxed_slice(),
            tail: 0,
        })
    }

    /// Hand buffer `bid` to the kernel (visible after [`BufRing::publish`]).
    fn give(&mut self, bid: u16) {
        let i = usize::from(self.tail & (RECV_BUFS - 1));
        let addr = self.mem[usize::from(bid) * RECV_BUF_SIZE..].as_ptr() as u64;
        // SAFETY: `i` < RECV_BUFS, inside the mapping; the kernel only reads entries between
        // its head and the published tail, and this one is past the tail until `publish`.
        let e = unsafe { &mut *self.ring.add(i) };
        e.set_addr(addr);
        e.set_len(RECV_BUF_SIZE as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lies in the first entry of the live mapping, is 2-byte
        // aligned, and the kernel reads it atomically; a release store orders the entries
        // written by `give` before it.
        unsafe {
            let tail = types::BufRingEntry::tail(self.ring).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    fn buf_mut(&mut self, bid: u16) -> &mut [u8] {
        let at = usize::from(bid) * RECV_BUF_SIZE;
        &mut self.mem[at..at + RECV_BUF_SIZE]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; the ring that used it is dropped
        // first (field order in `Uring`).
        unsafe { libc::munmap(self.ring.cast(), self.ring_bytes) };
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        // End every request before the buffers they write to are freed: cancel them all and
        // reap completions until the ring is quiet.
        let e = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(key(Kind::Cancel, 0, 0));
        self.push(e);
        for _ in 0..100 {
            if self.submit_and_wait(Duration::from_millis(10)).is_err() || self.cqes.is_empty() {
                break;
            }
        }
    }
}

/// Send buffers with their destination addresses; nothing allocated after creation.
struct SendSlots {
    bufs: Box<[[u8; BUF_SIZE]]>,
    addrs: Box<[libc::sockaddr_storage]>,
    free: Vec<u16>,
}

/// One of a leg's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sock {
    /// The RTP socket.
    Rtp,
    /// The RTCP socket.
    Rtcp,
    /// The RTP port's second socket, connected to the peer RTP is sent to.
    Twin,
}

/// Registered-file entries per leg slot (one per [`Sock`]).
const FILES_PER_LEG: u32 = 3;

/// What the ring knows of the leg in a slot.
#[derive(Debug, Clone, Copy, Default)]
struct LegIo {
    generation: u32,
    /// Whether the RTP and RTCP sockets are in the registered file table (at
    /// `FILES_PER_LEG * slot` and the next entry), which spares the kernel a descriptor lookup
    /// per request.
    fixed: bool,
    /// Whether the twin is in the table (the entry after those).
    twin_fixed: bool,
}

impl SendSlots {
    /// Copy `data` into a free send buffer; `None` when every buffer is in flight.
    fn stage(&mut self, data: &[u8]) -> Option<u16> {
        let i = self.free.pop()?;
        self.bufs[usize::from(i)][..data.len()].copy_from_slice(data);
        Some(i)
    }
}

/// A media thread's ring.
pub struct Uring {
    // Dropped first: closing the ring ends every request before the memory they use goes.
    ring: IoUring,
    bufs: BufRing,
    sends: SendSlots,
    msghdr: Box<libc::msghdr>,
    legs: Vec<LegIo>,
    /// Size of the registered file table (0: none, descriptors are used as they are).
    files: u32,
    wake_fd: RawFd,
    cqes: Vec<Completion>,
}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("free_send_slots", &self.sends.free.len())
            .finish_non_exhaustive()
    }
}

// SAFETY: the raw pointers (buffer ring mapping, msghdr) point into memory owned by this
// struct; the ring is only used from the thread that owns the struct.
unsafe impl Send for Uring {}

impl Uring {
    /// A ring with its receive buffers registered and `wake_fd` watched.
    pub fn new(wake_fd: RawFd) -> io::Result<Uring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)?;
        let mut bufs = BufRing::new()?;
        // SAFETY: the mapping holds RECV_BUFS entries and lives as long as the ring.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(bufs.ring as u64, RECV_BUFS, BGID, 0)?;
        }
        for bid in 0..RECV_BUFS {
            bufs.give(bid);
        }
        // A registered file table, as large as the descriptor limit allows.
        let files = crate::sys::fd_limit().clamp(0, 3 << 15) as u32;
        let files = files - files % FILES_PER_LEG;
        let files = if files > 0 && ring.submitter().register_files_sparse(files).is_ok() {
            files
        } else {
            0
        };
        bufs.publish();
        // SAFETY: all-zero is a valid msghdr; only the name length matters to a multishot
        // recvmsg (where to put the address is decided per buffer).
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { zeroed() });
        msghdr.msg_namelen = NAME_LEN as libc::socklen_t;
        // SAFETY: as above for sockaddr_storage.
        let zero_addr: libc::sockaddr_storage = unsafe { zeroed() };
        let mut u = Uring {
            ring,
            bufs,
            sends: SendSlots {
                bufs: vec![[0u8; BUF_SIZE]; SEND_SLOTS].into_boxed_slice(),
                addrs: vec![zero_addr; SEND_SLOTS].into_boxed_slice(),
                free: (0..SEND_SLOTS as u16).rev().collect(),
            },
            msghdr,
            legs: Vec::new(),
            files,
            wake_fd,
            cqes: Vec::with_capacity(CQ_ENTRIES as usize),
        };
        u.arm_wake();
        u.ring.submit()?;
        Ok(u)
    }

    fn push(&mut self, e: squeue::Entry) {
        // SAFETY (for every entry built here): buffers, addresses and the msghdr an entry
        // points to are owned by `self` and outlive the request (send buffers are not reused
        // before their completion; the ring is dropped before the memory).
        while unsafe { self.ring.submission().push(&e) }.is_err() {
            // Full: hand the queued entries to the kernel and retry.
            if self.ring.submit().is_err() {
                break;
            }
        }
    }

    /// Arm the poll on the command eventfd (again, after a completion without "more").
    pub fn arm_wake(&mut self) {
        let e = opcode::PollAdd::new(types::Fd(self.wake_fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(key(Kind::Wake, 0, 0));
        self.push(e);
    }

    fn leg(&self, slot: u32) -> LegIo {
        self.legs.get(slot as usize).copied().unwrap_or_default()
    }

    fn generation(&self, slot: u32) -> u32 {
        self.leg(slot).generation & 0x0fff_ffff
    }

    /// Whether a completion belongs to the leg now in its slot.
    pub fn current(&self, c: &Completion) -> bool {
        c.generation == self.generation(c.slot)
    }

    /// The registered-file index of a leg's socket, if it has one.
    fn fixed(&self, slot: u32, sock: Sock) -> Option<types::Fixed> {
        let leg = self.leg(slot);
        let (registered, i) = match sock {
            Sock::Rtp => (leg.fixed, 0),
            Sock::Rtcp => (leg.fixed, 1),
            Sock::Twin => (leg.twin_fixed, 2),
        };
        registered.then(|| types::Fixed(FILES_PER_LEG * slot + i))
    }

    fn fits(&self, slot: u32) -> bool {
        u64::from(FILES_PER_LEG) * (u64::from(slot) + 1) <= u64::from(self.files)
    }

    /// Arm the receive on a leg's RTP socket or its twin.
    pub fn arm_recv(&mut self, slot: u32, sock: Sock, fd: RawFd) {
        let e = match self.fixed(slot, sock) {
            Some(f) => opcode::RecvMsgMulti::new(f, &*self.msghdr, BGID).build(),
            None => opcode::RecvMsgMulti::new(types::Fd(fd), &*self.msghdr, BGID).build(),
        };
        let kind = if sock == Sock::Twin {
            Kind::Twin
        } else {
            Kind::Rtp
        };
        self.push(e.user_data(key(kind, slot, self.generation(slot))));
    }

    /// Arm the readiness poll on a leg's RTCP socket.
    pub fn arm_rtcp(&mut self, slot: u32, fd: RawFd) {
        let mask = libc::POLLIN as u32;
        let e = match self.fixed(slot, Sock::Rtcp) {
            Some(f) => opcode::PollAdd::new(f, mask).multi(true).build(),
            None => opcode::PollAdd::new(types::Fd(fd), mask)
                .multi(true)
                .build(),
        };
        self.push(e.user_data(key(Kind::Rtcp, slot, self.generation(slot))));
    }

    /// Start watching a new leg's sockets.
    pub fn attach(&mut self, slot: u32, rtp: RawFd, rtcp: RawFd) -> io::Result<()> {
        let i = slot as usize;
        if self.legs.len() <= i {
            self.legs.resize(i + 1, LegIo::default());
        }
        let fixed = self.fits(slot)
            && self
                .ring
                .submitter()
                .register_files_update(FILES_PER_LEG * slot, &[rtp, rtcp])
                .is_ok();
        let leg = &mut self.legs[i];
        leg.generation = leg.generation.wrapping_add(1);
        leg.fixed = fixed;
        leg.twin_fixed = false;
        self.arm_recv(slot, Sock::Rtp, rtp);
        self.arm_rtcp(slot, rtcp);
        self.ring.submit()?;
        Ok(())
    }

    /// Start receiving on a leg's new twin socket.
    pub fn attach_twin(&mut self, slot: u32, twin: RawFd) -> io::Result<()> {
        let fixed = self.fits(slot)
            && self
                .ring
                .submitter()
                .register_files_update(FILES_PER_LEG * slot + 2, &[twin])
                .is_ok();
        if let Some(leg) = self.legs.get_mut(slot as usize) {
            leg.twin_fixed = fixed;
        }
        self.arm_recv(slot, Sock::Twin, twin);
        self.ring.submit()?;
        Ok(())
    }

    /// Stop watching a leg's sockets. Every request on them is cancelled and they leave the
    /// file table at once, so the kernel lets go of them (and their ports) when the caller
    /// closes them.
    pub fn detach(&mut self, slot: u32, rtp: RawFd, rtcp: RawFd, twin: Option<RawFd>) {
        let generation = self.generation(slot);
        let socks = [
            (Some(rtp), Sock::Rtp),
            (Some(rtcp), Sock::Rtcp),
            (twin, Sock::Twin),
        ];
        for (fd, sock) in socks.into_iter().filter_map(|(fd, s)| Some((fd?, s))) {
            let which = match self.fixed(slot, sock) {
                Some(f) => types::CancelBuilder::fd(f),
                None => types::CancelBuilder::fd(types::Fd(fd)),
            };
            let e = opcode::AsyncCancel2::new(which.all())
                .build()
                .user_data(key(Kind::Cancel, slot, generation));
            self.push(e);
        }
        let _ = self.ring.submit();
        if let Some(leg) = self.legs.get_mut(slot as usize) {
            if leg.fixed || leg.twin_fixed {
                let _ = self
                    .ring
                    .submitter()
                    .register_files_update(FILES_PER_LEG * slot, &[-1, -1, -1]);
            }
            leg.generation = leg.generation.wrapping_add(1);
            leg.fixed = false;
            leg.twin_fixed = false;
        }
    }

    /// Submit what is queued and wait up to `timeout` for at least one completion; then
    /// collect every completion into [`Uring::completions`].
    pub fn submit_and_wait(&mut self, timeout: Duration) -> io::Result<()> {
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        self.cqes.clear();
        for c in self.ring.completion() {
            let ud = c.user_data();
            let Some(kind) = Kind::from_bits(ud & 0xf) else {
                continue;
            };
            self.cqes.push(Completion {
                kind,
                slot: ((ud >> 4) & 0xffff_ffff) as u32,
                generation: (ud >> 36) as u32,
                result: c.result(),
                flags: c.flags(),
            });
        }
        Ok(())
    }

    /// The completions collected by the last wait (taken; give the vector back with
    /// [`Uring::restore_completions`] to keep its allocation).
    pub fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.cqes)
    }

    /// Give back the vector taken with [`Uring::take_completions`].
    pub fn restore_completions(&mut self, mut v: Vec<Completion>) {
        v.clear();
        self.cqes = v;
    }

    /// The datagram in receive buffer `bid` as filled for completion `c`: its source
    /// address and the whole payload area (the datagram is its first `len` bytes; the rest
    /// is room for a longer transcoded payload). `None` when truncated or unreadable.
    pub fn datagram(&mut self, bid: u16, c: &Completion) -> Option<(SocketAddr, &mut [u8], usize)> {
        if c.result < 0 || (c.result as usize) < PAYLOAD_AT {
            return None;
        }
        let buf = self.bufs.buf_mut(bid);
        let namelen = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        let payloadlen = u32::from_ne_bytes(buf[8..12].try_into().ok()?) as usize;
        let flags = u32::from_ne_bytes(buf[12..16].try_into().ok()?);
        if flags & libc::MSG_TRUNC as u32 != 0 || payloadlen > BUF_SIZE {
            return None;
        }
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let n = namelen.min(NAME_LEN);
        // SAFETY: copies `n` ≤ NAME_LEN bytes from the buffer's address field into the
        // storage, which is larger; the two do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                buf[OUT_HEADER..].as_ptr(),
                (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
                n,
            );
        }
        let from = from_sockaddr(&storage)?;
        Some((from, &mut buf[PAYLOAD_AT..], payloadlen))
    }

    /// Give receive buffer `bid` back to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        self.bufs.give(bid);
    }

    /// Make recycled buffers visible to the kernel (once per batch).
    pub fn publish_buffers(&mut self) {
        self.bufs.publish();
    }

    /// Queue `data` to be sent from one of a leg's sockets (`fd`, socket `sock` of `slot`) to
    /// `to`, or to its peer when `to` is `None` (a connected socket). `None`: queued (its
    /// completion counts it); `Some(sent)`: every send buffer was in flight, so it went out
    /// at once with a system call.
    pub fn send(
        &mut self,
        from: (u32, Sock, RawFd),
        data: &[u8],
        to: Option<SocketAddr>,
    ) -> Option<bool> {
        let data = &data[..data.len().min(BUF_SIZE)];
        match self.sends.stage(data) {
            Some(i) => {
                self.queue_send(i, from, data.len(), to);
                None
            }
            None => Some(crate::sys::send(from.2, data, to)),
        }
    }

    /// Queue the first `len` bytes of the datagram in receive buffer `bid` (as rewritten in
    /// place); otherwise as [`Uring::send`].
    pub fn send_received(
        &mut self,
        bid: u16,
        len: usize,
        from: (u32, Sock, RawFd),
        to: Option<SocketAddr>,
    ) -> Option<bool> {
        let at = usize::from(bid) * RECV_BUF_SIZE + PAYLOAD_AT;
        let data = at..at + len.min(BUF_SIZE);
        match self.sends.stage(&self.bufs.mem[data.clone()]) {
            Some(i) => {
                self.queue_send(i, from, data.len(), to);
                None
            }
            None => Some(crate::sys::send(from.2, &self.bufs.mem[data], to)),
        }
    }

    fn queue_send(
        &mut self,
        i: u16,
        (slot, sock, fd): (u32, Sock, RawFd),
        len: usize,
        to: Option<SocketAddr>,
    ) {
        let s = usize::from(i);
        let buf = self.sends.bufs[s].as_ptr();
        let mut e = match self.fixed(slot, sock) {
            Some(f) => opcode::Send::new(f, buf, len as u32),
            None => opcode::Send::new(types::Fd(fd), buf, len as u32),
        };
        if let Some(to) = to {
            let addr_len = to_sockaddr(&to, &mut self.sends.addrs[s]);
            e = e
                .dest_addr((&self.sends.addrs[s] as *const libc::sockaddr_storage).cast())
                .dest_addr_len(addr_len);
        }
        self.push(e.build().user_data(key(Kind::Send, u32::from(i), 0)));
    }

    /// A send completed: its buffer is free again.
    pub fn send_done(&mut self, c: &Completion) {
        if let Ok(i) = u16::try_from(c.slot)
            && usize::from(i) < SEND_SLOTS
        {
            self.sends.free.push(i);
        }
    }
}
