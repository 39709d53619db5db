//! Who may call the agent interface.
//!
//! * The **admin token** manages configuration (agents, queues, routes) and may act for any
//!   agent. It is `http.admin_token` from the configuration, else the one in
//!   `<data_dir>/admin-token`, else a new random one written there (mode 0600) on first start.
//! * An **agent token** is issued by `POST /api/v1/agents/{id}/login` against the agent's
//!   password and lets that agent act on its own state and calls only. Agent tokens live in
//!   memory: they end with logout or a restart (which also logs every agent out of the ACD).
//!
//! Tokens travel as `Authorization: Bearer <token>`, or as `?token=` on the WebSocket
//! (browsers cannot set headers there). Tokens come from the OS RNG and are compared in
//! constant time.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rand::TryRng as _;

/// Where the admin token came from (for the start-up banner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `http.admin_token` in the configuration.
    Configured,
    /// Read from this file (generated on an earlier start).
    File(PathBuf),
    /// Generated now and written to this file.
    Generated(PathBuf),
}

/// The name of the admin token's file in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// 32 random bytes from the OS RNG, as 64 hex digits.
pub fn new_token() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| io::Error::other(format!("OS random number generator: {e}")))?;
    Ok(hex::encode(bytes))
}

/// The admin token: the configured one, else the data directory's, else a new one written
/// there.
pub fn admin_token(configured: Option<&str>, data_dir: &Path) -> io::Result<(String, TokenSource)> {
    if let Some(t) = configured.filter(|t| !t.trim().is_empty()) {
        return Ok((t.trim().to_string(), TokenSource::Configured));
    }
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => {
            return Ok((t.trim().to_string(), TokenSource::File(path)));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
    std::fs::create_dir_all(data_dir)?;
    let token = new_token()?;
    write_private(&path, &token)?;
    Ok((token, TokenSource::Generated(path)))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    std::fs::write(path, format!("{text}\n"))
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The admin token.
    Admin,
    /// An agent's token.
    Agent(String),
    /// The media handlers' registration token (`http.media_handler_token`): it may
    /// register a handler and nothing else.
    MediaHandler,
}

impl Caller {
    /// Whether the caller may act for `agent`.
    pub fn may_act_for(&self, agent: &str) -> bool {
        match self {
            Caller::Admin => true,
            Caller::Agent(a) => a == agent,
            Caller::MediaHandler => false,
        }
    }
}

/// The admin token and the agents' sessions; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    admin: Arc<str>,
    media_handler: Option<Arc<str>>,
    sessions: Arc<RwLock<HashMap<String, String>>>,
}

impl Auth {
    /// Authentication with this admin token.
    pub fn new(admin_token: impl Into<String>) -> Auth {
        Auth {
            admin: Arc::from(admin_token.into()),
            media_handler: None,
            sessions: Arc::default(),
        }
    }

    /// Also accepts `token` for media-handler registration only (an empty one is ignored).
    pub fn with_media_handler_token(mut self, token: Option<&str>) -> Auth {
        self.media_handler = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    /// Who holds `token`, if anyone.
    pub fn identify(&self, token: &str) -> Option<Caller> {
        if same_secret(token, &self.admin) {
            return Some(Caller::Admin);
        }
        if self
            .media_handler
            .as_deref()
            .is_some_and(|m| same_secret(token, m))
        {
            return Some(Caller::MediaHandler);
        }
        // A map lookup hashes the token; the token is 256 random bits, so timing reveals
        // nothing usable.
        let sessions = self.sessions.read().unwrap_or_else(|p| p.into_inner());
        sessions.get(token).map(|a| Caller::Agent(a.clone()))
    }

    /// Issues a token for `agent`.
    pub fn issue(&self, agent: &str) -> io::Result<String> {
        let token = new_token()?;
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), agent.to_string());
        Ok(token)
    }

    /// Ends every session of `agent` (logout, or the agent was removed).
    pub fn revoke_agent(&self, agent: &str) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, a| a != agent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_is_generated_once_then_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (t1, s1) = admin_token(None, dir.path()).expect("generated");
        assert_eq!(t1.len(), 64);
        assert!(matches!(s1, TokenSource::Generated(_)));
        let (t2, s2) = admin_token(None, dir.path()).expect("read");
        assert_eq!(t1, t2);
        assert!(matches!(s2, TokenSource::File(_)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(ADMIN_TOKEN_FILE))
                .expect("token file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (t3, s3) = admin_token(Some("configured"), dir.path()).expect("configured");
        assert_eq!((t3.as_str(), s3), ("configured", TokenSource::Configured));
    }

    #[test]
    fn sessions_identify_their_agent_until_revoked() {
        let auth = Auth::new("admin-secret");
        assert_eq!(auth.identify("admin-secret"), Some(Caller::Admin));
        assert_eq!(auth.identify("admin-secreT"), None);
        let t = auth.issue("alice").expect("token");
        assert_eq!(auth.identify(&t), Some(Caller::Agent("alice".into())));
        assert!(Caller::Agent("alice".into()).may_act_for("alice"));
        assert!(!Caller::Agent("alice".into()).may_act_for("bob"));
        auth.revoke_agent("alice");
        assert_eq!(auth.identify(&t), None);
    }

    #[test]
    fn the_media_handler_token_is_its_own_caller() {
        let auth = Auth::new("admin-secret").with_media_handler_token(Some("handlers"));
        assert_eq!(auth.identify("handlers"), Some(Caller::MediaHandler));
        assert_eq!(auth.identify("admin-secret"), Some(Caller::Admin));
        assert!(!Caller::MediaHandler.may_act_for("alice"));
        let none = Auth::new("admin-secret").with_media_handler_token(Some(""));
        assert_eq!(none.identify(""), None);
    }
}
