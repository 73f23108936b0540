// LeakSanitizer's suppressions, built into sanitizer builds of the daemon (read from a file
// they would depend on the checkout being readable by `backup`, which runs the daemon).
//
// libfuse keeps the mountpoint string until fuse_session_unmount(), which only root can run:
// the unprivileged daemon leaves unmounting to its root monitor, so this copy is never freed.
extern "C" const char* __lsan_default_suppressions();
extern "C" const char* __lsan_default_suppressions() {
  return "leak:fuse_session_mount\n";
}
