//! Bad input never crashes the exporter nor yields a half-written answer:
//! a busy port, an unreadable state, a config file that does not parse, a
//! GPU that vanishes between the listing and its snapshot, or between two
//! scrapes.

use mig_exporter::{collect, encode, ConfigSource, Exporter, GpmReader, Options};
use mig_model::backend::*;
use mig_model::gpm::Gpm;
use mig_model::{CiProfileId, ComputeInstanceId, GiProfileId, GpuInstanceId, NvmlError, Placement};
use mig_sim::SimMachine;
use std::io::{Read, Write};

fn opts() -> Options {
    let mut o = Options::new();
    o.hostname = "node1".into();
    o
}

fn machine(dir: &std::path::Path, models: &[&str]) -> SimMachine {
    let sim = SimMachine::open(dir.join("state.json")).unwrap();
    let m: Vec<(String, bool)> = models.iter().map(|s| (s.to_string(), false)).collect();
    sim.init(&m).unwrap();
    sim
}

/// Proves a port in use is a clear error naming the address and what to do.
#[test]
fn busy_port_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let sim = machine(dir.path(), &["h100-sxm5-80gb"]);
    let e = Exporter::bind(&addr, Box::new(sim), opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&addr) && e.contains("--listen"), "{e}");
}

/// Proves an unreadable (corrupt) state file gives `migctl_up 0` and no
/// GPU series, over HTTP with a whole answer (its Content-Length is the
/// body's length), and the exporter goes on serving.
#[test]
fn unreadable_state_is_up_zero_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let sim = machine(dir.path(), &["h100-sxm5-80gb"]);
    std::fs::write(dir.path().join("state.json"), "{ not json").unwrap();
    let ex = Exporter::bind("127.0.0.1:0", Box::new(sim), opts()).unwrap();
    let addr = ex.local_addr();
    std::thread::spawn(move || ex.serve());
    for _ in 0..2 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{head}"
        );
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("Content-Length");
        assert_eq!(len, body.len());
        assert!(body.contains("\nmigctl_up 0\n"), "{body}");
        assert!(!body.contains("migctl_gpu_up"), "{body}");
    }
}

/// Proves a config file that does not parse is refused at start with the
/// file's name, and, if it breaks later, reported as `migctl_config_valid 0`.
#[test]
fn config_that_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    let sim = machine(dir.path(), &["h100-sxm5-80gb"]);
    let f = dir.path().join("c.yaml");
    std::fs::write(&f, "version: v1\nmig-configs: [unclosed\n").unwrap();
    let src = ConfigSource {
        path: f.clone(),
        name: Some("x".into()),
    };
    let e = src.load().unwrap_err();
    assert!(e.contains("c.yaml"), "{e}");
    let mut o = opts();
    o.config = Some(src);
    let text = encode(&collect(&sim, &GpmReader::new(), &o)).unwrap();
    assert!(
        text.contains("migctl_config_valid{config=\"x\"} 0"),
        "{text}"
    );
    assert!(!text.contains("migctl_config_applied"), "{text}");
}

/// Proves a GPU that leaves the machine between two scrapes leaves no
/// series behind in the second.
#[test]
fn gpu_gone_between_scrapes_leaves_no_series() {
    let dir = tempfile::tempdir().unwrap();
    let sim = machine(dir.path(), &["h100-sxm5-80gb", "h100-sxm5-80gb"]);
    let gpm = GpmReader::new();
    let first = encode(&collect(&sim, &gpm, &opts())).unwrap();
    assert!(first.contains("migctl_gpu_up{gpu=\"1\""));
    sim.init(&[("h100-sxm5-80gb".into(), false)]).unwrap();
    let second = encode(&collect(&sim, &gpm, &opts())).unwrap();
    assert!(!second.contains("gpu=\"1\""), "{second}");
    assert!(second.contains("migctl_gpu_up{gpu=\"0\""));
}

/// A machine whose GPU 1 is listed but gone when its snapshot is read, as a
/// GPU that falls off the bus between the two calls.
struct Vanishing(SimMachine);

impl Inventory for Vanishing {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn driver_version(&self) -> Result<String, BackendError> {
        self.0.driver_version()
    }
    fn devices(&self) -> Result<Vec<DeviceInfo>, BackendError> {
        self.0.devices()
    }
    fn identity(&self, gpu: &GpuRef) -> Result<GpuIdentity, BackendError> {
        self.0.identity(gpu)
    }
    fn snapshot(&self, gpu: &GpuRef) -> Result<GpuSnapshot, BackendError> {
        if *gpu == GpuRef::Index(1) {
            return Err(BackendError::nvml(
                Op::Snapshot,
                gpu.clone(),
                NvmlError::NotFound,
            ));
        }
        self.0.snapshot(gpu)
    }
    fn mig_devices(&self, gpu: &GpuRef) -> Result<Vec<MigDeviceInfo>, BackendError> {
        self.0.mig_devices(gpu)
    }
    fn processes(&self, gpu: &GpuRef) -> Result<Vec<ProcessInfo>, BackendError> {
        self.0.processes(gpu)
    }
}

impl ModeControl for Vanishing {
    fn mig_mode(&self, gpu: &GpuRef) -> Result<MigMode, BackendError> {
        self.0.mig_mode(gpu)
    }
    fn set_mig_mode(&self, gpu: &GpuRef, enable: bool) -> Result<Option<NvmlError>, BackendError> {
        self.0.set_mig_mode(gpu, enable)
    }
    fn reset(&self, gpu: &GpuRef) -> Result<(), BackendError> {
        self.0.reset(gpu)
    }
}

impl LayoutControl for Vanishing {
    fn gi_profiles(
        &self,
        gpu: &GpuRef,
        want: ProfileQuery,
    ) -> Result<Vec<GiProfileStatus>, BackendError> {
        self.0.gi_profiles(gpu, want)
    }
    fn gpu_instances(&self, gpu: &GpuRef) -> Result<Vec<GiInfo>, BackendError> {
        self.0.gpu_instances(gpu)
    }
    fn create_gpu_instance(
        &self,
        gpu: &GpuRef,
        p: GiProfileId,
        at: Option<Placement>,
    ) -> Result<GiInfo, BackendError> {
        self.0.create_gpu_instance(gpu, p, at)
    }
    fn destroy_gpu_instance(&self, gpu: &GpuRef, gi: GpuInstanceId) -> Result<(), BackendError> {
        self.0.destroy_gpu_instance(gpu, gi)
    }
    fn ci_profiles(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiProfileStatus>, BackendError> {
        self.0.ci_profiles(gpu, gi)
    }
    fn compute_instances(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
    ) -> Result<Vec<CiInfo>, BackendError> {
        self.0.compute_instances(gpu, gi)
    }
    fn create_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        p: CiProfileId,
        at: Option<Placement>,
    ) -> Result<CiInfo, BackendError> {
        self.0.create_compute_instance(gpu, gi, p, at)
    }
    fn destroy_compute_instance(
        &self,
        gpu: &GpuRef,
        gi: GpuInstanceId,
        ci: ComputeInstanceId,
    ) -> Result<(), BackendError> {
        self.0.destroy_compute_instance(gpu, gi, ci)
    }
}

impl Gpm for Vanishing {}

/// Proves a GPU listed but gone when its snapshot is read is
/// `migctl_gpu_up 0` (with its identity labels), the other GPU is served
/// whole, and a config check gives no verdict on a partial machine.
#[test]
fn gpu_gone_between_listing_and_snapshot_is_gpu_up_zero() {
    let dir = tempfile::tempdir().unwrap();
    let sim = machine(dir.path(), &["h100-sxm5-80gb", "h100-sxm5-80gb"]);
    let f = dir.path().join("c.yaml");
    std::fs::write(
        &f,
        "version: v1\nmig-configs:\n  off:\n    - devices: all\n      mig-enabled: false\n",
    )
    .unwrap();
    let mut o = opts();
    o.config = Some(ConfigSource {
        path: f,
        name: Some("off".into()),
    });
    let text = encode(&collect(&Vanishing(sim), &GpmReader::new(), &o)).unwrap();
    assert!(text.contains("\nmigctl_up 1\n"), "{text}");
    let up: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("migctl_gpu_up{"))
        .collect();
    assert_eq!(up.len(), 2, "{text}");
    assert!(
        up.iter()
            .any(|l| l.contains("gpu=\"1\"") && l.ends_with(" 0")),
        "{up:?}"
    );
    assert!(
        up.iter()
            .any(|l| l.contains("gpu=\"0\"") && l.ends_with(" 1")),
        "{up:?}"
    );
    assert!(!text.contains("migctl_gpu_info{gpu=\"1\""), "{text}");
    assert!(
        text.contains("migctl_config_valid{config=\"off\"} 1"),
        "{text}"
    );
    assert!(!text.contains("migctl_config_applied"), "{text}");
}
