//! Worked figures for the estimate model (see `bandwidth::estimate` for the rules).

use bandwidth::{Author, Basis, Need, Rate, Services, estimate, estimate_negotiation};
use sdp::{Capabilities, Codec, MediaKind, SessionDescription};

fn sdp(media: &str) -> SessionDescription {
    sdp_with("c=IN IP4 192.0.2.7\n", media)
}

fn sdp_with(session: &str, media: &str) -> SessionDescription {
    let text = format!("v=0\no=- 1 1 IN IP4 192.0.2.7\ns=-\n{session}t=0 0\n{media}");
    SessionDescription::parse(text.replace('\n', "\r\n").as_bytes()).expect("valid test SDP")
}

fn both(rate: Rate) -> Need {
    Need {
        ingress: rate,
        egress: rate,
    }
}

const NONE: Services = Services {
    route: false,
    play: false,
    record: false,
    mix_participants: 0,
};

/// (payload + 12 RTP + 8 UDP + 20 IPv4) · 8 · packets/s, plus 5% RTCP at 1 packet/s.
#[test]
fn pcmu_20ms_over_ipv4_is_80_kbps_before_rtcp_and_84_with_it() {
    let e = estimate(&sdp("m=audio 4000 RTP/AVP 0\n"), Author::Endpoint, NONE);
    let s = &e.streams[0];
    assert_eq!(s.codec, Some(Codec::Pcmu));
    assert_eq!(s.payload_bps, 64_000);
    assert_eq!(s.ptime_ms, Some(20));
    assert_eq!(s.overhead_bytes, 40);
    assert_eq!(
        s.rtp,
        Rate {
            bps: (160 + 12 + 8 + 20) * 8 * 50,
            pps: 50
        }
    );
    assert_eq!(s.rtp.bps, 80_000);
    assert_eq!(s.rtcp, both(Rate { bps: 4_000, pps: 1 }));
    assert_eq!(
        e.total,
        both(Rate {
            bps: 84_000,
            pps: 51
        })
    );
    assert_eq!(e.total.peak_kbps(), 84);
}

#[test]
fn ipv6_adds_20_bytes_per_packet() {
    let e = estimate(
        &sdp_with("c=IN IP6 2001:db8::7\n", "m=audio 4000 RTP/AVP 0\n"),
        Author::Endpoint,
        NONE,
    );
    // (160 + 12 + 8 + 40) · 8 · 50 = 88,000; RTCP 5% = 4,400.
    assert_eq!(e.streams[0].rtp.bps, 88_000);
    assert_eq!(e.total.ingress.bps, 92_400);
}

#[test]
fn low_rate_codecs_are_dominated_by_headers() {
    let bps = |media: &str| {
        estimate(&sdp(media), Author::Endpoint, NONE).streams[0]
            .rtp
            .bps
    };
    // G.729: 20 bytes per 20 ms: (20 + 40) · 8 · 50.
    assert_eq!(bps("m=audio 4000 RTP/AVP 18\n"), 24_000);
    // GSM 13.2 kbit/s: 33 bytes per 20 ms: (33 + 40) · 8 · 50.
    assert_eq!(bps("m=audio 4000 RTP/AVP 3\n"), 29_200);
    // G.722 is 64 kbit/s like G.711.
    assert_eq!(bps("m=audio 4000 RTP/AVP 9\n"), 80_000);
    // G.723.1 6.3 kbit/s at its default 30 ms: 24 bytes, 34 packets/s,
    // (24 + 40) · 8 · 1000 / 30 = 17,066.7 → 17,067.
    assert_eq!(bps("m=audio 4000 RTP/AVP 4\n"), 17_067);
    // iLBC 30 ms mode: 50-byte frames: (50 + 40) · 8 · 1000 / 30 = 24,000.
    assert_eq!(
        bps("m=audio 4000 RTP/AVP 97\na=rtpmap:97 iLBC/8000\n"),
        24_000
    );
    // iLBC 20 ms mode: 38-byte frames: (38 + 40) · 8 · 50 = 31,200.
    assert_eq!(
        bps("m=audio 4000 RTP/AVP 97\na=rtpmap:97 iLBC/8000\na=fmtp:97 mode=20\na=ptime:20\n"),
        31_200
    );
}

#[test]
fn ptime_changes_packet_rate_and_header_share() {
    let e = estimate(
        &sdp("m=audio 4000 RTP/AVP 0\na=ptime:30\n"),
        Author::Endpoint,
        NONE,
    );
    // 240 bytes per packet, 1000/30 = 33.3 → 34 packets/s,
    // (240 + 40) · 8 · 1000 / 30 = 74,666.7 → 74,667 bit/s.
    assert_eq!(
        e.streams[0].rtp,
        Rate {
            bps: 74_667,
            pps: 34
        }
    );
}

#[test]
fn opus_uses_maxaveragebitrate_or_the_documented_default() {
    let default = estimate(
        &sdp("m=audio 4000 RTP/AVP 111\na=rtpmap:111 opus/48000/2\n"),
        Author::Endpoint,
        NONE,
    );
    let s = &default.streams[0];
    assert_eq!((s.basis, s.payload_bps), (Basis::OpusDefault, 32_000));
    // 80 bytes per 20 ms: (80 + 40) · 8 · 50.
    assert_eq!(s.rtp.bps, 48_000);
    // Stereo in the rtpmap does not double Opus.
    let capped = estimate(
        &sdp(
            "m=audio 4000 RTP/AVP 111\na=rtpmap:111 opus/48000/2\na=fmtp:111 useinbandfec=1; maxaveragebitrate=20000\n",
        ),
        Author::Endpoint,
        NONE,
    );
    let s = &capped.streams[0];
    assert_eq!((s.basis, s.payload_bps), (Basis::OpusFmtp, 20_000));
    // 50 bytes: (50 + 40) · 8 · 50.
    assert_eq!(s.rtp.bps, 36_000);
}

#[test]
fn srtp_adds_the_suite_tag_to_every_packet() {
    let bps = |media: &str| estimate(&sdp(media), Author::Endpoint, NONE).streams[0].clone();
    let s80 = bps("m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\n");
    assert_eq!(
        (s80.srtp_tag_bytes, s80.rtp.bps),
        (10, (160 + 10 + 40) * 8 * 50)
    );
    let s32 = bps("m=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:x\n");
    assert_eq!(
        (s32.srtp_tag_bytes, s32.rtp.bps),
        (4, (160 + 4 + 40) * 8 * 50)
    );
    // DTLS-SRTP has no a=crypto: the mandatory *_80 profile is assumed.
    let dtls = bps("m=audio 4000 UDP/TLS/RTP/SAVPF 0\n");
    assert_eq!(dtls.srtp_tag_bytes, 10);
    // a=crypto on plain RTP/AVP (best-effort SRTP offers) is not SRTP.
    let plain = bps("m=audio 4000 RTP/AVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\n");
    assert_eq!((plain.srtp_tag_bytes, plain.rtp.bps), (0, 80_000));
}

#[test]
fn direction_decides_which_way_rtp_flows_and_rtcp_always_does() {
    // The caller holds us: it sends (music), so the handler only receives.
    let hold = estimate(
        &sdp("m=audio 4000 RTP/AVP 0\na=sendonly\n"),
        Author::Endpoint,
        NONE,
    );
    assert_eq!(hold.total.ingress.bps, 84_000);
    assert_eq!(hold.total.egress.bps, 4_000);
    // The same SDP written by our side means the handler sends.
    let ours = estimate(
        &sdp("m=audio 4000 RTP/AVP 0\na=sendonly\n"),
        Author::Handler,
        NONE,
    );
    assert_eq!(ours.total.egress.bps, 84_000);
    assert_eq!(ours.total.ingress.bps, 4_000);
    let inactive = estimate(
        &sdp("m=audio 4000 RTP/AVP 0\na=inactive\n"),
        Author::Endpoint,
        NONE,
    );
    assert_eq!(inactive.total, both(Rate { bps: 4_000, pps: 1 }));
}

#[test]
fn rs_and_rr_lines_replace_the_rtcp_share() {
    let e = estimate(
        &sdp("m=audio 4000 RTP/AVP 0\nb=RS:800\nb=RR:2000\n"),
        Author::Endpoint,
        NONE,
    );
    assert_eq!(e.streams[0].rtcp, both(Rate { bps: 800, pps: 1 }));
    // On hold the handler only receives RTP, so its reports are receiver reports (RR).
    let hold = estimate(
        &sdp_with(
            "c=IN IP4 192.0.2.7\nb=RS:800\nb=RR:2000\n",
            "m=audio 4000 RTP/AVP 0\na=sendonly\n",
        ),
        Author::Endpoint,
        NONE,
    );
    assert_eq!(hold.streams[0].rtcp.ingress.bps, 800);
    assert_eq!(hold.streams[0].rtcp.egress.bps, 2_000);
    // RS:0 RR:0 turns RTCP off.
    let off = estimate(
        &sdp("m=audio 4000 RTP/AVP 0\nb=RS:0\nb=RR:0\n"),
        Author::Endpoint,
        NONE,
    );
    assert_eq!(
        off.total,
        both(Rate {
            bps: 80_000,
            pps: 50
        })
    );
}

#[test]
fn video_comes_from_tias_then_as_then_session_then_default() {
    let video = |session: &str, media: &str| {
        let e = estimate(
            &sdp_with(&format!("c=IN IP4 192.0.2.7\n{session}"), media),
            Author::Endpoint,
            NONE,
        );
        e.streams
            .into_iter()
            .find(|s| s.kind == MediaKind::Video)
            .expect("video stream")
    };
    // TIAS is payload: 2,000,000 / 8,000-bit packets = 250 packets/s, plus 40 header
    // bytes each: 2,000,000 + 250 · 40 · 8 = 2,080,000.
    let s = video(
        "",
        "m=video 5006 RTP/AVP 99\nb=AS:2048\nb=TIAS:2000000\na=rtpmap:99 H264/90000\n",
    );
    assert_eq!(
        (s.basis, s.rtp),
        (
            Basis::MediaTias,
            Rate {
                bps: 2_080_000,
                pps: 250
            }
        )
    );
    assert_eq!(s.rtcp.ingress.bps, 104_000);
    // AS is read as IP level: 2,048,000 bit/s, ⌈2,048,000 / (8 · 1,040)⌉ = 247 packets/s.
    let s = video(
        "",
        "m=video 5006 RTP/AVP 99\nb=AS:2048\na=rtpmap:99 H264/90000\n",
    );
    assert_eq!(
        (s.basis, s.rtp),
        (
            Basis::MediaAs,
            Rate {
                bps: 2_048_000,
                pps: 247
            }
        )
    );
    // Session b=AS:2112 less the PCMU audio's 80,000.
    let s = video(
        "b=AS:2112\n",
        "m=audio 5004 RTP/AVP 0\nm=video 5006 RTP/AVP 99\na=rtpmap:99 H264/90000\n",
    );
    assert_eq!((s.basis, s.rtp.bps), (Basis::SessionBandwidth, 2_032_000));
    // Nothing: 1 Mbit/s payload, 125 packets/s: 1,000,000 + 125 · 320 = 1,040,000.
    let s = video("", "m=video 5006 RTP/AVP 96\na=rtpmap:96 VP8/90000\n");
    assert_eq!(
        (s.basis, s.rtp),
        (
            Basis::VideoDefault,
            Rate {
                bps: 1_040_000,
                pps: 125
            }
        )
    );
}

#[test]
fn disabled_streams_and_other_media_without_bandwidth_cost_nothing() {
    let e = estimate(
        &sdp("m=audio 4000 RTP/AVP 0\nm=video 0 RTP/AVP 96\nm=application 5000 UDP/BFCP *\n"),
        Author::Endpoint,
        NONE,
    );
    assert_eq!(e.streams.len(), 2);
    assert_eq!(e.streams[1].basis, Basis::NotCounted);
    assert_eq!(e.total.ingress.bps, 84_000);
}

#[test]
fn services_add_legs_and_forks() {
    let offer = sdp("m=audio 4000 RTP/AVP 0\n");
    let leg = Rate {
        bps: 84_000,
        pps: 51,
    };
    let with = |services| estimate(&offer, Author::Endpoint, services).total;
    // Routed to an agent: a second leg, both ways.
    assert_eq!(with(Services::AGENT_CALL), both(leg.times(2)));
    // A player sources one more one-way stream; a recording forks both directions.
    let played = with(Services { play: true, ..NONE });
    assert_eq!((played.ingress, played.egress), (leg, leg.times(2)));
    let recorded = with(Services {
        record: true,
        ..NONE
    });
    assert_eq!((recorded.ingress, recorded.egress), (leg, leg.times(3)));
    // A barge-in mixes a third party: one more audio leg.
    let mixed = with(Services {
        route: true,
        mix_participants: 1,
        ..NONE
    });
    assert_eq!(mixed, both(leg.times(3)));
}

#[test]
fn negotiated_estimate_uses_the_chosen_codec_not_the_first_offered() {
    let offer = sdp(
        "m=audio 7078 RTP/AVP 96 0 8 101\na=rtpmap:96 opus/48000/2\na=rtpmap:101 telephone-event/8000\n\
m=video 9078 RTP/AVP 102\na=rtpmap:102 VP8/90000\n",
    );
    // As an offer, Opus (first) and the video count.
    let as_offer = estimate(&offer, Author::Endpoint, NONE);
    assert_eq!(as_offer.streams[0].codec, Some(Codec::Opus));
    assert_eq!(as_offer.streams.len(), 2);
    // Our answer picks PCMU and rejects video (no video codecs).
    let n = sdp::negotiate(&offer, &Capabilities::audio(&[Codec::Pcmu])).expect("PCMU");
    let e = estimate_negotiation(&offer, &n, NONE);
    assert_eq!(e.streams.len(), 1);
    assert_eq!(e.streams[0].codec, Some(Codec::Pcmu));
    assert_eq!(
        e.total,
        both(Rate {
            bps: 84_000,
            pps: 51
        })
    );
}

#[test]
fn negotiated_opus_cap_lowers_the_estimate() {
    let offer = sdp("m=audio 7078 RTP/AVP 96\na=rtpmap:96 opus/48000/2\n");
    let mut caps = Capabilities::audio(&[Codec::Opus]);
    caps.opus_max_average_bitrate = Some(12_000);
    let n = sdp::negotiate(&offer, &caps).expect("Opus");
    let s = &estimate_negotiation(&offer, &n, NONE).streams[0];
    // 30 bytes per 20 ms: (30 + 40) · 8 · 50 = 28,000.
    assert_eq!((s.payload_bps, s.rtp.bps), (12_000, 28_000));
}
