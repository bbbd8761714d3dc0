// migdevices lists every MIG device through go-nvml and, as the Kubernetes
// device plugin and the container toolkit do, resolves the three device
// nodes a container needs: /dev/nvidia<minor> and the GI and CI capability
// nodes named by /proc/driver/nvidia/capabilities/.../access.
//
// Run it on the simulated machine:
//
//	migctl sim exec -- go run .
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// capMinor reads DeviceFileMinor from a capability file.
func capMinor(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		var m int
		if _, err := fmt.Sscanf(l, "DeviceFileMinor: %d", &m); err == nil {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%s: no DeviceFileMinor", path)
}

// node describes a device node: a character device, or the simulator's
// placeholder file where mknod was not permitted.
func node(path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "missing"
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFCHR {
		// Linux's dev_t encoding (major 12 bits, minor 20 bits, split)
		major := (st.Rdev >> 8) & 0xfff
		minor := (st.Rdev & 0xff) | ((st.Rdev >> 12) & 0xfff00)
		return fmt.Sprintf("char %d:%d", major, minor)
	}
	return "placeholder file"
}

func main() {
	if ret := nvml.Init(); ret != nvml.SUCCESS {
		fmt.Fprintln(os.Stderr, "nvmlInit:", nvml.ErrorString(ret))
		os.Exit(1)
	}
	defer nvml.Shutdown()
	count, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		fmt.Fprintln(os.Stderr, "nvmlDeviceGetCount:", nvml.ErrorString(ret))
		os.Exit(1)
	}
	for i := 0; i < count; i++ {
		dev, _ := nvml.DeviceGetHandleByIndex(i)
		name, _ := dev.GetName()
		uuid, _ := dev.GetUUID()
		minor, _ := dev.GetMinorNumber()
		fmt.Printf("GPU %d: %s (UUID: %s) /dev/nvidia%d [%s]\n", i, name, uuid, minor, node(fmt.Sprintf("/dev/nvidia%d", minor)))
		current, _, ret := dev.GetMigMode()
		if ret != nvml.SUCCESS || current != nvml.DEVICE_MIG_ENABLE {
			continue
		}
		max, _ := dev.GetMaxMigDeviceCount()
		for j := 0; j < max; j++ {
			mig, ret := dev.GetMigDeviceHandleByIndex(j)
			if ret != nvml.SUCCESS {
				continue
			}
			gi, _ := mig.GetGpuInstanceId()
			ci, _ := mig.GetComputeInstanceId()
			migUUID, _ := mig.GetUUID()
			caps := fmt.Sprintf("/proc/driver/nvidia/capabilities/gpu%d/mig/gi%d", minor, gi)
			giMinor, err1 := capMinor(caps + "/access")
			ciMinor, err2 := capMinor(fmt.Sprintf("%s/ci%d/access", caps, ci))
			if err1 != nil || err2 != nil {
				fmt.Fprintln(os.Stderr, "capabilities:", err1, err2)
				os.Exit(1)
			}
			giNode := fmt.Sprintf("/dev/nvidia-caps/nvidia-cap%d", giMinor)
			ciNode := fmt.Sprintf("/dev/nvidia-caps/nvidia-cap%d", ciMinor)
			fmt.Printf("  MIG GI %d CI %d (UUID: %s) %s [%s] %s [%s]\n", gi, ci, migUUID, giNode, node(giNode), ciNode, node(ciNode))
		}
	}
}
