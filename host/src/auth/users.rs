//! User records: passwords are kept as argon2id hashes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

/// A stored user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    #[serde(default)]
    pub email: String,
    /// PHC string of the argon2id hash.
    pub password_hash: String,
    pub admin: bool,
    #[serde(default)]
    pub disabled: bool,
}

impl User {
    /// A user with a freshly hashed password.
    pub fn new(name: &str, password: &str, admin: bool) -> anyhow::Result<User> {
        Ok(User {
            name: name.to_string(),
            email: String::new(),
            password_hash: hash_password(password)?,
            admin,
            disabled: false,
        })
    }

    /// Whether `password` is this user's password.
    pub fn verify_password(&self, password: &str) -> bool {
        PasswordHash::new(&self.password_hash)
            .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    }
}

/// An argon2id PHC hash of a password with a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hash: {e}"))?
        .to_string())
}
