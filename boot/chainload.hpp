// Starting the next boot stage (issue P1 "Chain-loading"): the configured path, else the next
// BootOrder entry after the current one that is not apexvisor itself, else back to the
// firmware. Returns only when there was nothing to start (false) or the next stage
// returned (true).
#pragma once

#include "boot/config.hpp"

namespace boot {

bool start_next_stage(const Config& cfg);

}  // namespace boot
