//! Connection admission: at most so many control connections in all and per client address,
//! and none from a banned address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ftp_proto::server::{canonical_ip, Refusal};

use crate::bans::Bans;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Counts the control connections of one server and decides whether a new one may start.
/// Clones share the counts.
#[derive(Debug, Clone)]
pub struct Admission {
    counts: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_ip: usize,
    bans: Option<Bans>,
}

impl Admission {
    /// At most `max_total` connections, and `max_per_ip` from one client address (IPv4-mapped
    /// IPv6 addresses count as their IPv4 address).
    pub fn new(max_total: usize, max_per_ip: usize) -> Admission {
        Admission {
            counts: Arc::default(),
            max_total,
            max_per_ip,
            bans: None,
        }
    }

    /// The same admission, refusing addresses that `bans` has banned
    /// ([`Refusal::Banned`]).
    pub fn with_bans(mut self, bans: Option<Bans>) -> Admission {
        self.bans = bans;
        self
    }

    /// Admits a connection from `ip`: a [`Slot`] that holds its place until dropped, or the
    /// reason for refusal (answer it with
    /// [`refusal_reply`](ftp_proto::server::refusal_reply)).
    pub fn admit(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let ip = canonical_ip(ip);
        if self.bans.as_ref().is_some_and(|b| b.is_banned(ip)) {
            return Err(Refusal::Banned);
        }
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let from_ip = c.per_ip.get(&ip).copied().unwrap_or(0);
        if c.total >= self.max_total {
            return Err(Refusal::TooManyConnections);
        }
        if from_ip >= self.max_per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        c.total += 1;
        *c.per_ip.entry(ip).or_default() += 1;
        Ok(Slot {
            counts: self.counts.clone(),
            ip,
        })
    }

    /// Connections admitted and not yet released.
    pub fn active(&self) -> usize {
        self.counts.lock().map(|c| c.total).unwrap_or(0)
    }
}

/// One admitted connection's place in the counts, released on drop.
#[derive(Debug)]
pub struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_ip.remove(&self.ip);
                crate::tables::shrink_after_burst(&mut c.per_ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-address counts of a burst from many addresses give their room back when the
    /// connections close.
    #[test]
    fn the_per_address_table_shrinks_after_a_burst() {
        let a = Admission::new(10_000, 1);
        let slots: Vec<Slot> = (0..5000u32)
            .map(|i| {
                a.admit(IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
                    .unwrap()
            })
            .collect();
        let room = |a: &Admission| a.counts.lock().unwrap().per_ip.capacity();
        assert!(room(&a) >= 5000);
        drop(slots);
        assert_eq!(a.active(), 0);
        assert!(
            room(&a) <= crate::tables::KEEP,
            "room for {} left",
            room(&a)
        );
    }

    #[test]
    fn limits_total_and_per_address_and_releases() {
        let a = Admission::new(3, 2);
        let x: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let y: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = a.admit(x).unwrap();
        let _s2 = a.admit(mapped).unwrap();
        assert_eq!(a.admit(x).unwrap_err(), Refusal::TooManyFromAddress);
        let _s3 = a.admit(y).unwrap();
        assert_eq!(a.admit(y).unwrap_err(), Refusal::TooManyConnections);
        assert_eq!(a.active(), 3);
        drop(s1);
        assert_eq!(a.active(), 2);
        let _s4 = a.admit(x).unwrap();
        // Releasing one of two places from an address leaves the other counted.
        let b = Admission::new(10, 2);
        let p1 = b.admit(x).unwrap();
        let _p2 = b.admit(x).unwrap();
        drop(p1);
        let _p3 = b.admit(x).unwrap();
        assert_eq!(b.admit(x).unwrap_err(), Refusal::TooManyFromAddress);
    }

    #[test]
    fn banned_addresses_are_refused() {
        use crate::bans::{BanPolicy, Bans};
        let bans = Bans::new(BanPolicy::new(2));
        let a = Admission::new(10, 10).with_bans(Some(bans.clone()));
        let x: IpAddr = "10.0.0.1".parse().unwrap();
        let _s = a.admit(x).unwrap();
        bans.login_failed(x);
        bans.login_failed("::ffff:10.0.0.1".parse().unwrap());
        assert_eq!(a.admit(x).unwrap_err(), Refusal::Banned);
        assert!(a.admit("10.0.0.2".parse().unwrap()).is_ok());
    }
}
