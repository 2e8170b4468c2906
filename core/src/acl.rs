//! Windows: the equivalent of mode 0600 for files that hold the token. A file created under
//! `C:\` inherits read access for every local user; this replaces that with a protected DACL
//! that only SYSTEM (which the service and so the agent run as) and Administrators can open.

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    SetFileSecurityW, DACL_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR,
};

/// Protected (no inherited entries), full access for SYSTEM and built-in Administrators only.
pub const PRIVATE_SDDL: &str = "D:P(A;;FA;;;SY)(A;;FA;;;BA)";

/// Gives `path` the [`PRIVATE_SDDL`] DACL.
pub fn make_private(path: &Path) -> io::Result<()> {
    let wide = |s: &std::ffi::OsStr| s.encode_wide().chain([0]).collect::<Vec<u16>>();
    let sddl = wide(PRIVATE_SDDL.as_ref());
    let file = wide(path.as_os_str());
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: both strings are NUL-terminated UTF-16 that outlive the calls; `sd` is allocated
    // by the first call and freed with LocalFree, as its documentation requires.
    unsafe {
        if ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut sd,
            std::ptr::null_mut(),
        ) == 0
        {
            return Err(io::Error::last_os_error());
        }
        let set = SetFileSecurityW(
            file.as_ptr(),
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            sd,
        );
        let err = io::Error::last_os_error();
        LocalFree(sd);
        if set == 0 {
            return Err(err);
        }
    }
    Ok(())
}
