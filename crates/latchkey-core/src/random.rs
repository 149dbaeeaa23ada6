//! Uniform random strings from the operating system's CSPRNG.

use rand::Rng;
use rand::rngs::OsRng;

/// The alphanumeric alphabet: no punctuation, so a value survives double-click
/// selection, URLs, shells and JSON without escaping.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters drawn uniformly from [`BASE62`]: `len × log2(62) ≈ len × 5.95` bits.
pub fn base62(len: usize) -> String {
    let mut rng = OsRng;
    (0..len)
        .map(|_| char::from(BASE62[rng.gen_range(0..BASE62.len())]))
        .collect()
}

/// Encodes `value` in exactly `width` base-62 digits (most significant first).
pub fn base62_fixed(mut value: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.into_iter().map(char::from).collect()
}
