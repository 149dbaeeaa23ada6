//! The data directory and who may read it: the SQLite database, the generated
//! key-encryption key and the object store's files live there, so on Unix it is created
//! 0700 and every file Latchkey creates in it 0600, and a start is refused when the
//! directory or one of those files is open to other users.
//!
//! [`prepare`] is the one place a start creates and checks the directory. Files created
//! later go through [`create_private_file`] and [`make_private`]. Elsewhere than on Unix
//! the directory is only created.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::key_encryption::KeyEncryptionKeySource;

/// The SQLite database in the data directory, when no `database_url` is given.
pub const DATABASE_FILE: &str = "latchkey.db";
/// The key-encryption key generated on the first start when none is configured.
pub const KEY_ENCRYPTION_KEY_FILE: &str = "key-encryption-key";
/// The object store's folder.
pub const OBJECTS_DIR: &str = "objects";

/// Creates the data directory (0700) and, for the default SQLite database, its empty
/// file (0600) — SQLite gives its `-wal` and `-shm` files the database file's mode, so
/// they are private from birth too. Then refuses to go on when the directory or a file
/// in it that holds keys or data, or the configured key-encryption key file, is
/// readable by other users.
pub fn prepare(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    create_private_dir(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    if config.database_url.is_none() {
        let database = dir.join(DATABASE_FILE);
        match create_private_file(&database, b"") {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("creating the database {}", database.display()));
            }
        }
    }
    let mut checked = vec![dir.clone()];
    checked.extend(
        [
            DATABASE_FILE.to_owned(),
            format!("{DATABASE_FILE}-wal"),
            format!("{DATABASE_FILE}-shm"),
            KEY_ENCRYPTION_KEY_FILE.to_owned(),
            OBJECTS_DIR.to_owned(),
        ]
        .iter()
        .map(|name| dir.join(name)),
    );
    if let Some(KeyEncryptionKeySource::File(path)) = &config.key_encryption_key {
        checked.push(path.clone());
    }
    checked.iter().try_for_each(refuse_if_shared)
}

/// Creates `path` and its missing parents, each 0700 on Unix.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Writes a new file, 0600 on Unix from the moment it exists; fails with
/// `AlreadyExists` rather than touch an existing one.
pub fn create_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Makes `file` 0600 and every directory from `root` down to it 0700, for files a
/// library created with the umask's mode (the object store's).
pub fn make_private(root: &Path, file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        let mut dir = file.parent();
        while let Some(current) = dir
            && current.starts_with(root)
        {
            std::fs::set_permissions(current, std::fs::Permissions::from_mode(0o700))?;
            dir = current.parent();
        }
    }
    #[cfg(not(unix))]
    let _ = (root, file);
    Ok(())
}

/// An error naming the file, its mode and the `chmod` that fixes it, when `path` exists
/// and its group or others have any permission.
fn refuse_if_shared(path: &PathBuf) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("reading the mode of {}", path.display()));
            }
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let (what, private) = if metadata.is_dir() {
                ("directory", "700")
            } else {
                ("file", "600")
            };
            anyhow::bail!(
                "the {what} {path} has mode {mode:04o}, so other users on this machine can \
                 read it, and it holds Latchkey's keys or data; run `chmod {private} {path}` \
                 and start again",
                path = path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
