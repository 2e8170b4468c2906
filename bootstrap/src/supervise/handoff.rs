//! A secret handed to the agent on an inherited descriptor, so that it is in no file, argv or
//! environment the agent's jobs could read.
//!
//! The token is written into a pipe before the agent starts and the write end is closed; the
//! agent inherits the read end and reads it to its end. The agent is told where it is by a
//! reference its config carries ([`Handoff::reference`], `fd://N`: buildkite-agent reads such a
//! token from inherited descriptor `N` (on Windows a handle), trims it and closes it:
//! buildkite/agent@d312b88:clicommand/register_token.go `resolveRegistrationToken`).

use std::io::Write;

use crate::secrets::Token;

/// The descriptor the agent finds the token on, on Unix: the first after stdio.
#[cfg(unix)]
pub const INHERITED_FD: i32 = 3;

/// The most the handoff carries: written before the agent starts, the whole token must fit in
/// the pipe's buffer (4 KiB on every OS the images run; a Buildkite token is under 100 bytes).
pub const MAX_LEN: usize = 4096;

/// The read end of a pipe that holds the token, its write end closed.
pub struct Handoff {
    #[cfg(unix)]
    reader: std::io::PipeReader,
    #[cfg(windows)]
    reader: std::os::windows::io::OwnedHandle,
}

/// Shows where the token is, never what it is.
impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Handoff").field(&self.reference()).finish()
    }
}

impl Handoff {
    /// Puts `token` into a new pipe. The read end is not inherited by anything until
    /// [`super::spawn`] hands it to the agent.
    pub fn new(token: &Token) -> std::io::Result<Handoff> {
        let bytes = token.expose().as_bytes();
        if bytes.len() > MAX_LEN {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the token is longer than the {MAX_LEN} bytes a handoff carries"),
            ));
        }
        let (reader, mut writer) = pipe()?;
        writer.write_all(bytes)?;
        drop(writer);
        Ok(Handoff { reader })
    }

    /// Where the agent finds the token: `fd://3` on Unix, `fd://<handle>` on Windows.
    pub fn reference(&self) -> String {
        #[cfg(unix)]
        {
            format!("fd://{INHERITED_FD}")
        }
        #[cfg(windows)]
        {
            use std::os::windows::io::AsRawHandle;
            format!("fd://{}", self.reader.as_raw_handle() as usize)
        }
    }

    /// The read end's descriptor, to be put at [`INHERITED_FD`] in the agent.
    #[cfg(unix)]
    pub fn raw_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.reader.as_raw_fd()
    }

    /// Lets (or stops letting) new processes inherit the read end: on only while the agent is
    /// created.
    #[cfg(windows)]
    pub fn inheritable(&self, on: bool) -> std::io::Result<()> {
        use std::os::windows::io::AsRawHandle;
        use windows_sys::Win32::Foundation::{SetHandleInformation, HANDLE_FLAG_INHERIT};
        let flags = if on { HANDLE_FLAG_INHERIT } else { 0 };
        // SAFETY: the handle is ours and open for as long as `self`.
        let ok = unsafe {
            SetHandleInformation(self.reader.as_raw_handle(), HANDLE_FLAG_INHERIT, flags)
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A pipe whose ends no child inherits: std's on Unix (close-on-exec).
#[cfg(unix)]
fn pipe() -> std::io::Result<(std::io::PipeReader, std::io::PipeWriter)> {
    std::io::pipe()
}

/// An anonymous pipe, both ends synchronous and not inheritable: the agent reads its end with a
/// plain `ReadFile` (Go's `os.NewFile` on the handle).
#[cfg(windows)]
fn pipe() -> std::io::Result<(std::os::windows::io::OwnedHandle, std::fs::File)> {
    use std::os::windows::io::{FromRawHandle, OwnedHandle};
    use windows_sys::Win32::System::Pipes::CreatePipe;
    let mut read = std::ptr::null_mut();
    let mut write = std::ptr::null_mut();
    // SAFETY: both out-pointers are valid; null attributes make both handles non-inheritable.
    let ok = unsafe { CreatePipe(&mut read, &mut write, std::ptr::null(), 0) };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: CreatePipe succeeded: both handles are new and ours alone.
    let (read, write) = unsafe {
        (
            OwnedHandle::from_raw_handle(read),
            std::fs::File::from_raw_handle(write),
        )
    };
    Ok((read, write))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_reference_names_the_inherited_descriptor() {
        let handoff = Handoff::new(&Token::new("t0k".into())).unwrap();
        assert_eq!(handoff.reference(), "fd://3");
    }

    #[test]
    fn a_token_longer_than_the_pipe_holds_is_refused_without_showing_it() {
        let token = Token::new("x".repeat(MAX_LEN + 1));
        let err = Handoff::new(&token).err().unwrap().to_string();
        assert_eq!(
            err,
            "the token is longer than the 4096 bytes a handoff carries"
        );
    }
}
