//! The bandwidth manager's decisions as JSON, for the live contacts view and
//! the call record. The `bandwidth` crate has no serde (only the edge knows
//! JSON), so the mapping is spelled out here.

use bandwidth::{Attempt, Candidate, Degradation, Estimate, Explanation, Need, Priority, Services};
use serde_json::{Value, json};

fn need(n: &Need) -> Value {
    json!({
        "ingress_kbps": n.ingress.kbps(),
        "egress_kbps": n.egress.kbps(),
        "ingress_pps": n.ingress.pps,
        "egress_pps": n.egress.pps,
        "peak_kbps": n.peak_kbps(),
    })
}

fn services(s: &Services) -> Value {
    json!({
        "route": s.route,
        "play": s.play,
        "record": s.record,
        "mix_participants": s.mix_participants,
    })
}

/// An estimate: the per-stream breakdown, the services, the total.
pub fn estimate(e: &Estimate) -> Value {
    let streams: Vec<Value> = e
        .streams
        .iter()
        .map(|s| {
            json!({
                "index": s.index,
                "kind": s.kind.as_str(),
                "codec": s.codec.map(|c| c.encoding_name()),
                "basis": format!("{:?}", s.basis),
                "payload_bps": s.payload_bps,
                "ptime_ms": s.ptime_ms,
                "family": s.family.as_str(),
                "overhead_bytes": s.overhead_bytes,
                "srtp_tag_bytes": s.srtp_tag_bytes,
                "direction": s.direction.attribute(),
                "need": need(&s.need),
            })
        })
        .collect();
    json!({
        "streams": streams,
        "leg": need(&e.leg),
        "services": services(&e.services),
        "services_need": need(&e.services_need),
        "total": need(&e.total),
    })
}

fn degradation(d: &Degradation) -> Value {
    match d {
        Degradation::DroppedVideo { streams } => {
            json!({ "type": "dropped_video", "streams": streams })
        }
        Degradation::CheaperCodec { from, to } => json!({
            "type": "cheaper_codec",
            "from": from.encoding_name(),
            "to": to.encoding_name(),
        }),
        Degradation::OpusBitrate { bps } => json!({ "type": "opus_bitrate", "bps": bps }),
    }
}

fn candidate(c: &Candidate) -> Value {
    json!({
        "handler": c.handler.0,
        "state": c.state.as_str(),
        "capacity_kbps": c.capacity_kbps,
        "usable_kbps": c.usable_kbps,
        "reserved_kbps": c.reserved_kbps,
        "measured_kbps": c.measured_kbps,
        "load_kbps": c.load_kbps,
        "load_permille": c.load_permille,
        "excluded": c.excluded.map(|x| format!("{x:?}")),
    })
}

fn attempt(a: &Attempt) -> Value {
    json!({
        "degradations": a.degradations.iter().map(degradation).collect::<Vec<_>>(),
        "codec": a.codec.map(|c| c.encoding_name()),
        "estimate": estimate(&a.estimate),
        "candidates": a.candidates.iter().map(candidate).collect::<Vec<_>>(),
        "chosen": a.chosen.as_ref().map(|h| h.0.clone()),
    })
}

/// A placement's explanation: every attempt with its estimate, candidates
/// and choice, and the handler finally chosen.
pub fn explanation(x: &Explanation) -> Value {
    json!({
        "priority": match x.priority {
            Priority::Normal => "normal",
            Priority::High => "high",
        },
        "attempts": x.attempts.iter().map(attempt).collect::<Vec<_>>(),
        "chosen": x.chosen().and_then(|a| a.chosen.as_ref()).map(|h| h.0.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_placement_explains_its_choice_and_estimate() {
        let mut m = bandwidth::BandwidthManager::new(bandwidth::Config::default());
        let now = std::time::Instant::now();
        let h = bandwidth::HandlerId("h1".into());
        m.add_handler(h.clone(), "http://h1", Some(10_000)).unwrap();
        m.update_status(now, &h, bandwidth::HandlerStatus::default())
            .unwrap();
        let offer = sdp::SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
              m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n",
        )
        .unwrap();
        let p = m
            .place(
                now,
                bandwidth::ContactId("c".into()),
                &bandwidth::PlaceRequest {
                    offer: &offer,
                    services: Services::IVR,
                    priority: Priority::Normal,
                    transcodable: &[],
                },
            )
            .unwrap();
        let v = explanation(&p.explanation);
        assert_eq!(v["chosen"], "h1");
        assert_eq!(v["attempts"][0]["codec"], "PCMU");
        assert_eq!(v["attempts"][0]["candidates"][0]["handler"], "h1");
        // PCMU at 20 ms over IPv4: 80 kbit/s at IP level before RTCP, per direction.
        let leg = &v["attempts"][0]["estimate"]["leg"];
        assert!(leg["peak_kbps"].as_u64().unwrap() >= 80, "{leg}");
    }
}
