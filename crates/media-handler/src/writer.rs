//! The recording writer: one thread that owns every open recording file, fed by a bounded
//! channel, so no media thread ever waits on the disk. WAV headers are brought up to date
//! about once a second (a crash leaves a readable file), and once more when the recording
//! ends; then `recording_finished` goes out on the event stream.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use media::wav::{self, WavWriter};
use media::{RecordingId, SessionId};
use tokio::sync::broadcast;

/// How often open files get their header updated.
const HEADER_EVERY: Duration = Duration::from_secs(1);
/// Capacity of the channel to the writer, in messages (a chunk is 200 ms of one recording).
pub const CHANNEL: usize = 4096;

/// Messages to the writer.
#[derive(Debug)]
pub enum WriterMsg {
    /// A new recording's file, already created with its header.
    Open {
        /// Recording.
        id: RecordingId,
        /// Its session.
        session: SessionId,
        /// Where it is.
        path: PathBuf,
        /// The file.
        file: WavWriter<BufWriter<File>>,
    },
    /// Samples to append.
    Samples {
        /// Recording.
        id: RecordingId,
        /// Interleaved samples.
        samples: Vec<i16>,
    },
    /// The recording ended: finalize the file and report it.
    Finish {
        /// Recording.
        id: RecordingId,
        /// Its session.
        session: SessionId,
    },
    /// A recording that could not start: close and delete its file.
    Abort {
        /// Recording.
        id: RecordingId,
    },
    /// Finalize every open file (the handler stops).
    FinishAll,
}

struct Open {
    session: SessionId,
    path: PathBuf,
    file: WavWriter<BufWriter<File>>,
    header_at: Instant,
}

/// Create a recording file (with its header) at `path`, creating directories as needed.
pub fn create(path: &Path, channels: u16) -> std::io::Result<WavWriter<BufWriter<File>>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f = File::create(path)?;
    WavWriter::new(BufWriter::with_capacity(64 * 1024, f), channels, 8000)
}

fn finish(o: Open, id: RecordingId, events: &broadcast::Sender<media_api::Event>) {
    let duration_ms = o.file.duration_ms();
    if let Err(e) = o.file.finish() {
        tracing::error!(path = %o.path.display(), error = %e, "cannot finalize recording");
    }
    let _ = events.send(media_api::Event::RecordingFinished {
        session_id: media_api::SessionId(o.session.0),
        recording_id: media_api::RecordingId(id.0),
        path: o.path.display().to_string(),
        duration_ms,
    });
}

/// The writer loop; returns when every sender is gone.
pub fn run(rx: Receiver<WriterMsg>, events: broadcast::Sender<media_api::Event>) {
    let mut open: HashMap<RecordingId, Open> = HashMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            WriterMsg::Open {
                id,
                session,
                path,
                file,
            } => {
                open.insert(
                    id,
                    Open {
                        session,
                        path,
                        file,
                        header_at: Instant::now(),
                    },
                );
            }
            WriterMsg::Samples { id, samples } => {
                let Some(o) = open.get_mut(&id) else { continue };
                if let Err(e) = o.file.write_samples(&samples) {
                    tracing::error!(path = %o.path.display(), error = %e, "recording write failed");
                }
                if o.header_at.elapsed() >= HEADER_EVERY {
                    o.header_at = Instant::now();
                    if let Err(e) = o.file.update_header() {
                        tracing::error!(path = %o.path.display(), error = %e, "recording header update failed");
                    }
                }
            }
            WriterMsg::Finish { id, session } => {
                if let Some(mut o) = open.remove(&id) {
                    o.session = session;
                    finish(o, id, &events);
                }
            }
            WriterMsg::Abort { id } => {
                if let Some(o) = open.remove(&id) {
                    drop(o.file);
                    let _ = std::fs::remove_file(&o.path);
                }
            }
            WriterMsg::FinishAll => {
                for (id, o) in open.drain() {
                    finish(o, id, &events);
                }
            }
        }
    }
    for (id, o) in open.drain() {
        finish(o, id, &events);
    }
}

/// Repair the headers of WAV files under `dir` (recursively) whose writer died; returns how
/// many were fixed.
pub fn repair_dir(dir: &Path) -> usize {
    let mut fixed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            fixed += repair_dir(&path);
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("wav") {
            continue;
        }
        let Ok(mut f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        match wav::repair(&mut f) {
            Ok(wav::Repair::Fixed { data_len }) => {
                tracing::warn!(path = %path.display(), data_len, "repaired the header of an unfinished recording");
                fixed += 1;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot check recording"),
        }
    }
    fixed
}
