//! The few Linux system calls the media threads need and `std` does not offer: epoll, eventfd,
//! recvmmsg and sendmmsg. Every `unsafe` block of the handler is in this module and in
//! [`crate::uring`].
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Size of each packet buffer.
pub const BUF_SIZE: usize = 2048;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A level-triggered epoll instance.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// A new epoll instance.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 has no memory preconditions; the returned descriptor is owned
        // by nobody else, so wrapping it in OwnedFd is sound.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh, valid descriptor that only this OwnedFd will close.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watch `fd` for readability, reporting `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event that outlives the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    /// Stop watching `fd`.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; the event argument is ignored for DEL but must be non-null on
        // old kernels.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
        Ok(())
    }

    /// Wait up to `timeout_ms` for events; returns how many were written to `events`.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        let max = events.len().min(i32::MAX as usize) as i32;
        // SAFETY: `events` is a valid, writable buffer of `max` epoll_event entries.
        let n =
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }
}

/// An eventfd used to wake a media thread when a command is queued.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A new non-blocking eventfd.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: no memory preconditions; the descriptor is fresh and owned here.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh, valid descriptor that only this OwnedFd will close.
        Ok(EventFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The raw descriptor (for epoll).
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Wake the waiter.
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64. A full counter (EAGAIN) still leaves the
        // fd readable, which is all we need, so the result is ignored.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Reset the counter.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a valid u64; EAGAIN (already drained) is fine.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

pub(crate) fn to_sockaddr(
    addr: &SocketAddr,
    storage: &mut libc::sockaddr_storage,
) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
            unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

pub(crate) fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: &libc::sockaddr_in =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: &libc::sockaddr_in6 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Packet buffers and the headers to receive or send up to `N` datagrams in one call.
/// Nothing is allocated after creation.
pub struct Batch {
    bufs: Box<[[u8; BUF_SIZE]]>,
    lens: Box<[usize]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("capacity", &self.bufs.len())
            .finish()
    }
}

// SAFETY: the raw pointers inside `iovs` and `hdrs` only ever point into this struct's own
// boxed arrays and are rebuilt before every system call; moving the struct to another thread
// moves those arrays with it.
unsafe impl Send for Batch {}

impl Batch {
    /// Room for `n` datagrams.
    pub fn new(n: usize) -> Batch {
        // SAFETY: all-zero bytes are a valid value for these plain C structs (null pointers,
        // zero lengths).
        let zero_addr: libc::sockaddr_storage = unsafe { zeroed() };
        let zero_iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        // SAFETY: as above.
        let zero_hdr: libc::mmsghdr = unsafe { zeroed() };
        Batch {
            bufs: vec![[0u8; BUF_SIZE]; n].into_boxed_slice(),
            lens: vec![0; n].into_boxed_slice(),
            addrs: vec![zero_addr; n].into_boxed_slice(),
            iovs: vec![zero_iov; n].into_boxed_slice(),
            hdrs: vec![zero_hdr; n].into_boxed_slice(),
        }
    }

    /// How many datagrams fit.
    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    /// Buffer `i` (the whole buffer; the datagram is its first `len(i)` bytes).
    pub fn buf_mut(&mut self, i: usize) -> &mut [u8; BUF_SIZE] {
        &mut self.bufs[i]
    }

    /// Buffer `i` read-only.
    pub fn buf(&self, i: usize) -> &[u8; BUF_SIZE] {
        &self.bufs[i]
    }

    /// Length of datagram `i`.
    pub fn len(&self, i: usize) -> usize {
        self.lens[i]
    }

    /// Whether the batch has no room at all.
    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// Source address of received datagram `i`.
    pub fn addr(&self, i: usize) -> Option<SocketAddr> {
        from_sockaddr(&self.addrs[i])
    }

    /// Set datagram `i` for sending: its length and destination.
    pub fn set(&mut self, i: usize, len: usize, to: SocketAddr) {
        self.lens[i] = len.min(BUF_SIZE);
        let _ = to_sockaddr(&to, &mut self.addrs[i]);
    }

    fn prepare(&mut self, n: usize, receiving: bool) {
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: if receiving { BUF_SIZE } else { self.lens[i] },
            };
            let addr_len = if receiving {
                size_of::<libc::sockaddr_storage>()
            } else if i32::from(self.addrs[i].ss_family) == libc::AF_INET6 {
                size_of::<libc::sockaddr_in6>()
            } else {
                size_of::<libc::sockaddr_in>()
            };
            // SAFETY: all-zero is a valid msghdr; the fields set below point into this
            // struct's arrays, which outlive the system call that uses them.
            let mut msg: libc::msghdr = unsafe { zeroed() };
            msg.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            msg.msg_namelen = addr_len as libc::socklen_t;
            msg.msg_iov = &mut self.iovs[i];
            msg.msg_iovlen = 1;
            self.hdrs[i] = libc::mmsghdr {
                msg_hdr: msg,
                msg_len: 0,
            };
        }
    }

    /// Receive up to `capacity()` datagrams from non-blocking `fd` without waiting; returns
    /// how many arrived (0 when none).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.recv_up_to(fd, self.bufs.len())
    }

    /// Receive up to `n` datagrams (at most the capacity). With `n == 1` the kernel does not
    /// look for a second datagram, which saves a failed attempt when (as on a leg socket with
    /// one packet per 20 ms) there rarely is one; a level-triggered epoll reports the socket
    /// again if more is queued.
    pub fn recv_up_to(&mut self, fd: RawFd, n: usize) -> io::Result<usize> {
        let n = n.clamp(1, self.bufs.len());
        self.prepare(n, true);
        // SAFETY: `hdrs[..n]` are initialised msghdrs whose buffers and address storage are
        // valid and writable for the sizes given; the timeout pointer may be null.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let r = r as usize;
        for i in 0..r {
            self.lens[i] = self.hdrs[i].msg_len as usize;
        }
        Ok(r)
    }

    /// Receive one datagram into buffer 0 with `recvfrom` (cheaper than a one-message
    /// recvmmsg: no message header to copy in); returns whether one arrived.
    pub fn recv_one(&mut self, fd: RawFd) -> io::Result<bool> {
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: buffer 0 is valid and writable for BUF_SIZE bytes; the address storage is
        // valid and writable for `len` bytes, and `len` is updated by the kernel.
        let r = unsafe {
            libc::recvfrom(
                fd,
                self.bufs[0].as_mut_ptr().cast(),
                BUF_SIZE,
                libc::MSG_DONTWAIT,
                (&mut self.addrs[0] as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(false),
                _ => Err(e),
            };
        }
        self.lens[0] = r as usize;
        Ok(true)
    }

    /// Send the first `len` bytes of buffer `i` to `to` with `sendto`; returns whether the
    /// kernel took it.
    pub fn send_one(&mut self, fd: RawFd, i: usize, len: usize, to: SocketAddr) -> bool {
        let addr_len = to_sockaddr(&to, &mut self.addrs[i]);
        // SAFETY: buffer `i` is valid for `len` (≤ BUF_SIZE) bytes and the address storage
        // holds a sockaddr of `addr_len` bytes.
        let r = unsafe {
            libc::sendto(
                fd,
                self.bufs[i].as_ptr().cast(),
                len.min(BUF_SIZE),
                libc::MSG_DONTWAIT,
                (&self.addrs[i] as *const libc::sockaddr_storage).cast(),
                addr_len,
            )
        };
        r >= 0
    }

    /// Send datagrams `0..n` (set with [`Batch::set`]) from `fd`; returns how many the kernel
    /// took. A datagram the kernel refuses (e.g. ICMP-unreachable feedback) is skipped.
    pub fn send(&mut self, fd: RawFd, n: usize) -> usize {
        let n = n.min(self.bufs.len());
        self.prepare(n, false);
        let mut done = 0;
        while done < n {
            // SAFETY: `hdrs[done..n]` are initialised msghdrs pointing at valid buffers and
            // addresses of the given lengths.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[done..].as_mut_ptr(),
                    (n - done) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r <= 0 {
                // Skip the datagram at the head (its error is per-datagram) and go on.
                done += 1;
                continue;
            }
            done += r as usize;
        }
        n
    }
}

impl Batch {
    /// Send the given received buffers (by index, each with its destination and length) from
    /// `fd` in one sendmmsg call where possible; returns how many were handed to the kernel.
    pub fn send_indexed(&mut self, fd: RawFd, items: &[(usize, SocketAddr, usize)]) -> usize {
        if let [(i, to, len)] = items {
            return usize::from(self.send_one(fd, *i, *len, *to));
        }
        let n = items.len().min(self.bufs.len());
        for (j, &(i, to, len)) in items[..n].iter().enumerate() {
            // The source address of a received datagram is no longer needed: reuse its slot.
            let addr_len = to_sockaddr(&to, &mut self.addrs[i]);
            self.iovs[j] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: len.min(BUF_SIZE),
            };
            // SAFETY: all-zero is a valid msghdr; the pointers set below point into this
            // struct's arrays, which outlive the system call.
            let mut msg: libc::msghdr = unsafe { zeroed() };
            msg.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            msg.msg_namelen = addr_len;
            msg.msg_iov = &mut self.iovs[j];
            msg.msg_iovlen = 1;
            self.hdrs[j] = libc::mmsghdr {
                msg_hdr: msg,
                msg_len: 0,
            };
        }
        let mut done = 0;
        let mut sent = 0;
        while done < n {
            // SAFETY: `hdrs[done..n]` are initialised msghdrs pointing at valid buffers and
            // addresses of the given lengths.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[done..].as_mut_ptr(),
                    (n - done) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r <= 0 {
                done += 1; // skip the datagram the kernel refused and go on
                continue;
            }
            done += r as usize;
            sent += r as usize;
        }
        sent
    }
}

/// Send `data` from `fd` to `to`, or to the socket's peer when `to` is `None`; returns
/// whether the kernel took it.
pub fn send(fd: RawFd, data: &[u8], to: Option<SocketAddr>) -> bool {
    let Some(to) = to else {
        // SAFETY: `data` is valid for its length.
        let r = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_DONTWAIT) };
        return r >= 0;
    };
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let addr_len = to_sockaddr(&to, &mut storage);
    // SAFETY: `data` is valid for its length and the storage holds a sockaddr of
    // `addr_len` bytes.
    let r = unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_DONTWAIT,
            (&storage as *const libc::sockaddr_storage).cast(),
            addr_len,
        )
    };
    r >= 0
}

/// A second socket on `of`'s address and port, for sending to one peer through a connected
/// socket (the kernel then skips the route lookup and the address copy on every send).
///
/// Both sockets are made shareable only while the second one binds, so the port stays
/// exclusive to this process as before. Once the second socket is connected to a peer, the
/// kernel delivers that peer's datagrams to it (an exact match wins the socket lookup) and
/// everything else still to `of`: whoever reads both sees every datagram.
pub fn twin_socket(of: &UdpSocket) -> io::Result<UdpSocket> {
    let local = of.local_addr()?;
    set_int_option(of.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    let made = (|| {
        let family = if local.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: socket has no memory preconditions; the result is checked.
        let fd = cvt(unsafe {
            libc::socket(
                family,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        let sock = unsafe { UdpSocket::from_raw_fd(fd) };
        set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = to_sockaddr(&local, &mut storage);
        // SAFETY: the storage holds a sockaddr of `len` bytes.
        cvt(unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) })?;
        set_int_option(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 0)?;
        Ok(sock)
    })();
    let _ = set_int_option(of.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 0);
    made
}

/// The soft limit on open descriptors (0 if unknown).
pub fn fd_limit() -> u64 {
    // SAFETY: all-zero is a valid rlimit, and getrlimit writes into it.
    let mut r: libc::rlimit = unsafe { zeroed() };
    // SAFETY: passes a pointer to a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 0;
    }
    r.rlim_cur
}

/// Raise the soft limit on open descriptors to the hard limit (every leg holds two sockets,
/// and the common default of 1,024 would cap a handler at a few hundred calls). Returns the
/// limit now in force.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: as in `fd_limit`.
    let mut r: libc::rlimit = unsafe { zeroed() };
    // SAFETY: passes a pointer to a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 0;
    }
    if r.rlim_cur < r.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        // SAFETY: passes a pointer to a valid rlimit; raising the soft limit up to the hard
        // one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    r.rlim_cur
}

/// Set a socket option of type int (e.g. SO_RCVBUF); failures are ignored by callers that
/// treat the option as a hint.
pub fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a valid c_int and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Empty `epoll_event`s for [`Epoll::wait`].
pub fn events(n: usize) -> Vec<libc::epoll_event> {
    vec![libc::epoll_event { events: 0, u64: 0 }; n]
}

/// CPU time (user + system) a process has used, from `/proc/PID/stat`, in seconds.
pub fn process_cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
    let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no memory preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Ok((utime + stime) / ticks)
}
