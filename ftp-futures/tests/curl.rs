//! curl as the client of the futures server: uploads and downloads in passive and active
//! mode, byte-equal, and a listing.

mod common;

use std::process::Command;

use common::{content, start, PASS, USER};
use ftp_proto::server::TlsMode;

fn curl(args: &[&str]) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn curl_uploads_and_downloads() {
    let server = start(TlsMode::Disabled);
    let local = tempfile::tempdir().unwrap();
    let data = content(2 * 1024 * 1024 + 17, 7);
    let src = local.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    let src = src.to_str().unwrap();
    let url = |name: &str| format!("ftp://{USER}:{PASS}@{}/{name}", server.addr);
    let local_file = |name: &str| local.path().join(name).to_str().unwrap().to_owned();

    // Passive (EPSV) upload, then the server's copy is the same bytes.
    curl(&["-T", src, &url("up.bin")]);
    assert_eq!(std::fs::read(server.path("up.bin")).unwrap(), data);

    // Passive download.
    curl(&["-o", &local_file("down.bin"), &url("up.bin")]);
    assert_eq!(std::fs::read(local_file("down.bin")).unwrap(), data);

    // Active mode (EPRT) both ways.
    curl(&["-P", "127.0.0.1", "-T", src, &url("active.bin")]);
    assert_eq!(std::fs::read(server.path("active.bin")).unwrap(), data);
    let active_down = local_file("active-down.bin");
    curl(&["-P", "127.0.0.1", "-o", &active_down, &url("active.bin")]);
    assert_eq!(std::fs::read(active_down).unwrap(), data);

    // A listing names the file with its size.
    curl(&["-o", &local_file("list.txt"), &url("")]);
    let list = std::fs::read_to_string(local_file("list.txt")).unwrap();
    let line = list.lines().find(|l| l.ends_with(" up.bin")).expect(&list);
    assert!(line.contains(&format!(" {} ", data.len())), "{line}");
}
