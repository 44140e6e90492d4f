//! Bans across connections: after so many failed logins from one address within a window,
//! new connections from it are refused (421) for a while.
//!
//! [`Bans`] is the handle a server holds: a [`BanPolicy`], a [`BanStore`] (in memory by
//! default, [`MemoryBanStore`]; implement the trait to share bans across a cluster) and a
//! [`Clock`] (the system's by default; a test passes its own). Two places use it, both in this
//! crate so that every adapter gets them: [`Admission`](crate::limits::Admission) refuses a
//! banned address before a session starts, and [`Banning`] (an [`Authenticator`] wrapper)
//! counts each failed login the host reports and refuses logins from an address banned
//! meanwhile. [`Settings::with_bans`](crate::setup::Settings::with_bans) sets up both.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ftp_proto::server::{canonical_ip, Failure};

use crate::auth::{Authenticator, Credentials, User};

/// The default of [`BanPolicy::window`]: 600 s.
pub const DEFAULT_BAN_WINDOW: Duration = Duration::from_secs(600);

/// The default of [`BanPolicy::ban_time`]: 900 s.
pub const DEFAULT_BAN_TIME: Duration = Duration::from_secs(900);

/// When an address is banned, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BanPolicy {
    /// Failed logins from one address that ban it (at least 1).
    pub after: u32,
    /// The window the failures are counted in.
    pub window: Duration,
    /// How long a ban lasts.
    pub ban_time: Duration,
}

impl BanPolicy {
    /// A ban after `after` failed logins (at least 1) within [`DEFAULT_BAN_WINDOW`], lasting
    /// [`DEFAULT_BAN_TIME`].
    pub fn new(after: u32) -> BanPolicy {
        BanPolicy {
            after: after.max(1),
            window: DEFAULT_BAN_WINDOW,
            ban_time: DEFAULT_BAN_TIME,
        }
    }

    /// The same policy counting failures within `window`.
    pub fn window(mut self, window: Duration) -> BanPolicy {
        self.window = window;
        self
    }

    /// The same policy with bans lasting `ban_time`.
    pub fn ban_time(mut self, ban_time: Duration) -> BanPolicy {
        self.ban_time = ban_time;
        self
    }
}

/// Where time comes from for bans. Wall-clock time, so that a store shared by several
/// machines compares like with like.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Where failed logins and bans are kept. The methods are called on the connection paths
/// (accept, login), so they should be quick: a store shared over the network should answer
/// [`banned_until`](Self::banned_until) from a local cache.
pub trait BanStore: Send + Sync + 'static {
    /// Records a failed login from `ip` (canonical: an IPv4-mapped address is given as IPv4)
    /// at `now` under `policy`; returns the end of the ban if `ip` is banned after it.
    fn record_failure(&self, ip: IpAddr, now: SystemTime, policy: &BanPolicy)
        -> Option<SystemTime>;

    /// The end of `ip`'s ban if it is banned at `now`.
    fn banned_until(&self, ip: IpAddr, now: SystemTime) -> Option<SystemTime>;
}

#[derive(Debug, Default)]
struct Record {
    failures: VecDeque<SystemTime>,
    until: Option<SystemTime>,
}

/// The default [`BanStore`]: one process's memory. Records of addresses with no recent
/// failure and no ban are dropped as the map grows, so that many addresses cost memory only
/// while they matter.
#[derive(Debug, Default)]
pub struct MemoryBanStore {
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl MemoryBanStore {
    /// An empty store.
    pub fn new() -> MemoryBanStore {
        MemoryBanStore::default()
    }
}

/// Above this many records, stale ones are dropped before one is added.
const PRUNE_ABOVE: usize = 1024;

impl BanStore for MemoryBanStore {
    fn record_failure(
        &self,
        ip: IpAddr,
        now: SystemTime,
        policy: &BanPolicy,
    ) -> Option<SystemTime> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let recent = |t: &SystemTime| now.duration_since(*t).map_or(true, |d| d < policy.window);
        if records.len() > PRUNE_ABOVE && !records.contains_key(&ip) {
            records
                .retain(|_, r| r.until.is_some_and(|u| u > now) || r.failures.iter().any(recent));
            crate::tables::shrink_after_burst(&mut records);
        }
        let r = records.entry(ip).or_default();
        if let Some(until) = r.until.filter(|u| *u > now) {
            return Some(until);
        }
        r.until = None;
        r.failures.retain(recent);
        r.failures.push_back(now);
        if r.failures.len() >= policy.after as usize {
            r.failures.clear();
            r.until = now.checked_add(policy.ban_time);
        }
        r.until
    }

    fn banned_until(&self, ip: IpAddr, now: SystemTime) -> Option<SystemTime> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.get(&ip)?.until.filter(|u| *u > now)
    }
}

/// A server's bans: policy, store and clock. Clones share the store.
#[derive(Clone)]
pub struct Bans {
    policy: BanPolicy,
    store: Arc<dyn BanStore>,
    clock: Arc<dyn Clock>,
    /// Bans imposed through this value and its clones, for metrics.
    imposed: Arc<AtomicU64>,
}

impl fmt::Debug for Bans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bans")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Bans {
    /// Bans under `policy`, kept in a [`MemoryBanStore`], timed by the [`SystemClock`].
    pub fn new(policy: BanPolicy) -> Bans {
        Bans {
            policy,
            store: Arc::new(MemoryBanStore::new()),
            clock: Arc::new(SystemClock),
            imposed: Arc::default(),
        }
    }

    /// The same bans kept in `store` (e.g. one a cluster shares).
    pub fn with_store(mut self, store: Arc<dyn BanStore>) -> Bans {
        self.store = store;
        self
    }

    /// The same bans timed by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Bans {
        self.clock = clock;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &BanPolicy {
        &self.policy
    }

    /// How many bans this value and its clones imposed (the store may hold more, from other
    /// servers sharing it).
    pub fn imposed(&self) -> u64 {
        self.imposed.load(Ordering::Relaxed)
    }

    /// Whether `ip` is banned now.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.store
            .banned_until(canonical_ip(ip), self.clock.now())
            .is_some()
    }

    /// Counts a failed login from `ip`; returns whether `ip` is banned now.
    pub fn login_failed(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        let now = self.clock.now();
        let was = self.store.banned_until(ip, now).is_some();
        let until = self.store.record_failure(ip, now, &self.policy);
        if let (false, Some(until)) = (was, until) {
            self.imposed.fetch_add(1, Ordering::Relaxed);
            let secs = until.duration_since(now).unwrap_or_default().as_secs();
            tracing::warn!(peer = %ip, secs, "address banned after too many failed logins");
        }
        until.is_some()
    }
}

/// An [`Authenticator`] that counts the failed logins the host reports into [`Bans`] and
/// refuses any login from a banned address (a client still connected when its address was
/// banned). Without bans it only forwards to the inner authenticator.
#[derive(Debug, Clone)]
pub struct Banning<A> {
    inner: A,
    bans: Option<Bans>,
}

impl<A> Banning<A> {
    /// Wraps `inner`, counting failures into `bans` (none: no bans).
    pub fn new(inner: A, bans: Option<Bans>) -> Banning<A> {
        Banning { inner, bans }
    }

    /// The wrapped authenticator.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// The bans, if any.
    pub fn bans(&self) -> Option<&Bans> {
        self.bans.as_ref()
    }
}

impl<A: Authenticator> Authenticator for Banning<A> {
    fn login(&self, credentials: &Credentials) -> Result<User, Failure> {
        if let (Some(bans), Some(peer)) = (&self.bans, credentials.peer) {
            if bans.is_banned(peer.ip()) {
                return Err(Failure::LoginRefused);
            }
        }
        self.inner.login(credentials)
    }

    fn login_failed(&self, peer: IpAddr) {
        self.inner.login_failed(peer);
        if let Some(bans) = &self.bans {
            bans.login_failed(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock the test moves by hand.
    #[derive(Default)]
    struct Manual(Mutex<Duration>);

    impl Manual {
        fn advance(&self, d: Duration) {
            *self.0.lock().unwrap() += d;
        }
    }

    impl Clock for Manual {
        fn now(&self) -> SystemTime {
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000) + *self.0.lock().unwrap()
        }
    }

    #[test]
    fn bans_after_n_failures_in_the_window_and_expire() {
        let clock = Arc::new(Manual::default());
        let policy = BanPolicy::new(3)
            .window(Duration::from_secs(60))
            .ban_time(Duration::from_secs(100));
        let bans = Bans::new(policy).with_clock(clock.clone());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(!bans.login_failed(ip));
        clock.advance(Duration::from_secs(61));
        // The first failure is out of the window now: two more do not ban.
        assert!(!bans.login_failed(ip));
        assert!(!bans.login_failed(mapped));
        assert!(!bans.is_banned(ip));
        assert!(!bans.login_failed(other));
        assert!(bans.login_failed(ip), "the third within the window");
        assert!(bans.is_banned(ip) && bans.is_banned(mapped));
        assert!(!bans.is_banned(other));
        clock.advance(Duration::from_secs(99));
        assert!(bans.is_banned(ip));
        clock.advance(Duration::from_secs(1));
        assert!(!bans.is_banned(ip), "expired");
        // The count starts again after a ban.
        assert!(!bans.login_failed(ip));
    }

    #[test]
    fn the_memory_store_drops_stale_records() {
        let store = MemoryBanStore::new();
        let policy = BanPolicy::new(2).window(Duration::from_secs(10));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        for i in 0..=PRUNE_ABOVE as u32 + 1 {
            store.record_failure(IpAddr::from(i.to_be_bytes()), t0, &policy);
        }
        let later = t0 + Duration::from_secs(11);
        store.record_failure("10.9.9.9".parse().unwrap(), later, &policy);
        assert_eq!(store.records.lock().unwrap().len(), 1);
    }

    #[test]
    fn banning_refuses_logins_from_banned_addresses() {
        let users = crate::auth::UserList::new().user("a", "b");
        let bans = Bans::new(BanPolicy::new(1));
        let auth = Banning::new(users, Some(bans.clone()));
        let mut c = Credentials::new("a", "b");
        c.peer = Some("198.51.100.1:5000".parse().unwrap());
        assert!(auth.login(&c).is_ok());
        auth.login_failed("198.51.100.1".parse().unwrap());
        assert_eq!(auth.login(&c), Err(Failure::LoginRefused));
        assert!(Banning::new(auth.inner().clone(), None).login(&c).is_ok());
    }
}
