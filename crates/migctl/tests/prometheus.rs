//! A real Prometheus server (Debian's `prometheus`, on 127.0.0.1 only)
//! scrapes `migctl exporter` on a simulated machine every second; the test
//! asks Prometheus's HTTP API with PromQL what it stored.

mod common;

use common::Machine;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TEST: &str = "prometheus_scrapes_the_exporter";

/// Kills a child process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 GET on loopback: (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let (head, body) = r.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The instant vector PromQL `q` gives now: (labels, value) per series.
fn query(port: u16, q: &str) -> Vec<(serde_json::Map<String, Value>, f64)> {
    let (code, body) =
        get(port, &format!("/api/v1/query?query={}", encode(q))).expect("prometheus answers");
    assert_eq!(code, 200, "{q}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let labels = r["metric"].as_object().unwrap().clone();
            let val = r["value"][1].as_str().unwrap().parse().unwrap();
            (labels, val)
        })
        .collect()
}

/// Wait until `q` satisfies `ok` (scrapes come every second), or fail.
fn wait_for(
    port: u16,
    q: &str,
    ok: impl Fn(&[(serde_json::Map<String, Value>, f64)]) -> bool,
) -> Vec<(serde_json::Map<String, Value>, f64)> {
    let t0 = Instant::now();
    loop {
        let r = query(port, q);
        if ok(&r) {
            return r;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{q}: still {r:?} after 60 s"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn label<'a>(m: &'a serde_json::Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Sorted (gpu, GPU_I_PROFILE, placement_start) of `migctl_gpu_instance_info`.
fn instances(r: &[(serde_json::Map<String, Value>, f64)]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r
        .iter()
        .map(|(m, _)| {
            (
                label(m, "gpu").to_string(),
                label(m, "GPU_I_PROFILE").to_string(),
                label(m, "placement_start").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

const CONFIGS: &str = "version: v1
mig-configs:
  halves:
    - devices: all
      mig-enabled: true
      mig-devices:
        \"3g.40gb\": 2
  sevenths:
    - devices: all
      mig-enabled: true
      mig-devices:
        \"1g.10gb\": 7
";

/// Proves, through a real Prometheus scraping `migctl exporter` on a
/// simulated machine of two H100s: the GPU instances Prometheus stores are
/// the layout's (`migctl mig -lgi`), per-MIG-device memory counts a
/// process's memory on its device only, the free-capacity series equal
/// `migctl fit -i N`'s answer for every profile, the config series say
/// which config the GPUs hold, and after `migctl apply` of another config
/// the next scrapes show the new layout and no series of the old.
#[test]
fn prometheus_scrapes_the_exporter() {
    let Some(prom) = ["prometheus", "/usr/bin/prometheus"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        testkit::skip(
            TEST,
            testkit::Needs::Prometheus,
            "prometheus is not installed (apt-get install prometheus)",
        );
        return;
    };
    let m = Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gbx2"]);
    let cfg = m.dir.path().join("configs.yaml");
    std::fs::write(&cfg, CONFIGS).unwrap();
    let cfg_s = cfg.to_str().unwrap();
    m.ok(&["apply", "-f", cfg_s, "-c", "halves"]);
    // a process with 3000 MiB on GPU 0's first 3g.40gb
    // `mig -lgi` rows: `|   0  MIG 3g.40gb   9   2   4:4   |` -> (gpu, profile, start, GI ID)
    let lgi: Vec<(String, String, String, String)> = m
        .ok(&["mig", "-lgi"])
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.trim_matches('|').split_whitespace().collect();
            (w.len() == 6 && w[1] == "MIG").then(|| {
                let start = w[5].split(':').next().unwrap().to_string();
                (w[0].to_string(), w[2].to_string(), start, w[4].to_string())
            })
        })
        .collect();
    assert_eq!(lgi.len(), 4, "{lgi:?}");
    let gi0 = lgi.iter().find(|g| g.0 == "0").unwrap().3.clone();
    let out = m.ok(&[
        "sim", "run", "--gpu", "0", "--gi", &gi0, "--ci", "0", "--name", "train", "--memory",
        "3000",
    ]);
    let pid = out
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .unwrap()
        .to_string();

    let eport = free_port();
    let exporter = Killed(
        m.cmd(&[
            "exporter",
            "--listen",
            &format!("127.0.0.1:{eport}"),
            "--config-file",
            cfg_s,
            "-c",
            "halves",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let pport = free_port();
    let yml = m.dir.path().join("prometheus.yml");
    std::fs::write(
        &yml,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: migctl\n    static_configs: [{{targets: ['127.0.0.1:{eport}']}}]\n"
        ),
    )
    .unwrap();
    let tsdb = m.dir.path().join("tsdb");
    let log = std::fs::File::create(m.dir.path().join("prometheus.log")).unwrap();
    let _prometheus = Killed(
        Command::new(prom)
            .arg(format!("--config.file={}", yml.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{pport}"))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while get(pport, "/-/ready").is_none_or(|(c, _)| c != 200) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "prometheus not ready: {}",
            std::fs::read_to_string(m.dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let up = wait_for(pport, "up{job=\"migctl\"}", |r| {
        r.len() == 1 && r[0].1 == 1.0
    });
    assert_eq!(up.len(), 1);

    // the layout's instances, as `migctl mig -lgi` lists them
    let r = wait_for(pport, "migctl_gpu_instance_info", |r| r.len() == 4);
    let mut want: Vec<(String, String, String)> = lgi
        .iter()
        .map(|g| (g.0.clone(), g.1.clone(), g.2.clone()))
        .collect();
    want.sort();
    assert_eq!(instances(&r), want);

    // per-MIG-device memory: the process's 3000 MiB on its device only
    let used = query(pport, "migctl_mig_device_memory_used_bytes");
    assert_eq!(used.len(), 4);
    let idle = used.iter().map(|x| x.1).fold(f64::MAX, f64::min);
    for (l, v) in &used {
        let busy = label(l, "gpu") == "0" && label(l, "GPU_I_ID") == gi0;
        let want = if busy {
            idle + 3000.0 * 1048576.0
        } else {
            idle
        };
        assert_eq!(*v, want, "{l:?}");
    }
    let total = query(pport, "migctl_mig_device_memory_total_bytes - migctl_mig_device_memory_used_bytes - migctl_mig_device_memory_free_bytes");
    assert!(
        total.len() == 4 && total.iter().all(|x| x.1 == 0.0),
        "{total:?}"
    );
    let busy = query(pport, "migctl_mig_device_busy == 1");
    assert_eq!(busy.len(), 1);
    let procs = query(pport, "migctl_process_memory_used_bytes");
    assert_eq!(procs.len(), 1);
    assert_eq!(label(&procs[0].0, "name"), "train");
    assert_eq!(procs[0].1, 3000.0 * 1048576.0);

    // free capacity per profile, against `migctl fit -i N`
    for gpu in ["0", "1"] {
        let fit: Value =
            serde_json::from_str(&m.ok(&["fit", "-i", gpu, "--output", "json"])).unwrap();
        let r = query(
            pport,
            &format!("migctl_gpu_profile_free_instances{{gpu=\"{gpu}\"}}"),
        );
        let more = fit["more"].as_array().unwrap();
        assert_eq!(r.len(), more.len());
        for x in more {
            let p = x["profile"].as_str().unwrap();
            let got = r
                .iter()
                .find(|(l, _)| label(l, "GPU_I_PROFILE") == p)
                .map(|x| x.1);
            assert_eq!(got, Some(x["count"].as_f64().unwrap()), "GPU {gpu} {p}");
        }
    }
    assert_eq!(
        query(pport, "migctl_config_applied{config=\"halves\"}")[0].1,
        1.0
    );

    // apply another config: the next scrapes show it, and nothing of the old
    m.ok(&["sim", "kill", &pid]);
    m.ok(&["apply", "-f", cfg_s, "-c", "sevenths"]);
    let r = wait_for(pport, "migctl_gpu_instance_info", |r| r.len() == 14);
    assert!(
        instances(&r).iter().all(|(_, p, _)| p == "1g.10gb"),
        "{r:?}"
    );
    assert!(query(pport, "migctl_gpu_instance_info{GPU_I_PROFILE=\"3g.40gb\"}").is_empty());
    assert_eq!(
        query(pport, "migctl_mig_device_memory_used_bytes").len(),
        14
    );
    assert!(query(pport, "migctl_process_memory_used_bytes").is_empty());
    assert_eq!(
        query(pport, "migctl_config_applied{config=\"halves\"}")[0].1,
        0.0
    );
    let free = query(
        pport,
        "migctl_gpu_profile_free_instances{GPU_I_PROFILE=\"1g.10gb\"}",
    );
    assert!(
        free.len() == 2 && free.iter().all(|x| x.1 == 0.0),
        "{free:?}"
    );
    drop(exporter);
    let _ = Path::new(prom);
}
