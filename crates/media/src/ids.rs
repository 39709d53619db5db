//! Identifiers the engine is given by its driver (the handler maps the control interface's
//! ids onto these one to one).

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A media session.
    SessionId
);
id_type!(
    /// A leg.
    LegId
);
id_type!(
    /// A route between two legs.
    RouteId
);
id_type!(
    /// One playback item.
    PlaybackId
);
id_type!(
    /// A recording.
    RecordingId
);
id_type!(
    /// A mix.
    MixId
);

/// The engine's index for a leg, handed to the driver at `add_leg` so the packet path finds
/// the leg without hashing. Valid until the leg is removed; then it may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegSlot(pub u32);
