//! The bandwidth manager: per-contact estimates from SDP, the reservation ledger, handler selection and degradation. Sans-IO.
