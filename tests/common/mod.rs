//! Finding ../shared (test data that must not be copied into the repo).

use std::path::PathBuf;

/// The shared folder, from `SRF_SHARED_DIR` or `../shared` beside the crate. `None` (with a
/// visible reason) when it is absent on a user's clone; a hard failure under `CI=true`.
pub fn shared_dir(sub: &str) -> Option<PathBuf> {
    let base = std::env::var_os("SRF_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = base.join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("shared test data {} is missing (set SRF_SHARED_DIR)", dir.display());
    }
    eprintln!("SKIPPED: {} not found (set SRF_SHARED_DIR to run these tests)", dir.display());
    None
}
