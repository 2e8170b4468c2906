//! Windows: the agent and every process it starts, in one job object. Windows has no process
//! groups to signal, and the agent's jobs run as its children: without the job, stopping the
//! agent would leave its job's processes running on an instance about to be given back.
//!
//! The job is made to kill its processes when its last handle closes
//! (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`), so the tree also ends if the bootstrap itself dies.

use std::io;
use std::os::windows::io::RawHandle;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};

/// The job holding the agent's tree; closing it ends whatever of the tree still runs.
pub(super) struct ProcessTree(HANDLE);

// SAFETY: a job object handle may be used and closed from any thread.
unsafe impl Send for ProcessTree {}
unsafe impl Sync for ProcessTree {}

impl ProcessTree {
    /// A new job with `process` (the agent, just started) in it. Processes the agent starts
    /// from now on are in the job too.
    pub(super) fn of(process: RawHandle) -> io::Result<ProcessTree> {
        // SAFETY: plain Win32 calls on a handle we own and a process handle that is open.
        unsafe {
            let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if job.is_null() {
                return Err(io::Error::last_os_error());
            }
            let tree = ProcessTree(job);
            let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            let size = std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32;
            let limits_ptr = &limits as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION;
            if SetInformationJobObject(
                job,
                JobObjectExtendedLimitInformation,
                limits_ptr.cast(),
                size,
            ) == 0
                || AssignProcessToJobObject(job, process as HANDLE) == 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(tree)
        }
    }

    /// Ends every process of the tree, the agent's included.
    pub(super) fn terminate(&self) -> io::Result<()> {
        // SAFETY: the handle is open until drop.
        if unsafe { TerminateJobObject(self.0, 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        // SAFETY: closed once, here; with KILL_ON_JOB_CLOSE this ends what is left of the tree.
        unsafe {
            CloseHandle(self.0);
        }
    }
}
