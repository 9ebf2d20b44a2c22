//! Checksums npm sends with a publish: `dist.shasum` (hex sha1) and `dist.integrity`
//! (Subresource Integrity: `sha512-<base64>`, possibly several, space-separated).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use binyard_plugin_sdk::package_type::Failure;
use sha2::Digest;

/// `sha512-<base64>` of a digest.
pub fn sri_sha512(digest: &[u8]) -> String {
    format!("sha512-{}", STANDARD.encode(digest))
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks `shasum` and `integrity` (whichever the client sent) against the bytes.
/// Returns the sha1 hex and sha512 SRI of the bytes.
pub fn verify(data: &[u8], shasum: Option<&str>, integrity: Option<&str>) -> Result<(String, String), Failure> {
    let sha1 = hex(&sha1::Sha1::digest(data));
    let sha512 = sri_sha512(&sha2::Sha512::digest(data));
    if let Some(want) = shasum
        && !want.eq_ignore_ascii_case(&sha1)
    {
        return Err(Failure::bad_request(format!(
            "The tarball does not match its shasum: the manifest says {want}, the tarball's sha1 is {sha1}"
        )));
    }
    if let Some(sri) = integrity {
        let mut checked = 0;
        for entry in sri.split_whitespace() {
            // Options after '?' are not part of the digest.
            let entry = entry.split('?').next().unwrap_or(entry);
            let Some((alg, b64)) = entry.split_once('-') else {
                continue;
            };
            let actual = match alg {
                "sha512" => STANDARD.encode(sha2::Sha512::digest(data)),
                "sha384" => STANDARD.encode(sha2::Sha384::digest(data)),
                "sha256" => STANDARD.encode(sha2::Sha256::digest(data)),
                "sha1" => STANDARD.encode(sha1::Sha1::digest(data)),
                _ => continue,
            };
            if actual != b64 {
                return Err(Failure::bad_request(format!(
                    "The tarball does not match its integrity: the manifest says {alg}-{b64}, the tarball's is {alg}-{actual}"
                )));
            }
            checked += 1;
        }
        if checked == 0 {
            return Err(Failure::bad_request(format!(
                "The integrity '{sri}' names no supported algorithm (sha512, sha384, sha256, sha1)"
            )));
        }
    }
    Ok((sha1, sha512))
}

/// Decodes the base64 tarball of an attachment.
pub fn decode_base64(data: &str) -> Result<Vec<u8>, Failure> {
    STANDARD
        .decode(data.trim())
        .map_err(|e| Failure::bad_request(format!("The tarball in _attachments is not valid base64 ({e})")))
}
