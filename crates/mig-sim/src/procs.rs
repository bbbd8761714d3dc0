//! Real host processes holding simulated MIG devices: `migctl sim run --
//! CMD` starts one registered on a device, `--pid` registers one that
//! runs already. A registered process keeps its device busy while it lives
//! (checked through `/proc/PID/stat`, with its start time guarding against
//! pid reuse) and frees it when it exits, whoever reaps it.

use crate::state::host_start_time;
use crate::SimMachine;
use mig_model::{BackendError, GpuRef};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

/// Why a host process could not be run or registered.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("no running process with pid {0}")]
    NoProcess(u32),
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error("cannot run {cmd:?}: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("no command given")]
    NoCommand,
}

/// The name the kernel gives a process running `program`: its file name,
/// cut to 15 bytes (`TASK_COMM_LEN` - 1), as `/proc/PID/comm` shows it.
pub fn comm_of(program: &str) -> String {
    let base = program.rsplit('/').next().unwrap_or(program);
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

fn last_err(cmd: &str) -> ProcError {
    ProcError::Spawn {
        cmd: cmd.into(),
        source: std::io::Error::last_os_error(),
    }
}

impl SimMachine {
    /// Register the running process `pid` on MIG device `mig` of `gpu` (or
    /// on the GPU when MIG is disabled), under its `/proc/PID/comm` name.
    pub fn register_host_process(
        &self,
        gpu: &GpuRef,
        mig: Option<(u32, u32)>,
        pid: u32,
        used_memory_mb: u64,
    ) -> Result<u32, ProcError> {
        let start = host_start_time(pid).ok_or(ProcError::NoProcess(pid))?;
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim_end().to_string())
            .map_err(|_| ProcError::NoProcess(pid))?;
        Ok(self.add_process(gpu, mig, &name, used_memory_mb, Some((pid, start)))?)
    }

    /// Run `cmd` as a child registered on the device, from before it execs
    /// until it exits, and return its exit code (128 + signal when killed).
    /// `started` is told the child's pid once it is registered and runs CMD.
    pub fn run_host_process(
        &self,
        gpu: &GpuRef,
        mig: Option<(u32, u32)>,
        used_memory_mb: u64,
        cmd: &[String],
        started: impl FnOnce(u32),
    ) -> Result<i32, ProcError> {
        let program = cmd.first().ok_or(ProcError::NoCommand)?;
        let argv: Vec<CString> = cmd
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|_| ProcError::Spawn {
                cmd: program.clone(),
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            })?;
        let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let (mut gate, mut report) = ([0i32; 2], [0i32; 2]);
        // SAFETY: pipe2 writes two descriptors into each array.
        unsafe {
            if libc::pipe2(gate.as_mut_ptr(), libc::O_CLOEXEC) != 0
                || libc::pipe2(report.as_mut_ptr(), libc::O_CLOEXEC) != 0
            {
                return Err(last_err(program));
            }
        }
        // SAFETY: the child only calls async-signal-safe functions (read,
        // execvp, write, _exit) on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(last_err(program));
        }
        if pid == 0 {
            // SAFETY: see above; the child never returns from this block.
            unsafe {
                libc::close(gate[1]);
                libc::close(report[0]);
                let mut go = 0u8;
                // wait until the parent has registered this process
                if libc::read(gate[0], (&mut go as *mut u8).cast(), 1) != 1 {
                    libc::_exit(126);
                }
                libc::execvp(ptrs[0], ptrs.as_ptr());
                let errno = *libc::__errno_location();
                libc::write(report[1], (&errno as *const i32).cast(), 4);
                libc::_exit(127);
            }
        }
        let pid_u = pid as u32;
        // SAFETY: closing our copies of the child's ends.
        unsafe {
            libc::close(gate[0]);
            libc::close(report[1]);
        }
        let reap = |pid: i32| -> i32 {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
            }
            if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                libc::WEXITSTATUS(status)
            }
        };
        let registered = host_start_time(pid_u)
            .ok_or(ProcError::NoProcess(pid_u))
            .and_then(|start| {
                let name = comm_of(&String::from_utf8_lossy(
                    std::path::Path::new(program).as_os_str().as_bytes(),
                ));
                Ok(self.add_process(gpu, mig, &name, used_memory_mb, Some((pid_u, start)))?)
            });
        if let Err(e) = registered {
            // SAFETY: closing the gate unblocks the child, which exits.
            unsafe { libc::close(gate[1]) };
            reap(pid);
            return Err(e);
        }
        // Ignore terminal signals while the child runs, as system(3) does
        // (the child forked before, so it keeps the defaults); then open
        // the gate.
        // SAFETY: signal dispositions and a write of one byte we own.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGQUIT, libc::SIG_IGN);
            libc::write(gate[1], b"g".as_ptr().cast(), 1);
            libc::close(gate[1]);
        }
        let mut errno = 0i32;
        // The report pipe closes on a successful exec (O_CLOEXEC) or brings
        // execvp's errno.
        // SAFETY: reading at most 4 bytes into `errno`.
        let n = unsafe { libc::read(report[0], (&mut errno as *mut i32).cast(), 4) };
        // SAFETY: closing our read end.
        unsafe { libc::close(report[0]) };
        if n != 4 {
            started(pid_u);
        }
        let code = reap(pid);
        // the exit frees the device in any case; unregister at once as well
        let _ = self.kill_process(pid_u);
        if n == 4 {
            return Err(ProcError::Spawn {
                cmd: program.clone(),
                source: std::io::Error::from_raw_os_error(errno),
            });
        }
        Ok(code)
    }
}
