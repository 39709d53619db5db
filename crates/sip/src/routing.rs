//! Where messages go: stamping `received`/`rport` on arriving requests (RFC 3261 §18.2.1,
//! RFC 3581), choosing where a response is sent (§18.2.2 with RFC 3581), and choosing the next
//! hop of a request (Route set or Request-URI, §8.1.2 and §16.12).
//!
//! These are pure functions the driver (or [`crate::endpoint::Endpoint`]) calls; name
//! resolution is the driver's business, so a destination that is a domain name comes back as
//! [`Destination::Resolve`].

use std::net::SocketAddr;

use crate::error::Error;
use crate::grammar::Host;
use crate::message::{Request, Response};
use crate::transport::{Flow, Transport};
use crate::uri::{Scheme, Uri};

/// Adds `received` (when the source address differs from the Via sent-by, or `rport` was
/// asked for) and fills in `rport` (when present without value) on the top Via of an
/// arriving request.
pub fn stamp_received(req: &mut Request, source: SocketAddr) -> Result<(), Error> {
    let via = req.headers().top_via()?;
    let ip = source.ip();
    let wants_rport = matches!(via.rport(), Some(None));
    let sent_by_is_source = via.host().ip() == Some(ip);
    if sent_by_is_source && !wants_rport {
        return Ok(());
    }
    // `received` holds a bare address (RFC 3261 §25.1: IPv6 without brackets).
    let mut new = via.with_param("received", Some(&ip.to_string()));
    if wants_rport {
        new = new.with_param("rport", Some(&source.port().to_string()));
    }
    req.headers_mut().set_top_via(&new)
}

/// A destination: an address, or a name the driver must resolve (RFC 3263; plain A/AAAA
/// lookup with the given port is enough for most deployments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Send here.
    Addr(SocketAddr),
    /// Resolve `host`, then send to `port` with `transport`.
    Resolve {
        /// Host name.
        host: String,
        /// Port (the default port when the URI had none).
        port: u16,
    },
}

/// Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4), given the flow its request came on.
///
/// Reliable transports answer on the same connection (`flow.connection`). Over UDP: `maddr`
/// if present; else the `received` address with the `rport` port (or sent-by port); else the
/// sent-by host and port.
pub fn response_flow(resp: &Response, request_flow: &Flow) -> Result<(Flow, Destination), Error> {
    let via = resp.headers().top_via()?;
    let transport = request_flow.transport;
    if transport.is_reliable() && request_flow.connection.is_some() {
        return Ok((*request_flow, Destination::Addr(request_flow.remote)));
    }
    let port = via
        .rport()
        .flatten()
        .unwrap_or_else(|| via.port_or_default());
    let dest = if let Some(maddr) = via.maddr() {
        host_dest(
            &Host::parse(maddr).map_err(|e| Error::header("Via", e))?,
            via.port_or_default(),
        )
    } else if let Some(ip) = via.received_ip() {
        Destination::Addr(SocketAddr::new(ip, port))
    } else if via.rport().flatten().is_some() {
        Destination::Addr(SocketAddr::new(request_flow.remote.ip(), port))
    } else {
        host_dest(via.host(), port)
    };
    let mut flow = *request_flow;
    flow.connection = None;
    if let Destination::Addr(a) = dest {
        flow.remote = a;
    }
    Ok((flow, dest))
}

fn host_dest(host: &Host, port: u16) -> Destination {
    match host.ip() {
        Some(ip) => Destination::Addr(SocketAddr::new(ip, port)),
        None => Destination::Resolve {
            host: host.to_string(),
            port,
        },
    }
}

/// The next hop of a request: transport and destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextHop {
    /// The transport to use.
    pub transport: Transport,
    /// Where to send.
    pub destination: Destination,
}

/// The next hop for a URI (RFC 3263 simplified): `maddr` or host, explicit port or the
/// transport's default, transport from the `transport` parameter (`sips:` means TLS, otherwise
/// UDP by default).
pub fn uri_next_hop(uri: &Uri) -> Result<NextHop, Error> {
    let host = uri.host().ok_or_else(|| Error::InvalidValue {
        what: "next hop",
        reason: format!("{} is not a SIP URI", uri.scheme()),
    })?;
    let transport = match (uri.scheme(), uri.transport()) {
        (Scheme::Sips, _) => Transport::Tls,
        (_, Some(t)) if t != Transport::Other => t,
        _ => Transport::Udp,
    };
    let port = uri.port().unwrap_or_else(|| transport.default_port());
    let host = match uri.maddr() {
        Some(m) => Host::parse(m).map_err(|reason| Error::InvalidValue {
            what: "maddr",
            reason,
        })?,
        None => host.clone(),
    };
    Ok(NextHop {
        transport,
        destination: host_dest(&host, port),
    })
}

/// The next hop of a request: the first Route if any (RFC 3261 §8.1.2), else the
/// Request-URI.
pub fn request_next_hop(req: &Request) -> Result<NextHop, Error> {
    match req.headers().routes()?.first() {
        Some(route) => uri_next_hop(route.uri()),
        None => uri_next_hop(req.uri()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{RequestBuilder, response_to};
    use crate::header::HeaderName;
    use crate::message::{Method, StatusCode};
    use crate::transport::ConnectionId;
    use crate::typed::{NameAddr, Via};

    fn req(via: &str) -> Request {
        RequestBuilder::new(Method::Options, Uri::parse("sip:pbx.example.com").unwrap())
            .via(&Via::parse(via).unwrap())
            .from(&NameAddr::parse("<sip:a@example.com>;tag=1").unwrap())
            .to(&NameAddr::parse("<sip:pbx.example.com>").unwrap())
            .call_id("x@y")
            .cseq(1)
            .build()
            .unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rport_is_filled_and_received_added_behind_nat() {
        let mut r = req("SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK1");
        stamp_received(&mut r, addr("203.0.113.7:40123")).unwrap();
        let v = r.headers().top_via().unwrap();
        assert_eq!(v.received(), Some("203.0.113.7"));
        assert_eq!(v.rport(), Some(Some(40123)));
        let resp = response_to(&r, StatusCode::OK, Some("t"));
        let (flow, dest) = response_flow(&resp, &Flow::udp(addr("203.0.113.7:40123"))).unwrap();
        assert_eq!(dest, Destination::Addr(addr("203.0.113.7:40123")));
        assert_eq!(flow.remote, addr("203.0.113.7:40123"));
    }

    #[test]
    fn without_rport_the_response_goes_to_received_and_the_via_port() {
        let mut r = req("SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK1");
        stamp_received(&mut r, addr("203.0.113.7:40123")).unwrap();
        let v = r.headers().top_via().unwrap();
        assert_eq!((v.received(), v.rport()), (Some("203.0.113.7"), None));
        let resp = response_to(&r, StatusCode::OK, Some("t"));
        let (_, dest) = response_flow(&resp, &Flow::udp(addr("203.0.113.7:40123"))).unwrap();
        assert_eq!(dest, Destination::Addr(addr("203.0.113.7:5070")));
    }

    #[test]
    fn matching_source_adds_nothing() {
        let mut r = req("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1");
        let before = r.clone();
        stamp_received(&mut r, addr("192.0.2.1:5060")).unwrap();
        assert_eq!(r, before);
        let resp = response_to(&r, StatusCode::OK, Some("t"));
        let (_, dest) = response_flow(&resp, &Flow::udp(addr("192.0.2.1:5060"))).unwrap();
        assert_eq!(dest, Destination::Addr(addr("192.0.2.1:5060")));
    }

    #[test]
    fn ipv6_sources_are_written_without_brackets_in_received() {
        let mut r = req("SIP/2.0/UDP [2001:db8::5];rport;branch=z9hG4bK1");
        stamp_received(&mut r, addr("[2001:db8::9]:5062")).unwrap();
        let v = r.headers().top_via().unwrap();
        assert_eq!(v.received(), Some("2001:db8::9"));
        let resp = response_to(&r, StatusCode::OK, Some("t"));
        let (_, dest) = response_flow(&resp, &Flow::udp(addr("[2001:db8::9]:5062"))).unwrap();
        assert_eq!(dest, Destination::Addr(addr("[2001:db8::9]:5062")));
    }

    #[test]
    fn tcp_responses_reuse_the_connection() {
        let r = req("SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bK1");
        let resp = response_to(&r, StatusCode::OK, Some("t"));
        let flow = Flow::tcp(addr("203.0.113.7:40000"), ConnectionId(9));
        let (f, _) = response_flow(&resp, &flow).unwrap();
        assert_eq!(f.connection, Some(ConnectionId(9)));
    }

    #[test]
    fn sent_by_names_need_resolution() {
        let r = req("SIP/2.0/UDP phone.example.com;branch=z9hG4bK1");
        let resp = response_to(&r, StatusCode::OK, Some("t"));
        let (_, dest) = response_flow(&resp, &Flow::udp(addr("192.0.2.1:5060"))).unwrap();
        assert_eq!(
            dest,
            Destination::Resolve {
                host: "phone.example.com".into(),
                port: 5060
            }
        );
    }

    #[test]
    fn next_hop_uses_route_then_request_uri_with_default_ports() {
        let mut r = req("SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1");
        r.set_uri(Uri::parse("sip:alice@192.0.2.10;transport=tcp").unwrap());
        assert_eq!(
            request_next_hop(&r).unwrap(),
            NextHop {
                transport: Transport::Tcp,
                destination: Destination::Addr(addr("192.0.2.10:5060"))
            }
        );
        r.headers_mut()
            .append(HeaderName::Route, "<sip:[2001:db8::1]:5070;lr>")
            .unwrap();
        assert_eq!(
            request_next_hop(&r).unwrap().destination,
            Destination::Addr(addr("[2001:db8::1]:5070"))
        );
        let sips = uri_next_hop(&Uri::parse("sips:bob@example.com").unwrap()).unwrap();
        assert_eq!(sips.transport, Transport::Tls);
        assert_eq!(
            sips.destination,
            Destination::Resolve {
                host: "example.com".into(),
                port: 5061
            }
        );
    }
}
