//! The peer-server harness itself: each real server starts, logs our test user in and moves
//! bytes both ways, checked with curl. The interop tests of our own client rely on this.

use std::process::Command;

use ftp_tests::peers::{PeerKind, PeerServer, PeerTls, PEER_PASS, PEER_USER};

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl is installed by .ci/install-peers")
}

fn round_trip(kind: PeerKind, tls: PeerTls) {
    let server = PeerServer::start(kind, tls).unwrap_or_else(|e| panic!("{kind:?} {tls:?}: {e}"));
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let local = server.root.parent().unwrap().join("upload.bin");
    std::fs::write(&local, &payload).unwrap();
    let url = format!("ftp://{PEER_USER}:{PEER_PASS}@{}/smoke.bin", server.addr);
    let mut tls_args: Vec<&str> = Vec::new();
    if tls != PeerTls::Off {
        // TLS 1.2: with TLS 1.3, vsftpd (OpenSSL) sends session tickets on the data connection,
        // which an uploading curl never reads; its close then resets the connection and the
        // end of the upload can be lost (curl: "(18) ... got 426").
        tls_args.extend(["--ssl-reqd", "--insecure", "--tls-max", "1.2"]);
    }
    let local_s = local.to_str().unwrap();
    let mut args = tls_args.clone();
    args.extend(["-T", local_s, url.as_str()]);
    let put = curl(&args);
    assert!(
        put.status.success(),
        "{kind:?} put: {} {}",
        String::from_utf8_lossy(&put.stderr),
        server.logs()
    );
    assert_eq!(
        std::fs::read(server.root.join("smoke.bin")).unwrap(),
        payload,
        "{kind:?}: bytes on disk"
    );
    let mut args = tls_args.clone();
    args.push(url.as_str());
    let get = curl(&args);
    assert!(
        get.status.success(),
        "{kind:?} get: {}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert_eq!(get.stdout, payload, "{kind:?}: bytes downloaded");
}

#[test]
fn vsftpd_plain_and_tls() {
    round_trip(PeerKind::Vsftpd, PeerTls::Off);
    round_trip(PeerKind::Vsftpd, PeerTls::ExplicitRequireReuse);
}

#[test]
fn pure_ftpd_plain_and_tls() {
    round_trip(PeerKind::PureFtpd, PeerTls::Off);
    round_trip(PeerKind::PureFtpd, PeerTls::Explicit);
}

#[test]
fn proftpd_plain_and_tls() {
    round_trip(PeerKind::Proftpd, PeerTls::Off);
    round_trip(PeerKind::Proftpd, PeerTls::ExplicitRequireReuse);
}

#[test]
fn pyftpdlib_plain_and_tls() {
    round_trip(PeerKind::Pyftpdlib, PeerTls::Off);
    round_trip(PeerKind::Pyftpdlib, PeerTls::Explicit);
}
