//! A seeded byte and JSON mutator for the fuzz tests.

use serde_json::Value;
use shiftaddaug::data::Rng;

/// Random damage, reproducible from its seed.
pub struct Mutator(pub Rng);

impl Mutator {
    /// A number in `0..n` (`0` for `n = 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }

    /// A value likely to find edge cases in a JSON field.
    pub fn json_value(&mut self) -> Value {
        match self.below(14) {
            0 => Value::Null,
            1 => (-1).into(),
            2 => 0.into(),
            3 => 1.into(),
            4 => 3.into(),
            5 => (1u64 << 40).into(),
            6 => u64::MAX.into(),
            7 => 2.5.into(),
            8 => (-1e300).into(),
            9 => "shift".into(),
            10 => "".into(),
            11 => Value::Array(vec![0.into(); self.below(5)]),
            12 => serde_json::json!({ "x": 1 }),
            _ => true.into(),
        }
    }

    /// Replaces or removes one random node of `v` (a walk from the root).
    pub fn json_edit(&mut self, v: &mut Value) {
        let mut node = v;
        loop {
            let children = match node {
                Value::Object(m) => m.len(),
                Value::Array(a) => a.len(),
                _ => 0,
            };
            if children == 0 || self.below(4) == 0 {
                *node = self.json_value();
                return;
            }
            let i = self.below(children);
            if self.below(6) == 0 {
                match node {
                    Value::Object(m) => {
                        let k = m.keys().nth(i).cloned().expect("in range");
                        m.remove(&k);
                    }
                    Value::Array(a) => {
                        a.remove(i);
                    }
                    _ => unreachable!(),
                }
                return;
            }
            node = match node {
                Value::Object(m) => m.values_mut().nth(i).expect("in range"),
                Value::Array(a) => &mut a[i],
                _ => unreachable!(),
            };
        }
    }

    /// Byte-level damage: flips, overwrites, insertions, deletions, truncation.
    pub fn bytes(&mut self, b: &mut Vec<u8>) {
        const SPECIAL: &[u8] = b"\"[]{},:-0123456789e.\\\x00\xff";
        for _ in 0..1 + self.below(4) {
            if b.is_empty() {
                return;
            }
            let at = self.below(b.len());
            match self.below(6) {
                0 => b[at] ^= 1 << self.below(8),
                1 => b[at] = SPECIAL[self.below(SPECIAL.len())],
                2 => b.insert(at, SPECIAL[self.below(SPECIAL.len())]),
                3 => {
                    let n = self.below(16).min(b.len() - at);
                    b.drain(at..at + n);
                }
                4 => b.truncate(at),
                _ => b[at] = self.below(256) as u8,
            }
        }
    }

    /// Cases per fuzz target: `FUZZ_CASES` or `default`.
    pub fn cases(default: usize) -> usize {
        std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }
}
