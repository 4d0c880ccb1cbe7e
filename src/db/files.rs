//! Files the service keeps on disk: readable by the service's own user only.
//!
//! The SQLite database holds incident reports, CVD cases and contact details (TLP:AMBER and
//! TLP:RED among them); the key files sign tokens and advisories. None of it is for the other
//! accounts of the host, so the folders the service creates are `0700` and the files `0600`,
//! whatever the process umask. SQLite creates the `-wal` and `-shm` files beside a database
//! with the database file's own mode (its unix VFS copies it and `fchmod`s the new file), so
//! creating the database file `0600` first is what keeps those private too.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The mode of a private folder.
pub const PRIVATE_DIR: u32 = 0o700;
/// The mode of a private file.
pub const PRIVATE_FILE: u32 = 0o600;

/// Creates `dir` and any missing parents with mode `0700`. A folder that exists already is
/// left as it is: it may be shared on purpose (the working directory, `/var/lib`), and the
/// files in it are private anyway.
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR);
    builder.create(dir)
}

/// Creates `path` empty with mode `0600` unless it exists; true when it created it.
pub fn create_private_file(path: &Path) -> std::io::Result<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE);
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// The SQLite database file and the files SQLite and the service keep beside it.
pub fn sqlite_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal", ".migrate-lock"]
        .iter()
        .map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

/// Makes the database file's folder (`0700` when it creates it) and the file itself (`0600`)
/// before SQLite opens it. A database made by an earlier version, which let the umask decide
/// (`0644` mostly), is closed to the group and to others here, with a warning in the log: its
/// `-wal` and `-shm` files are re-created with the database's mode, so they follow.
pub fn prepare_sqlite(db: &Path) -> Result<(), String> {
    // An in-memory database, or a `file:` URI that SQLite resolves itself: no file of ours.
    let name = db.to_string_lossy();
    if name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    if let Some(dir) = db.parent() {
        create_private_dir_all(dir)
            .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    }
    create_private_file(db)
        .map_err(|e| format!("cannot create the SQLite file {}: {e}", db.display()))?;
    for file in sqlite_files(db) {
        restrict(&file);
    }
    Ok(())
}

/// Takes the group's and others' permissions off an existing file; a failure (a file of
/// another user) is logged, not fatal: the service still runs, and the operator is told.
#[cfg(unix)]
fn restrict(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    match std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700)) {
        Ok(()) => log::warn!(
            "{} was readable by other accounts (mode {mode:o}); it is now {:o}",
            file.display(),
            mode & 0o700
        ),
        Err(e) => log::warn!(
            "{} is readable by other accounts (mode {mode:o}) and cannot be restricted: {e}; \
             make it 0600 by hand",
            file.display()
        ),
    }
}

#[cfg(not(unix))]
fn restrict(_file: &Path) {}
