/* Offsets into vmm::Vcpu the exit stub needs as assemble-time constants (C, for .S files).
   vmm/vcpu.hpp checks them with static_assert. */
#ifndef APEXVISOR_VMM_VCPU_LAYOUT_H
#define APEXVISOR_VMM_VCPU_LAYOUT_H
#define APEX_VCPU_GPRS_OFFSET 0
#define APEX_VCPU_SAVE_EGPRS_OFFSET 264
#define APEX_VCPU_PENDING_OFFSET 280
#endif
