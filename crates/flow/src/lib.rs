//! The event handler's engine: YAML call flows, validation and the pure state machine that picks each contact's next media event.
