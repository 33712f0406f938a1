//! The benchmark workload of docs/BENCH.md: the data generator
//! ([`data::DataGenerator`]) and the query mix ([`mix`]), both
//! deterministic for a seed so that any engine can replay the same work.

pub mod data;
pub mod mix;

/// SplitMix64's finaliser: a strong 64-bit mix, used to derive Ids.
pub fn mix64(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// A small deterministic generator (SplitMix64). Defined here, not taken
/// from a crate, so that a seed gives the same data on every version.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
    counter: u32,
}

impl Rng {
    /// A generator for this seed.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed ^ 0x6d73_6764_6578_2121, counter: 0 }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// A number in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An ObjectId-style Id: 4-byte timestamp, 5 random bytes and a 3-byte
    /// counter (so Ids are unique for up to 2^24 per generator, and almost
    /// surely beyond), as 24 lower-case hex digits.
    pub fn object_id(&mut self, unix_seconds: u32) -> String {
        self.counter = self.counter.wrapping_add(1) & 0x00ff_ffff;
        let random = self.next_u64() & 0xff_ffff_ffff;
        format!("{unix_seconds:08x}{random:010x}{:06x}", self.counter)
    }

    /// A random version-4 style UUID.
    pub fn uuid(&mut self) -> String {
        let (high, low) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0xfff,
            (low >> 48) & 0x3fff | 0x8000,
            low & 0xffff_ffff_ffff
        )
    }
}
