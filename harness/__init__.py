"""devmem-harness: boots guests on real kernels and checks their /dev/mem, /dev/port and PCI sysfs policy."""

__version__ = "0.1.0"
