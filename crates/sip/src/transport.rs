//! Transport names and flows: the only place where the stack talks about the network, and
//! only as data. The driver owns the sockets; it tells the stack which [`Flow`] a message came
//! on, and the stack tells the driver which flow each outgoing message goes to.

use std::fmt;
use std::net::SocketAddr;

/// A SIP transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP: unreliable, so the transaction layer retransmits.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SCTP.
    Sctp,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket.
    Wss,
    /// A transport this stack does not know.
    Other,
}

impl Transport {
    /// Parses a transport name as it appears in Via or a `transport=` parameter
    /// (case-insensitive).
    pub fn from_name(s: &str) -> Transport {
        let known = [
            ("UDP", Transport::Udp),
            ("TCP", Transport::Tcp),
            ("TLS", Transport::Tls),
            ("SCTP", Transport::Sctp),
            ("WS", Transport::Ws),
            ("WSS", Transport::Wss),
        ];
        known
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map_or(Transport::Other, |(_, t)| *t)
    }

    /// The upper-case name used in Via headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other => "UNKNOWN",
        }
    }

    /// Whether the transport delivers reliably (everything but UDP). Retransmission timers
    /// run only over unreliable transports.
    pub fn is_reliable(self) -> bool {
        self != Transport::Udp
    }

    /// Whether the transport is a byte stream that needs Content-Length framing.
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// The default port: 5061 for TLS (and WSS by convention here), 5060 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls | Transport::Wss => 5061,
            _ => 5060,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection the driver owns (a TCP or TLS stream), named by a number the driver chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Where a message came from or goes to.
///
/// For input, the driver fills in everything it knows. For output, `connection` is set when
/// the message must go back on the connection a request arrived on (responses over TCP); the
/// driver may otherwise reuse or open any connection to `remote`. `local` is the address the
/// message arrived at, when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The transport protocol.
    pub transport: Transport,
    /// The peer's address (packet source for input, destination for output).
    pub remote: SocketAddr,
    /// Our address, when known.
    pub local: Option<SocketAddr>,
    /// The stream connection, for stream transports.
    pub connection: Option<ConnectionId>,
}

impl Flow {
    /// A flow to `remote` over `transport`, with no particular local address or connection.
    pub fn new(transport: Transport, remote: SocketAddr) -> Flow {
        Flow {
            transport,
            remote,
            local: None,
            connection: None,
        }
    }

    /// A UDP flow.
    pub fn udp(remote: SocketAddr) -> Flow {
        Flow::new(Transport::Udp, remote)
    }

    /// A TCP flow on a given connection.
    pub fn tcp(remote: SocketAddr, connection: ConnectionId) -> Flow {
        Flow {
            transport: Transport::Tcp,
            remote,
            local: None,
            connection: Some(connection),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_udp_is_unreliable() {
        for t in [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Sctp,
            Transport::Ws,
            Transport::Wss,
        ] {
            assert_eq!(Transport::from_name(t.as_str()), t);
            assert_eq!(t.is_reliable(), t != Transport::Udp);
        }
        assert_eq!(Transport::from_name("udp"), Transport::Udp);
        assert_eq!(Transport::from_name("UNKNOWN"), Transport::Other);
        assert_eq!(Transport::Tls.default_port(), 5061);
    }
}
