//! The simulated host in view: a private mount namespace (inside a user
//! namespace where the caller is not root) in which `/sys/bus/pci`,
//! `/proc/driver`, `/proc/devices`, `/proc/modules` and the `/dev/nvidia*`
//! nodes are those of a host tree written by [`crate::host`].
//!
//! The directories of the tree are bind-mounted, not copied, so the view
//! follows every later change of the machine (the tree is rewritten in
//! place under the same directories). `/dev` becomes a small tmpfs holding
//! bind mounts of every entry of the real `/dev` plus the tree's nodes, so
//! nothing is created in the host's `/dev`. `/proc/devices` and
//! `/proc/modules` show the host's lines plus the simulated driver's.
//!
//! What it is not for: choosing the program to run or printing; the caller
//! execs the program after [`enter`] returns.

use crate::host;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The directory inside a root over which the view mounts its own tmpfs
/// (private to the namespace; empty on the host).
pub const STAGE: &str = ".migctl-stage";

/// Why no view could be made.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(
        "cannot create a private {what} namespace: {source} (the kernel or a sandbox forbids it)"
    )]
    Namespace {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A path of the host that the view could not show, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotShown {
    pub target: String,
    pub why: String,
}

fn cstr(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

fn mount(
    src: Option<&Path>,
    dst: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::io::Result<()> {
    let src = src.map(cstr).transpose()?;
    let dst = cstr(dst)?;
    let fstype = fstype.map(CString::new).transpose()?;
    let data = data.map(CString::new).transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is null or a NUL-terminated string alive for the call.
    let rc = unsafe {
        libc::mount(
            ptr(&src),
            dst.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn bind(src: &Path, dst: &Path) -> std::io::Result<()> {
    mount(Some(src), dst, None, libc::MS_BIND | libc::MS_REC, None)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ViewError + '_ {
    move |source| ViewError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Enter a private mount namespace (and a user namespace mapping the
/// caller's own IDs where it is not root) and mount the tree at `root` over
/// the host's paths. Must run before the process starts any thread. Returns
/// what could not be shown.
pub fn enter(root: &Path, bin: &[(&str, &Path)]) -> Result<(PathBuf, Vec<NotShown>), ViewError> {
    let stage = root.join(STAGE);
    fs::create_dir_all(&stage).map_err(io(&stage))?;
    // SAFETY: plain libc calls without pointers.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // Root gets a mount namespace alone; where that is refused (a container
    // without CAP_SYS_ADMIN) and for everyone else, a user namespace that
    // maps the caller's own IDs comes with it.
    // SAFETY: unshare takes flags only; the process is single-threaded.
    let root_alone = uid == 0 && unsafe { libc::unshare(libc::CLONE_NEWNS) } == 0;
    if !root_alone {
        // SAFETY: as above.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) } != 0 {
            return Err(ViewError::Namespace {
                what: if uid == 0 { "mount" } else { "user and mount" },
                source: std::io::Error::last_os_error(),
            });
        }
        for (file, text) in [
            ("/proc/self/setgroups", "deny".to_string()),
            ("/proc/self/uid_map", format!("{uid} {uid} 1")),
            ("/proc/self/gid_map", format!("{gid} {gid} 1")),
        ] {
            fs::write(file, text).map_err(io(Path::new(file)))?;
        }
    }
    let slash = Path::new("/");
    mount(None, slash, None, libc::MS_REC | libc::MS_PRIVATE, None).map_err(io(slash))?;
    mount(None, &stage, Some("tmpfs"), 0, Some("mode=755")).map_err(io(&stage))?;

    let mut not_shown = Vec::new();
    let mut show = |src: &Path, target: &str| {
        let t = Path::new(target);
        if fs::symlink_metadata(t).is_err() {
            not_shown.push(NotShown {
                target: target.into(),
                why: "this kernel has none to cover".into(),
            });
            return;
        }
        if let Err(e) = bind(src, t) {
            not_shown.push(NotShown {
                target: target.into(),
                why: e.to_string(),
            });
        }
    };
    show(&root.join("sys/bus/pci"), "/sys/bus/pci");
    show(&root.join("proc/driver"), "/proc/driver");

    // /proc/devices and /proc/modules: the host's lines plus ours
    let devices = stage.join("devices");
    fs::write(&devices, merged_devices()).map_err(io(&devices))?;
    show(&devices, "/proc/devices");
    let modules = stage.join("modules");
    let host_modules = fs::read_to_string("/proc/modules").unwrap_or_default();
    let mut text: String = host_modules
        .lines()
        .filter(|l| !l.starts_with("nvidia"))
        .map(|l| format!("{l}\n"))
        .collect();
    for l in host::proc_modules_lines(count_gpus(root)) {
        text.push_str(&l);
        text.push('\n');
    }
    fs::write(&modules, text).map_err(io(&modules))?;
    show(&modules, "/proc/modules");

    // /dev: a tmpfs with the host's entries bound in, plus the tree's nodes
    let dev = stage.join("dev");
    fs::create_dir(&dev).map_err(io(&dev))?;
    let mut dev_err = None;
    for (name, src) in dev_entries(root) {
        let dst = dev.join(&name);
        if let Err(e) = place(&src, &dst) {
            dev_err.get_or_insert(format!("/dev/{name}: {e}"));
        }
    }
    match (dev_err, bind(&dev, Path::new("/dev"))) {
        (_, Err(e)) => not_shown.push(NotShown {
            target: "/dev/nvidia*".into(),
            why: e.to_string(),
        }),
        (Some(why), Ok(())) => not_shown.push(NotShown {
            target: "part of /dev".into(),
            why,
        }),
        (None, Ok(())) => {}
    }

    let bindir = stage.join("bin");
    fs::create_dir(&bindir).map_err(io(&bindir))?;
    for (name, target) in bin {
        let l = bindir.join(name);
        std::os::unix::fs::symlink(target, &l).map_err(io(&l))?;
    }
    Ok((bindir, not_shown))
}

/// Host `/proc/devices` with the nvidia lines of the tree in major order.
fn merged_devices() -> String {
    let host = fs::read_to_string("/proc/devices").unwrap_or_default();
    let (chars, blocks) = host.split_once("\nBlock devices:").unwrap_or((&host, "\n"));
    let mut lines: Vec<String> = chars
        .lines()
        .skip(1)
        .filter(|l| !l.contains("nvidia"))
        .map(String::from)
        .chain(host::proc_devices_lines())
        .collect();
    let major = |l: &String| {
        l.split_whitespace()
            .next()
            .and_then(|m| m.parse::<u32>().ok())
    };
    lines.sort_by_key(major);
    let mut s = String::from("Character devices:\n");
    for l in lines {
        s.push_str(&l);
        s.push('\n');
    }
    s.push_str("\nBlock devices:");
    s.push_str(blocks);
    s
}

fn count_gpus(root: &Path) -> usize {
    fs::read_dir(root.join("proc/driver/nvidia/gpus"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// (name in /dev, source): the host's entries (but any `nvidia*`), then the
/// tree's.
fn dev_entries(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let sim = root.join("dev");
    for (dir, ours) in [(Path::new("/dev"), false), (sim.as_path(), true)] {
        let Ok(rd) = fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("nvidia") != ours || name.starts_with('.') {
                continue;
            }
            out.push((name, e.path()));
        }
    }
    out
}

/// Make `dst` show `src`: symlinks are copied, everything else is bound
/// onto a mount point of the same kind.
fn place(src: &Path, dst: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    if meta.file_type().is_symlink() {
        return std::os::unix::fs::symlink(fs::read_link(src)?, dst);
    }
    if meta.is_dir() {
        fs::create_dir(dst)?;
    } else {
        fs::File::create(dst)?;
    }
    bind(src, dst)
}
