//! GPM utilization per GPU instance through the whole real-NVML path:
//! `migctl exporter` on the NVML backend over the fake `libnvidia-ml.so.1`,
//! which serves `nvmlGpm*` from the simulator's model (`migctl sim set --gi`).

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn scrape(addr: &str) -> String {
    let t0 = Instant::now();
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            let mut r = String::new();
            s.read_to_string(&mut r).unwrap();
            return r.split_once("\r\n\r\n").unwrap().1.to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "exporter did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn value(text: &str, name: &str, gpu: &str, gi: &str) -> Option<f64> {
    text.lines()
        .find(|l| {
            l.starts_with(&format!("{name}{{"))
                && l.contains(&format!("gpu=\"{gpu}\""))
                && l.contains(&format!("GPU_I_ID=\"{gi}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Proves, through NVML over the fake library: an H100 reports GPM support
/// and, from the second scrape on, each GPU instance's SM activity and DRAM
/// bandwidth as set with `sim set --gi` (others idle at 0); an A100 says GPM
/// is not available and has no utilization series at all.
#[test]
fn gpm_per_instance_through_nvml() {
    let mut m = common::Machine::new();
    m.ok(&["sim", "init", "h100-sxm5-80gb", "a100-sxm4-40gb"]);
    m.ok(&["-mig", "1"]);
    m.ok(&["-r", "-i", "1"]);
    m.ok(&["mig", "-i", "0", "-cgi", "9,19", "-C"]);
    m.ok(&["mig", "-i", "1", "-cgi", "9", "-C"]);
    let lgi = m.ok(&["mig", "-lgi"]);
    let gi = |gpu: &str, p: &str| {
        lgi.lines()
            .map(|l| l.trim_matches('|').split_whitespace().collect::<Vec<_>>())
            .find(|w| w.len() == 6 && w[0] == gpu && w[2] == p)
            .map(|w| w[4].to_string())
            .unwrap()
    };
    let (big, small) = (gi("0", "3g.40gb"), gi("0", "1g.10gb"));
    m.ok(&[
        "sim",
        "set",
        "--gpu",
        "0",
        "--gi",
        &big,
        "sm-activity=40",
        "dram-bandwidth=10",
    ]);
    let lib = m.ok(&["sim", "nvml-lib"]).trim().to_string();
    m.env = vec![
        ("MIGCTL_BACKEND".into(), "nvml".into()),
        ("MIGCTL_NVML_LIB".into(), lib),
    ];
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut child = m
        .cmd(&["exporter", "--listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = scrape(&addr);
    std::thread::sleep(Duration::from_millis(300));
    let second = scrape(&addr);
    let _ = child.kill();
    let _ = child.wait();

    let supported = |t: &str, gpu: &str| {
        t.lines()
            .find(|l| {
                l.starts_with("migctl_gpu_gpm_supported{") && l.contains(&format!("gpu=\"{gpu}\""))
            })
            .map(|l| l.ends_with(" 1"))
            .unwrap()
    };
    assert!(
        supported(&second, "0") && !supported(&second, "1"),
        "{second}"
    );
    // the first scrape has no interval yet
    assert!(
        !first.contains("migctl_gpu_instance_sm_active_ratio{"),
        "{first}"
    );
    let sm = |g: &str| value(&second, "migctl_gpu_instance_sm_active_ratio", "0", g);
    let dram = |g: &str| value(&second, "migctl_gpu_instance_dram_active_ratio", "0", g);
    assert!((sm(&big).unwrap() - 0.4).abs() < 1e-6, "{second}");
    assert!((dram(&big).unwrap() - 0.1).abs() < 1e-6, "{second}");
    assert_eq!(sm(&small), Some(0.0));
    assert!(
        !second
            .lines()
            .any(|l| l.contains("_active_ratio{") && l.contains("gpu=\"1\"")),
        "{second}"
    );
}
