/* Boot path of the test guests: PVH (and Linux 64-bit) entry -> long mode -> ring 3.
 *
 * Ring-0 code is emulated instruction by instruction on PVM hosts (~1 us each), so the path
 * from the first instruction to ring 3 is straight-line code over static tables: no loops, no
 * table building, 19 instructions on the PVH path. Everything else (command line, output,
 * the guest itself) runs in ring 3 at native speed.
 *
 * IDT gates and the TSS descriptor want addresses cut into pieces, which the assembler cannot
 * do to a relocatable symbol. Every symbol whose address is cut lives in .boot.text, which the
 * linker script places at exactly BOOT_BASE, so BOOT_ABS(sym) is an assembly-time constant. */
#include "arch.h"

#define BOOT_ABS(sym) (BOOT_BASE + ((sym) - boot_text_start))

/* ---- PVH entry note ------------------------------------------------------------------------ */
/* XEN_ELFNOTE_PHYS32_ENTRY. The descriptor is 8 bytes, like Linux's: readers that take 4 bytes
 * and readers that take a pointer-sized value (QEMU) both get the entry address. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4             /* n_namesz: "Xen\0" */
    .long 8             /* n_descsz */
    .long 18            /* n_type: XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad pvh_entry
    .balign 4

/* ---- Entry points (ring 0) ------------------------------------------------------------------ */
    .section .boot.text, "ax", @progbits
boot_text_start:

/* PVH: 32-bit flat protected mode, paging off, %ebx = hvm_start_info. The GDTR is not ours (not
 * even valid), but the segment caches are flat, so load our GDT and use it only from the far
 * jump on. */
    .code32
    .globl pvh_entry
    .type pvh_entry, @function
pvh_entry:
    lgdt gdt_desc
    movl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    movl $EFER_LME, %eax
    xorl %edx, %edx
    wrmsr
    movl $(CR0_PG | CR0_ET | CR0_PE), %eax
    movl %eax, %cr0
    ljmp $KERNEL_CS, $pvh_long_mode
    .code64
pvh_long_mode:
    movl %ebx, %esi                 /* zero-extends: no stale upper half */
    xorl %edi, %edi                 /* BOOT_PROTO_PVH */
    /* fall through */

/* %edi = boot protocol, %rsi = its info structure. The TSS descriptor is "available" in the
 * static GDT; ltr marks it busy (so the GDT is writable data). */
enter_ring3:
    movw $TSS_SEL, %ax
    ltr %ax
    lidt idt_desc
    movl $iret_frame, %esp
    iretq
    .size pvh_entry, . - pvh_entry

/* ---- Ring-0 services ----------------------------------------------------------------------- */

/* int3 (vector 3, a DPL-3 gate): call %rax in ring 0 with the caller's %rdi, return its %rax.
 * Why int3 and not int $n: PVM raises #UD for int $n in guest user mode (it supports only
 * exceptions there); int3 is an exception (#BP) and reaches our IDT everywhere.
 * Entry pushed 5 quadwords onto the 16-byte aligned RSP0 stack; realign for the call. */
ring0_call_gate:
    subq $8, %rsp
    call *%rax
    addq $8, %rsp
    iretq

    .globl halt_forever
    .type halt_forever, @function
halt_forever:
    cli
1:  hlt
    jmp 1b
    .size halt_forever, . - halt_forever

/* Exceptions 0-31 but 3: push a zero error code where the CPU pushes none, then the vector. */
    .macro EXC_STUB vec, has_error
exc_\vec:
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vec
    jmp exception_common
    .endm

    EXC_STUB 0, 0
    EXC_STUB 1, 0
    EXC_STUB 2, 0
    EXC_STUB 4, 0
    EXC_STUB 5, 0
    EXC_STUB 6, 0
    EXC_STUB 7, 0
    EXC_STUB 8, 1
    EXC_STUB 9, 0
    EXC_STUB 10, 1
    EXC_STUB 11, 1
    EXC_STUB 12, 1
    EXC_STUB 13, 1
    EXC_STUB 14, 1
    EXC_STUB 15, 0
    EXC_STUB 16, 0
    EXC_STUB 17, 1
    EXC_STUB 18, 0
    EXC_STUB 19, 0
    EXC_STUB 20, 0
    EXC_STUB 21, 1
    EXC_STUB 22, 0
    EXC_STUB 23, 0
    EXC_STUB 24, 0
    EXC_STUB 25, 0
    EXC_STUB 26, 0
    EXC_STUB 27, 0
    EXC_STUB 28, 0
    EXC_STUB 29, 1
    EXC_STUB 30, 1
    EXC_STUB 31, 0

/* Stack: vector, error code, RIP, CS, RFLAGS, RSP, SS. guest_exception reports and exits. */
exception_common:
    cld
    movq 0(%rsp), %rdi
    movq 8(%rsp), %rsi
    movq 16(%rsp), %rdx
    andq $-16, %rsp
    call guest_exception
    jmp halt_forever

/* The Linux 64-bit entry sits at exactly BOOT_BASE + LINUX64_ENTRY_OFFSET (0x200), where a
 * bzImage's 64-bit entry is (load address + 0x200): a flat copy of the image from BOOT_BASE is
 * a bzImage's protected-mode kernel as it is (tools/mkbzimage.c). The code above fits below;
 * the gap is int3 filler. guest.ld asserts the address. */
    .org LINUX64_ENTRY_OFFSET, 0xcc
/* Linux x86-64 boot protocol (the ELF entry point): long mode with the loader's page tables
 * and GDT, %rsi = boot_params. Take over CR4 (no SMEP/SMAP: every page of ours is a user
 * page that ring 0 must still reach), CR3 and the GDT; iretq reloads CS and SS from ours. */
    .globl linux64_entry
    .type linux64_entry, @function
linux64_entry:
    movl $CR4_PAE, %eax
    movq %rax, %cr4
    movl $pml4, %eax
    movq %rax, %cr3
    lgdt gdt_desc
    movl $BOOT_PROTO_LINUX64, %edi
    jmp enter_ring3
    .size linux64_entry, . - linux64_entry

/* 64-bit TSS (104 bytes + I/O bitmap). RSP0 is the stack that faults from ring 3 land on.
 * IOPL=3 alone should let ring 3 use every port, but PVM ignores IOPL for user-mode port I/O
 * and checks this bitmap instead (#GP otherwise): it clears the bits of ports 0-0xfff. */
    .balign 16
tss:
    .long 0
    .quad ring0_stack_top           /* RSP0 */
    .quad 0, 0                      /* RSP1, RSP2 */
    .quad 0
    .quad 0, 0, 0, 0, 0, 0, 0       /* IST1-7 */
    .quad 0
    .word 0
    .word io_bitmap - tss           /* I/O map base */
io_bitmap:
    .fill IO_BITMAP_PORTS / 8, 1, 0 /* ports 0 to IO_BITMAP_PORTS - 1: allowed */
    .byte 0xff                      /* the CPU may read one byte past the end */
tss_end:

/* ---- Descriptor tables ----------------------------------------------------------------------- */
    .section .rodata.boot, "a", @progbits

    .macro IDT_GATE handler, type
    .word BOOT_ABS(\handler) & 0xffff
    .word KERNEL_CS
    .byte 0                         /* IST: none */
    .byte \type
    .word (BOOT_ABS(\handler) >> 16) & 0xffff
    .long 0                         /* bits 63:32: the image lives below 4 GiB */
    .long 0
    .endm

#define GATE_INTR 0x8e                 /* present, DPL 0, 64-bit interrupt gate */
#define GATE_INTR_USER 0xee            /* the same, DPL 3: int $n allowed from ring 3 */

    .balign 16
idt:
    .irp vec, 0,1,2
    IDT_GATE exc_\vec, GATE_INTR
    .endr
    IDT_GATE ring0_call_gate, GATE_INTR_USER /* 3 = VEC_RING0_CALL: int3 from ring 3 */
    .irp vec, 4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    IDT_GATE exc_\vec, GATE_INTR
    .endr
idt_end:

    .balign 8
    .word 0, 0, 0
idt_desc:                               /* limit, base; 8-aligned base for lidt */
    .word idt_end - idt - 1
    .quad idt

/* The frame iretq pops to enter ring 3: RIP, CS, RFLAGS, RSP, SS. */
    .balign 8
iret_frame:
    .quad user_start
    .quad USER_CS
    .quad USER_RFLAGS
    .quad user_stack_top
    .quad USER_DS

/* The GDT is data: ltr writes the busy bit into the TSS descriptor. */
    .section .data.boot, "aw", @progbits
    .balign 16
gdt:
    .quad 0                         /* 0x00 null */
    .quad 0x00af9a000000ffff        /* 0x08 kernel code: 64-bit, DPL 0 */
    .quad 0x00cf92000000ffff        /* 0x10 kernel data */
    .quad 0x00cff2000000ffff        /* 0x18 user data: DPL 3 */
    .quad 0x00affa000000ffff        /* 0x20 user code: 64-bit, DPL 3 */
    /* 0x28 TSS: limit = TSS + I/O bitmap - 1 (< 64 KiB), base split as bits 15:0 | 23:16 |
     * 31:24, then 63:32; type 0x89 = present, 64-bit TSS, available. */
    .word tss_end - tss - 1
    .word BOOT_ABS(tss) & 0xffff
    .byte (BOOT_ABS(tss) >> 16) & 0xff
    .byte 0x89
    .byte 0
    .byte (BOOT_ABS(tss) >> 24) & 0xff
    .long 0
    .long 0
gdt_end:

    .balign 8
    .word 0, 0, 0
gdt_desc:                               /* lgdt reads 6 bytes in 32-bit mode, 10 in 64-bit */
    .word gdt_end - gdt - 1
    .quad gdt

/* ---- Page tables ----------------------------------------------------------------------------- */
/* Identity map with 2 MiB pages, user-accessible and writable: 0-1 GiB (RAM, write-back) and
 * 3-4 GiB (the MMIO gap: virtio-mmio, IOAPIC, LAPIC; uncached). Nothing else is mapped. */
    .section .data.pagetables, "aw", @progbits
    .balign 4096
pml4:
    .quad pdpt + PTE_TABLE
    .fill 511, 8, 0
pdpt:
    .quad pd_low + PTE_TABLE
    .quad 0, 0
    .quad pd_mmio + PTE_TABLE
    .fill 508, 8, 0
pd_low:
    .set page, 0
    .rept 512
    .quad (page << 21) | PDE_RAM
    .set page, page + 1
    .endr
pd_mmio:
    .set page, 3 * 512
    .rept 512
    .quad (page << 21) | PDE_MMIO
    .set page, page + 1
    .endr

/* ---- Stacks ------------------------------------------------------------------------------------ */
    .section .bss.stacks, "aw", @nobits
    .balign 4096
    .space 4096
ring0_stack_top:
    .space 16384
    .globl user_stack_top
user_stack_top:

/* ---- Ring 3 ------------------------------------------------------------------------------------ */
    .text
/* First ring-3 instruction: %edi = boot protocol, %rsi = info, RSP = user_stack_top (16-byte
 * aligned, so the call leaves the ABI's alignment). */
user_start:
    call runtime_main
    ud2

/* uint64_t ring0_call(uint64_t (*fn)(uint64_t), uint64_t arg): ordinary calling convention on
 * both sides, so the caller already treats every call-clobbered register as clobbered. */
    .globl ring0_call
    .type ring0_call, @function
ring0_call:
    movq %rdi, %rax
    movq %rsi, %rdi
    int3                            /* VEC_RING0_CALL */
    ret
    .size ring0_call, . - ring0_call

/* ---- Application processors (runtime/smp.c) --------------------------------------------------- */
/* The real-mode trampoline: smp_start_aps copies these bytes to AP_TRAMPOLINE_BASE (from ring 3)
 * and starts the APs there with INIT + SIPI + SIPI. Real mode (CS = 0x7000) -> 32-bit protected
 * mode on the trampoline's own GDT -> long mode on the runtime's static page tables -> ring 3:
 * 18 straight-line ring-0 instructions, no loop, no memory written. The APs share nothing
 * per-CPU: TR stays the reset one and no IDT is loaded, so a fault in an AP's ring-3 code
 * ends the VM (triple fault). The ring-3 part (ap_user) uses no stack. These sections are
 * dropped by --gc-sections from guests that do not call smp_start_aps. */
#define TRAMP_OFF(sym) ((sym) - ap_trampoline_start)
#define TRAMP_ABS(sym) (AP_TRAMPOLINE_BASE + TRAMP_OFF(sym))

    .section .rodata.ap_trampoline, "a", @progbits
    .balign 16
    .globl ap_trampoline_start
ap_trampoline_start:
    .code16
    lgdtl %cs:TRAMP_OFF(ap_gdt_desc)     /* DS is 0 after SIPI; CS has base 0x70000 */
    movl $(CR0_ET | CR0_PE), %eax
    movl %eax, %cr0
    ljmpl $AP_CODE32, $TRAMP_ABS(ap_tramp32)
    .code32
ap_tramp32:                              /* touches no data: only control registers */
    movl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    movl $EFER_LME, %eax
    xorl %edx, %edx
    wrmsr
    movl $(CR0_PG | CR0_ET | CR0_PE), %eax
    movl %eax, %cr0
    ljmp $KERNEL_CS, $ap_long_mode
    .balign 8
ap_gdt:
    .quad 0                         /* 0x00 null */
    .quad 0x00af9a000000ffff        /* 0x08 KERNEL_CS: 64-bit code, as the runtime's */
    .quad 0x00cf9a000000ffff        /* 0x10 AP_CODE32: 32-bit code */
ap_gdt_end:
ap_gdt_desc:
    .word ap_gdt_end - ap_gdt - 1
    .long TRAMP_ABS(ap_gdt)
    .globl ap_trampoline_end
ap_trampoline_end:

    .section .text.ap_boot, "ax", @progbits
    .code64
/* Long mode, ring 0: the runtime's GDT (for the user selectors), then ring 3 through a shared
 * read-only iret frame (every AP reads the same one; iretq only reads the stack). */
ap_long_mode:
    lgdt gdt_desc
    movl $ap_iret_frame, %esp
    iretq

    .section .rodata.ap_boot, "a", @progbits
    .balign 8
ap_iret_frame:
    .quad ap_user
    .quad USER_CS
    .quad 0x2                       /* RFLAGS: IF=0, IOPL 0 */
    .quad 0                         /* RSP: ap_user uses no stack */
    .quad USER_DS

/* Ring 3: record the APIC ID (LAPIC ID register, bits 31:24) in the next free slot, then count
 * this AP online (the count is what the BSP waits for, so the slot is written before), then
 * spin. Not CPUID.1:EBX[31:24]: the PVM host runs CPUID natively (ring 0 too) and reports the
 * host CPU's APIC ID, not ember's per-vCPU table; the in-kernel LAPIC's ID register is right. */
    .section .text.ap_user, "ax", @progbits
ap_user:
    movl $(LAPIC_BASE + LAPIC_ID), %eax /* zero-extended; a disp32 would be sign-extended */
    movl (%rax), %ebx
    shrl $24, %ebx
    movl $1, %eax
    lock xaddl %eax, smp_ap_next_slot
    cmpl $SMP_MAX_CPUS, %eax
    jae 1f
    movb %bl, smp_ap_apic_ids(%rax)
1:  lock incl smp_ap_online
2:  pause
    jmp 2b

    .section .note.GNU-stack, "", @progbits
