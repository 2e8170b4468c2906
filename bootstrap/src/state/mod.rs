//! The bootstrap's state dir inside the agent dir: the run lock, and what the agent's hooks leave
//! for the supervisor (a shutdown reason, a job's start). The agent user owns it (0700), so its
//! hooks can write there and no other user can.

pub mod lock;

use std::path::{Path, PathBuf};

use crate::user::User;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    pub fn of(agent_dir: &Path) -> StateDir {
        StateDir {
            path: agent_dir.join(".imagekit"),
        }
    }

    /// The state dir at `path` itself (as a wrapper is told it), not inside an agent dir.
    pub fn at(path: &Path) -> StateDir {
        StateDir {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the dir (it may exist: the run lock is in it), private to `user`.
    pub fn prepare(&self, user: &User) -> std::io::Result<()> {
        user.private_dir(&self.path)
    }
}
