/* The bundled hello guest, embedded at build time (EMBER_HELLO_PATH comes from CMake). */
    .section .rodata.ember_bundled_kernel, "a"
    .balign 16
    .globl ember_bundled_kernel_start
    .globl ember_bundled_kernel_end
ember_bundled_kernel_start:
    .incbin EMBER_HELLO_PATH
ember_bundled_kernel_end:
    .section .note.GNU-stack, "", @progbits
