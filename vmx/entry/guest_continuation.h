/* Where a guest continues after its CPU is launched: a call's return, as if the call had just
   returned (design.md "Nothing that runs as a guest writes hypervisor memory").

   The hypervisor's code lives in the runtime copy of the image, which the EPT hides from the
   guest. So no guest instruction may run there: the launch must not return into the code
   that launched. Instead, the call into the hypervisor image records its caller's frame
   (return RIP, RSP after the return, RFLAGS and the registers every caller may rely on:
   RBX, RBP, RSI, RDI, R12-R15, the MS ABI's callee-saved set, a superset of System V's) and
   VMLAUNCH resumes the guest there, in the loader's own image or in the firmware.
   Offsets for the .S files; vmm/launch/guest_continuation.hpp checks them. */
#ifndef APEXVISOR_VMX_ENTRY_GUEST_CONTINUATION_H
#define APEXVISOR_VMX_ENTRY_GUEST_CONTINUATION_H
#define APEX_CONT_RIP 0
#define APEX_CONT_RSP 8
#define APEX_CONT_RFLAGS 16
#define APEX_CONT_RBX 24
#define APEX_CONT_RBP 32
#define APEX_CONT_RSI 40
#define APEX_CONT_RDI 48
#define APEX_CONT_R12 56
#define APEX_CONT_R13 64
#define APEX_CONT_R14 72
#define APEX_CONT_R15 80
#define APEX_CONT_SIZE 88
#endif
