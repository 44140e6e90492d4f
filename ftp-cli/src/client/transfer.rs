//! One file each way (`get`, `put`, with `--continue`), the checks on names a server sends,
//! and error messages that say what failed.

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::Path;

use ftp_host::client::Error;
use ftp_proto::client::OpError;

use super::progress::{Ui, Watch};
use super::{CliClient, Failure};

/// The error of `what`: `WHAT: MESSAGE`, with the status of [`Failure::from`].
pub fn failed(what: impl Display) -> impl FnOnce(Error) -> Failure {
    move |e| {
        let refused = refused_with(&e).is_some();
        let f = Failure::from(e);
        Failure {
            message: format!("{what}: {}", f.message),
            status: f.status,
            refused,
        }
    }
}

/// A local I/O error on `path`, as a [`Failure`].
pub fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Failure + '_ {
    move |e| Failure::from(format!("{}: {e}", path.display()))
}

/// The code of the reply that refused an operation (the session goes on), if that is how it
/// failed.
pub fn refused_with(e: &Error) -> Option<u16> {
    match e {
        Error::Op(OpError::Rejected(r)) => Some(r.code().as_u16()),
        _ => None,
    }
}

/// A name from a server's listing as one safe path component, or why it is not one: empty,
/// `.` or `..`, a `/` or `\`, a NUL or another control character, not UTF-8. A name that
/// passes cannot make a path joined to a directory leave that directory.
pub fn safe_name(name: &[u8]) -> Result<&str, &'static str> {
    let name = std::str::from_utf8(name).map_err(|_| "not UTF-8")?;
    if name.is_empty() {
        return Err("empty name");
    }
    if name == "." || name == ".." {
        return Err("not a file name");
    }
    if name.contains(['/', '\\']) {
        return Err("contains a path separator");
    }
    if name.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    Ok(name)
}

/// `dir/name` on the server (`name` alone when `dir` is the login directory, empty).
pub fn remote_join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// A server path as shown in messages (the login directory as `.`).
pub fn shown(path: &str) -> &str {
    if path.is_empty() {
        "."
    } else {
        path
    }
}

/// `get`: RETR of `remote` into `local`; with `resume`, a local file's bytes are kept and the
/// rest is asked for from there (SIZE, then REST + RETR), and the local file must end with
/// the server's SIZE. Returns the bytes transferred. `keep_bar`: leave the bar on screen.
pub async fn get_file<C: CliClient>(
    client: &C,
    remote: &str,
    local: &Path,
    resume: bool,
    ui: &Ui,
    keep_bar: bool,
) -> Result<u64, Failure> {
    let mut offset = 0;
    let mut expected = None;
    if resume {
        let size = client
            .size(remote)
            .await
            .map_err(failed(format_args!("SIZE {remote}")))?;
        expected = Some(size);
        match std::fs::metadata(local) {
            Ok(m) if m.is_file() => offset = m.len(),
            Ok(_) => {
                return Err(format!("{}: not a regular file", local.display()).into());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(local_err(local, e)),
        }
        if offset == size {
            ui.note(&format!(
                "{}: already complete ({size} bytes), nothing to do",
                local.display()
            ));
            return Ok(0);
        }
        if offset > size {
            return Err(format!(
                "{}: the local file ({offset} bytes) is larger than {remote} on the server \
                 ({size} bytes); not resuming",
                local.display()
            )
            .into());
        }
    } else if ui.bars() {
        expected = client.size(remote).await.ok();
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(!resume)
        .open(local)
        .map_err(io_err(local))?;
    if offset > 0 {
        file.seek(SeekFrom::Start(offset)).map_err(io_err(local))?;
        ui.note(&format!("resuming {remote} at byte {offset}"));
    }
    let bar = ui.bar(remote, expected, offset, Watch::written(&file), keep_bar);
    let result = client.download(remote, offset, file).await;
    bar.finish();
    let n = result.map_err(failed(format_args!("get {remote}")))?;
    if resume {
        let size = expected.unwrap_or_default();
        let got = std::fs::metadata(local).map_err(io_err(local))?.len();
        if got != size {
            return Err(format!(
                "get {remote}: {} has {got} bytes after the transfer, the server's SIZE said \
                 {size}",
                local.display()
            )
            .into());
        }
    }
    Ok(n)
}

fn local_err(path: &Path, e: std::io::Error) -> Failure {
    io_err(path)(e)
}

/// `put`: STOR of `local` to `remote`; with `resume`, the server's SIZE of `remote` says how
/// much it has (none when it refuses SIZE with 550: no such file), and the rest is sent with
/// REST + STOR, or APPE when the server refuses that; the server's SIZE must then be the local
/// file's length. Returns the bytes transferred.
pub async fn put_file<C: CliClient>(
    client: &C,
    local: &Path,
    remote: &str,
    resume: bool,
    ui: &Ui,
    keep_bar: bool,
) -> Result<u64, Failure> {
    let mut file = File::open(local).map_err(io_err(local))?;
    let len = file.metadata().map_err(io_err(local))?.len();
    let mut offset = 0;
    if resume {
        match client.size(remote).await {
            Ok(n) => offset = n,
            Err(e) if refused_with(&e) == Some(550) => {}
            Err(e) => return Err(failed(format_args!("SIZE {remote}"))(e)),
        }
        if offset == len {
            ui.note(&format!(
                "{remote}: already complete ({len} bytes), nothing to do"
            ));
            return Ok(0);
        }
        if offset > len {
            return Err(format!(
                "{remote} on the server ({offset} bytes) is larger than {} ({len} bytes); not \
                 resuming",
                local.display()
            )
            .into());
        }
    }
    if offset > 0 {
        file.seek(SeekFrom::Start(offset)).map_err(io_err(local))?;
        ui.note(&format!("resuming {remote} at byte {offset}"));
    }
    let bar = ui.bar(remote, Some(len), offset, Watch::read(&file), keep_bar);
    let mut result = client.upload(file, remote, offset).await;
    if offset > 0 {
        if let Some(code) = result.as_ref().err().and_then(refused_with) {
            if (500..600).contains(&code) {
                let why = result.as_ref().err().map(ToString::to_string);
                ui.note(&format!(
                    "REST + STOR refused ({}); appending with APPE",
                    why.unwrap_or_default()
                ));
                let mut file = File::open(local).map_err(io_err(local))?;
                file.seek(SeekFrom::Start(offset)).map_err(io_err(local))?;
                result = client.append(file, remote).await;
            }
        }
    }
    bar.finish();
    let n = result.map_err(failed(format_args!("put {remote}")))?;
    if resume {
        let size = client
            .size(remote)
            .await
            .map_err(failed(format_args!("SIZE {remote} after the upload")))?;
        if size != len {
            return Err(format!(
                "put {remote}: the server's SIZE is {size} bytes after the transfer, {} has \
                 {len}",
                local.display()
            )
            .into());
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(safe_name(b"ok.txt"), Ok("ok.txt"));
        assert_eq!(safe_name(b"with space"), Ok("with space"));
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"../escape",
            b"/etc/x",
            b"a\\b",
            b"nul\0",
            b"bell\x07",
            b"new\nline",
            b"del\x7f",
            b"\xff",
        ] {
            assert!(safe_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(remote_join("", "a"), "a");
        assert_eq!(remote_join("d", "a"), "d/a");
        assert_eq!(remote_join("/", "a"), "/a");
    }
}
