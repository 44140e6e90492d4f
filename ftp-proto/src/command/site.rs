//! `SITE` subcommands and the LIST/NLST/STAT option splitter.

use super::*;

/// Splits a LIST/NLST/STAT argument into leading `-options` and the pathname.
///
/// Leading space-separated words that start with `-` are options (`LIST -la`,
/// `LIST -la -x tmp*`), as pyftpdlib and libunftp read them; the rest, after the spaces that
/// follow the options, is the path. Returns `(options, path)`, each `None` when empty.
pub fn split_list_arg(arg: &Bytes) -> (Option<Bytes>, Option<Bytes>) {
    let mut end = 0;
    let mut rest_at = 0;
    while arg.get(rest_at) == Some(&b'-') {
        let word = arg
            .get(rest_at..)
            .unwrap_or_default()
            .iter()
            .position(|&b| b == b' ')
            .map_or(arg.len(), |p| rest_at + p);
        end = word;
        rest_at = word;
        while arg.get(rest_at) == Some(&b' ') {
            rest_at += 1;
        }
    }
    let opts = (end > 0).then(|| arg.slice(..end));
    let path = (rest_at < arg.len()).then(|| arg.slice(rest_at..));
    (opts, path)
}

/// A `SITE` argument split into the subcommands this crate knows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SiteCommand {
    /// `SITE CHMOD <octal mode> <path>`.
    Chmod {
        /// Permission bits, at most `0o7777`.
        mode: u32,
        /// The file to change.
        path: Bytes,
    },
    /// `SITE UTIME <YYYYMMDDhhmm[ss]> <path>` or `SITE UTIME <path> <atime> <mtime> <ctime> UTC`.
    Utime {
        /// The file to change.
        path: Bytes,
        /// Access time (only in the five-argument form).
        atime: Option<Timestamp>,
        /// Modification time.
        mtime: Timestamp,
        /// Change/creation time (only in the five-argument form).
        ctime: Option<Timestamp>,
    },
    /// Any other subcommand, with the rest of the argument.
    Other {
        /// The first word of the argument, as sent (compare case-insensitively).
        name: Bytes,
        /// The rest after one SP, if any.
        arg: Option<Bytes>,
    },
}

impl SiteCommand {
    /// Parses the argument of [`Command::Site`].
    ///
    /// CHMOD needs 1-4 octal digits and a path (`-177`, `778`, `foo` are rejected); UTIME
    /// times are UTC `time-val`s (12-digit times get seconds 00). Errs with
    /// [`CommandError::Syntax`] (501) for a malformed CHMOD or UTIME.
    pub fn parse(arg: &Bytes) -> Result<SiteCommand, CommandError> {
        let (name, rest) = split_first_word(arg.clone());
        if name.eq_ignore_ascii_case(b"CHMOD") {
            let (mode, path) = split_first_word(rest.ok_or(CommandError::Syntax("SITE"))?);
            let path = path.ok_or(CommandError::Syntax("SITE"))?;
            let octal =
                (1..=4).contains(&mode.len()) && mode.iter().all(|b| (b'0'..=b'7').contains(b));
            if !octal {
                return Err(CommandError::Syntax("SITE"));
            }
            let mode = mode.iter().fold(0u32, |m, &b| m * 8 + u32::from(b - b'0'));
            return Ok(SiteCommand::Chmod { mode, path });
        }
        if name.eq_ignore_ascii_case(b"UTIME") {
            let rest = rest.ok_or(CommandError::Syntax("SITE"))?;
            return parse_utime(rest).ok_or(CommandError::Syntax("SITE"));
        }
        Ok(SiteCommand::Other { name, arg: rest })
    }
}

fn parse_utime(rest: Bytes) -> Option<SiteCommand> {
    // Five-argument form first: the path may contain spaces, so read from the right.
    let mut words = rest.rsplitn(5, |&b| b == b' ');
    if let (Some(utc), Some(c), Some(m), Some(a), Some(path)) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) {
        if utc.eq_ignore_ascii_case(b"UTC") && !path.is_empty() {
            if let (Some(atime), Some(mtime), Some(ctime)) =
                (utime_val(a), utime_val(m), utime_val(c))
            {
                let path = rest.slice(..path.len());
                return Some(SiteCommand::Utime {
                    path,
                    atime: Some(atime),
                    mtime,
                    ctime: Some(ctime),
                });
            }
        }
    }
    let (time, path) = split_first_word(rest);
    Some(SiteCommand::Utime {
        mtime: utime_val(&time)?,
        path: path?,
        atime: None,
        ctime: None,
    })
}

fn utime_val(t: &[u8]) -> Option<Timestamp> {
    match t.len() {
        14 => Timestamp::parse_time_val(t).ok(),
        12 => {
            let mut full = [b'0'; 14];
            full.get_mut(..12)?.copy_from_slice(t);
            Timestamp::parse_time_val(&full).ok()
        }
        _ => None,
    }
}
