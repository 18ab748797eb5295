// The exits APIC virtualization adds (config apic_virt=, vmm/apic/virtual_apic.hpp says
// what is virtualized and why): APIC-write (56), APIC-access (44), TPR below threshold
// (43). Each decodes its exit qualification and hands the register to the machine's
// VirtualApic, which carries the access out on the real local APIC.
#include "vmm/apic/apic_delivery_sink.hpp"
#include "vmm/apic/virtual_apic.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/log/format.hpp"
#include "vmx/exit_qualification.hpp"

namespace vmm {

using vmx::VmcsField;

ExitAction handle_apic_write(ExitContext& ctx) {
  apic::VirtualApic* v = apic::virtual_apic();
  if (!v) return ExitAction::stop("APIC-write exit, but APIC virtualization is not in use");
  // SDM Vol 3C 28.2.1: bits 11:0 are the page offset of the write.
  return v->apic_write(ctx, static_cast<unsigned>(ctx.vmcs.read(VmcsField::exit_qualification) & 0xfff));
}

ExitAction handle_apic_access(ExitContext& ctx) {
  apic::VirtualApic* v = apic::virtual_apic();
  if (!v) return ExitAction::stop("APIC-access exit, but APIC virtualization is not in use");
  const vmx::ApicAccessQualification q = vmx::decode_apic_access(ctx.vmcs.read(VmcsField::exit_qualification));
  using Type = vmx::ApicAccessType;
  // Types 0 and 1 are accesses by an instruction; an exit during event delivery (its event
  // injected again already, ctx.event_delivery) never has one to emulate.
  if (!ctx.event_delivery && (q.type == Type::linear_read || q.type == Type::linear_write))
    return v->apic_access(ctx, q.offset, q.type == Type::linear_write);
  // An event delivery that accesses the APIC page (its stack there; the IDT there reads the
  // sink's zeros, as an IDT of zeros): the event is injected again already, the delivery's
  // accesses go to this CPU's sink for exactly the delivery (apic_delivery_sink.hpp).
  if (ctx.event_delivery && (q.type == Type::linear_event_delivery || q.type == Type::physical_event_delivery))
    return apic::sink_apic_delivery(ctx, v->page() + q.offset);
  // Code fetched from the APIC page, or the APIC page used as a paging structure: no guest
  // does this on purpose, and there is no instruction to emulate. The guest CPU stops with
  // the access named.
  format(ctx.vcpu.stop_detail, sizeof ctx.vcpu.stop_detail, "APIC-access exit: %s at offset 0x%x of the APIC page",
         vmx::apic_access_type_name(q.type), q.offset);
  return ExitAction::stop(ctx.vcpu.stop_detail);
}

ExitAction handle_tpr_below_threshold(ExitContext& ctx) {
  apic::VirtualApic* v = apic::virtual_apic();
  if (!v) return ExitAction::stop("TPR-below-threshold exit, but APIC virtualization is not in use");
  return v->tpr_below_threshold(ctx);
}

}  // namespace vmm
