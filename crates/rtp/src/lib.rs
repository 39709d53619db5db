//! RTP/RTCP views and builders, RFC 4733 events, G.711 and the call sequence (egress rewriter).
