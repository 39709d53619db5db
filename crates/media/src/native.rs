//! Codecs from C libraries: G.729 (Debian's libbcg729) and GSM 06.10 (libgsm). Every
//! `unsafe` block of the engine is in this module; each codec owns its C context, uses it
//! only through `&mut self`, and frees it on drop.
#![allow(unsafe_code)]

use crate::codec::AudioCodec;
use crate::error::MediaError;

#[cfg(feature = "g729")]
pub use g729::G729;
#[cfg(feature = "gsm")]
pub use gsm::Gsm;

fn bad(msg: &str) -> MediaError {
    MediaError::BadRequest(msg.to_string())
}

#[cfg(feature = "g729")]
mod g729 {
    use super::*;

    #[repr(C)]
    struct EncoderCtx {
        _private: [u8; 0],
    }
    #[repr(C)]
    struct DecoderCtx {
        _private: [u8; 0],
    }

    #[link(name = "bcg729")]
    unsafe extern "C" {
        fn initBcg729EncoderChannel(enable_vad: u8) -> *mut EncoderCtx;
        fn closeBcg729EncoderChannel(ctx: *mut EncoderCtx);
        fn bcg729Encoder(ctx: *mut EncoderCtx, input: *const i16, bitstream: *mut u8, len: *mut u8);
        fn initBcg729DecoderChannel() -> *mut DecoderCtx;
        fn closeBcg729DecoderChannel(ctx: *mut DecoderCtx);
        fn bcg729Decoder(
            ctx: *mut DecoderCtx,
            bitstream: *const u8,
            len: u8,
            frame_erasure: u8,
            sid_frame: u8,
            rfc3389_payload: u8,
            signal: *mut i16,
        );
    }

    /// Samples per G.729 frame (10 ms at 8 kHz).
    const FRAME: usize = 80;
    /// Bytes per G.729 frame.
    const BYTES: usize = 10;
    /// Bytes of an Annex B SID frame.
    const SID: usize = 2;

    /// G.729 (Annex A compatible, no VAD on encoding; Annex B SID frames decoded).
    #[derive(Debug)]
    pub struct G729 {
        enc: *mut EncoderCtx,
        dec: *mut DecoderCtx,
    }

    // SAFETY: the contexts are heap objects owned by this value alone; bcg729 keeps no
    // thread-local state, and every use goes through `&mut self`, so moving the value to
    // another thread is sound.
    unsafe impl Send for G729 {}

    impl G729 {
        /// A codec instance, or `None` if the library cannot allocate its contexts.
        pub fn new() -> Option<G729> {
            // SAFETY: plain constructors; a null result is handled below.
            let enc = unsafe { initBcg729EncoderChannel(0) };
            // SAFETY: as above.
            let dec = unsafe { initBcg729DecoderChannel() };
            if enc.is_null() || dec.is_null() {
                // SAFETY: each pointer is either null (skipped) or a context we own.
                unsafe {
                    if !enc.is_null() {
                        closeBcg729EncoderChannel(enc);
                    }
                    if !dec.is_null() {
                        closeBcg729DecoderChannel(dec);
                    }
                }
                return None;
            }
            Some(G729 { enc, dec })
        }
    }

    impl Drop for G729 {
        fn drop(&mut self) {
            // SAFETY: both contexts were created by the library, are non-null, and are
            // closed exactly once here.
            unsafe {
                closeBcg729EncoderChannel(self.enc);
                closeBcg729DecoderChannel(self.dec);
            }
        }
    }

    impl AudioCodec for G729 {
        fn name(&self) -> &'static str {
            "G729"
        }
        fn clock_rate(&self) -> u32 {
            8000
        }
        fn granule(&self) -> usize {
            FRAME
        }
        fn bitrate(&self) -> u32 {
            8000
        }
        fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, MediaError> {
            let frames = payload.len() / BYTES;
            let sid = payload.len() % BYTES == SID;
            if !payload.len().is_multiple_of(BYTES) && !sid {
                return Err(bad("G.729 payload is not a whole number of frames"));
            }
            let needed = (frames + usize::from(sid)) * FRAME;
            if out.len() < needed {
                return Err(bad("G.729 decode buffer too small"));
            }
            for k in 0..frames {
                // SAFETY: the input slice holds BYTES bytes at this offset and the output
                // slice FRAME samples (checked above); the context is ours.
                unsafe {
                    bcg729Decoder(
                        self.dec,
                        payload[k * BYTES..].as_ptr(),
                        BYTES as u8,
                        0,
                        0,
                        0,
                        out[k * FRAME..].as_mut_ptr(),
                    );
                }
            }
            if sid {
                // SAFETY: the last SID bytes of the payload and FRAME output samples are
                // in bounds (checked above).
                unsafe {
                    bcg729Decoder(
                        self.dec,
                        payload[frames * BYTES..].as_ptr(),
                        SID as u8,
                        0,
                        1,
                        0,
                        out[frames * FRAME..].as_mut_ptr(),
                    );
                }
            }
            Ok(needed)
        }
        fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, MediaError> {
            if !pcm.len().is_multiple_of(FRAME) {
                return Err(bad("G.729 encodes whole 10 ms frames"));
            }
            let frames = pcm.len() / FRAME;
            if out.len() < frames * BYTES {
                return Err(bad("G.729 encode buffer too small"));
            }
            for k in 0..frames {
                let mut len = 0u8;
                // SAFETY: FRAME input samples and BYTES output bytes are in bounds at these
                // offsets (checked above); `len` is a valid out-parameter.
                unsafe {
                    bcg729Encoder(
                        self.enc,
                        pcm[k * FRAME..].as_ptr(),
                        out[k * BYTES..].as_mut_ptr(),
                        &mut len,
                    );
                }
            }
            Ok(frames * BYTES)
        }
    }
}

#[cfg(feature = "gsm")]
mod gsm {
    use super::*;

    #[repr(C)]
    struct GsmState {
        _private: [u8; 0],
    }

    #[link(name = "gsm")]
    unsafe extern "C" {
        fn gsm_create() -> *mut GsmState;
        fn gsm_destroy(g: *mut GsmState);
        fn gsm_encode(g: *mut GsmState, source: *mut i16, c: *mut u8);
        fn gsm_decode(g: *mut GsmState, c: *mut u8, target: *mut i16) -> libc_int;
    }

    #[allow(non_camel_case_types)]
    type libc_int = std::os::raw::c_int;

    /// Samples per GSM frame (20 ms at 8 kHz).
    const FRAME: usize = 160;
    /// Bytes per GSM frame.
    const BYTES: usize = 33;

    /// GSM 06.10 full rate.
    #[derive(Debug)]
    pub struct Gsm {
        enc: *mut GsmState,
        dec: *mut GsmState,
    }

    // SAFETY: the states are heap objects owned by this value alone, used only through
    // `&mut self`; libgsm keeps no global state.
    unsafe impl Send for Gsm {}

    impl Gsm {
        /// A codec instance, or `None` if libgsm cannot allocate.
        pub fn new() -> Option<Gsm> {
            // SAFETY: plain constructors; null results are handled below.
            let (enc, dec) = unsafe { (gsm_create(), gsm_create()) };
            if enc.is_null() || dec.is_null() {
                // SAFETY: each pointer is either null (skipped) or a state we own.
                unsafe {
                    if !enc.is_null() {
                        gsm_destroy(enc);
                    }
                    if !dec.is_null() {
                        gsm_destroy(dec);
                    }
                }
                return None;
            }
            Some(Gsm { enc, dec })
        }
    }

    impl Drop for Gsm {
        fn drop(&mut self) {
            // SAFETY: both states were created by gsm_create, are non-null, and are
            // destroyed exactly once here.
            unsafe {
                gsm_destroy(self.enc);
                gsm_destroy(self.dec);
            }
        }
    }

    impl AudioCodec for Gsm {
        fn name(&self) -> &'static str {
            "GSM"
        }
        fn clock_rate(&self) -> u32 {
            8000
        }
        fn granule(&self) -> usize {
            FRAME
        }
        fn bitrate(&self) -> u32 {
            13_200
        }
        fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, MediaError> {
            if payload.is_empty() || !payload.len().is_multiple_of(BYTES) {
                return Err(bad("GSM payload is not a whole number of 33-byte frames"));
            }
            let frames = payload.len() / BYTES;
            if out.len() < frames * FRAME {
                return Err(bad("GSM decode buffer too small"));
            }
            let mut frame = [0u8; BYTES];
            for k in 0..frames {
                frame.copy_from_slice(&payload[k * BYTES..(k + 1) * BYTES]);
                // SAFETY: `frame` holds BYTES bytes (libgsm reads exactly one frame, and
                // takes a mutable pointer without writing through it); FRAME output
                // samples are in bounds (checked above).
                let r = unsafe {
                    gsm_decode(self.dec, frame.as_mut_ptr(), out[k * FRAME..].as_mut_ptr())
                };
                if r != 0 {
                    return Err(bad("invalid GSM frame"));
                }
            }
            Ok(frames * FRAME)
        }
        fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, MediaError> {
            if !pcm.len().is_multiple_of(FRAME) {
                return Err(bad("GSM encodes whole 20 ms frames"));
            }
            let frames = pcm.len() / FRAME;
            if out.len() < frames * BYTES {
                return Err(bad("GSM encode buffer too small"));
            }
            let mut frame = [0i16; FRAME];
            for k in 0..frames {
                // libgsm may scale its input in place: give it a copy.
                frame.copy_from_slice(&pcm[k * FRAME..(k + 1) * FRAME]);
                // SAFETY: `frame` holds FRAME samples and BYTES output bytes are in bounds
                // at this offset (checked above).
                unsafe { gsm_encode(self.enc, frame.as_mut_ptr(), out[k * BYTES..].as_mut_ptr()) };
            }
            Ok(frames * BYTES)
        }
    }
}
