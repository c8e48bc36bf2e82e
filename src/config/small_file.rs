//! Reading a small file a configuration names (a secret, a vendor script): regular files only,
//! with a size limit, so a FIFO cannot block the reader and `/dev/zero` cannot fill its memory.

use std::io::Read;
use std::path::Path;

/// The largest secret file read.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;
/// The largest vendor script read.
pub const MAX_SCRIPT_FILE_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path} is not a regular file (a FIFO, a device or a directory cannot be read as configuration)")]
    NotRegular { path: String },
    #[error("{path} is larger than {max} bytes")]
    TooLarge { path: String, max: u64 },
    #[error("{path} is not UTF-8 text")]
    NotText { path: String },
}

/// The text of the regular file at `path`, at most `max_bytes` long.
pub fn read_small_file(path: &Path, max_bytes: u64) -> Result<String, FileError> {
    let shown = path.display().to_string();
    let unreadable = |e: std::io::Error| FileError::Unreadable { path: shown.clone(), reason: e.to_string() };
    // Checked before opening: opening a FIFO for reading blocks until a writer comes.
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(FileError::NotRegular { path: shown });
    }
    if metadata.len() > max_bytes {
        return Err(FileError::TooLarge { path: shown, max: max_bytes });
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    // The file may have been swapped or grown since: read one byte past the limit to tell.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > max_bytes {
        return Err(FileError::TooLarge { path: shown, max: max_bytes });
    }
    String::from_utf8(bytes).map_err(|_| FileError::NotText { path: shown })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_small_files_are_read() {
        let dir = std::env::temp_dir().join(format!("botvisor-small-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(read_small_file(&path, 64).unwrap(), "s3cret\n");
        assert!(matches!(read_small_file(&path, 3), Err(FileError::TooLarge { max: 3, .. })));
        assert!(matches!(read_small_file(&dir, 64), Err(FileError::NotRegular { .. })));
        assert!(matches!(read_small_file(&dir.join("missing"), 64), Err(FileError::Unreadable { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        assert!(matches!(read_small_file(Path::new("/dev/zero"), 64), Err(FileError::NotRegular { .. })));
        let fifo = std::env::temp_dir().join(format!("botvisor-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils) runs");
        assert!(made.success());
        assert!(matches!(read_small_file(&fifo, 64), Err(FileError::NotRegular { .. })));
        std::fs::remove_file(&fifo).unwrap();
    }
}
