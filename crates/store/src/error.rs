//! The store's one error type.

/// Everything that can go wrong in the store, by category.
///
/// The categories map onto HTTP answers in the API layer: [`NotFound`](Self::NotFound)
/// → 404, [`AlreadyExists`](Self::AlreadyExists) and [`Conflict`](Self::Conflict) → 409,
/// [`Invalid`](Self::Invalid) → 422, the rest → 500/503.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage URL cannot be used. The message never repeats the URL, which may
    /// hold a password.
    #[error("storage URL: {0}")]
    Url(String),
    /// The directory for the SQLite file could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// No object of this kind has this key.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// What was looked for, e.g. `agent`, `contact`.
        kind: &'static str,
        /// Its key.
        id: String,
    },
    /// An object of this kind already has this key.
    #[error("{kind} {id:?} already exists")]
    AlreadyExists {
        /// The kind of object.
        kind: &'static str,
        /// Its key.
        id: String,
    },
    /// The write contradicts what is stored (a unique SIP user taken by another agent,
    /// a contact that has already ended).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A value is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, e.g. `agent.skills`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored value cannot be read back (written by something else, or a newer schema).
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    /// Applying the embedded migrations failed.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database failed or could not be reached.
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// Maps a driver error, turning constraint violations into [`Conflict`](Self::Conflict).
    pub(crate) fn db(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && (db.is_unique_violation() || db.is_foreign_key_violation())
        {
            return StoreError::Conflict(db.message().to_owned());
        }
        StoreError::Database(err)
    }

    /// Maps a driver error where a foreign-key violation means the parent `kind`/`id`
    /// does not exist.
    pub(crate) fn db_parent(err: sqlx::Error, kind: &'static str, id: &str) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_foreign_key_violation()
        {
            return StoreError::NotFound {
                kind,
                id: id.to_owned(),
            };
        }
        StoreError::db(err)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::db(err)
    }
}

/// The store's result type.
pub type StoreResult<T> = Result<T, StoreError>;
