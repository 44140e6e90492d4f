//! The transfer log in the wu-ftpd/vsftpd `xferlog` format: one line per file transfer,
//! complete or not, appended to a file by the [`XferLog`] observer.
//!
//! A line's fields, space-separated:
//!
//! ```text
//! Sat Dec  5 02:13:30 2026 3 127.0.0.1 1048576 /dir/file b _ o r alice ftp 0 * c
//! |current time (UTC)      |  |         |       |         | | | | |     |   | | completion:
//!                          |  |         |       |         | | | | |     |   | |  c complete,
//!                          |  |         |       |         | | | | |     |   | |  i incomplete
//!                          |  |         |       |         | | | | |     |   | authenticated id
//!                          |  |         |       |         | | | | |     |   auth method (0)
//!                          |  |         |       |         | | | | |     service
//!                          |  |         |       |         | | | | user
//!                          |  |         |       |         | | | access: a anonymous, r real
//!                          |  |         |       |         | | direction: o out, i in
//!                          |  |         |       |         | special action: _ none
//!                          |  |         |       |         type: a ASCII, b binary
//!                          |  |         |       file name (as the user sees it)
//!                          |  |         bytes over the data connection
//!                          |  remote host
//!                          transfer seconds (whole, at least 1)
//! ```
//!
//! Listings are not logged (as in vsftpd). Spaces and control characters in a file or user
//! name are written as `_`, so that every line keeps its field count.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use ftp_proto::time::Timestamp;

use crate::events::{Event, Observer, TransferKind, TransferRecord};

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sat Dec  5 02:13:30 2026`: the C library's `asctime` layout, in UTC.
fn asctime(t: Timestamp) -> String {
    let c = t.to_civil();
    // 1970-01-01 was a Thursday.
    let weekday = (t.unix_seconds().div_euclid(86_400) + 4).rem_euclid(7);
    let day = DAYS
        .get(usize::try_from(weekday).unwrap_or(0))
        .unwrap_or(&"Sun");
    let month = MONTHS
        .get(usize::from(c.month.saturating_sub(1)))
        .unwrap_or(&"Jan");
    format!(
        "{day} {month} {:>2} {:02}:{:02}:{:02} {}",
        c.day, c.hour, c.minute, c.second, c.year
    )
}

/// A name made safe for one field: spaces and control characters become `_`.
fn field(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The xferlog line (without its newline) for a file transfer; `None` for a listing.
pub fn line(record: &TransferRecord) -> Option<String> {
    let direction = match record.kind {
        TransferKind::Download => 'o',
        TransferKind::Upload => 'i',
        _ => return None,
    };
    let ended = Timestamp::from_system_time(record.ended).unwrap_or(Timestamp::UNIX_EPOCH);
    let secs = record.duration.as_secs_f64().round().max(1.0);
    Some(format!(
        "{} {secs:.0} {} {} {} {} _ {direction} {} {} ftp 0 * {}",
        asctime(ended),
        ftp_proto::server::canonical_ip(record.peer.ip()),
        record.bytes,
        field(record.path.as_bytes()),
        if record.ascii { 'a' } else { 'b' },
        if record.anonymous { 'a' } else { 'r' },
        field(record.user.as_bytes()),
        if record.complete { 'c' } else { 'i' },
    ))
}

/// Appends a line per file transfer to a file.
#[derive(Debug)]
pub struct XferLog {
    file: Mutex<File>,
}

impl XferLog {
    /// Appends to `path`, created if missing.
    pub fn open(path: &Path) -> io::Result<XferLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(XferLog {
            file: Mutex::new(file),
        })
    }
}

impl Observer for XferLog {
    fn event(&self, event: &Event) {
        let Event::Transfer(record) = event else {
            return;
        };
        let Some(mut line) = line(record) else {
            return;
        };
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // One write of the whole line: with O_APPEND, lines of several servers sharing the
        // file do not interleave.
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!("xferlog: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn record(kind: TransferKind, complete: bool) -> TransferRecord {
        TransferRecord {
            peer: "[::ffff:127.0.0.1]:4000".parse().unwrap(),
            user: "alice".into(),
            anonymous: false,
            kind,
            path: ftp_proto::path::VirtualPath::root()
                .resolve(b"/dir/my file.bin")
                .unwrap(),
            real_path: None,
            bytes: 1_048_576,
            duration: Duration::from_millis(2600),
            ended: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_437_210),
            complete,
            ascii: false,
        }
    }

    #[test]
    fn lines_have_the_xferlog_fields() {
        assert_eq!(
            line(&record(TransferKind::Download, true)).unwrap(),
            "Sat Dec  5 02:20:10 2026 3 127.0.0.1 1048576 /dir/my_file.bin b _ o r alice ftp 0 * c"
        );
        let mut up = record(TransferKind::Upload, false);
        up.anonymous = true;
        up.ascii = true;
        up.duration = Duration::ZERO;
        up.ended = SystemTime::UNIX_EPOCH;
        assert_eq!(
            line(&up).unwrap(),
            "Thu Jan  1 00:00:00 1970 1 127.0.0.1 1048576 /dir/my_file.bin a _ i a alice ftp 0 * i"
        );
        assert_eq!(line(&record(TransferKind::Listing, true)), None);
    }

    #[test]
    fn the_observer_appends_one_line_per_file_transfer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xferlog");
        let log = XferLog::open(&path).unwrap();
        log.event(&Event::Transfer(record(TransferKind::Upload, true)));
        log.event(&Event::Transfer(record(TransferKind::Listing, true)));
        log.event(&Event::SessionEnded {
            peer: "127.0.0.1:1".parse().unwrap(),
        });
        log.event(&Event::Transfer(record(TransferKind::Download, false)));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with(" i r alice ftp 0 * c"));
        assert!(lines[1].ends_with(" o r alice ftp 0 * i"));
        assert!(lines
            .iter()
            .all(|l| l.split(' ').filter(|f| !f.is_empty()).count() == 18));
    }
}
