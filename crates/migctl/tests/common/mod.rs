//! Shared helpers for migctl's integration tests: a private simulated
//! machine per test, and the transcript replayer of the golden tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// A simulated machine in a temporary directory, driven through the binary.
pub struct Machine {
    pub dir: tempfile::TempDir,
    /// Extra environment for every command (e.g. the NVML backend over the shim).
    pub env: Vec<(String, String)>,
}

impl Machine {
    pub fn new() -> Machine {
        Machine {
            dir: tempfile::tempdir().expect("tempdir"),
            env: vec![("MIGCTL_BACKEND".into(), "sim".into())],
        }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_migctl"));
        c.args(args)
            .env("MIGCTL_SIM_STATE", self.state())
            .env_remove("MIGCTL_SIM_FAULT");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run migctl")
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "migctl {args:?} failed ({:?}):\n{}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).expect("utf-8")
    }

    pub fn state_text(&self) -> String {
        std::fs::read_to_string(self.state()).unwrap_or_default()
    }
}

/// Run `c`, retrying while exec fails with "Text file busy": a test thread
/// forking while a copied binary was open for writing makes exec of the
/// copy fail for a moment.
pub fn output_retrying_busy(c: &mut Command) -> Output {
    for _ in 0..20 {
        let o = c.output().expect("run command");
        if !String::from_utf8_lossy(&o.stderr).contains("Text file busy") {
            return o;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    c.output().expect("run command")
}

/// Compare outputs and show the first differing line when they differ.
pub fn assert_same(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    let (g, w): (Vec<&str>, Vec<&str>) = (got.split('\n').collect(), want.split('\n').collect());
    let i = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    panic!(
        "{what}: output differs at line {}:\n got: {:?}\nwant: {:?}\n--- full output ---\n{got}--- expected ---\n{want}",
        i + 1,
        g.get(i),
        w.get(i)
    );
}

/// Split a command line into words; `"..."` groups words.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for ch in s.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// nvidia-smi's first line of the default view, the date
/// (`Tue Nov 24 10:52:32 2026` and seven spaces), written `$DATE`; any
/// other first line is left as it is, so that a missing date still fails.
pub fn mask_date(out: &str) -> String {
    match out.split_once('\n') {
        Some((first, rest)) if is_date_line(first) => format!("$DATE\n{rest}"),
        _ => out.to_string(),
    }
}

fn is_date_line(line: &str) -> bool {
    let Some(date) = line.strip_suffix("       ") else {
        return false;
    };
    let parts: Vec<&str> = date.split_whitespace().collect();
    date.len() == 24
        && parts.len() == 5
        && parts[3].len() == 8
        && parts[3]
            .split(':')
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Replay a transcript (see `tests/golden.rs`) on `m`.
pub fn replay(m: &Machine, script: &str, name: &str) {
    let lines: Vec<&str> = script.lines().collect();
    let mut i = 0;
    let mut n = 0;
    let mut env: Vec<(String, String)> = Vec::new();
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if let Some(kv) = line.strip_prefix("% ") {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("{name}:{i}: `% KEY=VALUE` expected"));
            env.push((k.trim().to_string(), v.trim().to_string()));
            continue;
        }
        let Some(cmd) = line.strip_prefix("$ ") else {
            assert!(
                line.starts_with('#') || line.trim().is_empty(),
                "{name}:{i}: expected a `$ migctl` command, a `% KEY=VALUE` setting or a `#` comment, found {line:?}"
            );
            continue;
        };
        let mut argv = words(cmd);
        assert_eq!(
            argv.first().map(String::as_str),
            Some("migctl"),
            "{name}:{i}"
        );
        argv.remove(0);
        let mut block = Vec::new();
        while i < lines.len()
            && !lines[i].starts_with("$ ")
            && !lines[i].starts_with('#')
            && !lines[i].starts_with("% ")
        {
            block.push(lines[i]);
            i += 1;
        }
        while block.last().is_some_and(|l| l.trim().is_empty()) {
            block.pop();
        }
        let mut want_code = 0;
        if let Some(last) = block.last() {
            if let Some(c) = last
                .strip_prefix("[exit ")
                .and_then(|r| r.strip_suffix(']'))
            {
                want_code = c.parse().expect("exit code");
                block.pop();
            }
        }
        let mut want = block
            .join("\n")
            .replace("$STATE", &m.state().display().to_string());
        if !block.is_empty() {
            want.push('\n');
        }
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = m
            .cmd(&args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run migctl");
        n += 1;
        let mut got = String::from_utf8_lossy(&o.stdout).into_owned();
        if want.starts_with("$DATE\n") {
            got = mask_date(&got);
        }
        assert_same(&got, &want, &format!("{name}: `{cmd}` (command {n})"));
        assert_eq!(
            o.status.code(),
            Some(want_code),
            "{name}: `{cmd}`: exit status; stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(n > 0, "{name}: no commands");
}

/// `systemd-analyze verify` of a unit from `deploy/systemd/` (its text,
/// written as `file_name` with migctl's path pointed at the test binary);
/// a visible skip, named `test`, where systemd-analyze is not installed.
pub fn systemd_verify(test: &str, text: &str, file_name: &str) {
    let Ok(o) = Command::new("systemd-analyze").arg("--version").output() else {
        testkit::skip(
            test,
            testkit::Needs::Environment,
            "systemd-analyze is not installed (the shape checks ran)",
        );
        return;
    };
    assert!(o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(file_name);
    std::fs::write(
        &f,
        text.replace("/usr/local/bin/migctl", env!("CARGO_BIN_EXE_migctl")),
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
