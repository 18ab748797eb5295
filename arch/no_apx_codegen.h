/* Forced into every translation unit of the image (meson.build: -include), C, C++ and
 * assembler alike. apexvisor's own code runs in VMX root while the guest's XCR0 is loaded:
 * with the guest's XCR0.APX=0 any R16-R31 access there raises #UD. Only the generated exit
 * stub touches R16-R31, behind its XCR0.APX gate (vmx/asm/guest_gprs.inc). A compiler told
 * to generate APX code (-mapxf, -march=native on APX silicon) defines __APX_F__: refuse it.
 * tests/apx/egpr_only_in_stub.py checks the built image itself. */
#if defined(__APX_F__)
#error "apexvisor's image must not be compiled for APX (-mapxf, or a -march with APX): R16-R31 belong to the guest outside the exit stub"
#endif
