//! Access tokens: JWTs shaped like Artifactory's (`jti`, `sub`, `scp`, `iat`, `exp`,
//! `iss`, `aud`), signed with a key made on first start and kept in the data folder.
//! A token is valid only while its record exists, so revocation is immediate.

use std::path::Path;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What is kept of an issued token (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The `jti`.
    pub id: String,
    /// The user name the token acts for.
    pub username: String,
    /// `applied-permissions/user`, `applied-permissions/admin` or `applied-permissions/groups:a,b`.
    pub scope: String,
    /// Seconds since the epoch.
    pub issued_at: i64,
    /// Seconds since the epoch; 0 for a token that does not expire.
    pub expiry: i64,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub refreshable: bool,
    /// sha256 of the refresh token, for refreshable tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_sha256: Option<String>,
    #[serde(default = "any_audience")]
    pub audience: String,
}

fn any_audience() -> String {
    "*@*".into()
}

/// The permissions a token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Acts as its user.
    User,
    /// Acts as an administrator.
    Admin,
    /// Acts with the permissions of these groups only.
    Groups(Vec<String>),
}

impl Scope {
    /// Parses a scope string; several space-separated scopes are allowed, the widest wins.
    pub fn parse(s: &str) -> Result<Scope, String> {
        let mut out: Option<Scope> = None;
        for part in s.split_whitespace() {
            let one = match part {
                "applied-permissions/user" => Scope::User,
                "applied-permissions/admin" => Scope::Admin,
                p if p.starts_with("applied-permissions/groups:") => {
                    let list = &p["applied-permissions/groups:".len()..];
                    let groups: Vec<String> = list
                        .split(',')
                        .map(|g| g.trim().trim_matches('"').to_string())
                        .filter(|g| !g.is_empty())
                        .collect();
                    if groups.is_empty() {
                        return Err(format!("scope '{p}' names no group"));
                    }
                    Scope::Groups(groups)
                }
                // Artifactory accepts service scopes beside the applied permissions.
                p if p.starts_with("system:") || p.starts_with("api:") => continue,
                p => {
                    return Err(format!(
                        "unknown scope '{p}': use applied-permissions/user, applied-permissions/admin or applied-permissions/groups:NAMES"
                    ));
                }
            };
            out = Some(match (out, one) {
                (Some(Scope::Admin), _) | (_, Scope::Admin) => Scope::Admin,
                (Some(Scope::User), _) | (_, Scope::User) => Scope::User,
                (Some(Scope::Groups(mut a)), Scope::Groups(b)) => {
                    a.extend(b);
                    Scope::Groups(a)
                }
                (None, g) => g,
            });
        }
        out.ok_or_else(|| "the scope is empty".to_string())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    ver: String,
    sub: String,
    scp: String,
    aud: String,
    iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    iat: i64,
    jti: String,
}

/// What a valid token's signature vouches for.
#[derive(Debug)]
pub struct Verified {
    pub id: String,
    /// When it was issued, seconds since the epoch.
    pub issued_at: i64,
}

/// Signs and checks tokens.
pub struct Signer {
    secret: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// `jfac@<service id>`: the issuer and the prefix of every subject.
    issuer: String,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    service_id: String,
    secret: String,
}

impl Signer {
    /// Loads the signing key from `dir/signing-key.json`, making it on first start.
    pub fn open(dir: &Path) -> anyhow::Result<Signer> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("signing-key.json");
        let key: KeyFile = match std::fs::read(&path) {
            Ok(raw) => serde_json::from_slice(&raw).with_context(|| format!("corrupt {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = KeyFile {
                    service_id: format!("01{}", super::users::random_secret(12)),
                    secret: super::users::random_secret(64),
                };
                write_private(&path, &serde_json::to_vec(&key)?)?;
                key
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let secret = hex::decode(&key.secret).with_context(|| format!("corrupt {}", path.display()))?;
        Ok(Signer {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            secret,
            issuer: format!("jfac@{}", key.service_id),
        })
    }

    /// The signed token for a record.
    pub fn sign(&self, r: &TokenRecord) -> anyhow::Result<String> {
        let claims = Claims {
            ver: "2".into(),
            sub: format!("{}/users/{}", self.issuer, r.username),
            scp: r.scope.clone(),
            aud: r.audience.clone(),
            iss: self.issuer.clone(),
            exp: (r.expiry > 0).then_some(r.expiry),
            iat: r.issued_at,
            jti: r.id.clone(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// An HMAC-SHA256 of `parts` under the server's secret, hex.
    pub fn mac(&self, parts: &[&str]) -> String {
        use hmac::{Hmac, Mac};
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for p in parts {
            m.update(p.as_bytes());
            m.update(&[0]);
        }
        hex::encode(m.finalize().into_bytes())
    }

    /// The issuer of this server's tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Checks a token's signature, issuer and expiry; answers its id.
    pub fn verify(&self, token: &str) -> Result<Verified, String> {
        self.check(token, true)
    }

    /// Checks a token's signature and issuer only (to refresh or revoke an expired one).
    pub fn verify_ignoring_expiry(&self, token: &str) -> Result<Verified, String> {
        self.check(token, false)
    }

    fn check(&self, token: &str, expiry: bool) -> Result<Verified, String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = expiry;
        v.required_spec_claims.clear();
        v.validate_aud = false;
        v.leeway = 0;
        v.set_issuer(&[&self.issuer]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => "The token has expired".to_string(),
            _ => "The token is invalid".to_string(),
        })?;
        Ok(Verified {
            id: data.claims.jti,
            issued_at: data.claims.iat,
        })
    }
}

/// Several nodes: makes `dir/signing-key.json` the key the metadata store holds, so a
/// token issued by one node is valid on every node. The first node to start offers
/// its own key (the one it already had, or a new one); a precondition makes one offer win.
pub fn adopt_shared_key(meta: &dyn crate::storage::MetaStore, dir: &Path) -> anyhow::Result<()> {
    use crate::storage::{Change, RecordWrite, StoreError};
    const KIND: &str = "secret";
    const NAME: &str = "token-signing-key";
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("signing-key.json");
    for _ in 0..3 {
        if let Some(raw) = meta.record(KIND, NAME)? {
            serde_json::from_slice::<KeyFile>(&raw).context("corrupt shared token signing key")?;
            if std::fs::read(&path).ok().as_deref() != Some(&raw[..]) {
                write_private(&path, &raw)?;
            }
            return Ok(());
        }
        let key = match std::fs::read(&path) {
            Ok(raw) => serde_json::from_slice(&raw).with_context(|| format!("corrupt {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyFile {
                service_id: format!("01{}", super::users::random_secret(12)),
                secret: super::users::random_secret(64),
            },
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let offer = [
            Change::ExpectRecord {
                kind: KIND,
                key: NAME.into(),
                value: None,
            },
            Change::Record(RecordWrite {
                kind: KIND,
                key: NAME.into(),
                value: Some(serde_json::to_vec(&key)?),
            }),
        ];
        match meta.apply(&offer) {
            // Read back (ours or the winner's) on the next pass.
            Ok(()) | Err(StoreError::Changed(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("the shared token signing key cannot be agreed on")
}

/// Whether a credential looks like one of our JWTs (three dot-separated base64url parts).
pub fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ") && s.split('.').count() == 3
}

/// Writes a file readable by its owner only, atomically.
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_bad_ones_are_named() {
        assert_eq!(Scope::parse("applied-permissions/user").unwrap(), Scope::User);
        assert_eq!(
            Scope::parse("applied-permissions/groups:a,b").unwrap(),
            Scope::Groups(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            Scope::parse("applied-permissions/user applied-permissions/admin").unwrap(),
            Scope::Admin
        );
        assert!(Scope::parse("root").unwrap_err().contains("root"));
        assert!(Scope::parse("").is_err());
    }

    #[test]
    fn a_token_verifies_only_with_its_key() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let s1 = Signer::open(d1.path()).unwrap();
        let s2 = Signer::open(d2.path()).unwrap();
        let r = TokenRecord {
            id: "abc".into(),
            username: "u".into(),
            scope: "applied-permissions/user".into(),
            issued_at: crate::clock::now_ms() / 1000,
            expiry: 0,
            description: String::new(),
            refreshable: false,
            refresh_sha256: None,
            audience: any_audience(),
        };
        let t = s1.sign(&r).unwrap();
        assert!(looks_like_jwt(&t));
        assert_eq!(s1.verify(&t).unwrap().id, "abc");
        assert!(s2.verify(&t).is_err());
        // The key survives a restart.
        assert_eq!(Signer::open(d1.path()).unwrap().verify(&t).unwrap().id, "abc");
        let expired = TokenRecord { expiry: 1, ..r.clone() };
        assert_eq!(
            s1.verify(&s1.sign(&expired).unwrap()).unwrap_err(),
            "The token has expired"
        );
    }
}
