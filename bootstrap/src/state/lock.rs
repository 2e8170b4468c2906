//! One `run` per agent dir. The baked service and an agent-aws-stack launch template's
//! `start.sh` can both start `run` on the same boot; without this, each would register its own
//! agent on one instance and both would try to give it back.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::StateDir;

/// Held for the life of the `run` process; the OS releases it however the process ends.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another `imagekit-bootstrap run` already supervises the agent in {} (it holds {}); not starting a second agent",
        .dir.display(),
        .path.display()
    )]
    Held { dir: PathBuf, path: PathBuf },
    #[error("locking {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub fn lock_path(agent_dir: &Path) -> PathBuf {
    StateDir::of(agent_dir).file("run.lock")
}

/// Takes the agent dir's run lock without waiting: a second `run` stops at once.
pub fn acquire(agent_dir: &Path) -> Result<RunLock, LockError> {
    let path = lock_path(agent_dir);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(StateDir::of(agent_dir).path()).map_err(io)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(RunLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(LockError::Held {
            dir: agent_dir.to_path_buf(),
            path,
        }),
        Err(TryLockError::Error(e)) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        let err = acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(err.to_string().contains(&dir.path().display().to_string()));
        drop(first);
        acquire(dir.path()).unwrap();
    }
}
