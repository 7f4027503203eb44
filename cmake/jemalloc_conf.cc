// jemalloc's options, built into every executable that links it (slap_link_allocator in
// slap.cmake); the MALLOC_CONF environment variable still overrides them.
//
// thp:always: jemalloc asks for transparent huge pages on its whole heap (the kernel here gives
// them only where asked: /sys/kernel/mm/transparent_hugepage/enabled is "madvise"). The master
// holds gigabytes of projections and an analyst's query builds tens of megabytes of rows; on
// 4 KiB pages each query paid thousands of page faults (they are dear on a virtual machine):
// billing_bench's month query (40,000 rows) took 77-89 ms, with huge pages 30 ms, same binary,
// back to back (MALLOC_CONF=thp:always).
// (C linkage: jemalloc looks the symbol up by its C name.)
extern "C" {
const char* malloc_conf = "thp:always";  // NOLINT: the name is jemalloc's
}
