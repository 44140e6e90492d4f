//! What the client shows besides a command's output: progress bars on a terminal (the
//! `indicatif` crate, drawn on stderr), notes and warnings.
//!
//! A bar follows a transfer without touching the adapter's data path: it watches the local
//! file through a duplicate of its handle, the file's length for a download and the shared
//! read position for an upload.

use std::fs::File;
use std::io::{IsTerminal, Seek};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How the client reports: bars only when stderr is a terminal and not `--quiet`; notes
/// unless `--quiet`; warnings always.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    quiet: bool,
    bars: bool,
}

impl Ui {
    /// The reporting for `--quiet` (or not), bars when stderr is a terminal.
    pub fn new(quiet: bool) -> Ui {
        Ui {
            quiet,
            bars: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Whether progress bars are drawn.
    pub fn bars(&self) -> bool {
        self.bars
    }

    /// Whether `--quiet` was given.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// An informational line on stderr (`client: ...`), left out with `--quiet`.
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("client: {message}");
        }
    }

    /// A warning on stderr (`client: ...`), shown even with `--quiet`.
    pub fn warn(&self, message: &str) {
        eprintln!("client: {message}");
    }

    /// A bar for a transfer of `total` bytes (when known) that starts at byte `start`,
    /// following `watch`; nothing when bars are off. `keep`: leave the finished bar on screen.
    pub fn bar(
        &self,
        label: &str,
        total: Option<u64>,
        start: u64,
        watch: Watch,
        keep: bool,
    ) -> Bar {
        if !self.bars {
            return Bar { running: None };
        }
        let pb = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let style = match total {
            Some(_) => ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            ),
            None => ProgressStyle::with_template("{msg} {bytes} {binary_bytes_per_sec}"),
        };
        if let Ok(style) = style {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(label.to_owned());
        pb.set_position(start);
        pb.reset_eta();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            loop {
                let done = stopped.load(Ordering::Acquire);
                if let Some(pos) = watch.position() {
                    pb.set_position(pos);
                }
                if done {
                    break;
                }
                std::thread::park_timeout(Duration::from_millis(100));
            }
            if keep {
                pb.finish();
            } else {
                pb.finish_and_clear();
            }
        });
        Bar {
            running: Some((stop, thread)),
        }
    }
}

/// Where a bar reads a transfer's progress.
#[derive(Debug)]
pub enum Watch {
    /// A download: the length of the file being written.
    Written(File),
    /// An upload: the read position of the file being sent (a duplicated handle shares it).
    Read(File),
    /// Nothing to watch.
    None,
}

impl Watch {
    /// A watch on a duplicate of `file`'s handle (nothing when it cannot be duplicated).
    pub fn written(file: &File) -> Watch {
        file.try_clone().map_or(Watch::None, Watch::Written)
    }

    /// A watch on a duplicate of `file`'s handle (nothing when it cannot be duplicated).
    pub fn read(file: &File) -> Watch {
        file.try_clone().map_or(Watch::None, Watch::Read)
    }

    fn position(&self) -> Option<u64> {
        match self {
            Watch::Written(f) => f.metadata().ok().map(|m| m.len()),
            Watch::Read(f) => {
                let mut f = f;
                f.stream_position().ok()
            }
            Watch::None => None,
        }
    }
}

/// A running bar: [`finish`](Self::finish) draws its last state and stops it.
#[derive(Debug)]
pub struct Bar {
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Bar {
    /// Stops the bar after one last update.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::Release);
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop();
    }
}
