//! Finding ../shared (test data that must not be copied into the repo).

use std::io::Write;
use std::path::PathBuf;

/// The shared folder `sub`, from `SRF_SHARED_DIR` or `../shared` beside the crate.
///
/// Missing data must never look like a pass: under CI (any non-empty `CI`) or when
/// `SRF_SHARED_DIR` names a folder, it is a hard failure. Otherwise (a user's clone without
/// ../shared) the caller skips, and the reason is printed past libtest's output capture,
/// which would hide it for a passing test.
pub fn shared_dir(sub: &str) -> Option<PathBuf> {
    let explicit = std::env::var_os("SRF_SHARED_DIR").filter(|v| !v.is_empty());
    let required = explicit.is_some() || on_ci();
    let base = explicit.map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = base.join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    if required {
        panic!("shared test data {} is missing (CI or SRF_SHARED_DIR requires it)", dir.display());
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED: {} not found; set SRF_SHARED_DIR to run the tests that need it", dir.display());
    None
}

/// CI services set `CI` to "true", "1", "yes"...: any non-empty value counts.
pub fn on_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}
