//! Writing a host tree ([`crate::host::entries`]) into a directory, and the
//! registry of directories kept current after every change of the machine:
//! [`apply`] makes a directory match a list of entries (device nodes as
//! character devices, or placeholder files where mknod is not permitted) and
//! records what it wrote in the directory's manifest; [`refresh_roots`]
//! rewrites every root registered with [`SimMachine::add_host_root`], under
//! the state file's exclusive lock.

use crate::host::{
    entries, io, Entry, HostError, HostRoot, Node, NodeKind, CAPS_MAJOR, ERROR_FILE, MANIFEST,
    MANIFEST_FORMAT, NVIDIACTL_MINOR, NVIDIA_MAJOR, ROOTS_FORMAT, UVM_MAJOR,
};
use crate::state::MachineState;
use crate::SimMachine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The text of a placeholder standing for a character device.
pub fn placeholder_text(major: u32, minor: u32, mode: u32) -> String {
    format!(
        "migctl placeholder: character device {major}:{minor} mode {mode:04o} \
         (mknod was not permitted where this tree was written)\n"
    )
}

/// What a root's manifest records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    nodes: NodeKind,
    #[serde(default)]
    why: String,
    paths: Vec<String>,
}

fn read_manifest(root: &Path) -> Result<Option<Manifest>, HostError> {
    let p = root.join(MANIFEST);
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&p)(e)),
    };
    let m: Manifest = serde_json::from_str(&text).map_err(|e| HostError::Manifest {
        path: p.clone(),
        why: e.to_string(),
    })?;
    if m.format != MANIFEST_FORMAT {
        return Err(HostError::Manifest {
            path: p,
            why: format!("format {:?}", m.format),
        });
    }
    Ok(Some(m))
}

/// Write `data` to `path` through a temporary file in the same directory,
/// renamed into place, so a reader sees the old file or the new one.
fn replace_file(path: &Path, data: &[u8], mode: u32) -> Result<(), HostError> {
    let tmp = tmp_beside(path);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    drop(f);
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn tmp_beside(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(
        ".migctl-tmp-{}-{}",
        name.unwrap_or_default(),
        std::process::id()
    ))
}

fn mknod(path: &Path, major: u32, minor: u32, mode: u32) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let dev = libc::makedev(major, minor);
    // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | mode as libc::mode_t, dev) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // mknod applies the umask; set the mode exactly
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Whether the node at `path` already is what `node` asks for.
fn is_current(path: &Path, node: &Node, kind: NodeKind) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    let mode_ok = |m: u32| meta.permissions().mode() & 0o7777 == m;
    match node {
        Node::Dir => meta.is_dir(),
        Node::Link(t) => {
            meta.file_type().is_symlink()
                && fs::read_link(path).ok().as_deref() == Some(Path::new(t))
        }
        Node::File { data, mode } => {
            meta.is_file()
                && mode_ok(*mode)
                && meta.len() == data.len() as u64
                && fs::read(path).ok().as_deref() == Some(data.as_slice())
        }
        Node::CharDev { major, minor, mode } => match kind {
            NodeKind::Chardev => {
                meta.file_type().is_char_device()
                    && mode_ok(*mode)
                    && meta.rdev() == libc::makedev(*major, *minor)
            }
            NodeKind::Placeholder => {
                let text = placeholder_text(*major, *minor, *mode);
                meta.is_file() && fs::read(path).ok().as_deref() == Some(text.as_bytes())
            }
        },
    }
}

/// Create `node` at `path` (which does not exist or is replaced).
fn create(path: &Path, node: &Node, kind: NodeKind) -> Result<(), HostError> {
    match node {
        Node::Dir => fs::create_dir(path).map_err(io(path)),
        Node::File { data, mode } => replace_file(path, data, *mode),
        Node::Link(t) => {
            let tmp = tmp_beside(path);
            let _ = fs::remove_file(&tmp);
            std::os::unix::fs::symlink(t, &tmp).map_err(io(&tmp))?;
            fs::rename(&tmp, path).map_err(io(path))
        }
        Node::CharDev { major, minor, mode } => match kind {
            NodeKind::Chardev => {
                let tmp = tmp_beside(path);
                let _ = fs::remove_file(&tmp);
                mknod(&tmp, *major, *minor, *mode).map_err(io(&tmp))?;
                fs::rename(&tmp, path).map_err(io(path))
            }
            NodeKind::Placeholder => replace_file(
                path,
                placeholder_text(*major, *minor, *mode).as_bytes(),
                0o644,
            ),
        },
    }
}

fn remove_any(path: &Path) -> Result<(), HostError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
        Ok(m) if m.is_dir() => {
            // vanish at once for readers: rename aside, then delete
            let aside = path.with_file_name(format!(
                ".migctl-old-{}-{}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                std::process::id()
            ));
            fs::rename(path, &aside).map_err(io(path))?;
            fs::remove_dir_all(&aside).map_err(io(&aside))
        }
        Ok(_) => fs::remove_file(path).map_err(io(path)),
    }
}

/// Make `root` hold exactly `entries` (and nothing else that a previous
/// write of migctl put there). Each file, link and node appears whole
/// (written beside, renamed into place); a new directory appears with its
/// whole subtree (built under a temporary name, then renamed); a removed
/// directory vanishes at once (renamed aside, then deleted). Nothing that
/// migctl did not write is touched.
pub fn apply(root: &Path, entries: &[Entry], kind: NodeKind, why: &str) -> Result<(), HostError> {
    fs::create_dir_all(root).map_err(io(root))?;
    let old = read_manifest(root)?;
    if old.is_none() {
        for top in ["sys", "proc", "dev"] {
            if fs::symlink_metadata(root.join(top)).is_ok() {
                return Err(HostError::NotOurs {
                    path: root.to_path_buf(),
                    what: format!("{top}/"),
                });
            }
        }
    }
    let want: BTreeMap<&str, &Node> = entries.iter().map(|e| (e.path.as_str(), &e.node)).collect();
    // 1. removals: /proc before /dev, so no capability file ever names a
    // node that is gone; shallowest first (a directory takes its subtree)
    if let Some(old) = &old {
        let mut gone: Vec<&String> = old
            .paths
            .iter()
            .filter(|p| !want.contains_key(p.as_str()))
            .collect();
        gone.sort_by_key(|p| (!p.starts_with("proc"), p.matches('/').count()));
        let mut removed: Vec<&str> = Vec::new();
        for p in gone {
            if removed.iter().any(|r| p.starts_with(&format!("{r}/"))) {
                continue;
            }
            remove_any(&root.join(p))?;
            removed.push(p);
        }
    }
    // 2. additions and updates, parents first; `dev/` sorts before `proc/`,
    // so a node exists before a capability file names it
    let mut built: Vec<&str> = Vec::new();
    for (p, node) in &want {
        if built.iter().any(|b| p.starts_with(&format!("{b}/"))) {
            continue;
        }
        let path = root.join(p);
        if is_current(&path, node, kind) {
            continue;
        }
        if **node == Node::Dir {
            if fs::symlink_metadata(&path).is_ok() {
                remove_any(&path)?;
            }
            // build the subtree under a temporary name, then rename it in
            let tmp = tmp_beside(&path);
            remove_any(&tmp)?;
            fs::create_dir(&tmp).map_err(io(&tmp))?;
            let prefix = format!("{p}/");
            for (q, n) in
                want.range::<str, _>((std::ops::Bound::Excluded(*p), std::ops::Bound::Unbounded))
            {
                let Some(rest) = q.strip_prefix(&prefix) else {
                    if !q.starts_with(*p) {
                        break;
                    }
                    continue;
                };
                create(&tmp.join(rest), n, kind)?;
            }
            fs::rename(&tmp, &path).map_err(io(&path))?;
            built.push(p);
        } else {
            if fs::symlink_metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                remove_any(&path)?;
            }
            create(&path, node, kind)?;
        }
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        nodes: kind,
        why: why.into(),
        paths: want.keys().map(|p| p.to_string()).collect(),
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| HostError::Manifest {
        path: root.join(MANIFEST),
        why: e.to_string(),
    })?;
    replace_file(&root.join(MANIFEST), &text, 0o644)
}

/// Whether character devices can be made under `root` here: mknod must be
/// permitted, and the majors the tree uses must not belong to another
/// driver of this host (a node would open that driver). The reason when
/// not.
pub fn node_kind_for(root: &Path) -> (NodeKind, String) {
    let ours = [
        "nvidia",
        "nvidiactl",
        "nvidia-modeset",
        "nvidia-uvm",
        "nvidia-caps",
    ];
    if let Ok(devices) = fs::read_to_string("/proc/devices") {
        let chars = devices.split("Block devices:").next().unwrap_or("");
        for l in chars.lines() {
            let mut it = l.split_whitespace();
            let (Some(major), Some(name)) = (it.next(), it.next()) else {
                continue;
            };
            let Ok(major) = major.parse::<u32>() else {
                continue;
            };
            if [NVIDIA_MAJOR, UVM_MAJOR, CAPS_MAJOR].contains(&major) && !ours.contains(&name) {
                return (
                    NodeKind::Placeholder,
                    format!("major {major} belongs to this host's {name:?} driver"),
                );
            }
        }
    }
    let probe = root.join(".migctl-mknod-probe");
    let _ = fs::remove_file(&probe);
    match mknod(&probe, NVIDIA_MAJOR, NVIDIACTL_MINOR, 0o600) {
        Ok(()) => {
            let _ = fs::remove_file(&probe);
            (NodeKind::Chardev, String::new())
        }
        Err(e) => {
            let _ = fs::remove_file(&probe);
            (NodeKind::Placeholder, format!("mknod not permitted: {e}"))
        }
    }
}

/// The roots a machine keeps current, in `<state>.hosts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Roots {
    format: String,
    roots: Vec<RootEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RootEntry {
    dir: PathBuf,
    nodes: NodeKind,
    #[serde(default)]
    why: String,
}

/// The side file beside the state that names the roots to keep current.
pub fn roots_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".hosts");
    p.into()
}

fn read_roots(state: &Path) -> Result<Roots, HostError> {
    let p = roots_path(state);
    match fs::read_to_string(&p) {
        Ok(t) => {
            let r: Roots = serde_json::from_str(&t).map_err(|e| HostError::Manifest {
                path: p.clone(),
                why: e.to_string(),
            })?;
            if r.format != ROOTS_FORMAT {
                return Err(HostError::Manifest {
                    path: p,
                    why: format!("format {:?}", r.format),
                });
            }
            Ok(r)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Roots {
            format: ROOTS_FORMAT.into(),
            roots: Vec::new(),
        }),
        Err(e) => Err(io(&p)(e)),
    }
}

fn write_roots(state: &Path, r: &Roots) -> Result<(), HostError> {
    let p = roots_path(state);
    let text = serde_json::to_vec_pretty(r).map_err(|e| HostError::Manifest {
        path: p.clone(),
        why: e.to_string(),
    })?;
    replace_file(&p, &text, 0o644)
}

/// Rewrite every registered root for the state `st` just saved at `state`
/// (the caller holds the exclusive lock). A root whose manifest is gone
/// (its directory was deleted) is forgotten rather than recreated. Errors
/// do not undo the change the caller made: each is written to the root's
/// [`ERROR_FILE`] (removed again by the next good write) and returned.
pub fn refresh_roots(state: &Path, st: &MachineState) -> Vec<HostError> {
    let mut errors = Vec::new();
    let mut roots = match read_roots(state) {
        Ok(r) if r.roots.is_empty() => return errors,
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let list = entries(st);
    let before = roots.roots.len();
    roots.roots.retain(|r| r.dir.join(MANIFEST).exists());
    for r in &roots.roots {
        match apply(&r.dir, &list, r.nodes, &r.why) {
            Ok(()) => {
                let _ = fs::remove_file(r.dir.join(ERROR_FILE));
            }
            Err(e) => {
                let _ = fs::write(r.dir.join(ERROR_FILE), format!("{e}\n"));
                errors.push(e);
            }
        }
    }
    if roots.roots.len() != before {
        if let Err(e) = write_roots(state, &roots) {
            errors.push(e);
        }
    }
    errors
}

impl SimMachine {
    /// Write the host tree under `dir` and keep it current after every
    /// change of this machine. Returns how device nodes are held there.
    pub fn add_host_root(&self, dir: &Path) -> Result<HostRoot, HostError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let dir = dir.canonicalize().map_err(io(dir))?;
        let lock = self.file.lock(true)?;
        let st = self.file.load(&lock)?;
        let mut roots = read_roots(self.path())?;
        let (nodes, why) = match read_manifest(&dir)? {
            Some(m) => (m.nodes, m.why),
            None => node_kind_for(&dir),
        };
        apply(&dir, &entries(&st), nodes, &why)?;
        let entry = RootEntry {
            dir: dir.clone(),
            nodes,
            why: why.clone(),
        };
        roots.roots.retain(|r| r.dir != dir);
        roots.roots.push(entry);
        roots.format = ROOTS_FORMAT.into();
        write_roots(self.path(), &roots)?;
        Ok(HostRoot { dir, nodes, why })
    }

    /// Stop keeping `dir` current (its files stay).
    pub fn forget_host_root(&self, dir: &Path) -> Result<bool, HostError> {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let _lock = self.file.lock(true)?;
        let mut roots = read_roots(self.path())?;
        let n = roots.roots.len();
        roots.roots.retain(|r| r.dir != dir);
        let forgot = roots.roots.len() != n;
        if forgot {
            write_roots(self.path(), &roots)?;
        }
        Ok(forgot)
    }

    /// The roots this machine keeps current. Read without a lock: the list
    /// is replaced atomically, so reading it needs no write access.
    pub fn host_roots(&self) -> Result<Vec<HostRoot>, HostError> {
        Ok(read_roots(self.path())?
            .roots
            .into_iter()
            .map(|r| HostRoot {
                dir: r.dir,
                nodes: r.nodes,
                why: r.why,
            })
            .collect())
    }
}
