//! The account the agent runs as, resolved once before anything is written.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("agent user {name}: {message}")]
pub struct UserError {
    pub name: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub home: PathBuf,
    #[cfg(unix)]
    pub uid: u32,
    #[cfg(unix)]
    pub gid: u32,
    /// Supplementary groups, looked up here because the child may only make raw syscalls
    /// between fork and exec.
    #[cfg(unix)]
    pub groups: Vec<u32>,
}

impl User {
    /// The owner of the files written for this user (the agent's config).
    pub fn owner(&self) -> imagekit_core::atomic::Owner {
        #[cfg(unix)]
        {
            Some((self.uid, self.gid))
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// Creates `path` (and its parents) as a directory only this user may enter: mode 0700,
    /// owned by the user (on Windows: as created, under the user's profile).
    pub fn private_dir(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
            std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))?;
        }
        Ok(())
    }

    /// Whether starting the agent as this user means changing identity.
    pub fn is_current(&self) -> bool {
        #[cfg(unix)]
        {
            // SAFETY: getuid never fails.
            self.uid == unsafe { libc::getuid() }
        }
        #[cfg(not(unix))]
        {
            true
        }
    }
}

/// Becomes `uid`/`gid` with supplementary `groups`, for good: the process's last act before
/// exec'ing what runs as the agent user. Only raw syscalls, so it is also safe between fork and
/// exec.
#[cfg(unix)]
pub fn switch_to(uid: u32, gid: u32, groups: &[libc::gid_t]) -> std::io::Result<()> {
    #[cfg(target_os = "macos")]
    let len = groups.len() as libc::c_int;
    #[cfg(not(target_os = "macos"))]
    let len = groups.len();
    // SAFETY: plain syscalls on a valid slice; the order drops the groups and the group while
    // still root, then the user.
    unsafe {
        if libc::setgroups(len, groups.as_ptr()) != 0
            || libc::setgid(gid as libc::gid_t) != 0
            || libc::setuid(uid as libc::uid_t) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `name`, or the current user when `None`.
#[cfg(unix)]
pub fn resolve(name: Option<&str>) -> Result<User, UserError> {
    use std::ffi::{CStr, CString};
    let shown = name.unwrap_or("(current user)").to_string();
    let err = |message: String| UserError {
        name: shown.clone(),
        message,
    };
    let mut buf = vec![0u8; 16 * 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: buffers are valid for the lengths given; result points into pwd/buf on success.
    let rc = match name {
        Some(name) => {
            let cname = CString::new(name).map_err(|_| err("contains a NUL byte".into()))?;
            unsafe {
                libc::getpwnam_r(
                    cname.as_ptr(),
                    &mut pwd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut result,
                )
            }
        }
        None => unsafe {
            libc::getpwuid_r(
                libc::getuid(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        },
    };
    if rc != 0 {
        return Err(err(std::io::Error::from_raw_os_error(rc).to_string()));
    }
    if result.is_null() {
        return Err(err("no such user".into()));
    }
    // SAFETY: on success the strings point into `buf`, which outlives these reads.
    let (user_name, home) = unsafe {
        (
            CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned(),
            CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned(),
        )
    };
    let groups = group_list(&user_name, pwd.pw_gid);
    // The current user's home is `$HOME` when set, as for every tool it starts; another user's
    // is its passwd entry.
    let home = match (name, std::env::var_os("HOME")) {
        (None, Some(env_home)) if !env_home.is_empty() => PathBuf::from(env_home),
        _ => PathBuf::from(home),
    };
    Ok(User {
        name: user_name,
        home,
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
        groups,
    })
}

#[cfg(unix)]
fn group_list(name: &str, gid: u32) -> Vec<u32> {
    let Ok(cname) = std::ffi::CString::new(name) else {
        return vec![gid];
    };
    let mut n: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let before = n;
        // SAFETY: `groups` holds `n` entries; getgrouplist updates `n` to the count needed.
        #[cfg(target_os = "macos")]
        let rc = unsafe {
            libc::getgrouplist(
                cname.as_ptr(),
                gid as libc::c_int,
                groups.as_mut_ptr().cast(),
                &mut n,
            )
        };
        #[cfg(not(target_os = "macos"))]
        let rc = unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n as usize);
            #[allow(clippy::unnecessary_cast)] // gid_t is i32 on some targets
            return groups.into_iter().map(|g| g as u32).collect();
        }
        if n <= before {
            n = before * 2;
        }
        if n > 65536 {
            return vec![gid];
        }
    }
}

#[cfg(not(unix))]
pub fn resolve(name: Option<&str>) -> Result<User, UserError> {
    let name = name
        .map(str::to_string)
        .or_else(|| std::env::var("USERNAME").ok())
        .unwrap_or_default();
    Ok(User {
        name,
        home: std::env::var_os("USERPROFILE")
            .map(PathBuf::from)
            .unwrap_or_default(),
    })
}
