//! SIP syntax, transactions (RFC 3261 §17), dialogs and digest authentication. Sans-IO.
