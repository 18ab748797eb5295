"""apexlib: the code shared by apexvisor's host tools (stdlib only).

serial  -- cleaning emulator serial logs (ANSI escapes, CR) and checking them against an
           EXPECT file (tools/check-serial)
image   -- the ESP layout and the dd-able MBR disk image (tools/mkimage)
runner  -- starting an emulator without a terminal, streaming its serial log, ending the run
           on a marker or a timeout (written once, used by tools/run-bochs and tools/run-qemu)
bochs   -- Bochs + OVMF configuration and the run-bochs command
qemu    -- QEMU + OVMF command line, KVM/nested-VMX detection and the run-qemu command
scenario -- one boot scenario end to end (tools/run-scenario)
skips   -- the allowlist of platform facts a test may skip for, and the SKIP[<fact>] line
"""
