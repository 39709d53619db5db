//! SIP transports: UDP sockets and TCP connections on real sockets.
//!
//! This is plumbing only: bytes in, bytes out. Every SIP decision is taken by
//! the signalling task ([`crate::signalling`]) and the `sip` crate it drives.
//!
//! - **UDP**: one socket per listen address, each with a receive task that
//!   forwards every datagram as one [`Inbound::Message`].
//! - **TCP**: one listener per listen address; one task per connection reads
//!   into a buffer and frames it with [`sip::check_stream`] (check, then
//!   parse): a complete message is forwarded, an incomplete one waits for more
//!   bytes, a double-CRLF keep-alive is answered with one CRLF, and a stream
//!   that can no longer be framed is answered `400` when a response can be
//!   formed and then closed — only that connection. A second task per
//!   connection writes what the signalling task queues for it.
//! - **Sending** ([`Transports::send`]) happens on the signalling task:
//!   UDP with a non-blocking `try_send_to` (falling back to a spawned send when
//!   the socket buffer is full), TCP through the connection's write queue,
//!   opening a connection first when a request must go to a peer we have none
//!   with.
//!
//! Connection bookkeeping (which connections exist, which peer each one
//! reaches) lives in [`Transports`], owned by the signalling task alone; the
//! connection tasks report openings and closings as [`Inbound`] messages, so
//! no lock is shared.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use sip::{ConnectionId, Flow, Framing, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Listen, Transport as ListenTransport};

/// The largest UDP datagram accepted.
const MAX_DATAGRAM: usize = 65_535;

/// What the transport tasks tell the signalling task.
#[derive(Debug)]
pub enum Inbound {
    /// One SIP message's bytes: a UDP datagram, or one framed TCP message.
    Message {
        /// Where it came from (and, for TCP, on which connection).
        flow: Flow,
        /// The bytes.
        bytes: Bytes,
    },
    /// A TCP connection was accepted or established: send to it through `writer`.
    Opened {
        /// Its number.
        connection: ConnectionId,
        /// The peer.
        remote: SocketAddr,
        /// Its write queue.
        writer: mpsc::UnboundedSender<Bytes>,
    },
    /// A TCP connection closed (or could not be opened).
    Closed {
        /// Its number.
        connection: ConnectionId,
    },
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No socket for that transport or address family.
    #[error("no {0} transport for {1}")]
    NoTransport(&'static str, SocketAddr),
    /// The connection the message must go on is gone.
    #[error("connection {0:?} is closed")]
    ConnectionGone(ConnectionId),
    /// The socket refused it.
    #[error("send failed: {0}")]
    Io(#[from] io::Error),
}

struct Conn {
    remote: SocketAddr,
    writer: mpsc::UnboundedSender<Bytes>,
}

/// The sockets and connections; owned by the signalling task.
pub struct Transports {
    udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    tcp_local: Vec<SocketAddr>,
    conns: HashMap<ConnectionId, Conn>,
    by_remote: HashMap<SocketAddr, ConnectionId>,
    ids: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
    tasks: Vec<JoinHandle<()>>,
}

impl Transports {
    /// Binds every listen address and starts the receive tasks, which
    /// forward to `inbound`. Port 0 binds any free port (see
    /// [`Transports::bound`] for the result).
    pub async fn bind(listen: &[Listen], inbound: mpsc::Sender<Inbound>) -> io::Result<Transports> {
        let ids = Arc::new(AtomicU64::new(1));
        let mut t = Transports {
            udp: Vec::new(),
            tcp_local: Vec::new(),
            conns: HashMap::new(),
            by_remote: HashMap::new(),
            ids: ids.clone(),
            inbound: inbound.clone(),
            tasks: Vec::new(),
        };
        for l in listen {
            match l.transport {
                ListenTransport::Udp => {
                    let sock = Arc::new(UdpSocket::bind(l.addr).await?);
                    let local = sock.local_addr()?;
                    t.tasks
                        .push(tokio::spawn(udp_recv(sock.clone(), local, inbound.clone())));
                    t.udp.push((local, sock));
                }
                ListenTransport::Tcp => {
                    let listener = TcpListener::bind(l.addr).await?;
                    let local = listener.local_addr()?;
                    t.tasks.push(tokio::spawn(tcp_accept(
                        listener,
                        local,
                        ids.clone(),
                        inbound.clone(),
                    )));
                    t.tcp_local.push(local);
                }
            }
        }
        Ok(t)
    }

    /// The addresses actually bound, in listen order (UDP first, then TCP).
    pub fn bound(&self) -> Vec<Listen> {
        let udp = self.udp.iter().map(|(a, _)| Listen {
            transport: ListenTransport::Udp,
            addr: *a,
        });
        let tcp = self.tcp_local.iter().map(|a| Listen {
            transport: ListenTransport::Tcp,
            addr: *a,
        });
        udp.chain(tcp).collect()
    }

    /// Records a connection a connection task opened or accepted.
    pub fn opened(
        &mut self,
        connection: ConnectionId,
        remote: SocketAddr,
        writer: mpsc::UnboundedSender<Bytes>,
    ) {
        self.by_remote.insert(remote, connection);
        self.conns.insert(connection, Conn { remote, writer });
    }

    /// Forgets a closed connection.
    pub fn closed(&mut self, connection: ConnectionId) {
        if let Some(c) = self.conns.remove(&connection)
            && self.by_remote.get(&c.remote) == Some(&connection)
        {
            self.by_remote.remove(&c.remote);
        }
    }

    /// Open TCP connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Sends `payload` where `flow` says (see `sip::transaction::Transmit`).
    pub fn send(&mut self, flow: &Flow, payload: Bytes) -> Result<(), SendError> {
        match flow.transport {
            Transport::Udp => self.send_udp(flow, payload),
            Transport::Tcp => self.send_tcp(flow, payload),
            _ => Err(SendError::NoTransport("such a", flow.remote)),
        }
    }

    fn send_udp(&self, flow: &Flow, payload: Bytes) -> Result<(), SendError> {
        let remote = flow.remote;
        let sock = flow
            .local
            .and_then(|l| self.udp.iter().find(|(a, _)| *a == l))
            .or_else(|| {
                self.udp
                    .iter()
                    .find(|(a, _)| a.is_ipv4() == remote.is_ipv4())
            })
            .map(|(_, s)| s.clone())
            .ok_or(SendError::NoTransport("UDP", remote))?;
        match sock.try_send_to(&payload, remote) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The socket buffer is full: wait for room off the signalling task.
                tokio::spawn(async move {
                    if let Err(e) = sock.send_to(&payload, remote).await {
                        tracing::debug!(%remote, error = %e, "UDP send failed");
                    }
                });
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn send_tcp(&mut self, flow: &Flow, payload: Bytes) -> Result<(), SendError> {
        if let Some(id) = flow.connection {
            let c = self.conns.get(&id).ok_or(SendError::ConnectionGone(id))?;
            return c
                .writer
                .send(payload)
                .map_err(|_| SendError::ConnectionGone(id));
        }
        if let Some(id) = self.by_remote.get(&flow.remote).copied()
            && let Some(c) = self.conns.get(&id)
            && c.writer.send(payload.clone()).is_ok()
        {
            return Ok(());
        }
        // No connection to this peer: open one; the message waits in its queue.
        let id = ConnectionId(self.ids.fetch_add(1, Ordering::Relaxed));
        let (writer, queue) = mpsc::unbounded_channel();
        // Invariant: the receiver `queue` is alive (moved into the task below).
        let _ = writer.send(payload);
        self.opened(id, flow.remote, writer.clone());
        let local = self.tcp_local.first().copied();
        let inbound = self.inbound.clone();
        let remote = flow.remote;
        tokio::spawn(async move {
            match TcpStream::connect(remote).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().ok().or(local);
                    run_connection(stream, id, remote, local, inbound, writer, queue).await;
                }
                Err(e) => {
                    tracing::debug!(%remote, error = %e, "TCP connect failed");
                    let _ = inbound.send(Inbound::Closed { connection: id }).await;
                }
            }
        });
        Ok(())
    }

    /// Stops the receive tasks (at shutdown).
    pub fn shutdown(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.conns.clear();
        self.by_remote.clear();
    }
}

async fn udp_recv(sock: Arc<UdpSocket>, local: SocketAddr, inbound: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let flow = Flow {
                    transport: Transport::Udp,
                    remote: from,
                    local: Some(local),
                    connection: None,
                };
                let msg = Inbound::Message {
                    flow,
                    bytes: Bytes::copy_from_slice(&buf[..n]),
                };
                if inbound.send(msg).await.is_err() {
                    return; // signalling stopped
                }
            }
            // ICMP port unreachable surfaces as ConnectionReset on some systems:
            // it concerns an earlier send, not this socket.
            Err(e) => tracing::debug!(%local, error = %e, "UDP receive error"),
        }
    }
}

async fn tcp_accept(
    listener: TcpListener,
    local: SocketAddr,
    ids: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                let id = ConnectionId(ids.fetch_add(1, Ordering::Relaxed));
                let (writer, queue) = mpsc::unbounded_channel();
                let opened = Inbound::Opened {
                    connection: id,
                    remote,
                    writer: writer.clone(),
                };
                if inbound.send(opened).await.is_err() {
                    return;
                }
                tokio::spawn(run_connection(
                    stream,
                    id,
                    remote,
                    Some(local),
                    inbound.clone(),
                    writer,
                    queue,
                ));
            }
            Err(e) => {
                // Out of descriptors and the like: keep accepting the next ones.
                tracing::warn!(%local, error = %e, "TCP accept failed");
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Reads and frames one connection until it closes or breaks; writes what is
/// queued for it. Reports `Opened` (for outbound connections, once connected)
/// and always `Closed` at the end.
async fn run_connection(
    stream: TcpStream,
    id: ConnectionId,
    remote: SocketAddr,
    local: Option<SocketAddr>,
    inbound: mpsc::Sender<Inbound>,
    writer: mpsc::UnboundedSender<Bytes>,
    mut queue: mpsc::UnboundedReceiver<Bytes>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let write_task = tokio::spawn(async move {
        while let Some(b) = queue.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    // Outbound connections register again with their real writer state; an
    // accepted one was registered by the acceptor. Either way this is harmless.
    let _ = inbound
        .send(Inbound::Opened {
            connection: id,
            remote,
            writer: writer.clone(),
        })
        .await;
    let flow = Flow {
        transport: Transport::Tcp,
        remote,
        local,
        connection: Some(id),
    };
    let mut buf = BytesMut::with_capacity(8192);
    'read: loop {
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            match sip::check_stream(&buf) {
                Framing::Complete(n) => {
                    let bytes = buf.split_to(n).freeze();
                    if inbound
                        .send(Inbound::Message { flow, bytes })
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                Framing::Incomplete => break,
                Framing::KeepAlive(n) => {
                    let _ = buf.split_to(n);
                    if n >= 4 {
                        let _ = writer.send(Bytes::from_static(b"\r\n"));
                    }
                }
                Framing::Invalid(err) => {
                    tracing::debug!(%remote, error = %err, "unframeable TCP stream; closing the connection");
                    if let Some(resp) = sip::reject::error_response(&buf, &err) {
                        let _ = writer.send(resp.to_bytes());
                    }
                    break 'read;
                }
            }
        }
    }
    drop(writer);
    let _ = inbound.send(Inbound::Closed { connection: id }).await;
    // The signalling task drops its writer on `Closed`; the write task then
    // flushes what is queued (e.g. the 400) and shuts the socket down.
    let _ = write_task.await;
}
