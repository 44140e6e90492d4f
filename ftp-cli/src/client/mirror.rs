//! `mirror`: a directory tree each way. Downloads list with MLSD where the server offers it
//! and LIST otherwise; a file whose size and modification time already match is skipped,
//! and a downloaded file gets the server's time. Uploads create directories with MKD and set
//! the server's time with MFMT (or vsftpd's `MDTM time path`) where it can; a remote file of
//! the same size that is not older than the local one is skipped. Symbolic links and special
//! files are skipped with a warning, and so is every name a server sends that is not one safe
//! path component ([`safe_name`]): nothing is written outside the target directory.

use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ftp_host::client::Error;
use ftp_proto::command::Command;
use ftp_proto::listing::{Entry, EntryKind};
use ftp_proto::time::Timestamp;

use super::progress::Ui;
use super::transfer::{
    failed, get_file, io_err, put_file, refused_with, remote_join, safe_name, shown,
};
use super::{CliClient, Failure};

/// What a mirror run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Files transferred.
    pub files: u64,
    /// Bytes transferred.
    pub bytes: u64,
    /// Files left alone because they were up to date.
    pub up_to_date: u64,
    /// Entries skipped (links, special files, unsafe names, type clashes).
    pub skipped: u64,
    /// Directories created.
    pub dirs_created: u64,
    /// Files the server refused to transfer (each reported; the run goes on and fails at
    /// the end).
    pub failed: u64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files transferred ({} bytes), {} up to date, {} skipped, {} directories \
             created, {} failed",
            self.files, self.bytes, self.up_to_date, self.skipped, self.dirs_created, self.failed
        )
    }
}

/// Lists directories with MLSD until the server refuses it as not implemented, then LIST.
struct Lister {
    mlsd: bool,
}

impl Lister {
    /// The entries of `dir` and whether their times are exact (MLSD) or LIST's (minutes, or
    /// days for old files).
    async fn list<C: CliClient>(
        &mut self,
        client: &C,
        dir: &str,
    ) -> Result<(Vec<Entry>, bool), Error> {
        let path = (!dir.is_empty()).then_some(dir);
        if self.mlsd {
            match client.mlsd(path).await {
                Ok(entries) => return Ok((entries, true)),
                Err(e) if matches!(refused_with(&e), Some(500 | 502 | 504)) => self.mlsd = false,
                Err(e) => return Err(e),
            }
        }
        Ok((client.list(path).await?, false))
    }
}

fn seconds(t: SystemTime) -> i64 {
    Timestamp::from_system_time(t).map_or(0, |t| t.unix_seconds())
}

/// `mirror URL DIR`: the tree at `remote` into `local` (created when missing).
pub async fn download<C: CliClient>(
    client: &C,
    remote: &str,
    local: &Path,
    ui: &Ui,
) -> Result<Stats, Failure> {
    let mut stats = Stats::default();
    match std::fs::symlink_metadata(local) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{}: not a directory", local.display()).into()),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            std::fs::create_dir_all(local).map_err(io_err(local))?;
            stats.dirs_created += 1;
        }
        Err(e) => return Err(io_err(local)(e)),
    }
    let mut lister = Lister { mlsd: true };
    let mut todo = vec![(remote.to_owned(), local.to_path_buf())];
    while let Some((rdir, ldir)) = todo.pop() {
        let (entries, _) = lister
            .list(client, &rdir)
            .await
            .map_err(failed(format_args!("listing {}", shown(&rdir))))?;
        for entry in entries {
            if matches!(entry.kind, EntryKind::CurrentDir | EntryKind::ParentDir) {
                continue;
            }
            let name = match safe_name(&entry.name) {
                Ok(n) => n,
                Err(why) => {
                    ui.warn(&format!(
                        "skipping {:?} in {}: {why}",
                        String::from_utf8_lossy(&entry.name),
                        shown(&rdir)
                    ));
                    stats.skipped += 1;
                    continue;
                }
            };
            let rpath = remote_join(&rdir, name);
            let lpath = ldir.join(name);
            let existing = match std::fs::symlink_metadata(&lpath) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(io_err(&lpath)(e)),
            };
            match entry.kind {
                EntryKind::Dir => {
                    match existing {
                        Some(m) if m.is_dir() => {}
                        Some(_) => {
                            ui.warn(&format!(
                                "skipping directory {rpath}: {} exists and is not a directory",
                                lpath.display()
                            ));
                            stats.skipped += 1;
                            continue;
                        }
                        None => {
                            std::fs::create_dir(&lpath).map_err(io_err(&lpath))?;
                            stats.dirs_created += 1;
                        }
                    }
                    todo.push((rpath, lpath));
                }
                EntryKind::File | EntryKind::Unknown => {
                    if existing.as_ref().is_some_and(|m| !m.is_file()) {
                        ui.warn(&format!(
                            "skipping {rpath}: {} exists and is not a regular file",
                            lpath.display()
                        ));
                        stats.skipped += 1;
                        continue;
                    }
                    let time = match entry.modified {
                        Some(t) => Some(t),
                        None => client.mdtm(&rpath).await.ok(),
                    };
                    if let (Some(m), Some(size), Some(t)) = (&existing, entry.size, time) {
                        let same_time = m.modified().ok().map(seconds) == Some(t.unix_seconds());
                        if m.len() == size && same_time {
                            stats.up_to_date += 1;
                            continue;
                        }
                    }
                    match get_file(client, &rpath, &lpath, false, ui, false).await {
                        Ok(n) => stats.bytes += n,
                        Err(f) if f.refused => {
                            ui.warn(&f.message);
                            stats.failed += 1;
                            let _ = std::fs::remove_file(&lpath);
                            continue;
                        }
                        Err(f) => return Err(f),
                    }
                    stats.files += 1;
                    if let Some(t) = time {
                        File::options()
                            .write(true)
                            .open(&lpath)
                            .and_then(|f| f.set_modified(t.to_system_time()))
                            .map_err(io_err(&lpath))?;
                    }
                }
                EntryKind::Symlink { .. } => {
                    ui.warn(&format!("skipping symbolic link {rpath}"));
                    stats.skipped += 1;
                }
                _ => {
                    ui.warn(&format!(
                        "skipping {rpath}: not a regular file or directory"
                    ));
                    stats.skipped += 1;
                }
            }
        }
    }
    Ok(stats)
}

/// How the server's modification time of an uploaded file is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetTime {
    /// MFMT (RFC draft, pyftpdlib, ours...).
    Mfmt,
    /// `MDTM YYYYMMDDHHMMSS path` (vsftpd).
    MdtmWrite,
    /// Neither works.
    Never,
}

async fn set_time<C: CliClient>(client: &C, how: &mut SetTime, path: &str, time: Timestamp) {
    if *how == SetTime::Mfmt {
        match client.mfmt(path, time).await {
            Ok(_) => return,
            Err(_) => *how = SetTime::MdtmWrite,
        }
    }
    if *how == SetTime::MdtmWrite {
        let c = time.to_civil();
        let arg = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02} {path}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        );
        match client.raw(Command::Mdtm(arg.into_bytes().into())).await {
            Ok(r) if r.code().as_u16() == 213 => {}
            _ => *how = SetTime::Never,
        }
    }
}

/// Whether a server file listed with time `remote` is not older than a local one changed at
/// `local`: exact with MLSD; with LIST, at its precision (the minute, or the day when the
/// listing shows no time of day).
fn not_older(remote: Timestamp, local: SystemTime, exact: bool) -> bool {
    let r = remote.unix_seconds();
    let l = seconds(local);
    if exact {
        return r >= l;
    }
    let grain = if r.rem_euclid(86_400) == 0 {
        86_400
    } else {
        60
    };
    r >= l - l.rem_euclid(grain)
}

/// `mirror -R DIR URL`: the tree at `local` to `remote` (created with MKD when missing).
pub async fn upload<C: CliClient>(
    client: &C,
    local: &Path,
    remote: &str,
    ui: &Ui,
) -> Result<Stats, Failure> {
    let mut stats = Stats::default();
    let meta = std::fs::metadata(local).map_err(io_err(local))?;
    if !meta.is_dir() {
        return Err(format!("{}: not a directory", local.display()).into());
    }
    let mut lister = Lister { mlsd: true };
    let mut how = SetTime::Mfmt;
    // Each directory: its local path, its server path, whether it was just created (empty).
    // The top directory is made when missing (some servers list a missing directory as
    // empty, so the listing cannot tell); a refusal means it exists, or the listing or the
    // first MKD inside it will say why not.
    let created = !remote.is_empty() && client.mkdir(remote).await.is_ok();
    if created {
        stats.dirs_created += 1;
    }
    let mut todo: Vec<(PathBuf, String, bool)> =
        vec![(local.to_path_buf(), remote.to_owned(), created)];
    while let Some((ldir, rdir, created)) = todo.pop() {
        let mut remote_entries: HashMap<Vec<u8>, Entry> = HashMap::new();
        let mut exact = true;
        if !created {
            match lister.list(client, &rdir).await {
                Ok((entries, e)) => {
                    exact = e;
                    remote_entries = entries.into_iter().map(|e| (e.name.to_vec(), e)).collect();
                }
                Err(e) if refused_with(&e).is_some_and(|c| c >= 500) && !rdir.is_empty() => {
                    client
                        .mkdir(&rdir)
                        .await
                        .map_err(failed(format_args!("MKD {rdir}")))?;
                    stats.dirs_created += 1;
                }
                Err(e) => return Err(failed(format_args!("listing {}", shown(&rdir)))(e)),
            }
        }
        let mut names: Vec<_> = std::fs::read_dir(&ldir)
            .map_err(io_err(&ldir))?
            .map(|d| d.map(|d| d.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err(&ldir))?;
        names.sort();
        for os_name in names {
            let lpath = ldir.join(&os_name);
            let Some(name) = os_name.to_str() else {
                ui.warn(&format!(
                    "skipping {}: the name is not UTF-8",
                    lpath.display()
                ));
                stats.skipped += 1;
                continue;
            };
            let rpath = remote_join(&rdir, name);
            let m = std::fs::symlink_metadata(&lpath).map_err(io_err(&lpath))?;
            let there = remote_entries.get(name.as_bytes());
            if m.file_type().is_symlink() {
                ui.warn(&format!("skipping symbolic link {}", lpath.display()));
                stats.skipped += 1;
            } else if m.is_dir() {
                match there.map(|e| &e.kind) {
                    Some(EntryKind::Dir) => todo.push((lpath, rpath, false)),
                    Some(_) => {
                        ui.warn(&format!(
                            "skipping {}: {rpath} exists on the server and is not a directory",
                            lpath.display()
                        ));
                        stats.skipped += 1;
                    }
                    None => {
                        client
                            .mkdir(&rpath)
                            .await
                            .map_err(failed(format_args!("MKD {rpath}")))?;
                        stats.dirs_created += 1;
                        todo.push((lpath, rpath, true));
                    }
                }
            } else if m.is_file() {
                let mtime = m.modified().ok();
                if let Some(e) = there {
                    if !matches!(e.kind, EntryKind::File | EntryKind::Unknown) {
                        ui.warn(&format!(
                            "skipping {}: {rpath} exists on the server and is not a file",
                            lpath.display()
                        ));
                        stats.skipped += 1;
                        continue;
                    }
                    let fresh = match (e.modified, mtime) {
                        (Some(r), Some(l)) => not_older(r, l, exact),
                        _ => false,
                    };
                    if e.size == Some(m.len()) && fresh {
                        stats.up_to_date += 1;
                        continue;
                    }
                }
                match put_file(client, &lpath, &rpath, false, ui, false).await {
                    Ok(n) => stats.bytes += n,
                    Err(f) if f.refused => {
                        ui.warn(&f.message);
                        stats.failed += 1;
                        continue;
                    }
                    Err(f) => return Err(f),
                }
                stats.files += 1;
                if let Some(t) = mtime.and_then(Timestamp::from_system_time) {
                    set_time(client, &mut how, &rpath, t).await;
                }
            } else {
                ui.warn(&format!(
                    "skipping {}: not a regular file or directory",
                    lpath.display()
                ));
                stats.skipped += 1;
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_at_the_listing_precision() {
        let t = |s| Timestamp::from_unix(s, 0).unwrap();
        let local = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_123);
        assert!(not_older(t(1_700_000_123), local, true));
        assert!(!not_older(t(1_700_000_122), local, true));
        // LIST shows the minute: 1_700_000_100 is the start of the local time's minute.
        assert!(not_older(t(1_700_000_100), local, false));
        assert!(!not_older(t(1_700_000_040), local, false));
        // Old files: the day only.
        assert!(not_older(t(1_699_920_000), local, false));
    }
}
