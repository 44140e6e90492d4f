//! A real S3-compatible server for the object storage tests: moto's standalone server
//! (`python3 -m moto.server`, installed by `.ci/install-peers`), started on a free loopback port and
//! killed when the last test using it drops its handle, with buckets made per test and a
//! direct look at what the bucket holds (objects, unfinished multipart uploads).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// A running moto server; dropping the last handle kills it.
pub struct Moto {
    child: Child,
    /// Its address (127.0.0.1).
    pub addr: SocketAddr,
}

impl Moto {
    /// The server shared by the tests of this binary that run at the same time: the first
    /// starts it (about a second), the last to drop its handle stops it.
    pub fn shared() -> Arc<Moto> {
        static SHARED: Mutex<Weak<Moto>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(moto) = shared.upgrade() {
            return moto;
        }
        let moto = Arc::new(Moto::start());
        *shared = Arc::downgrade(&moto);
        moto
    }

    /// Starts a server of its own on a free port (another try on another port if it dies at
    /// start, as when the port was taken meanwhile).
    pub fn start() -> Moto {
        let found = Command::new("python3")
            .args(["-c", "import moto.server"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "moto's server is not installed: .ci/install-peers installs it (pip install 'moto[server]')"
        );
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            // `python3 -m`, not the `moto_server` script: a pip install under pyenv makes no
            // shim for the script until `pyenv rehash`.
            let child = Command::new("python3")
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting moto's server");
            let mut moto = Moto {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if moto.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if TcpStream::connect(moto.addr).is_ok() {
                    return moto;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("moto's server did not start");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment an example server needs to use this store.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Creates a bucket with a name no other test of this process uses, and returns it.
    pub fn new_bucket(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ftp-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let (status, body) = self.http("PUT", &format!("/{name}"));
        assert_eq!(status, 200, "creating bucket {name}: {body}");
        name
    }

    /// Every object of `bucket` under `prefix`, as (key, size), in key order.
    pub fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let (status, body) = self.http("GET", &format!("/{bucket}?list-type=2&prefix={prefix}"));
        assert_eq!(status, 200, "{body}");
        body.split("<Contents>")
            .skip(1)
            .map(|c| {
                let key = between(c, "<Key>", "</Key>").to_string();
                let size = between(c, "<Size>", "</Size>").parse().unwrap();
                (key, size)
            })
            .collect()
    }

    /// How many multipart uploads of `bucket` were started and neither completed nor aborted.
    pub fn open_uploads(&self, bucket: &str) -> usize {
        let (status, body) = self.http("GET", &format!("/{bucket}?uploads"));
        assert_eq!(status, 200, "{body}");
        body.matches("<UploadId>").count()
    }

    /// Stores an object straight into `bucket` (not through FTP).
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let (status, response) = self.request("PUT", &format!("/{bucket}/{key}"), body);
        assert_eq!(status, 200, "{response}");
    }

    fn http(&self, method: &str, target: &str) -> (u16, String) {
        self.request(method, target, b"")
    }

    /// One request (moto does not check signatures), `Connection: close`.
    fn request(&self, method: &str, target: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The head and the body go in two writes: without this, the body waits for the
        // delayed ACK of the head (40 ms a request).
        s.set_nodelay(true).unwrap();
        write!(
            s,
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, response)
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).map(|i| i + start.len()).unwrap_or(0);
    let to = s[from..].find(end).map(|i| from + i).unwrap_or(s.len());
    &s[from..to]
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
