//! Windows: the console through which the agent is asked to stop gracefully.
//!
//! Windows has no SIGTERM. A console program learns of a stop from a console control event, and
//! Go's runtime turns `CTRL_C_EVENT` and `CTRL_BREAK_EVENT` into `os.Interrupt`
//! (golang/go@9dbcc6de2fdc6a41010fee2fcc37439908f78c00:src/runtime/os_windows.go
//! `ctrlHandler`), which is the signal the Semaphore agent drains on (semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6
//! pkg/listener/job_processor.go `SetupInteruptHandler`).
//!
//! A control event reaches only processes attached to the sender's console. A service has no
//! console, so the supervisor gives itself one before it starts the agent, which inherits it.
//! The event is `CTRL_C_EVENT` to the whole console (group 0): a `CTRL_BREAK_EVENT` to the
//! agent's own process group would work on Windows too, but wine 8 refuses it
//! (`ERROR_INVALID_HANDLE`), and then nothing here could be tested. Jobs are not hit: the agent
//! starts each job's shell in a new process group (pkg/shell/process_setup_windows.go,
//! `CREATE_NEW_PROCESS_GROUP`), and such a group ignores `CTRL_C_EVENT`.

use std::io;

use windows_sys::Win32::System::Console::{
    AllocConsole, GenerateConsoleCtrlEvent, SetConsoleCtrlHandler, CTRL_C_EVENT,
};

/// Gives the bootstrap a console of its own when it has none (a service), so that the agent,
/// started next, shares it. A process that has a console keeps it: `AllocConsole` then fails,
/// which is what "already attached" looks like.
pub(super) fn attach() {
    // SAFETY: no arguments; fails harmlessly when a console is attached.
    unsafe {
        AllocConsole();
    }
}

/// Sends Ctrl-C to every process on the console, the agent's included, having first made the
/// bootstrap itself ignore it (the setting is not inherited by the agent, which already runs).
pub(super) fn interrupt() -> io::Result<()> {
    // SAFETY: plain Win32 calls without pointers.
    unsafe {
        if SetConsoleCtrlHandler(None, 1) == 0 {
            return Err(io::Error::last_os_error());
        }
        if GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0) == 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
