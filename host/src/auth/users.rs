//! User and group records. Passwords are kept as argon2id hashes, API keys as sha256.

use std::collections::BTreeSet;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::ids::random_secret;

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
    #[serde(default = "yes")]
    pub profile_updatable: bool,
    #[serde(default)]
    pub disable_ui_access: bool,
    #[serde(default)]
    pub internal_password_disabled: bool,
    /// Groups the user belongs to (membership lives on the user, as in Artifactory).
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// sha256 (hex) of the user's API key, if one was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_sha256: Option<String>,
    /// The first characters of the API key, to tell keys apart without revealing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_hint: Option<String>,
    /// Milliseconds since the epoch of the last password change.
    #[serde(default)]
    pub password_changed_ms: i64,
}

fn yes() -> bool {
    true
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
            profile_updatable: true,
            disable_ui_access: false,
            internal_password_disabled: false,
            groups: BTreeSet::new(),
            api_key_sha256: None,
            api_key_hint: None,
            password_changed_ms: crate::clock::now_ms(),
        })
    }

    /// Whether `password` is this user's password.
    pub fn verify_password(&self, password: &str) -> bool {
        !self.internal_password_disabled
            && PasswordHash::new(&self.password_hash)
                .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    }
}

/// A stored group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// New users join it automatically.
    #[serde(default)]
    pub auto_join: bool,
    /// Members are administrators.
    #[serde(default)]
    pub admin_privileges: bool,
    #[serde(default = "internal")]
    pub realm: String,
    #[serde(default)]
    pub external_id: String,
}

fn internal() -> String {
    "internal".into()
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

/// The sha256 (hex) under which a high-entropy secret (API key, refresh token) is kept.
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
