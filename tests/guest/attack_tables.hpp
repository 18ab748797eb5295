// The `attack` program's descriptor-table attacks on an AP (attack_tables.cpp).
#pragma once

#include <stdint.h>

#include "boot/efi/efi.hpp"
#include "tests/guest/selftest_checks.hpp"

namespace guest {

// The AP's GDT, then its LDT, then its IDT, in the hypervisor page `hv_page` (it reads
// zeros); one PASS/FAIL line per check. Leaves the AP halted in the block it was lent,
// outside MP services.
void attack_descriptor_tables(Tally& t, EFI_SYSTEM_TABLE* st, uint64_t hv_page);

}  // namespace guest
