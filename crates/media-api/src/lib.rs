//! The media-handler control interface (HTTP/JSON under /v1): request and response types and a client.
