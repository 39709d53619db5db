//! The media engine core: legs, route, player, recorder, mixer, codecs, DTMF detection. Sans-IO.
