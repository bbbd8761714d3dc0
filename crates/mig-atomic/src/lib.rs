//! mig-atomic: replacing a file atomically and durably: the one writer behind the
//! simulator's state file, the apply journal and migctl's exported files
//! (CDI specs, `gres.conf`). A reader sees the old file or the new one,
//! never a mix; a crash leaves at most the temporary file, which the next
//! write replaces.
//!
//! What it is not for: locking (callers that need one writer at a time, as
//! the simulator does, hold their own lock), or any knowledge of what the
//! bytes mean.
//!
//! # Example
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("gres.conf");
//! mig_atomic::replace(&path, &dir.path().join(".gres.conf.tmp"), b"Name=gpu File=/dev/nvidia0\n")?;
//! assert_eq!(std::fs::read_to_string(&path)?, "Name=gpu File=/dev/nvidia0\n");
//! assert!(!dir.path().join(".gres.conf.tmp").exists());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Write `bytes` to `tmp` (beside `path`), flush it to disk, rename it over
/// `path` and flush the directory. The temporary file is removed on error.
pub fn replace(path: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, tmp, bytes, |_, _| Ok(()))
}

/// [`replace`] without flushing: the new bytes replace `path` atomically
/// (a reader, or the next process after a crash, sees the old file or the
/// new one) but a power cut may leave the old one. For a record whose loss
/// costs nothing but accuracy (the apply journal's step counter).
pub fn replace_unflushed(path: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let write = || -> io::Result<()> {
        fs::write(tmp, bytes)?;
        fs::rename(tmp, path)
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(tmp);
    })
}

/// [`replace`] with a hook that runs after the first half of `bytes` is
/// written to `tmp` and before the rest (the simulator's fault injection
/// crashes there), given the file and the half still to write.
pub fn replace_with(
    path: &Path,
    tmp: &Path,
    bytes: &[u8],
    mid_write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let write = || -> io::Result<()> {
        let mut f = File::create(tmp)?;
        let half = bytes.len() / 2;
        f.write_all(&bytes[..half])?;
        mid_write(&mut f, &bytes[half..])?;
        f.write_all(&bytes[half..])?;
        f.sync_all()?;
        fs::rename(tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // make the rename durable; not all filesystems allow opening a dir
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves a replace leaves the new bytes and no temporary file, and a
    /// failed one (the hook errs mid-write) leaves the old file untouched
    /// and removes the temporary file.
    #[test]
    fn replaces_whole_or_not_at_all() {
        let d = tempfile::tempdir().expect("tempdir");
        let (p, tmp) = (d.path().join("f"), d.path().join("f.tmp"));
        replace(&p, &tmp, b"old contents").expect("first write");
        replace(&p, &tmp, b"new contents").expect("second write");
        assert_eq!(fs::read(&p).expect("read"), b"new contents");
        assert!(!tmp.exists());
        let r = replace_with(&p, &tmp, b"half-written", |_, _| {
            Err(io::Error::other("crash"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&p).expect("read"), b"new contents");
        assert!(!tmp.exists());
    }
}
