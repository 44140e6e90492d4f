//! [`S3Storage`]: a [`Storage`] over an S3 bucket (or any S3-compatible store: MinIO, Ceph,
//! R2, moto) through the `object_store` crate. Feature `s3`.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use ftp_proto::listing::{Entry, EntryKind};
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{Failure, WriteMode};
use ftp_proto::time::Timestamp;
use futures_lite::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::{HttpClient, HttpConnector, HttpRequestBody, ReqwestConnector};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path;
use object_store::{
    ClientConfigKey, ClientOptions, GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutPayload, WriteMultipart,
};

use super::fs::{unique_name, UNIQUE_ATTEMPTS};
use super::{Listing, Storage};
use crate::auth::User;

/// The size of each part of a multipart upload, and the largest upload sent as one `PUT`. S3
/// wants parts of at least 5 MiB (all but the last); an upload holds at most two in memory.
pub const PART_SIZE: usize = 8 << 20;

/// Keys asked for per listing request (S3's own maximum).
const PAGE: usize = 1000;

/// Why an [`S3Storage`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The URL is not `s3://BUCKET[/PREFIX]`.
    #[error("not an S3 URL (s3://BUCKET[/PREFIX]): {0}")]
    Url(String),
    /// The client could not be built (a bad endpoint or setting) or the bucket not reached.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

/// The runtime every `S3Storage` blocks on (see the module documentation).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ftp-s3")
            .enable_all()
            .build()
            // Only fails when the process cannot make threads or an epoll instance, in which
            // case nothing else would work either.
            .expect("starting the S3 back-end's tokio runtime")
    })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// A [`Storage`] over an S3 bucket, optionally under a key prefix.
///
/// # Why a runtime of its own
///
/// `object_store` is asynchronous and runs on tokio, while [`Storage`] is blocking and is
/// called from tokio's blocking pool, from the `blocking` crate's threads (ftp-futures) and
/// from ftp-mio's worker and transfer threads. So the back-end keeps one small multi-thread
/// tokio runtime for the process (two workers, created on first use, shared by every
/// `S3Storage`) and each storage call blocks its calling thread on it. The HTTP connections and
/// their timers live on that runtime whatever the adapter; nothing here ever runs on an
/// adapter's event loop, and nothing blocks in a `Drop` (an upload dropped unfinished has its
/// abort spawned on the runtime instead), because handles can be dropped on an async task.
///
/// # Semantics, and the reply a client gets
///
/// | FTP | object store | reply when refused |
/// |---|---|---|
/// | STOR | `PUT` for an upload under one part (8 MiB); above, a multipart upload streamed part by part, at most two parts in memory (one uploading, one filling). The object exists only when [`finish_write`](Storage::finish_write) has completed the upload, so 226 means the object is there; an upload cut midway aborts the multipart upload and leaves no object. | |
/// | STOU | a fresh name (a `HEAD` checks it is free), then as STOR | |
/// | APPE, REST + STOR | objects cannot be appended to or written at an offset | 502 |
/// | RETR, REST + RETR | `GET`, ranged from the REST offset | |
/// | LIST, NLST, MLSD | listing with delimiter `/`, page by page as the transfer sends it | |
/// | SIZE, MDTM, MLST | `HEAD`: the object's size and last-modified time | |
/// | MKD | an empty marker object `DIR/` (what the S3 console makes) | 550 if it exists |
/// | RMD | deletes the marker; a directory holding anything else is not empty | 550 |
/// | DELE | `DELETE` | |
/// | RNFR/RNTO of a file | copy, then delete the source (not atomic: a failure between the two leaves both) | |
/// | RNFR/RNTO of a directory | would mean copying every object under it | 550 |
/// | MFMT, SITE CHMOD | objects have neither a settable time nor a mode | 502 |
///
/// Directories are prefixes: a directory exists when some key lies under `DIR/` or its marker
/// `DIR/` exists (markers made by other tools count). Uploading into a directory that does not
/// exist creates it, as the key implies it.
///
/// # Other object stores
///
/// Everything but the directory markers goes through `object_store`'s `ObjectStore` and
/// `PaginatedListStore` traits, which its Google Cloud Storage and Azure Blob clients implement
/// as well: a GCS or Azure back-end is this code with their builder and their own request for
/// a marker (the `gcp` or `azure` feature of `object_store`, which this crate does not enable).
#[derive(Debug, Clone)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    /// For the requests `object_store` cannot make: keys ending in `/` (markers).
    http: HttpClient,
    /// `https://s3.REGION.amazonaws.com/BUCKET`, the endpoint's equivalent, or the
    /// virtual-hosted form: what a key is appended to.
    bucket_url: String,
    region: String,
    /// The key prefix that is this storage's `/`: empty, or ending in `/`.
    prefix: String,
}

impl S3Storage {
    /// Serves `url` (`s3://BUCKET` or `s3://BUCKET/PREFIX`) with the settings of the usual AWS
    /// environment variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION` (default `us-east-1`), `AWS_ENDPOINT_URL` or
    /// `AWS_ENDPOINT` (for S3-compatible stores), `AWS_ALLOW_HTTP=true` for a plain-HTTP
    /// endpoint, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`.
    pub fn from_env(url: &str) -> Result<S3Storage, S3Error> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| S3Error::Url(url.into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3Error::Url(url.into()));
        }
        S3Storage::new(AmazonS3Builder::from_env().with_bucket_name(bucket), prefix)
    }

    /// Serves the bucket `builder` names, under `prefix` (a key prefix such as `ftp/`, or
    /// empty for the whole bucket). The bucket is not contacted here.
    pub fn new(builder: AmazonS3Builder, prefix: &str) -> Result<S3Storage, S3Error> {
        // reqwest is built without a default crypto provider: make it ring, the only one this
        // workspace compiles (an application that installed its own keeps it).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let prefix = prefix.trim_matches('/');
        let prefix = match prefix {
            "" => String::new(),
            p => {
                Path::parse(p).map_err(|_| S3Error::Url(format!("bad key prefix {p:?}")))?;
                format!("{p}/")
            }
        };
        let config = |key| builder.get_config_value(&key);
        let region = config(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".into());
        let bucket = config(AmazonS3ConfigKey::Bucket).unwrap_or_default();
        let endpoint =
            config(AmazonS3ConfigKey::S3Endpoint).or_else(|| config(AmazonS3ConfigKey::Endpoint));
        let virtual_hosted = config(AmazonS3ConfigKey::VirtualHostedStyleRequest)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        // The same rule object_store applies to its own requests.
        let bucket_url = match (endpoint, virtual_hosted) {
            (Some(e), true) => e.trim_end_matches('/').to_string(),
            (Some(e), false) => format!("{}/{bucket}", e.trim_end_matches('/')),
            (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        };
        let allow_http = config(AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let http = ReqwestConnector::default()
            .connect(&ClientOptions::new().with_allow_http(allow_http))?;
        let store = Arc::new(builder.build()?);
        Ok(S3Storage {
            store,
            http,
            bucket_url,
            region,
            prefix,
        })
    }

    /// The key of `path` (no leading or trailing `/`; the prefix itself for the root).
    fn key(&self, path: &VirtualPath) -> Result<String, Failure> {
        let rel = std::str::from_utf8(path.as_bytes())
            .map_err(|_| Failure::InvalidName)?
            .trim_start_matches('/');
        let key = format!("{}{rel}", self.prefix);
        let key = key.trim_end_matches('/');
        // Keys object_store cannot name (control characters) are refused up front.
        Path::parse(key).map_err(|_| Failure::InvalidName)?;
        Ok(key.to_string())
    }

    /// The listing prefix of the directory at `key`: `key/`, or the storage's prefix for the
    /// root.
    fn dir_prefix(&self, key: &str) -> String {
        match key {
            "" => String::new(),
            k => format!("{k}/"),
        }
    }

    /// One page of the directory at `prefix` (ending in `/`, or empty).
    async fn page(
        &self,
        prefix: &str,
        max: usize,
        token: Option<String>,
    ) -> object_store::Result<object_store::list::PaginatedListResult> {
        let opts = PaginatedListOptions {
            delimiter: Some("/".into()),
            max_keys: Some(max),
            page_token: token,
            ..Default::default()
        };
        let prefix = (!prefix.is_empty()).then_some(prefix);
        self.store.list_paginated(prefix, opts).await
    }

    /// What is under the directory key `key`: whether anything is (a marker or any key
    /// below), and whether anything besides its own marker is.
    async fn dir_contents(&self, key: &str) -> Result<(bool, bool), Failure> {
        let page = self
            .page(&self.dir_prefix(key), 2, None)
            .await
            .map_err(store_failure)?;
        let r = page.result;
        let marker = r.objects.iter().any(|o| o.location.as_ref() == key);
        let others = !r.common_prefixes.is_empty()
            || r.objects.iter().any(|o| o.location.as_ref() != key)
            || page.page_token.is_some();
        Ok((marker || others, others))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, Failure> {
        if key.is_empty() {
            return Ok(None);
        }
        match self.store.head(&path_of(key)?).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_failure(e)),
        }
    }

    /// Whether the directory at `key` exists (the root always does).
    async fn is_dir(&self, key: &str) -> Result<bool, Failure> {
        if key.is_empty() || key.as_bytes() == self.prefix.trim_end_matches('/').as_bytes() {
            return Ok(true);
        }
        Ok(self.dir_contents(key).await?.0)
    }

    /// `PUT` or `DELETE` of the marker `key/`: object_store's paths cannot end in `/`, so
    /// this request is signed and sent here, with object_store's own signer and credentials.
    async fn marker(&self, method: http::Method, key: &str) -> Result<(), Failure> {
        let credential = self
            .store
            .credentials()
            .get_credential()
            .await
            .map_err(store_failure)?;
        let url = format!("{}/{}/", self.bucket_url, encode_key(key));
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .body(HttpRequestBody::empty())
            .map_err(|e| Failure::Other(format!("Bad request: {e}.")))?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .try_authorize(&mut request, None)
            .map_err(store_failure)?;
        let response = self.http.execute(request).await.map_err(|e| {
            tracing::warn!("S3 marker request: {e}");
            Failure::Transient
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        tracing::warn!(key, %status, "S3 marker request refused");
        Err(match status.as_u16() {
            403 => Failure::PermissionDenied,
            404 => Failure::NotFound,
            500..=599 => Failure::Transient,
            _ => Failure::Other("Requested action not taken.".into()),
        })
    }

    fn entry(name: &[u8], meta: &ObjectMeta) -> Entry {
        let mut e = Entry::new(Bytes::copy_from_slice(name), EntryKind::File)
            .with_size(meta.size)
            .with_permissions(0o644);
        if let Some(t) = Timestamp::from_system_time(SystemTime::from(meta.last_modified)) {
            e = e.with_modified(t);
        }
        e
    }

    fn dir_entry(name: &[u8]) -> Entry {
        Entry::new(Bytes::copy_from_slice(name), EntryKind::Dir).with_permissions(0o755)
    }
}

/// The object_store path of a key checked by [`S3Storage::key`] (kept as it is: no escaping).
fn path_of(key: &str) -> Result<Path, Failure> {
    Path::parse(key).map_err(|_| Failure::InvalidName)
}

/// Percent-encodes a key for a request URI as S3 expects it (RFC 3986 unreserved characters
/// and `/` kept), which is also what the signature is computed over.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The last segment of a key.
fn last_segment(key: &str) -> &[u8] {
    key.rsplit('/').next().unwrap_or(key).as_bytes()
}

/// Maps an object store error to the failure the client is told about.
fn store_failure(e: object_store::Error) -> Failure {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => Failure::NotFound,
        E::AlreadyExists { .. } | E::Precondition { .. } => Failure::AlreadyExists,
        E::InvalidPath { .. } => Failure::InvalidName,
        E::NotSupported { .. } | E::NotImplemented { .. } => Failure::Unsupported,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => Failure::PermissionDenied,
        e => {
            tracing::warn!("S3 request failed: {e}");
            Failure::Transient
        }
    }
}

fn io_error(e: object_store::Error) -> io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// The lazy listing of one directory: a page of entries at a time, the next page fetched only
/// when the transfer has sent this one.
struct Pages {
    storage: S3Storage,
    /// The directory's listing prefix (`key/`, or empty for the bucket's root).
    prefix: String,
    /// The directory's own key: its marker, which is not listed.
    key: String,
    entries: VecDeque<Entry>,
    token: Option<String>,
    done: bool,
}

impl Pages {
    fn fill(&mut self, page: object_store::list::PaginatedListResult) {
        let r = page.result;
        let dirs = r.common_prefixes.iter().map(|p| Self::dir(p.as_ref()));
        let files = r
            .objects
            .iter()
            .filter(|o| o.location.as_ref() != self.key)
            .map(|o| S3Storage::entry(last_segment(o.location.as_ref()), o));
        let mut entries: Vec<Entry> = dirs.chain(files).collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        self.entries.extend(entries);
        self.token = page.page_token;
        self.done = self.token.is_none();
    }

    fn dir(prefix: &str) -> Entry {
        S3Storage::dir_entry(last_segment(prefix.trim_end_matches('/')))
    }
}

impl Iterator for Pages {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<io::Result<Entry>> {
        loop {
            if let Some(e) = self.entries.pop_front() {
                return Some(Ok(e));
            }
            if self.done {
                return None;
            }
            let token = self.token.take();
            match block_on(self.storage.page(&self.prefix, PAGE, token)) {
                Ok(page) => self.fill(page),
                Err(e) => {
                    self.done = true;
                    return Some(Err(io_error(e)));
                }
            }
        }
    }
}

/// A download: the body of a `GET`, read as it arrives.
pub struct S3Reader {
    body: Option<futures_lite::stream::Boxed<object_store::Result<Bytes>>>,
    chunk: Bytes,
}

impl std::fmt::Debug for S3Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Reader(..)")
    }
}

impl Read for S3Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            let Some(body) = self.body.as_mut() else {
                return Ok(0);
            };
            match block_on(body.next()) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(io_error(e)),
                None => self.body = None,
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

enum Upload {
    /// Less than a part so far: sent as one `PUT` if it ends here.
    Small(Vec<u8>),
    /// A multipart upload, with the bytes of the part being filled.
    Parts {
        parts: WriteMultipart,
        filled: usize,
    },
}

/// An upload in progress; see [`S3Storage`]. Dropped without
/// [`finish_write`](Storage::finish_write), it leaves no object: a multipart upload is
/// aborted (in the background, on the back-end's runtime).
pub struct S3Writer {
    store: Arc<AmazonS3>,
    path: Path,
    upload: Option<Upload>,
}

impl std::fmt::Debug for S3Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Writer({})", self.path)
    }
}

impl Write for S3Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let upload = self
            .upload
            .take()
            .ok_or_else(|| io::Error::other("upload already failed"))?;
        let (upload, n) = match upload {
            Upload::Small(mut bytes) => {
                let n = buf.len().min(PART_SIZE - bytes.len());
                bytes.extend_from_slice(&buf[..n]);
                if bytes.len() < PART_SIZE {
                    (Upload::Small(bytes), n)
                } else {
                    let multipart = block_on(self.store.put_multipart(&self.path));
                    let multipart = multipart.map_err(io_error)?;
                    let mut parts = WriteMultipart::new_with_chunk_size(multipart, PART_SIZE);
                    // WriteMultipart spawns each part's request on the current runtime.
                    let _in = runtime().enter();
                    parts.put(Bytes::from(bytes));
                    (Upload::Parts { parts, filled: 0 }, n)
                }
            }
            Upload::Parts { mut parts, filled } => {
                let n = buf.len().min(PART_SIZE - filled);
                if filled + n == PART_SIZE {
                    // This write completes a part and starts its upload: first let the
                    // previous part finish, so that at most one uploads while the next fills.
                    if let Err(e) = block_on(parts.wait_for_capacity(1)) {
                        runtime().spawn(parts.abort());
                        return Err(io_error(e));
                    }
                }
                let _in = runtime().enter();
                parts.write(&buf[..n]);
                let filled = (filled + n) % PART_SIZE;
                (Upload::Parts { parts, filled }, n)
            }
        };
        self.upload = Some(upload);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if let Some(Upload::Parts { parts, .. }) = self.upload.take() {
            // Never block here: a handle may be dropped on an adapter's async task.
            let path = self.path.clone();
            runtime().spawn(async move {
                if let Err(e) = parts.abort().await {
                    tracing::warn!(%path, "aborting an unfinished S3 upload: {e}");
                }
            });
        }
    }
}

impl Storage for S3Storage {
    type Reader = S3Reader;
    type Writer = S3Writer;

    /// A user with a [`home`](User::home) gets the keys under it (relative to this storage's
    /// prefix; an absolute home is taken from the bucket's root) as `/`.
    fn for_user(self: &Arc<Self>, user: &User) -> Result<Arc<Self>, Failure> {
        let Some(home) = &user.home else {
            return Ok(self.clone());
        };
        let home = home.to_str().ok_or(Failure::LoginRefused)?;
        let prefix = match home.starts_with('/') {
            true => home.trim_matches('/').to_string(),
            false => format!("{}{}", self.prefix, home.trim_matches('/')),
        };
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() && Path::parse(prefix).is_err() {
            return Err(Failure::LoginRefused);
        }
        let mut storage = S3Storage::clone(self);
        storage.prefix = match prefix {
            "" => String::new(),
            p => format!("{p}/"),
        };
        Ok(Arc::new(storage))
    }

    fn stat(&self, path: &VirtualPath) -> Result<Entry, Failure> {
        let key = self.key(path)?;
        let name = path.file_name().unwrap_or(b"/");
        block_on(async {
            if let Some(meta) = self.head(&key).await? {
                return Ok(S3Storage::entry(name, &meta));
            }
            match path.is_root() || self.is_dir(&key).await? {
                true => Ok(S3Storage::dir_entry(name)),
                false => Err(Failure::NotFound),
            }
        })
    }

    fn list(&self, path: &VirtualPath) -> Result<Listing, Failure> {
        let key = self.key(path)?;
        let prefix = match path.is_root() {
            true => self.prefix.clone(),
            false => self.dir_prefix(&key),
        };
        let first = block_on(self.page(&prefix, PAGE, None)).map_err(store_failure)?;
        let exists = path.is_root()
            || !first.result.objects.is_empty()
            || !first.result.common_prefixes.is_empty();
        if !exists {
            // Not a directory: a file lists as its own entry.
            let meta = block_on(self.head(&key))?.ok_or(Failure::NotFound)?;
            let name = path.file_name().unwrap_or_default();
            return Ok(Listing::from(vec![S3Storage::entry(name, &meta)]));
        }
        let mut pages = Pages {
            storage: self.clone(),
            prefix,
            key,
            entries: VecDeque::new(),
            token: None,
            done: false,
        };
        pages.fill(first);
        Ok(Listing::new(pages))
    }

    fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(S3Reader, Option<u64>), Failure> {
        let key = self.key(path)?;
        block_on(async {
            if path.is_root() {
                return Err(Failure::IsADirectory);
            }
            if offset > 0 {
                // A range starting at the end is refused by S3 (416): such a read is empty.
                match self.head(&key).await? {
                    Some(meta) if offset >= meta.size => {
                        let reader = S3Reader {
                            body: None,
                            chunk: Bytes::new(),
                        };
                        return Ok((reader, Some(0)));
                    }
                    Some(_) => {}
                    None if self.is_dir(&key).await? => return Err(Failure::IsADirectory),
                    None => return Err(Failure::NotFound),
                }
            }
            let options = GetOptions {
                range: (offset > 0).then_some(GetRange::Offset(offset)),
                ..Default::default()
            };
            let got = match self.store.get_opts(&path_of(&key)?, options).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) if self.is_dir(&key).await? => {
                    return Err(Failure::IsADirectory)
                }
                Err(e) => return Err(store_failure(e)),
            };
            let size = got.meta.size.saturating_sub(offset);
            let reader = S3Reader {
                body: Some(got.into_stream().boxed()),
                chunk: Bytes::new(),
            };
            Ok((reader, Some(size)))
        })
    }

    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<(S3Writer, Option<VirtualPath>), Failure> {
        let (path, unique) = match mode {
            WriteMode::Truncate | WriteMode::AtOffset(0) => (path.clone(), None),
            // Objects cannot be appended to or written from an offset (nor anything later).
            WriteMode::Append | WriteMode::AtOffset(_) => return Err(Failure::Unsupported),
            WriteMode::CreateUnique => {
                let mut free = None;
                for attempt in 0..UNIQUE_ATTEMPTS {
                    let name = path
                        .join(unique_name(attempt).as_bytes())
                        .map_err(|_| Failure::InvalidName)?;
                    if block_on(self.head(&self.key(&name)?))?.is_none() {
                        free = Some(name);
                        break;
                    }
                }
                let name = free.ok_or(Failure::Transient)?;
                (name.clone(), Some(name))
            }
            _ => return Err(Failure::Unsupported),
        };
        if path.is_root() {
            return Err(Failure::IsADirectory);
        }
        let key = self.key(&path)?;
        if unique.is_none() && block_on(self.is_dir(&key))? {
            return Err(Failure::IsADirectory);
        }
        let writer = S3Writer {
            store: self.store.clone(),
            path: path_of(&key)?,
            upload: Some(Upload::Small(Vec::new())),
        };
        Ok((writer, unique))
    }

    fn finish_write(&self, mut writer: S3Writer) -> io::Result<()> {
        match writer.upload.take() {
            Some(Upload::Small(bytes)) => {
                let put = self.store.put(&writer.path, PutPayload::from(bytes));
                block_on(put).map_err(io_error)?;
            }
            Some(Upload::Parts { parts, .. }) => {
                // Sends the last part, waits for all, completes (or aborts on failure).
                let _in = runtime().enter();
                block_on(parts.finish()).map_err(io_error)?;
            }
            None => return Err(io::Error::other("upload already failed")),
        }
        Ok(())
    }

    fn make_dir(&self, path: &VirtualPath) -> Result<(), Failure> {
        if path.is_root() {
            return Err(Failure::AlreadyExists);
        }
        let key = self.key(path)?;
        block_on(async {
            if self.head(&key).await?.is_some() || self.is_dir(&key).await? {
                return Err(Failure::AlreadyExists);
            }
            self.marker(http::Method::PUT, &key).await
        })
    }

    fn remove_dir(&self, path: &VirtualPath) -> Result<(), Failure> {
        if path.is_root() {
            return Err(Failure::PermissionDenied);
        }
        let key = self.key(path)?;
        block_on(async {
            match self.dir_contents(&key).await? {
                (_, true) => Err(Failure::NotEmpty),
                (true, false) => self.marker(http::Method::DELETE, &key).await,
                (false, _) if self.head(&key).await?.is_some() => Err(Failure::NotADirectory),
                (false, _) => Err(Failure::NotFound),
            }
        })
    }

    fn delete(&self, path: &VirtualPath) -> Result<(), Failure> {
        let key = self.key(path)?;
        block_on(async {
            if self.head(&key).await?.is_none() {
                return match path.is_root() || self.is_dir(&key).await? {
                    true => Err(Failure::IsADirectory),
                    false => Err(Failure::NotFound),
                };
            }
            self.store
                .delete(&path_of(&key)?)
                .await
                .map_err(store_failure)
        })
    }

    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), Failure> {
        let (from_key, to_key) = (self.key(from)?, self.key(to)?);
        block_on(async {
            if self.head(&from_key).await?.is_none() {
                return match from.is_root() || self.is_dir(&from_key).await? {
                    true => Err(Failure::Other(
                        "Cannot rename a directory on object storage.".into(),
                    )),
                    false => Err(Failure::NotFound),
                };
            }
            if to.is_root() || self.is_dir(&to_key).await? {
                return Err(Failure::IsADirectory);
            }
            let (from, to) = (path_of(&from_key)?, path_of(&to_key)?);
            self.store.copy(&from, &to).await.map_err(store_failure)?;
            self.store.delete(&from).await.map_err(store_failure)
        })
    }

    fn set_modified(&self, _path: &VirtualPath, _time: Timestamp) -> Result<(), Failure> {
        // An object's time is when it was written; S3 cannot change it.
        Err(Failure::Unsupported)
    }

    fn chmod(&self, _path: &VirtualPath, _mode: u32) -> Result<(), Failure> {
        Err(Failure::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_signs_them() {
        assert_eq!(encode_key("a b/c+d/ü"), "a%20b/c%2Bd/%C3%BC");
        assert_eq!(encode_key("x-y_z.~/"), "x-y_z.~/");
    }

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        let s = S3Storage::from_env("s3://bucket/some/prefix/").unwrap();
        assert_eq!(s.prefix, "some/prefix/");
        let vp = |p: &str| VirtualPath::root().resolve(p.as_bytes()).unwrap();
        assert_eq!(s.key(&vp("/a/b")).unwrap(), "some/prefix/a/b");
        assert_eq!(s.key(&VirtualPath::root()).unwrap(), "some/prefix");
        let s = S3Storage::from_env("s3://bucket").unwrap();
        assert_eq!(s.prefix, "");
        assert_eq!(s.key(&vp("/a")).unwrap(), "a");
        assert_eq!(s.key(&vp("/bad\u{1}name")), Err(Failure::InvalidName));
        assert!(matches!(
            S3Storage::from_env("ftp://bucket"),
            Err(S3Error::Url(_))
        ));
        assert!(matches!(S3Storage::from_env("s3://"), Err(S3Error::Url(_))));
    }

    #[test]
    fn a_users_home_is_a_prefix_under_the_storages() {
        let vp = |p: &str| VirtualPath::root().resolve(p.as_bytes()).unwrap();
        let s = Arc::new(S3Storage::from_env("s3://bucket/ftp").unwrap());
        let alice = s
            .for_user(&User::new("alice").with_home("homes/alice"))
            .unwrap();
        assert_eq!(alice.key(&vp("/x")).unwrap(), "ftp/homes/alice/x");
        assert_eq!(alice.key(&vp("/../../x")).unwrap(), "ftp/homes/alice/x");
        let bob = s.for_user(&User::new("bob").with_home("/other")).unwrap();
        assert_eq!(bob.key(&vp("/x")).unwrap(), "other/x");
        let anyone = s.for_user(&User::new("anyone")).unwrap();
        assert_eq!(anyone.key(&vp("/x")).unwrap(), "ftp/x");
    }
}
