//! Tables that give their memory back after a burst: a server's maps (sessions, tokens,
//! connections per address) grow with a burst of sessions, and a `HashMap` keeps its capacity
//! when its entries are removed (issue 11).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Maps with room for at most this many entries are left as they are: too small to matter.
pub const KEEP: usize = 64;

/// Shrinks `map` to twice its length when it holds fewer than a quarter of the entries it has
/// room for (and has room for more than [`KEEP`]). Call it after removing entries: the memory
/// of a burst of sessions is given back once they have gone, and a map whose size only
/// fluctuates is not rehashed back and forth (it grows when full and shrinks only after
/// falling to a quarter, so each rehash is paid for by as many inserts or removals).
pub fn shrink_after_burst<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    let room = map.capacity();
    if room > KEEP && map.len() < room / 4 {
        map.shrink_to((map.len() * 2).max(KEEP / 2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_emptied_after_a_burst_gives_its_room_back() {
        let mut m: HashMap<u64, [u8; 256]> = HashMap::new();
        for k in 0..10_000 {
            m.insert(k, [0; 256]);
        }
        let burst = m.capacity();
        for k in 0..10_000 {
            m.remove(&k);
            shrink_after_burst(&mut m);
        }
        assert!(
            m.capacity() <= KEEP,
            "room for {} after the burst of {burst}",
            m.capacity()
        );
    }

    #[test]
    fn a_map_that_fluctuates_is_not_rehashed_each_time() {
        let mut m: HashMap<u64, u64> = (0..1000).map(|k| (k, k)).collect();
        let room = m.capacity();
        // Down to half and back, many times: never below a quarter of the room, never shrunk.
        for round in 0..50 {
            for k in 0..500 {
                m.remove(&k);
                shrink_after_burst(&mut m);
            }
            // (capacity() counts removed slots not yet reused as taken, so it moves a little.)
            assert!(
                m.capacity() > room * 3 / 4,
                "round {round}: {} of {room}",
                m.capacity()
            );
            m.extend((0..500).map(|k| (k, k)));
        }
    }

    #[test]
    fn small_maps_are_left_alone() {
        let mut m: HashMap<u64, u64> = HashMap::with_capacity(KEEP / 2);
        let room = m.capacity();
        shrink_after_burst(&mut m);
        assert_eq!(m.capacity(), room);
    }
}
