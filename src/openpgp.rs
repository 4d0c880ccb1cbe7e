//! The provider's OpenPGP key: detached signatures (`.asc`) beside every published CSAF
//! document, and the public key that aggregators verify them with (CSAF 2.0 §7.1.13, §7.1.19).
//!
//! The key comes from `NIS2HUB_OPENPGP_KEY_FILE` (an armored secret key); when that file does
//! not exist yet it is generated there on first start — an Ed25519 key that can certify and
//! sign, like the development JWT key — so a fresh installation signs from the start and an
//! operator can replace the file with the organisation's own key. Only the public part is
//! ever served.

use pgp::composed::{
    ArmorOptions, Deserializable, DetachedSignature, KeyType, SecretKeyParamsBuilder,
    SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};
use std::path::Path;

/// The signing key, loaded once at start.
pub struct ProviderKey {
    secret: SignedSecretKey,
    public_armored: String,
    fingerprint: String,
}

impl std::fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret part.
        f.debug_struct("ProviderKey")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl ProviderKey {
    /// A new key for `user_id` (e.g. `"CSIRT Freedonia <cert@example.org>"`).
    pub fn generate(user_id: &str) -> Result<Self, String> {
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.into())
            .build()
            .map_err(|e| format!("OpenPGP key parameters: {e}"))?;
        let secret = params
            .generate(rand::thread_rng())
            .map_err(|e| format!("cannot generate the OpenPGP key: {e}"))?;
        Self::from_secret(secret)
    }

    /// Reads an armored secret key.
    pub fn from_armored(text: &str) -> Result<Self, String> {
        let (secret, _) = SignedSecretKey::from_string(text)
            .map_err(|e| format!("not an armored OpenPGP secret key: {e}"))?;
        secret
            .verify_bindings()
            .map_err(|e| format!("the OpenPGP key's self-signatures do not verify: {e}"))?;
        Self::from_secret(secret)
    }

    fn from_secret(secret: SignedSecretKey) -> Result<Self, String> {
        let public = SignedPublicKey::from(secret.clone());
        let public_armored = public
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| format!("cannot armor the OpenPGP public key: {e}"))?;
        let fingerprint = hex::encode_upper(secret.fingerprint().as_bytes());
        Ok(Self {
            secret,
            public_armored,
            fingerprint,
        })
    }

    /// Loads the key from `path`, generating it there (readable by the owner only) when the
    /// file does not exist.
    pub fn load_or_create(path: &Path, user_id: &str) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_armored(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate(user_id)?;
                let armored = key
                    .secret
                    .to_armored_string(ArmorOptions::default())
                    .map_err(|e| format!("cannot armor the OpenPGP key: {e}"))?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                write_private(path, &armored)?;
                // Two instances starting together: whoever wrote first wins, both use it.
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Self::from_armored(&text).map_err(|e| format!("{}: {e}", path.display()))
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// The armored public key, as published for aggregators.
    pub fn public_armored(&self) -> &str {
        &self.public_armored
    }

    /// The key's fingerprint in upper-case hex, as CSAF's `public_openpgp_keys` names it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// An armored detached signature over `data` (`gpg --verify file.asc file` checks it).
    pub fn sign(&self, data: &[u8]) -> Result<String, String> {
        let sig = DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &self.secret.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha512,
            data,
        )
        .map_err(|e| format!("cannot sign: {e}"))?;
        sig.to_armored_string(ArmorOptions::default())
            .map_err(|e| format!("cannot armor the signature: {e}"))
    }
}

/// Creates `path` with `text` unless it exists, mode 0600 where the platform has modes.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut f) => f
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature verifies with GnuPG against the published public key, and fails for
    /// other data — the check an aggregator makes.
    #[test]
    fn gpg_verifies_the_detached_signature_with_the_published_key() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("provider.asc");
        let key =
            ProviderKey::load_or_create(&key_file, "nis2hub test <cert@example.org>").unwrap();
        // Loading again gives the same key.
        let again = ProviderKey::load_or_create(&key_file, "ignored").unwrap();
        assert_eq!(key.fingerprint(), again.fingerprint());
        assert_eq!(key.fingerprint().len(), 40);
        assert!(!key.public_armored().contains("PRIVATE"));

        let doc = br#"{"document": {"title": "signed"}}"#;
        let home = dir.path().join("gnupg");
        std::fs::create_dir(&home).unwrap();
        let gpg = |args: &[&str]| {
            std::process::Command::new("gpg")
                .arg("--homedir")
                .arg(&home)
                .args(["--batch", "--no-tty", "--quiet"])
                .args(args)
                .output()
                .expect("gpg runs")
        };
        std::fs::write(dir.path().join("public.asc"), key.public_armored()).unwrap();
        let import = gpg(&["--import", dir.path().join("public.asc").to_str().unwrap()]);
        assert!(
            import.status.success(),
            "{}",
            String::from_utf8_lossy(&import.stderr)
        );
        let doc_path = dir.path().join("doc.json");
        let sig_path = dir.path().join("doc.json.asc");
        std::fs::write(&doc_path, doc).unwrap();
        std::fs::write(&sig_path, again.sign(doc).unwrap()).unwrap();
        let paths = [sig_path.to_str().unwrap(), doc_path.to_str().unwrap()];
        let ok = gpg(&["--verify", paths[0], paths[1]]);
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        std::fs::write(&doc_path, br#"{"document": {"title": "tampered"}}"#).unwrap();
        let bad = gpg(&["--verify", paths[0], paths[1]]);
        assert!(!bad.status.success(), "a changed document must not verify");
    }

    #[test]
    fn a_broken_key_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("provider.asc");
        std::fs::write(&key_file, "not a key").unwrap();
        let err = ProviderKey::load_or_create(&key_file, "x").unwrap_err();
        assert!(err.contains("provider.asc"), "{err}");
    }
}
