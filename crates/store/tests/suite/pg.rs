//! A throwaway PostgreSQL server for the suite.
//!
//! If `SWITCHBOARD_TEST_POSTGRES_URL` is set, the suite uses that server instead (its
//! user must be allowed to `CREATE DATABASE`). Otherwise it looks for the server
//! binaries (`initdb`, `pg_ctl`) in `SWITCHBOARD_PG_BIN`, then the Debian layout
//! `/usr/lib/postgresql/<version>/bin` (highest version), then `PATH`; creates a
//! cluster in a temporary directory; starts it on a free loopback port with its socket
//! in that directory and `fsync` off; and stops and deletes it when dropped. `initdb`
//! refuses to run as root, so under root every server command runs as the `postgres`
//! user (`runuser -u postgres --`), which owns the temporary directory.
//!
//! Every test case gets its own database on the server.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// What to tell someone whose machine cannot run the PostgreSQL half of the suite.
pub const MISSING: &str = "PostgreSQL server binaries (initdb, pg_ctl) not found in \
    $SWITCHBOARD_PG_BIN, /usr/lib/postgresql/*/bin or PATH. Install the Debian package \
    `postgresql` (apt-get install -y postgresql), or set SWITCHBOARD_TEST_POSTGRES_URL to \
    postgres://USER:PASSWORD@HOST:PORT/postgres for a server where USER may CREATE DATABASE.";

/// A PostgreSQL server the suite may create databases on.
pub struct PgServer {
    /// `postgres://user@host:port` with no database.
    base_url: String,
    /// The maintenance database to connect to for `CREATE DATABASE`.
    admin_db: String,
    /// Present when this process started the server.
    owned: Option<OwnedServer>,
    next_db: AtomicU32,
}

struct OwnedServer {
    bin: PathBuf,
    data: PathBuf,
    run_as_postgres: bool,
    /// Deleted last, after the server stops.
    _dir: tempfile::TempDir,
}

impl PgServer {
    /// An external server from the environment, or a new throwaway one.
    pub fn start() -> Result<PgServer, String> {
        if let Ok(url) = std::env::var("SWITCHBOARD_TEST_POSTGRES_URL") {
            let (base, db) = url
                .rsplit_once('/')
                .filter(|(base, _)| base.contains("://"))
                .ok_or("SWITCHBOARD_TEST_POSTGRES_URL must end in /DATABASE")?;
            return Ok(PgServer {
                base_url: base.to_owned(),
                admin_db: db.to_owned(),
                owned: None,
                next_db: AtomicU32::new(0),
            });
        }
        let bin = find_bin_dir().ok_or(MISSING)?;
        let run_as_postgres = running_as_root()?;
        let dir = tempfile::Builder::new()
            .prefix("switchboard-pg-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        if run_as_postgres {
            let uid = id_of("-u")?;
            let gid = id_of("-g")?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).map_err(|e| {
                format!("giving {} to the postgres user: {e}", dir.path().display())
            })?;
        }
        let data = dir.path().join("data");
        let server = OwnedServer {
            bin,
            data,
            run_as_postgres,
            _dir: dir,
        };
        server.run(
            "initdb",
            &[
                "-D",
                path_str(&server.data)?,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )?;
        let mut last_error = String::new();
        // A free port can be taken between probing and binding; try a few.
        for _ in 0..3 {
            let port = free_port()?;
            match server.start_on(port) {
                Ok(()) => {
                    return Ok(PgServer {
                        base_url: format!("postgres://postgres@127.0.0.1:{port}"),
                        admin_db: "postgres".to_owned(),
                        owned: Some(server),
                        next_db: AtomicU32::new(0),
                    });
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// Creates a fresh database and returns its URL.
    pub async fn create_database(&self) -> Result<String, String> {
        use sqlx::Connection as _;
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("store_suite_{}_{n}", std::process::id());
        let admin = format!("{}/{}", self.base_url, self.admin_db);
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .map_err(|e| format!("connecting to the test server: {e}"))?;
        // `name` is made of ASCII letters, digits and underscores only.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        conn.close().await.map_err(|e| e.to_string())?;
        Ok(format!("{}/{name}", self.base_url))
    }
}

impl OwnedServer {
    /// Runs one of the server's programs (as `postgres` when we are root).
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(program);
        let mut command = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = command
            .args(args)
            .current_dir("/")
            .output()
            .map_err(|e| format!("running {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    fn start_on(&self, port: u16) -> Result<(), String> {
        let dir = self.data.parent().ok_or("data directory has a parent")?;
        let log = dir.join("server.log");
        let options = format!(
            "-F -p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            path_str(dir)?
        );
        let started = self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data)?,
                "-l",
                path_str(&log)?,
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
        started.map_err(|e| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}\nserver log:\n{log}")
        })
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(server) = &self.owned
            && let Ok(data) = path_str(&server.data)
            && let Err(e) = server.run("pg_ctl", &["-D", data, "-m", "immediate", "-w", "stop"])
        {
            eprintln!("stopping the test PostgreSQL server: {e}");
        }
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("SWITCHBOARD_PG_BIN").map(PathBuf::from) {
        return has_tools(&dir).then_some(dir);
    }
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin);
    debian.or_else(|| std::env::split_paths(&std::env::var_os("PATH")?).find(|dir| has_tools(dir)))
}

fn running_as_root() -> Result<bool, String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("running id -u: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The postgres user's uid (`-u`) or gid (`-g`).
fn id_of(flag: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .map_err(|e| format!("running id {flag} postgres: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            format!(
                "running as root, but there is no `postgres` user to run the server as \
                 (the Debian package `postgresql` creates it): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}
