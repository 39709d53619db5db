//! SDP model, parse/serialize and offer/answer with the codec table.
