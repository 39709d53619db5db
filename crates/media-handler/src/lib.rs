//! The media-handler process: RTP sockets, media threads, control API server, registration.
