module example.com/migdevices

go 1.19

require github.com/NVIDIA/go-nvml v0.12.0-2
