// Instructions whose operands come from the guest and may fault: a #GP returns false
// instead of crashing the host (vmm/host/host_exceptions.S).
#pragma once
#include <stdint.h>

extern "C" {
bool apex_rdmsr_safe(uint32_t msr, uint64_t* value);
bool apex_wrmsr_safe(uint32_t msr, uint64_t value);
bool apex_xsetbv_safe(uint32_t index, uint64_t value);
}
