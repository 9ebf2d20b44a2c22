//! Random identifiers and secrets (a leaf: events, auth and the HTTP layer all make them).

/// A new random secret or identifier: `bytes` random bytes, hex.
pub fn random_secret(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(b.as_mut_slice());
    hex::encode(b)
}
